/* SPDX-License-Identifier: MIT */
#include "lifecycle.h"

#include <stddef.h>

#include "crash-marker.h"
#include "inprocess.h"
#include "isolated.h"
#include "isolation.h"
#include "log.h"
#include "names.h"
#include "store.h"
#include "strv.h"

/* ---- the host's shutdown ---- */

bool host_stuck(Host *h) {
        return inprocess_running(h) > 0;
}

bool host_idle(Host *h) {
        return h->n_generations == 0 && h->n_starting == 0 && inprocess_running(h) == 0;
}

static void shutdown_check(Host *h) {
        if (!h->shutdown_cb || !host_idle(h))
                return;
        host_done_cb cb = TAKE_PTR(h->shutdown_cb);
        cb(h, 0, h->shutdown_userdata);
}

/* A plugin unloaded at shutdown: its record no longer waits. */
static void shutdown_drained(Host *h, int error, void *userdata) {
        _cleanup_free_ char *id = userdata;
        PluginRecord *r = registry_find(&h->registry, id);
        if (r)
                r->draining = false;
}

void host_shutdown(Host *h, host_done_cb done, void *userdata) {
        h->shutting_down = true;
        h->shutdown_cb = done;
        h->shutdown_userdata = userdata;
        for (size_t i = 0; i < h->registry.n_records; i++) {
                PluginRecord *r = h->registry.records[i];
                if (r->plugin && !r->draining) {
                        Plugin *p = TAKE_PTR(r->plugin);
                        r->draining = true;
                        r->isolation = NULL;
                        lifecycle_begin_drain(p, shutdown_drained, strdup(r->id));
                }
        }
        shutdown_check(h);
}

char *host_busy_plugins(Host *h) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        for (size_t i = 0; l && i < h->registry.n_records; i++) {
                PluginRecord *r = h->registry.records[i];
                if ((r->draining || r->starting) && strv_extend(&l, r->id) < 0)
                        return NULL;
        }
        return l ? strv_join(l, ", ") : NULL;
}

unsigned host_n_starting(Host *h) {
        return h->n_starting;
}

/* ---- routines ------------------------------------------------------------ */

typedef struct RoutineJob {
        Job job;
        RoutineTimer *timer;
        Plugin *plugin;
} RoutineJob;

static void routine_run(Job *j) {
        RoutineJob *rj = (RoutineJob *) j;
        crash_marker_enter(rj->plugin->id, rj->timer->def.name);
        rj->timer->def.run(rj->plugin->ctx);
        crash_marker_leave();
}

static void routine_finished(Plugin *p, RoutineTimer *t) {
        t->busy = false;
        assert(p->in_flight > 0);
        p->in_flight--;
        lifecycle_drain_check(p);
}

static void routine_complete(Job *j) {
        RoutineJob *rj = (RoutineJob *) j;
        Plugin *p = rj->plugin;
        routine_finished(p, rj->timer);
        plugin_unref(p);
        free(rj);
}

static void run_routine(Plugin *p, RoutineTimer *t) {
        if (p->isolated) {
                if (isolated_routine(p, t) >= 0) {
                        t->busy = true;
                        p->in_flight++;
                }
                return;
        }
        RoutineJob *rj = calloc(1, sizeof(RoutineJob));
        if (!rj)
                return;
        rj->job.run = routine_run;
        rj->job.complete = routine_complete;
        rj->job.serial_key = p->thread_safe ? NULL : p;
        rj->job.owner = p;
        rj->timer = t;
        rj->plugin = plugin_ref(p);
        if (worker_pool_submit(p->host->pool, &rj->job) < 0) {
                plugin_unref(p);
                free(rj);
                return;
        }
        t->busy = true;
        p->in_flight++;
}

