/* SPDX-License-Identifier: MIT */
#include "lifecycle.h"

#include <stddef.h>

#include "log.h"
#include "names.h"
#include "store.h"

/* ---- routines ------------------------------------------------------------ */

typedef struct RoutineJob {
        Job job;
        RoutineTimer *timer;
        Plugin *plugin;
} RoutineJob;

static void routine_run(Job *j) {
        RoutineJob *rj = (RoutineJob *) j;
        rj->timer->def.run(rj->plugin->ctx);
}

static void routine_complete(Job *j) {
        RoutineJob *rj = (RoutineJob *) j;
        Plugin *p = rj->plugin;

        rj->timer->busy = false;
        assert(p->in_flight > 0);
        p->in_flight--;
        lifecycle_drain_check(p);
        plugin_unref(p);
        free(rj);
}

static int on_routine_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        RoutineTimer *t = userdata;
        Plugin *p = t->plugin;

        /* A run still in progress is not stacked up behind another one. */
        if (!t->busy && !p->draining) {
                RoutineJob *rj = calloc(1, sizeof(RoutineJob));
                if (rj) {
                        rj->job.run = routine_run;
                        rj->job.complete = routine_complete;
                        rj->job.serial_key = p->thread_safe ? NULL : p;
                        rj->timer = t;
                        rj->plugin = plugin_ref(p);
                        if (worker_pool_submit(p->host->pool, &rj->job) < 0) {
                                plugin_unref(p);
                                free(rj);
                        } else {
                                t->busy = true;
                                p->in_flight++;
                        }
                }
        }
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