static int on_routine_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        RoutineTimer *t = userdata;
        Plugin *p = t->plugin;

        /* A run still in progress is not stacked up behind another one. */
        if (!t->busy && !p->draining)
                run_routine(p, t);
        (void) sd_event_source_set_time_relative(s, (uint64_t) t->def.interval_ms * 1000);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int start_routines(Plugin *p) {
        for (size_t i = 0; i < p->n_routines; i++) {
                RoutineTimer *t = &p->routines[i];
                int r = sd_event_add_time_relative(p->host->event, &t->source, CLOCK_MONOTONIC,
                                                   (uint64_t) t->def.interval_ms * 1000, 1000, on_routine_timer, t);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(t->source, t->def.name);
        }
        return 0;
}

static void stop_routines(Plugin *p) {
        for (size_t i = 0; i < p->n_routines; i++)
                p->routines[i].source = sd_event_source_disable_unref(p->routines[i].source);
}

/* ---- drain ------------------------------------------------------------------ */

static void finish_drain(Plugin *p) {
        Host *h = p->host;
        bool counted = p->counted;

        p->draining = false;
        p->initialized = false;
        __atomic_store_n(&p->ctx->dead, 1, __ATOMIC_RELEASE);
        log_struct(LOG_INFO, 0, DC_MESSAGE_PLUGIN_UNLOADED,
                   LOG_FIELDS(LF("PLUGIN_ID", p->id), LF("PLUGIN_DIGEST", p->digest), LF("DC_OPERATION", "unload")),
                   p->isolated ? "Unloaded plugin: %s (its worker process is gone)"
                               : "Unloaded plugin: %s (memory not reclaimed - restart required for full unload)",
                   p->id);
        host_done_cb cb = TAKE_PTR(p->drain_cb);
        if (cb)
                cb(h, 0, p->drain_userdata);
        plugin_unref(p);
        if (counted) {
                assert(h->n_generations > 0);
                h->n_generations--;
        }
        shutdown_check(h);
}

static void on_cleaned(Host *h, Plugin *p, void *userdata) {
        finish_drain(p);
}

static void on_isolated_stopped(Host *h, Plugin *p) {
        finish_drain(p);
}

void lifecycle_drain_check(Plugin *p) {
        Host *h = p->host;

        if (!p->draining || p->stopping || p->in_flight > 0 || direct_table_busy(h->direct, p))
                return;
        p->stopping = true;
        if (p->isolated) {
                isolated_stop(p); /* → on_isolated_stopped, maybe right away */
                return;
        }
        if (p->initialized && inprocess_cleanup(h, p, on_cleaned, NULL) >= 0)
                return;
        if (p->initialized)
                log_struct(LOG_WARNING, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", p->id)),
                           "Plugin %s: cannot start its cleanup(); unloading without it", p->id);
        finish_drain(p);
}

static void direct_drained_run(MailboxItem *item, bool cancelled) {
        Plugin *p = (Plugin *) ((char *) item - offsetof(Plugin, drained));
        lifecycle_drain_check(p);
        plugin_unref(p); /* taken when the drain started waiting for it */
}

/* The last direct call's thread: the loop finishes the drain that waited
 * for it (an intrusive item: no allocation that could fail and hang the unload). */
void lifecycle_direct_drained(Plugin *p, void *userdata) {
        Host *h = userdata;
        p->drained.run = direct_drained_run;
        loop_mailbox_post(h->mailbox, &p->drained);
}

void lifecycle_begin_drain(Plugin *p, host_done_cb cb, void *userdata) {
        stop_routines(p);
        if (direct_table_withdraw(p->host->direct, p))
                plugin_ref(p); /* until direct_drained_run */
        p->draining = true;
        p->drain_cb = cb;
        p->drain_userdata = userdata;
        lifecycle_drain_check(p);
}

/* ---- verification ------------------------------------------------------------ */

typedef struct ScanCtx {
        Host *h;
        const char *root;
} ScanCtx;

static bool is_disabled_cb(const char *id, void *userdata) {
        ScanCtx *sc = userdata;
        return state_is_disabled(sc->h->config->state_dir, id);
}

/* Duplicate: the id is live (or starting), or an earlier root already claimed it. */
static bool is_registered_cb(const char *id, void *userdata) {
        ScanCtx *sc = userdata;
        PluginRecord *r = registry_find(&sc->h->registry, id);
        if (!r)
                return false;
        if (r->plugin || r->draining || r->starting)
                return true;
        return r->seen && !streq(r->root, sc->root);
}

static VerifyContext verify_context(Host *h, size_t root_idx, Policy *policy, ScanCtx *sc) {
        *sc = (ScanCtx){ .h = h, .root = h->roots[root_idx] };
        return (VerifyContext){
                .policy = policy,
                .rule = host_rule_for(h, h->root_kinds[root_idx]),
                .host_api_level = DC_PLUGIN_ABI_MAJOR,
                .is_disabled = is_disabled_cb,
                .is_registered = is_registered_cb,
                .userdata = sc,
        };
}

static void log_failure(const Candidate *c, const Verdict *v) {
        bool rejected = reason_is_rejection(v->reason);
        log_struct(LOG_WARNING, 0, rejected ? DC_MESSAGE_PLUGIN_REJECTED : DC_MESSAGE_PLUGIN_FAILED,
                   LOG_FIELDS(LF("PLUGIN_ID", c->id), LF("DC_REASON", reason_to_string(v->reason)),
                              LF("DC_ERROR", v->message), LF("PLUGIN_DIGEST", c->digest[0] ? c->digest : NULL),
                              LF("DC_PLUGIN_ROOT", c->root),
                              LF("EXPECTED_DIGEST", c->expected_digest[0] ? c->expected_digest : NULL),
                              LF("ACTUAL_DIGEST", c->expected_digest[0] ? c->digest : NULL)),
                   "Failed to load plugin %s: %s", c->id, v->message ? v->message : reason_to_string(v->reason));
}

static void log_loaded(const Plugin *p, const Candidate *c, const char *operation, const char *isolation) {
        log_struct(LOG_INFO, 0, DC_MESSAGE_PLUGIN_LOADED,
                   LOG_FIELDS(LF("PLUGIN_ID", p->id), LF("PLUGIN_NAME", p->desc.name),
                              LF("PLUGIN_VERSION", p->desc.version), LF("PLUGIN_AUTHOR", p->desc.author),
                              LF("PLUGIN_DIGEST", c->digest), LF("DC_PLUGIN_SIGNER", c->signer),
                              LF("DC_ISOLATION", isolation), LF("DC_OPERATION", operation)),
                   "Loaded plugin %s %s (%s)", p->id, p->desc.version ? p->desc.version : "", isolation);
}

/* ---- starting a generation ----------------------------------------------------------- */

typedef struct StartCtx {
        Host *h;
        Candidate c; /* what was verified; the image goes to the instance */
        bool reload;
        PluginIsolation isolation;
        lifecycle_done_fn done;
        void *userdata;
} StartCtx;

static void on_isolated_routine_done(Plugin *p, RoutineTimer *t) {
        routine_finished(p, t);
}

/* Too many crashes: persisted, unloaded, and the record says why. */
static void on_quarantine(Host *h, Plugin *p, const char *why) {
        PluginRecord *rec = registry_find(&h->registry, p->id);
        int r = quarantine_set(h->config->state_dir, p->id, why);
        log_struct(LOG_ERR, r < 0 ? r : 0, DC_MESSAGE_PLUGIN_QUARANTINED,
                   LOG_FIELDS(LF("PLUGIN_ID", p->id), LF("DC_REASON", "quarantined"), LF("DC_ERROR", why)),
                   "Plugin %s quarantined: %s", p->id, why);
        if (rec && rec->plugin == p && !rec->draining) {
                rec->plugin = NULL;
                rec->draining = true;
                rec->isolation = NULL;
                registry_set(&h->registry, rec, PLUGIN_STATE_QUARANTINED, REASON_QUARANTINED, why, NULL);
                registry_notify_unloaded(&h->registry, rec->id);
                lifecycle_begin_drain(p, NULL, NULL);
                rec->draining = false;
        }
}