void lifecycle_drain_check(Plugin *p) {
        Host *h = p->host;
        int r;

        if (!p->draining || p->in_flight > 0 || direct_table_busy(h->direct, p))
                return;
        p->draining = false;
        if (p->initialized) {
                r = p->desc.cleanup(p->ctx);
                if (r < 0)
                        log_struct(LOG_WARNING, r, NULL, LOG_FIELDS(LF("PLUGIN_ID", p->id)),
                                   "Error during plugin cleanup: %s", p->id);
                p->initialized = false;
        }
        __atomic_store_n(&p->ctx->dead, 1, __ATOMIC_RELEASE);
        log_struct(LOG_INFO, 0, DC_MESSAGE_PLUGIN_UNLOADED,
                   LOG_FIELDS(LF("PLUGIN_ID", p->id), LF("PLUGIN_DIGEST", p->digest), LF("DC_OPERATION", "unload")),
                   "Unloaded plugin: %s (memory not reclaimed - restart required for full unload)", p->id);
        host_done_cb cb = TAKE_PTR(p->drain_cb);
        if (cb)
                cb(h, 0, p->drain_userdata);
        plugin_unref(p);
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

/* ---- the load path ------------------------------------------------------------ */

typedef struct ScanCtx {
        Host *h;
        const char *root;
} ScanCtx;

static bool is_disabled_cb(const char *id, void *userdata) {
        ScanCtx *sc = userdata;
        return state_is_disabled(sc->h->config->state_dir, id);
}

/* Duplicate: the id is live, or an earlier root already claimed it. */
static bool is_registered_cb(const char *id, void *userdata) {
        ScanCtx *sc = userdata;
        PluginRecord *r = registry_find(&sc->h->registry, id);
        if (!r)
                return false;
        if (r->plugin || r->draining)
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

static LoaderContext loader_context(Host *h) {
        return (LoaderContext){
                .host = h,
                .config = h->config,
                .plugin_config_dir = h->config->plugin_config_dir,
                .config_rule = { .kind = ROOT_READONLY, .self_uid = h->config->self_uid, .trusted_uid = h->config->trusted_uid },
                .ctxs = &h->ctxs,
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
                   "Failed to load plugin: %s", c->id);
}

static void log_loaded(const Plugin *p, const Candidate *c, const char *operation) {
        log_struct(LOG_INFO, 0, DC_MESSAGE_PLUGIN_LOADED,
                   LOG_FIELDS(LF("PLUGIN_ID", p->id), LF("PLUGIN_NAME", p->desc.name),
                              LF("PLUGIN_VERSION", p->desc.version), LF("PLUGIN_AUTHOR", p->desc.author),
                              LF("PLUGIN_DIGEST", c->digest), LF("DC_PLUGIN_SIGNER", c->signer),
                              LF("DC_OPERATION", operation)),
                   "Loaded plugin");
}

/* Map, check, init and start a verified candidate: the new live instance. */
static int start_instance(Host *h, Candidate *c, Plugin **ret, Verdict *v) {
        LoaderContext lc = loader_context(h);
        Plugin *p = NULL;
        int r = plugin_instantiate(&lc, c, &p, v);
        if (r >= 0)
                r = plugin_init(p, &host_api_table, v);
        if (r >= 0) {
                r = start_routines(p);
                if (r < 0) {
                        verdict_set(v, r, REASON_LOAD_FAILED, "failed to start the plugin's routines: %s", strerror(-r));
                        lifecycle_begin_drain(p, NULL, NULL); /* cleanup() after the init() that ran */
                        return r;
                }
        }
        if (r < 0) {
                plugin_unref(p);
                return r;
        }
        *ret = p;
        return 0;
}

int lifecycle_load_entry(Host *h, size_t root_idx, int rootfd, const char *name, PluginLayout layout, Verdict *v) {
        _cleanup_(policy_unrefp) Policy *policy = policy_ref(h->policy);
        ScanCtx sc;
        VerifyContext vc = verify_context(h, root_idx, policy, &sc);
        Candidate c;
        Plugin *p = NULL;
        PluginRecord *rec;
        int r;

        candidate_init(&c);
        r = plugin_verify(&vc, rootfd, h->roots[root_idx], name, layout, &c, v);
        if (r == -ENOMEM)
                goto finish;
        if (r < 0 && v->reason == REASON_DUPLICATE_ID) {
                log_failure(&c, v);
                (void) registry_add_shadowed(&h->registry, &c, v);
                goto finish;
        }
        if (!c.id) {
                r = -ENOMEM;
                goto finish;
        }
        rec = registry_get_or_add(&h->registry, c.id, c.root, layout);
        if (!rec) {
                r = -ENOMEM;
                goto finish;
        }
        rec->seen = true;
        registry_fill_metadata(rec, &c, NULL);
        if (r < 0) {
                if (v->reason != REASON_DISABLED)
                        log_failure(&c, v);
                registry_set(&h->registry, rec, state_for_reason(v->reason), v->reason, v->message, c.digest);
                goto finish;
        }
        if (h->dry_run) {
                registry_set(&h->registry, rec, PLUGIN_STATE_AVAILABLE, REASON_NONE, NULL, c.digest);
                goto finish;
        }

        r = start_instance(h, &c, &p, v);
        if (r < 0) {
                if (r != -ENOMEM || v->reason != REASON_NONE) {
                        log_failure(&c, v);
                        registry_set(&h->registry, rec, state_for_reason(v->reason), v->reason, v->message, c.digest);
                }
                goto finish;
        }
        rec->plugin = p;
        (void) direct_table_publish(h->direct, p); /* failure: calls take the pool */
        registry_fill_metadata(rec, &c, p);
        log_loaded(p, &c, "load");
        registry_set(&h->registry, rec, PLUGIN_STATE_LOADED, REASON_NONE, NULL, c.digest);
        registry_notify_loaded(&h->registry, rec);
finish:
        candidate_done(&c);
        return r;
}

int lifecycle_reload_entry(Host *h, PluginRecord *r, size_t root_idx, int rootfd, const char *name,
                           PluginLayout layout, bool *unchanged, Verdict *v) {
        assert(r->plugin && !r->draining);

        /* Verify the new bytes with the live instance set aside, so the
         * duplicate-id check does not trip over ourselves. */
        Plugin *old = TAKE_PTR(r->plugin);
        _cleanup_(policy_unrefp) Policy *policy = policy_ref(h->policy);
        ScanCtx sc;
        VerifyContext vc = verify_context(h, root_idx, policy, &sc);
        Candidate c;
        Plugin *p = NULL;
        int k;

        candidate_init(&c);
        registry_clear_seen(&h->registry);
        k = plugin_verify(&vc, rootfd, h->roots[root_idx], name, layout, &c, v);
        if (k >= 0 && streq(c.digest, old->digest)) {
                /* Same bytes: never re-init or clean up a healthy live instance. */
                r->plugin = old;
                *unchanged = true;
                candidate_done(&c);
                return 0;
        }
        if (k >= 0)
                k = start_instance(h, &c, &p, v);
        if (k < 0) {
                /* The old generation keeps serving; the record shows why. */
                if (c.id)
                        log_failure(&c, v);
                r->plugin = old;
                registry_set_error(&h->registry, r, v->reason, v->message);
                candidate_done(&c);
                return k;
        }
        r->plugin = p;
        (void) direct_table_publish(h->direct, p);
        registry_fill_metadata(r, &c, p);
        log_loaded(p, &c, "reload");
        registry_set(&h->registry, r, PLUGIN_STATE_LOADED, REASON_NONE, NULL, c.digest);
        candidate_done(&c);
        lifecycle_begin_drain(old, NULL, NULL); /* finishes once its calls return */
        registry_notify_loaded(&h->registry, r);
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