static void finish_start(StartCtx *s, Plugin *p, int r, const Verdict *v);

static void on_isolated_started(Host *h, Plugin *p, int r, const Verdict *v, void *userdata) {
        finish_start(userdata, p, r, v);
}

static const IsolatedCallbacks isolated_callbacks = {
        .started = on_isolated_started,
        .routine_done = on_isolated_routine_done,
        .quarantine = on_quarantine,
        .stopped = on_isolated_stopped,
};

static void on_inprocess_started(Host *h, Plugin *p, int r, const Verdict *v, void *userdata) {
        finish_start(userdata, p, r, v);
}

static void finish_start(StartCtx *s, Plugin *p, int r, const Verdict *v) {
        Host *h = s->h;
        Verdict none = {};
        PluginRecord *rec = registry_find(&h->registry, s->c.id);
        const char *isolation = plugin_isolation_to_string(s->isolation);

        assert(rec && rec->starting);
        rec->starting = false;
        assert(h->n_starting > 0);
        h->n_starting--;
        if (r >= 0) {
                p->counted = true;
                h->n_generations++;
                r = start_routines(p);
                if (r < 0) {
                        (void) verdict_set(&none, r, REASON_LOAD_FAILED, "failed to start the plugin's routines: %s",
                                           strerror(-r));
                        v = &none;
                        lifecycle_begin_drain(p, NULL, NULL); /* nothing runs yet: straight to cleanup() */
                        p = NULL;
                }
        }
        if (r < 0) {
                if (!v)
                        v = &none;
                log_failure(&s->c, v);
                if (s->reload && rec->plugin)
                        registry_set_error(&h->registry, rec, v->reason, v->message); /* the old one serves on */
                else
                        registry_set(&h->registry, rec, state_for_reason(v->reason), v->reason, v->message, s->c.digest);
        } else {
                Plugin *old = s->reload ? TAKE_PTR(rec->plugin) : NULL;
                rec->plugin = p;
                rec->isolation = isolation;
                if (s->isolation == PLUGIN_ISOLATION_IN_PROCESS) {
                        h->n_inprocess_loads++;
                        (void) direct_table_publish(h->direct, p); /* failure: calls take the pool */
                }
                registry_fill_metadata(rec, &s->c, p);
                log_loaded(p, &s->c, s->reload ? "reload" : "load", isolation);
                registry_set(&h->registry, rec, PLUGIN_STATE_LOADED, REASON_NONE, NULL, s->c.digest);
                if (old)
                        lifecycle_begin_drain(old, NULL, NULL); /* finishes once its calls return */
                registry_notify_loaded(&h->registry, rec);
                if (h->shutting_down) {
                        /* ready after the shutdown began: unloaded at once */
                        rec->plugin = NULL;
                        lifecycle_begin_drain(p, NULL, NULL);
                }
        }
        if (s->done)
                s->done(h, s->c.id, r < 0 ? r : 0, r < 0 ? v : NULL, s->userdata);
        verdict_clear(&none);
        candidate_done(&s->c);
        free(s);
        shutdown_check(h);
}

/* Where the verified candidate runs, and whether it may run at all. */
static int decide(Host *h, PluginRecord *rec, const Candidate *c, PluginIsolation *ret, Verdict *v) {
        const HostConfig *cfg = h->config;
        _cleanup_free_ char *why = NULL;

        if (quarantine_get(cfg->state_dir, c->id, &why) == 0) {
                registry_set(&h->registry, rec, PLUGIN_STATE_QUARANTINED, REASON_QUARANTINED, why, c->digest);
                return verdict_set(v, -EPERM, REASON_QUARANTINED,
                                   "plugin %s is quarantined (%s); an explicit load lifts it", c->id, why);
        }
        bool crashed = strv_contains(h->crashed_in_process, c->id) || crashed_in_process_get(cfg->state_dir, c->id);
        PluginIsolation iso = strv_contains(h->sidecars, c->id)
                                      ? PLUGIN_ISOLATION_PROCESS /* deploy_sidecar: a worker, whatever else says */
                                      : isolation_decide(cfg, h->policy, c->id,
                                                         c->layout == LAYOUT_FOLDER ? &c->manifest : NULL, crashed);
        if (crashed && iso == PLUGIN_ISOLATION_IN_PROCESS) {
                /* PluginIsolation= insists on the daemon's own process: not again. */
                const char *w = "the daemon died in this plugin's code during its previous run, and "
                                "PluginIsolation= keeps it in process";
                (void) quarantine_set(cfg->state_dir, c->id, w);
                log_struct(LOG_ERR, 0, DC_MESSAGE_PLUGIN_QUARANTINED,
                           LOG_FIELDS(LF("PLUGIN_ID", c->id), LF("DC_REASON", "quarantined"), LF("DC_ERROR", w)),
                           "Plugin %s quarantined: %s", c->id, w);
                registry_set(&h->registry, rec, PLUGIN_STATE_QUARANTINED, REASON_QUARANTINED, w, c->digest);
                return verdict_set(v, -EPERM, REASON_QUARANTINED, "plugin %s is quarantined (%s); an explicit load "
                                   "lifts it", c->id, w);
        }
        if (iso == PLUGIN_ISOLATION_IN_PROCESS && h->n_inprocess_loads >= cfg->max_inprocess_loads)
                return verdict_set(v, -E2BIG, REASON_LIMIT_EXCEEDED,
                                   "in-process plugins were loaded %u times since the daemon started "
                                   "(MaxInProcessLoads=%u; each load keeps its code mapped): restart the daemon, "
                                   "or run the plugin in a worker process",
                                   h->n_inprocess_loads, cfg->max_inprocess_loads);
        *ret = iso;
        return 0;
}

/* The candidate (moved into s) starts; 0 or a refusal before anything ran. */
static int start(StartCtx *s, PluginRecord *rec, Verdict *v) {
        Host *h = s->h;
        int r = decide(h, rec, &s->c, &s->isolation, v);
        if (r < 0)
                return r;
        rec->starting = true;
        h->n_starting++;
        if (!s->reload)
                registry_set(&h->registry, rec, PLUGIN_STATE_LOADING, REASON_NONE, NULL, s->c.digest);
        if (s->isolation == PLUGIN_ISOLATION_PROCESS) {
                bool net = isolation_network_allowed(h->config, s->c.id,
                                                     s->c.layout == LAYOUT_FOLDER ? &s->c.manifest : NULL);
                r = isolated_start(h, &s->c, net, &isolated_callbacks, s, v);
        } else {
                r = inprocess_start(h, &s->c, on_inprocess_started, s);
                if (r < 0)
                        (void) verdict_set(v, r, REASON_LOAD_FAILED, "cannot start the plugin: %s", strerror(-r));
        }
        if (r < 0) {
                rec->starting = false;
                h->n_starting--;
        }
        return r;
}

int lifecycle_load_entry(Host *h, size_t root_idx, int rootfd, const char *name, PluginLayout layout, Verdict *v,
                         lifecycle_done_fn done, void *userdata) {
        _cleanup_(policy_unrefp) Policy *policy = policy_ref(h->policy);
        ScanCtx sc;
        VerifyContext vc = verify_context(h, root_idx, policy, &sc);
        PluginRecord *rec;
        int r;

        StartCtx *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        *s = (StartCtx){ .h = h, .done = done, .userdata = userdata };
        candidate_init(&s->c);
        Candidate *c = &s->c;
        r = plugin_verify(&vc, rootfd, h->roots[root_idx], name, layout, c, v);
        if (r == -ENOMEM)
                goto fail;
        if (r < 0 && v->reason == REASON_DUPLICATE_ID) {
                log_failure(c, v);
                (void) registry_add_shadowed(&h->registry, c, v);
                goto fail;
        }
        if (!c->id) {
                r = -ENOMEM;
                goto fail;
        }
        rec = registry_get_or_add(&h->registry, c->id, c->root, layout);
        if (!rec) {
                r = -ENOMEM;
                goto fail;
        }
        rec->seen = true;
        registry_fill_metadata(rec, c, NULL);
        if (r < 0) {
                if (v->reason != REASON_DISABLED)
                        log_failure(c, v);
                registry_set(&h->registry, rec, state_for_reason(v->reason), v->reason, v->message, c->digest);
                goto fail;
        }
        if (h->dry_run) {
                registry_set(&h->registry, rec, PLUGIN_STATE_AVAILABLE, REASON_NONE, NULL, c->digest);
                candidate_done(c);
                free(s);
                return 1; /* verified: nothing to start */
        }
        r = start(s, rec, v);
        if (r < 0) {
                if (v->reason != REASON_QUARANTINED) {
                        log_failure(c, v);
                        registry_set(&h->registry, rec, state_for_reason(v->reason), v->reason, v->message, c->digest);
                }
                goto fail;
        }
        return 0;
fail:
        candidate_done(&s->c);
        free(s);
        return r;
}

int lifecycle_reload_entry(Host *h, PluginRecord *rec, size_t root_idx, int rootfd, const char *name,
                           PluginLayout layout, bool force, Verdict *v, lifecycle_done_fn done, void *userdata) {
        assert(rec->plugin && !rec->draining && !rec->starting);

        /* Verify the new bytes with the live instance set aside, so the
         * duplicate-id check does not trip over ourselves. */
        Plugin *old = TAKE_PTR(rec->plugin);
        _cleanup_(policy_unrefp) Policy *policy = policy_ref(h->policy);
        ScanCtx sc;
        VerifyContext vc = verify_context(h, root_idx, policy, &sc);

        StartCtx *s = calloc(1, sizeof *s);
        if (!s) {
                rec->plugin = old;
                return -ENOMEM;
        }
        *s = (StartCtx){ .h = h, .reload = true, .done = done, .userdata = userdata };
        candidate_init(&s->c);
        registry_clear_seen(&h->registry);
        int k = plugin_verify(&vc, rootfd, h->roots[root_idx], name, layout, &s->c, v);
        rec->plugin = old;
        if (k >= 0 && !force && streq(s->c.digest, old->digest)) {
                /* Same bytes: never re-init or clean up a healthy live instance. */
                candidate_done(&s->c);
                free(s);
                return 1;
        }
        if (k >= 0)
                k = start(s, rec, v);
        if (k < 0) {
                /* The old generation keeps serving; the record shows why. */
                if (s->c.id)
                        log_failure(&s->c, v);
                registry_set_error(&h->registry, rec, v->reason, v->message);
                candidate_done(&s->c);
                free(s);
                return k;
        }
        return 0;
}

int lifecycle_recheck_entry(Host *h, PluginRecord *r, size_t root_idx, int rootfd, const char *name,
                            PluginLayout layout, Verdict *v) {
        assert(r->plugin && !r->draining);

        /* The live instance set aside, as in a reload; nothing is started. */
        Plugin *live = TAKE_PTR(r->plugin);
        _cleanup_(policy_unrefp) Policy *policy = policy_ref(h->policy);
        ScanCtx sc;
        VerifyContext vc = verify_context(h, root_idx, policy, &sc);
        Candidate c;

        candidate_init(&c);
        registry_clear_seen(&h->registry);
        int k = plugin_verify(&vc, rootfd, h->roots[root_idx], name, layout, &c, v);
        r->plugin = live;
        if (k >= 0 && !streq(c.digest, live->digest))
                /* The policy judged the folder's bytes, not the running ones. */
                k = verdict_set(v, -EPERM, REASON_DIGEST_MISMATCH,
                                "the running code (%s) differs from the files on disk and cannot be verified again; "
                                "reload the plugin", live->digest);
        candidate_done(&c);
        return k == -ENOMEM ? k : k >= 0;
}
