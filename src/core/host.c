/* SPDX-License-Identifier: MIT */
#include "host.h"
#include "install.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>

#include "build-config.h"
#include "direct-call.h"
#include "json-util.h"
#include "log.h"
#include "names.h"
#include "plugin-id.h"
#include "plugin-instance.h"
#include "schema.h"
#include "strv.h"

#define SIGNATURES_FILE_MAX (1024u * 1024u)

typedef struct ListenerSlot {
        const HostListener *l;
        void *userdata;
} ListenerSlot;

typedef struct QueuedEvent {
        struct QueuedEvent *next;
        char *plugin_id, *name, *payload;
} QueuedEvent;

struct Host {
        sd_event *event;
        const HostConfig *config;
        Policy *policy;
        WorkerPool *pool;
        DirectTable *direct;
        char **roots;        /* canonical: read-only roots, then the store */
        RootKind *root_kinds;
        size_t n_roots;
        PluginRecord **records; /* sorted by id */
        size_t n_records;
        PluginRecord **shadowed;
        size_t n_shadowed;
        ListenerSlot *listeners;
        size_t n_listeners;
        struct dc_plugin_ctx **ctxs;
        size_t n_ctxs;
        pthread_mutex_t event_lock;
        QueuedEvent *events_head, *events_tail;
        Plugin *drained; /* withdrawn plugins whose last direct call returned */
        int event_fd;
        sd_event_source *event_source;
        bool dry_run;
};

static const char *const state_table[_PLUGIN_STATE_MAX] = {
        [PLUGIN_STATE_UNKNOWN] = "unknown",   [PLUGIN_STATE_AVAILABLE] = "available",
        [PLUGIN_STATE_LOADING] = "loading",   [PLUGIN_STATE_LOADED] = "loaded",
        [PLUGIN_STATE_FAILED] = "failed",     [PLUGIN_STATE_DISABLED] = "disabled",
        [PLUGIN_STATE_REJECTED] = "rejected",
};

const char *plugin_state_to_string(PluginState s) {
        return s >= 0 && s < _PLUGIN_STATE_MAX ? state_table[s] : "unknown";
}

static uint64_t now_realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* ---- listeners ---------------------------------------------------------- */

#define NOTIFY(h, member, ...)                                                  \
        do {                                                                    \
                for (size_t _i = 0; _i < (h)->n_listeners; _i++)                \
                        if ((h)->listeners[_i].l->member)                       \
                                (h)->listeners[_i].l->member((h), __VA_ARGS__, \
                                                             (h)->listeners[_i].userdata); \
        } while (0)

int host_add_listener(Host *h, const HostListener *l, void *userdata) {
        ListenerSlot *n = realloc(h->listeners, (h->n_listeners + 1) * sizeof(ListenerSlot));
        if (!n)
                return -ENOMEM;
        h->listeners = n;
        h->listeners[h->n_listeners++] = (ListenerSlot){ l, userdata };
        return 0;
}

void host_remove_listener(Host *h, const HostListener *l, void *userdata) {
        for (size_t i = 0; i < h->n_listeners; i++)
                if (h->listeners[i].l == l && h->listeners[i].userdata == userdata) {
                        memmove(h->listeners + i, h->listeners + i + 1, (h->n_listeners - i - 1) * sizeof(ListenerSlot));
                        h->n_listeners--;
                        return;
                }
}

/* ---- records ------------------------------------------------------------ */

static PluginRecord *record_free(PluginRecord *r) {
        if (!r)
                return NULL;
        free(r->id);
        free(r->root);
        free(r->message);
        free(r->name);
        free(r->version);
        free(r->description);
        free(r->manifest_json);
        free(r);
        return NULL;
}

PluginRecord *host_find(Host *h, const char *id) {
        size_t lo = 0, hi = h->n_records;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(h->records[mid]->id, id);
                if (c == 0)
                        return h->records[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static PluginRecord *record_get_or_add(Host *h, const char *id, const char *root, PluginLayout layout) {
        PluginRecord *r = host_find(h, id), **n;
        size_t pos = 0;

        if (r)
                return r;
        r = calloc(1, sizeof(PluginRecord));
        if (!r)
                return NULL;
        r->id = strdup(id);
        r->root = strdup(root);
        r->layout = layout;
        n = realloc(h->records, (h->n_records + 1) * sizeof(PluginRecord *));
        if (!r->id || !r->root || !n) {
                if (n)
                        h->records = n;
                return record_free(r);
        }
        h->records = n;
        while (pos < h->n_records && strcmp(h->records[pos]->id, id) < 0)
                pos++;
        memmove(h->records + pos + 1, h->records + pos, (h->n_records - pos) * sizeof(PluginRecord *));
        h->records[pos] = r;
        h->n_records++;
        r->changed_usec = now_realtime_usec();
        NOTIFY(h, record_added, r);
        return r;
}

static void record_remove(Host *h, PluginRecord *r) {
        /* Listeners hear about it while the record still exists (D-Bus
         * needs the object to build InterfacesRemoved). */
        NOTIFY(h, record_removed, r->id);
        for (size_t i = 0; i < h->n_records; i++)
                if (h->records[i] == r) {
                        memmove(h->records + i, h->records + i + 1, (h->n_records - i - 1) * sizeof(PluginRecord *));
                        h->n_records--;
                        break;
                }
        record_free(r);
}

static int set_str(char **dst, const char *s) {
        char *c = NULL;
        if (s && !(c = strdup(s)))
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

static void record_set(Host *h, PluginRecord *r, PluginState state, Reason reason, const char *message,
                       const char *digest) {
        r->state = state;
        r->reason = reason;
        (void) set_str(&r->message, message);
        if (digest)
                snprintf(r->digest, sizeof r->digest, "%s", digest);
        r->changed_usec = now_realtime_usec();
        NOTIFY(h, record_changed, r);
}

static PluginState state_for_reason(Reason reason) {
        if (reason == REASON_DISABLED)
                return PLUGIN_STATE_DISABLED;
        return reason_is_rejection(reason) ? PLUGIN_STATE_REJECTED : PLUGIN_STATE_FAILED;
}

static void record_fill_metadata(PluginRecord *r, const Candidate *c, const Plugin *p) {
        const Manifest *m = &c->manifest;
        (void) set_str(&r->version, p && p->desc->version ? p->desc->version : m->version);
        (void) set_str(&r->description, p && p->desc->description ? p->desc->description : m->description);
        (void) set_str(&r->name, p ? p->desc->name : NULL);
        (void) set_str(&r->manifest_json, m->json);
        (void) set_str(&r->root, c->root);
        r->layout = c->layout;
}

/* ---- bookkeeping used by the loader -------------------------------------- */

int host_track_ctx(Host *h, struct dc_plugin_ctx *ctx) {
        struct dc_plugin_ctx **n = realloc(h->ctxs, (h->n_ctxs + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        h->ctxs = n;
        h->ctxs[h->n_ctxs++] = ctx;
        return 0;
}

const char *host_plugin_config_dir(Host *h) {
        return h->config->plugin_config_dir;
}

/* ---- events from plugins (any thread) ------------------------------------ */

static int wake_loop(Host *h) {
        uint64_t one = 1;
        if (write(h->event_fd, &one, sizeof one) < 0 && errno != EAGAIN)
                return -errno;
        return 0;
}

static int queue_push(Host *h, QueuedEvent *e) {
        pthread_mutex_lock(&h->event_lock);
        if (h->events_tail)
                h->events_tail->next = e;
        else
                h->events_head = e;
        h->events_tail = e;
        pthread_mutex_unlock(&h->event_lock);
        return wake_loop(h);
}

int host_queue_event(Host *h, const char *plugin_id, const char *event, const char *payload_json) {
        QueuedEvent *e = calloc(1, sizeof(QueuedEvent));

        if (!e)
                return -ENOMEM;
        e->plugin_id = strdup(plugin_id);
        e->name = strdup(event);
        e->payload = strdup(payload_json);
        if (!e->plugin_id || !e->name || !e->payload) {
                free(e->plugin_id);
                free(e->name);
                free(e->payload);
                free(e);
                return -ENOMEM;
        }
        return queue_push(h, e);
}

static void plugin_maybe_finish_drain(Plugin *p);

/* A direct call's thread: the loop finishes the drain that waited for it
 * (an intrusive list: no allocation that could fail and hang the unload). */
static void on_direct_drained(Plugin *p, void *userdata) {
        Host *h = userdata;
        pthread_mutex_lock(&h->event_lock);
        p->drained_next = h->drained;
        h->drained = p;
        pthread_mutex_unlock(&h->event_lock);
        (void) wake_loop(h);
}

static void dispatch_events(Host *h, bool deliver) {
        QueuedEvent *list;

        pthread_mutex_lock(&h->event_lock);
        list = h->events_head;
        h->events_head = h->events_tail = NULL;
        Plugin *drained = TAKE_PTR(h->drained);
        pthread_mutex_unlock(&h->event_lock);
        while (drained) {
                Plugin *p = drained;
                drained = p->drained_next;
                plugin_maybe_finish_drain(p);
                plugin_unref(p); /* taken when the drain started waiting for it */
        }
        while (list) {
                QueuedEvent *n = list->next;
                if (deliver)
                        NOTIFY(h, plugin_event, list->plugin_id, list->name, list->payload);
                free(list->plugin_id);
                free(list->name);
                free(list->payload);
                free(list);
                list = n;
        }
}

static int on_event_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint64_t v;
        if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
                return -errno;
        dispatch_events(userdata, true);
        return 0;
}

/* ---- drain and unload ---------------------------------------------------- */

static void plugin_stop_routines(Plugin *p) {
        for (size_t i = 0; i < p->n_routines; i++)
                p->routines[i].source = sd_event_source_disable_unref(p->routines[i].source);
}

/* Called whenever in_flight may have reached zero. */
static void plugin_maybe_finish_drain(Plugin *p) {
        Host *h = p->host;
        int r;

        if (!p->draining || p->in_flight > 0 || direct_table_busy(h->direct, p))
                return;
        p->draining = false;
        if (p->initialized) {
                r = p->desc->cleanup(p->ctx);
                if (r < 0)
                        log_struct(LOG_WARNING, r, NULL, LOG_FIELDS(LF("PLUGIN_ID", p->id)),
                                   "Error during plugin cleanup: %s", p->id);
                p->initialized = false;
        }
        __atomic_store_n(&p->ctx->dead, 1, __ATOMIC_RELEASE);
        log_struct(LOG_INFO, 0, DC_MESSAGE_PLUGIN_UNLOADED,
                   LOG_FIELDS(LF("PLUGIN_ID", p->id), LF("PLUGIN_DIGEST", p->digest), LF("DC_OPERATION", "unload")),
                   "Unloaded plugin: %s (memory not reclaimed - restart required for full unload)", p->id);
        host_done_cb cb = p->drain_cb;
        void *ud = p->drain_userdata;
        p->drain_cb = NULL;
        if (cb)
                cb(h, 0, ud);
        plugin_unref(p);
}

static void plugin_begin_drain(Plugin *p, host_done_cb cb, void *userdata) {
        plugin_stop_routines(p);
        if (direct_table_withdraw(p->host->direct, p))
                plugin_ref(p); /* until on_direct_drained's note is dispatched */
        p->draining = true;
        p->drain_cb = cb;
        p->drain_userdata = userdata;
        plugin_maybe_finish_drain(p);
}

typedef struct UnloadOp {
        char *id;
        host_done_cb cb;
        void *userdata;
} UnloadOp;

static void unload_finished(Host *h, int error, void *userdata) {
        UnloadOp *op = userdata;
        PluginRecord *r = host_find(h, op->id);

        if (r && r->draining) {
                r->draining = false;
                record_set(h, r, PLUGIN_STATE_AVAILABLE, REASON_NONE, NULL, NULL);
        }
        NOTIFY(h, plugin_unloaded, op->id);
        if (op->cb)
                op->cb(h, error, op->userdata);
        free(op->id);
        free(op);
}

int host_unload(Host *h, const char *id, host_done_cb cb, void *userdata) {
        PluginRecord *r = host_find(h, id);
        UnloadOp *op;

        if (!r)
                return -ENOENT;
        if (r->draining)
                return -EBUSY;
        if (!r->plugin)
                return -ESRCH;
        op = calloc(1, sizeof(UnloadOp));
        if (!op || !(op->id = strdup(id))) {
                free(op);
                return -ENOMEM;
        }
        op->cb = cb;
        op->userdata = userdata;
        Plugin *p = TAKE_PTR(r->plugin); /* no new calls from here on */
        r->draining = true;
        plugin_begin_drain(p, unload_finished, op);
        return 0;
}

/* ---- routines ------------------------------------------------------------ */

typedef struct RoutineJob {
        Job job;
        RoutineTimer *timer;
        Plugin *plugin;
} RoutineJob;

static void routine_run(Job *j) {
        RoutineJob *rj = (RoutineJob *) j;
        rj->timer->def->run(rj->plugin->ctx);
}

static void routine_complete(Job *j) {
        RoutineJob *rj = (RoutineJob *) j;
        Plugin *p = rj->plugin;

        rj->timer->busy = false;
        p->in_flight--;
        plugin_maybe_finish_drain(p);
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
        (void) sd_event_source_set_time_relative(s, (uint64_t) t->def->interval_ms * 1000);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int plugin_start_routines(Plugin *p) {
        for (size_t i = 0; i < p->n_routines; i++) {
                RoutineTimer *t = &p->routines[i];
                int r = sd_event_add_time_relative(p->host->event, &t->source, CLOCK_MONOTONIC,
                                                   (uint64_t) t->def->interval_ms * 1000, 1000, on_routine_timer, t);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(t->source, t->def->name);
        }
        return 0;
}

/* ---- loading -------------------------------------------------------------- */

typedef struct ScanCtx {
        Host *h;
        const char *root;
} ScanCtx;

static bool is_disabled_cb(const char *id, void *userdata) {
        ScanCtx *sc = userdata;
        _cleanup_free_ char *path = NULL;

        if (!sc->h->config->state_dir || asprintf(&path, "%s/disabled.d/%s", sc->h->config->state_dir, id) < 0)
                return false;
        return access(path, F_OK) == 0;
}

/* Duplicate: the id is live, or an earlier root already claimed it. */
static bool is_registered_cb(const char *id, void *userdata) {
        ScanCtx *sc = userdata;
        PluginRecord *r = host_find(sc->h, id);
        if (!r)
                return false;
        if (r->plugin || r->draining)
                return true;
        return r->seen && !streq(r->root, sc->root);
}

static OwnerRule rule_for(Host *h, RootKind kind) {
        return (OwnerRule){ .kind = kind, .self_uid = h->policy->self_uid, .trusted_uid = h->policy->trusted_uid };
}

static int add_shadowed(Host *h, const Candidate *c, const Verdict *v) {
        PluginRecord *r = calloc(1, sizeof(PluginRecord)), **n;
        if (!r)
                return -ENOMEM;
        r->id = strdup(c->id);
        r->root = strdup(c->root);
        r->message = v->message ? strdup(v->message) : NULL;
        n = realloc(h->shadowed, (h->n_shadowed + 1) * sizeof(PluginRecord *));
        if (!r->id || !r->root || !n) {
                if (n)
                        h->shadowed = n;
                record_free(r);
                return -ENOMEM;
        }
        r->state = PLUGIN_STATE_REJECTED;
        r->reason = REASON_DUPLICATE_ID;
        r->layout = c->layout;
        snprintf(r->digest, sizeof r->digest, "%s", c->digest);
        r->changed_usec = now_realtime_usec();
        h->shadowed = n;
        h->shadowed[h->n_shadowed++] = r;
        return 0;
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

static VerifyContext verify_context(Host *h, size_t root_idx, Policy *policy, ScanCtx *sc) {
        *sc = (ScanCtx){ .h = h, .root = h->roots[root_idx] };
        return (VerifyContext){
                .policy = policy,
                .rule = rule_for(h, h->root_kinds[root_idx]),
                .host_api_level = DC_PLUGIN_ABI_MAJOR,
                .is_disabled = is_disabled_cb,
                .is_registered = is_registered_cb,
                .userdata = sc,
        };
}

static void log_loaded(const Plugin *p, const Candidate *c, const char *operation) {
        log_struct(LOG_INFO, 0, DC_MESSAGE_PLUGIN_LOADED,
                   LOG_FIELDS(LF("PLUGIN_ID", p->id), LF("PLUGIN_NAME", p->desc->name),
                              LF("PLUGIN_VERSION", p->desc->version), LF("PLUGIN_AUTHOR", p->desc->author),
                              LF("PLUGIN_DIGEST", c->digest), LF("DC_PLUGIN_SIGNER", c->signer),
                              LF("DC_OPERATION", operation)),
                   "Loaded plugin");
}

/*
 * The one load path: verify (code-free), then map, check, init, register.
 * `name` is the directory entry below root number `root_idx`.
 */
static int load_entry(Host *h, size_t root_idx, int rootfd, const char *name, PluginLayout layout, Verdict *v) {
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
                (void) add_shadowed(h, &c, v);
                goto finish;
        }
        if (!c.id) {
                r = -ENOMEM;
                goto finish;
        }
        rec = record_get_or_add(h, c.id, c.root, layout);
        if (!rec) {
                r = -ENOMEM;
                goto finish;
        }
        rec->seen = true;
        record_fill_metadata(rec, &c, NULL);
        if (r < 0) {
                if (v->reason != REASON_DISABLED)
                        log_failure(&c, v);
                record_set(h, rec, state_for_reason(v->reason), v->reason, v->message, c.digest);
                goto finish;
        }
        if (h->dry_run) {
                record_set(h, rec, PLUGIN_STATE_AVAILABLE, REASON_NONE, NULL, c.digest);
                goto finish;
        }

        r = plugin_instantiate(h, &c, &p, v);
        if (r >= 0)
                r = plugin_init(p, v);
        if (r < 0) {
                if (r != -ENOMEM || v->reason != REASON_NONE) {
                        log_failure(&c, v);
                        record_set(h, rec, state_for_reason(v->reason), v->reason, v->message, c.digest);
                }
                plugin_unref(p);
                goto finish;
        }
        r = plugin_start_routines(p);
        if (r < 0) {
                verdict_set(v, r, REASON_LOAD_FAILED, "failed to start the plugin's routines: %s", strerror(-r));
                plugin_begin_drain(p, NULL, NULL);
                record_set(h, rec, PLUGIN_STATE_FAILED, v->reason, v->message, c.digest);
                goto finish;
        }
        rec->plugin = p;
        (void) direct_table_publish(h->direct, p); /* failure: calls take the pool */
        record_fill_metadata(rec, &c, p);
        log_loaded(p, &c, "load");
        record_set(h, rec, PLUGIN_STATE_LOADED, REASON_NONE, NULL, c.digest);
        NOTIFY(h, plugin_loaded, rec);
finish:
        candidate_done(&c);
        return r;
}

/* Classify a directory entry without following links. */
static int classify_entry(int rootfd, const char *name, PluginLayout *layout) {
        struct stat st;
        size_t l = strlen(name);
        bool dotso = l > 3 && streq(name + l - 3, ".so");

        if (name[0] == '.')
                return 0;
        if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if (S_ISDIR(st.st_mode)) {
                *layout = LAYOUT_FOLDER;
                return 1;
        }
        if (dotso && S_ISREG(st.st_mode)) {
                *layout = LAYOUT_FLAT;
                return 1;
        }
        /* A symlink (or FIFO …) where a plugin would be: record the refusal. */
        if (S_ISLNK(st.st_mode) || (dotso && !S_ISREG(st.st_mode))) {
                *layout = dotso ? LAYOUT_FLAT : LAYOUT_FOLDER;
                return 1;
        }
        return 0; /* readme.txt, plugin.dll: not plugins */
}

static int open_root(Host *h, size_t idx, char **error) {
        _cleanup_free_ char *inner = NULL;
        OwnerRule rule = rule_for(h, h->root_kinds[idx]);
        int fd = root_open_checked(h->roots[idx], &rule, &inner);

        if (fd == -EPERM && inner) {
                if (asprintf(error, "plugin directory has insecure permissions: %s", inner) < 0)
                        return -ENOMEM;
        } else if (fd < 0 && fd != -ENOENT) {
                if (asprintf(error, "failed to read plugin directory: %s", strerror(-fd)) < 0)
                        return -ENOMEM;
        }
        return fd;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* §3.2 for one root.  A returned error aborts this root only. */
static int scan_root(Host *h, size_t idx, unsigned *n_loaded, unsigned *n_failed, char **error) {
        _cleanup_close_ int rootfd = -1;
        _cleanup_strv_free_ char **names = NULL;
        DIR *d;
        struct dirent *de;

        if (isempty(h->roots[idx])) {
                log_info("Plugin directory not configured, skipping plugin loading");
                return 0;
        }
        rootfd = open_root(h, idx, error);
        if (rootfd == -ENOENT) {
                log_struct(LOG_INFO, 0, NULL, LOG_FIELDS(LF("DC_PLUGIN_ROOT", h->roots[idx])),
                           "Plugin directory does not exist, skipping plugin loading");
                return 0;
        }
        if (rootfd < 0)
                return rootfd;

        d = fdopendir(fcntl(rootfd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return -errno;
        names = calloc(1, sizeof(char *));
        while (names && (de = readdir(d)))
                if (strv_extend(&names, de->d_name) < 0)
                        names = strv_free(names);
        closedir(d);
        if (!names)
                return -ENOMEM;
        qsort(names, strv_length(names), sizeof(char *), cmp_str);

        for (char **n = names; *n; n++) {
                PluginLayout layout;
                Verdict v = {};
                if (classify_entry(rootfd, *n, &layout) <= 0)
                        continue;
                /* Live plugins stay as they are; Reload is the way to swap code. */
                _cleanup_free_ char *id = layout == LAYOUT_FLAT ? strndup(*n, strlen(*n) - 3) : strdup(*n);
                PluginRecord *rec = id ? host_find(h, id) : NULL;
                if (rec && (rec->plugin || rec->draining) && streq(rec->root, h->roots[idx])) {
                        rec->seen = true;
                        continue;
                }
                int r = load_entry(h, idx, rootfd, *n, layout, &v);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0)
                        (*n_loaded)++;
                else if (v.reason != REASON_DISABLED)
                        (*n_failed)++;
                verdict_clear(&v);
        }
        return 0;
}

static void clear_shadowed(Host *h) {
        for (size_t i = 0; i < h->n_shadowed; i++)
                record_free(h->shadowed[i]);
        h->n_shadowed = 0;
}

static int scan_all(Host *h) {
        unsigned n_loaded = 0, n_failed = 0;

        clear_shadowed(h);
        for (size_t i = 0; i < h->n_records; i++)
                h->records[i]->seen = false;
        for (size_t i = 0; i < h->n_roots; i++) {
                _cleanup_free_ char *error = NULL;
                int r = scan_root(h, i, &n_loaded, &n_failed, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_struct(LOG_WARNING, r, NULL,
                                   LOG_FIELDS(LF("DC_ERROR", error ? error : strerror(-r)), LF("DC_PLUGIN_ROOT", h->roots[i])),
                                   "Failed to load external plugins");
        }
        /* Forget candidates that are gone from disk (live ones stay). */
        for (size_t i = h->n_records; i > 0; i--) {
                PluginRecord *r = h->records[i - 1];
                if (!r->seen && !r->plugin && !r->draining)
                        record_remove(h, r);
        }
        log_info("%s %u external plugins (%u failed)", h->dry_run ? "Verified" : "Loaded", n_loaded, n_failed);
        return 0;
}

/* ---- policy ----------------------------------------------------------------- */

/* The signatures file wins over the environment (and must be root-owned). */
static int read_signatures(Host *h, char **text, char **source, char **forced_invalid) {
        const HostConfig *c = h->config;
        OwnerRule rule = { .kind = ROOT_READONLY, .self_uid = c->self_uid, .trusted_uid = UID_INVALID };
        Verdict v = {};
        int r;

        *text = *source = *forced_invalid = NULL;
        if (c->signatures_file) {
                _cleanup_close_ int fd = open(c->signatures_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd >= 0 || errno != ENOENT) {
                        struct stat st;
                        *source = strdup(c->signatures_file);
                        if (!*source)
                                return -ENOMEM;
                        if (fd < 0 || fstat(fd, &st) < 0)
                                r = asprintf(forced_invalid, "cannot open: %s", strerror(errno));
                        else if (check_plugin_file_stat(&st, &rule, SIGNATURES_FILE_MAX, "signatures file", &v) < 0)
                                r = asprintf(forced_invalid, "%s", v.message);
                        else if ((r = read_fd_full(fd, SIGNATURES_FILE_MAX, text, NULL)) < 0)
                                r = asprintf(forced_invalid, "cannot read: %s", strerror(-r));
                        else
                                r = 0;
                        verdict_clear(&v);
                        if (r < 0)
                                return -ENOMEM;
                        if (c->signatures_env)
                                log_warning("%s is ignored: %s exists and takes precedence", DC_ENV_SIGNATURES,
                                            c->signatures_file);
                        return 0;
                }
        }
        if (c->signatures_env && !(*text = strdup(c->signatures_env)))
                return -ENOMEM;
        return 0;
}

int host_reload_policy(Host *h) {
        _cleanup_free_ char *text = NULL, *source = NULL, *forced = NULL;
        Policy *p;
        int r;

        r = read_signatures(h, &text, &source, &forced);
        if (r < 0)
                return r;
        PolicySettings s = {
                .signatures = forced ? "null" : text,
                .signatures_source = source,
                .trusted_keys_dir = h->config->trusted_keys_dir,
                .require_signatures = h->config->require_signatures,
                .production = h->config->production,
                .allow_unverified = h->config->allow_unverified,
                .allowed_needed = h->config->allowed_libraries,
                .strict_elf = h->config->strict_elf,
                .max_plugin_size = h->config->max_plugin_size,
                .trusted_uid = h->config->trusted_uid,
                .self_uid = h->config->self_uid,
                .image_mode = h->config->image_mode,
        };
        if (forced)
                log_error("%s is unusable: %s", source, forced);
        r = policy_new(&s, &p);
        if (r < 0)
                return r;
        policy_unref(h->policy);
        h->policy = p; /* loads in progress keep their own reference */
        return 0;
}

/* ---- public operations ------------------------------------------------------- */

int host_new(sd_event *e, const HostConfig *config, Host **ret) {
        _cleanup_(host_freep) Host *h = calloc(1, sizeof(Host));
        int r;

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(e);
        h->config = config;
        h->event_fd = -1;
        pthread_mutex_init(&h->event_lock, NULL);

        /* Canonicalise the roots once (the state dir may be a symlink under
         * DynamicUser=); everything below is opened with O_NOFOLLOW. */
        size_t n = strv_length(config->plugin_dirs) + (config->store_dir ? 1 : 0);
        h->roots = calloc(n + 1, sizeof(char *));
        h->root_kinds = calloc(n + 1, sizeof(RootKind));
        if (!h->roots || !h->root_kinds)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                bool store = config->store_dir && i == n - 1;
                const char *path = store ? config->store_dir : config->plugin_dirs[i];
                char *canon = isempty(path) ? NULL : realpath(path, NULL);
                h->roots[i] = canon ? canon : strdup(path);
                if (!h->roots[i])
                        return -ENOMEM;
                h->root_kinds[i] = store ? ROOT_STORE : ROOT_READONLY;
                h->n_roots++;
        }

        h->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->event_fd < 0)
                return -errno;
        r = sd_event_add_io(e, &h->event_source, h->event_fd, EPOLLIN, on_event_fd, h);
        if (r < 0)
                return r;
        r = direct_table_new(on_direct_drained, h, &h->direct);
        if (r < 0)
                return r;
        r = worker_pool_new(e, config->workers, config->max_queued_calls, &h->pool);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}

Host *host_free(Host *h) {
        if (!h)
                return NULL;
        /* Stop timers and dispatch, let running handlers finish, then clean up
         * every plugin on this thread. */
        for (size_t i = 0; i < h->n_records; i++) {
                PluginRecord *r = h->records[i];
                if (r->plugin) {
                        Plugin *p = TAKE_PTR(r->plugin);
                        r->draining = true;
                        plugin_begin_drain(p, NULL, NULL);
                }
        }
        h->pool = worker_pool_free(h->pool);
        dispatch_events(h, false);
        h->direct = direct_table_free(h->direct);
        for (size_t i = 0; i < h->n_records; i++)
                record_free(h->records[i]);
        free(h->records);
        clear_shadowed(h);
        free(h->shadowed);
        for (size_t i = 0; i < h->n_ctxs; i++)
                free(h->ctxs[i]);
        free(h->ctxs);
        strv_free(h->roots);
        free(h->root_kinds);
        free(h->listeners);
        sd_event_source_disable_unref(h->event_source);
        if (h->event_fd >= 0)
                close(h->event_fd);
        pthread_mutex_destroy(&h->event_lock);
        policy_unref(h->policy);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

int host_start(Host *h) {
        int r;

        log_info("Initializing plugin system...");
        r = host_reload_policy(h);
        if (r < 0)
                return r;
        /* An install interrupted by a crash leaves only staging behind. */
        (void) host_install_clean_staging(h);
        if (h->config->auto_load) {
                r = scan_all(h);
                if (r < 0)
                        return r;
        }
        log_info("Plugin system initialized");
        return 0;
}

int host_check(Host *h) {
        int r = host_reload_policy(h);
        if (r < 0)
                return r;
        h->dry_run = true;
        r = scan_all(h);
        h->dry_run = false;
        return r;
}

int host_rescan(Host *h) {
        log_struct(LOG_INFO, 0, NULL, LOG_FIELDS(LF("DC_OPERATION", "rescan")), "Rescanning plugin directories");
        return scan_all(h);
}

/* Find the root and entry that hold `id` (first root wins, as in a scan):
 * the folder "<id>" or Charon's flat "<id>.so". */
static int locate(Host *h, const char *id, size_t *ret_idx, int *ret_fd, PluginLayout *ret_layout, char **ret_name,
                  char **error) {
        _cleanup_free_ char *flat = NULL;

        if (asprintf(&flat, "%s.so", id) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_roots; i++) {
                struct stat st;
                if (isempty(h->roots[i]))
                        continue;
                _cleanup_close_ int fd = open_root(h, i, error);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return fd;
                if (fstatat(fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        *ret_layout = LAYOUT_FOLDER;
                        *ret_name = strdup(id);
                } else if (fstatat(fd, flat, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        *ret_layout = LAYOUT_FLAT;
                        *ret_name = TAKE_PTR(flat);
                } else
                        continue;
                if (!*ret_name)
                        return -ENOMEM;
                *ret_idx = i;
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        return -ENOENT;
}

int host_store_index(Host *h) {
        for (size_t i = 0; i < h->n_roots; i++)
                if (h->root_kinds[i] == ROOT_STORE && !isempty(h->roots[i]))
                        return (int) i;
        return -ENOENT;
}

int host_locate_root(Host *h, const char *id) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginLayout layout;
        size_t idx;
        int k = locate(h, id, &idx, &fd, &layout, &name, &error);
        return k < 0 ? k : (int) idx;
}

int host_refresh(Host *h, const char *id) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginRecord *rec = host_find(h, id);
        PluginLayout layout;
        Verdict v = {};
        size_t idx;
        int k;

        if (rec && (rec->plugin || rec->draining))
                return -EBUSY;
        k = locate(h, id, &idx, &fd, &layout, &name, &error);
        if (k == -ENOENT) {
                if (rec)
                        record_remove(h, rec);
                return 0;
        }
        if (k < 0)
                return k;
        for (size_t i = 0; i < h->n_records; i++)
                h->records[i]->seen = false;
        h->dry_run = true;
        k = load_entry(h, idx, fd, name, layout, &v);
        h->dry_run = false;
        verdict_clear(&v);
        return k == -ENOMEM ? k : 0;
}

WorkerPool *host_pool(Host *h) {
        return h->pool;
}

Policy *host_policy_ref(Host *h) {
        return policy_ref(h->policy);
}

OwnerRule host_owner_rule(Host *h, RootKind kind) {
        return rule_for(h, kind);
}

sd_event *host_event(Host *h) {
        return h->event;
}

int host_load(Host *h, const char *id, Verdict *v) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginLayout layout;
        PluginRecord *r;
        size_t idx;
        int k;

        if (!plugin_id_is_valid(id))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid plugin id");
        r = host_find(h, id);
        if (r && r->draining)
                return -EBUSY;
        if (r && r->plugin)
                return -EALREADY;
        k = locate(h, id, &idx, &fd, &layout, &name, &error);
        if (k == -ENOENT)
                return -ENOENT;
        if (k < 0)
                return verdict_set(v, k, REASON_INSECURE_DIRECTORY, "%s", error ? error : strerror(-k));
        /* An explicit Load clears a persisted "disabled". */
        (void) host_set_disabled(h, id, false);
        for (size_t i = 0; i < h->n_records; i++)
                h->records[i]->seen = false;
        return load_entry(h, idx, fd, name, layout, v);
}

int host_reload(Host *h, const char *id, bool *unchanged, Verdict *v) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginRecord *r = host_find(h, id);
        PluginLayout layout;
        size_t idx;
        int k;

        *unchanged = false;
        if (!r)
                return -ENOENT;
        if (r->draining)
                return -EBUSY;
        if (!r->plugin)
                return host_load(h, id, v);

        k = locate(h, id, &idx, &fd, &layout, &name, &error);
        if (k == -ENOENT)
                return verdict_set(v, -ENOENT, REASON_MANIFEST_MISSING, "plugin files are gone from disk");
        if (k < 0)
                return verdict_set(v, k, REASON_INSECURE_DIRECTORY, "%s", error ? error : strerror(-k));

        /* Verify the new bytes with the live instance set aside, so the
         * duplicate-id check does not trip over ourselves. */
        Plugin *old = TAKE_PTR(r->plugin);
        _cleanup_(policy_unrefp) Policy *policy = policy_ref(h->policy);
        ScanCtx sc;
        VerifyContext vc = verify_context(h, idx, policy, &sc);
        Candidate c;
        Plugin *p = NULL;
        candidate_init(&c);
        for (size_t i = 0; i < h->n_records; i++)
                h->records[i]->seen = false;
        k = plugin_verify(&vc, fd, h->roots[idx], name, layout, &c, v);
        if (k >= 0 && streq(c.digest, old->digest)) {
                /* Same bytes: never re-init or clean up a healthy live instance. */
                r->plugin = old;
                *unchanged = true;
                candidate_done(&c);
                return 0;
        }
        if (k >= 0)
                k = plugin_instantiate(h, &c, &p, v);
        if (k >= 0)
                k = plugin_init(p, v);
        if (k >= 0)
                k = plugin_start_routines(p);
        if (k < 0) {
                /* The old generation keeps serving; the record shows why. */
                if (c.id)
                        log_failure(&c, v);
                r->plugin = old;
                r->reason = v->reason;
                (void) set_str(&r->message, v->message);
                NOTIFY(h, record_changed, r);
                if (p)
                        plugin_begin_drain(p, NULL, NULL);
                candidate_done(&c);
                return k;
        }
        r->plugin = p;
        (void) direct_table_publish(h->direct, p);
        record_fill_metadata(r, &c, p);
        log_loaded(p, &c, "reload");
        record_set(h, r, PLUGIN_STATE_LOADED, REASON_NONE, NULL, c.digest);
        candidate_done(&c);
        plugin_begin_drain(old, NULL, NULL); /* finishes once its calls return */
        NOTIFY(h, plugin_loaded, r);
        return 0;
}

int host_set_disabled(Host *h, const char *id, bool disabled) {
        _cleanup_free_ char *dir = NULL, *path = NULL;

        if (!plugin_id_is_valid(id))
                return -EINVAL;
        if (!h->config->state_dir)
                return -EROFS;
        if (asprintf(&dir, "%s/disabled.d", h->config->state_dir) < 0 || asprintf(&path, "%s/%s", dir, id) < 0)
                return -ENOMEM;
        if (!disabled)
                return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

/* ---- invocation ---------------------------------------------------------------- */

typedef struct CallJob {
        struct dc_call call; /* first */
        Host *host;
        Plugin *plugin;
        const PluginFunction *fn;
        char *params;
        int handler_r;
        sd_event_source *timeout;
        uint64_t timeout_usec;
        host_invoke_cb cb;
        void *userdata;
        bool answered;
} CallJob;

static void call_run(Job *j) {
        CallJob *cj = (CallJob *) j;
        cj->handler_r = cj->fn->def->handler(cj->plugin->ctx, &cj->call, cj->params);
}

static void call_answer(CallJob *cj, int error, const char *result, const char *message) {
        if (cj->answered)
                return;
        cj->answered = true;
        cj->cb(cj->host, error, result, message, cj->userdata);
}

static void call_complete(Job *j) {
        CallJob *cj = (CallJob *) j;
        Plugin *p = cj->plugin;

        cj->timeout = sd_event_source_disable_unref(cj->timeout);
        if (!j->ran)
                call_answer(cj, -ESHUTDOWN, NULL, "the plugin host is shutting down");
        else {
                const char *result = NULL, *message = NULL;
                int k = dc_call_outcome(&cj->call, cj->handler_r, &result, &message);
                call_answer(cj, k, result, message);
        }
        p->in_flight--;
        plugin_maybe_finish_drain(p);
        plugin_unref(p);
        free(cj->call.result);
        free(cj->call.error);
        free(cj->params);
        free(cj);
}

static int on_call_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        CallJob *cj = userdata;
        char msg[128];

        /* The handler keeps its thread until it returns; the caller moves on. */
        job_cancel(&cj->call.job);
        snprintf(msg, sizeof msg, "plugin call timed out after %.3g s", (double) cj->timeout_usec / 1e6);
        call_answer(cj, HOST_ERR_TIMEOUT, NULL, msg);
        cj->timeout = sd_event_source_disable_unref(cj->timeout);
        return 0;
}

_printf_(3, 4) static int invoke_error(char **error_message, int error, const char *fmt, ...) {
        va_list ap;
        if (error_message) {
                va_start(ap, fmt);
                if (vasprintf(error_message, fmt, ap) < 0)
                        *error_message = NULL;
                va_end(ap);
        }
        return error;
}

int call_check_params(const PluginFunction *fn, struct json_object *params, size_t text_len, char **error_message) {
        _cleanup_free_ char *err = NULL;

        if (text_len > HOST_MAX_PARAMS)
                return invoke_error(error_message, HOST_ERR_INVALID_PARAMS, "params exceed %u bytes", HOST_MAX_PARAMS);
        if (!params || !json_object_is_type(params, json_type_object))
                return invoke_error(error_message, HOST_ERR_INVALID_PARAMS, "params must be a JSON object");
        if (schema_validate(fn->schema, params, &err) < 0)
                return invoke_error(error_message, HOST_ERR_INVALID_PARAMS, "%s", err ? err : "invalid params");
        return 0;
}

int host_call_direct(Host *h, const char *plugin_id, const char *function, struct json_object *params,
                     const char *params_text, char **result, char **error_message) {
        return direct_table_call(h->direct, plugin_id, function, params, params_text, result, error_message);
}

int host_invoke(Host *h, const char *plugin_id, const char *function, const char *params_json, uint64_t timeout_usec,
                host_invoke_cb cb, void *userdata, char **error_message) {
        _cleanup_json_ struct json_object *params = NULL;
        _cleanup_free_ char *dup = NULL;
        const PluginFunction *fn;
        PluginRecord *rec;
        CallJob *cj;
        int r;

        if (!plugin_id || !function || !cb)
                return invoke_error(error_message, -EINVAL, "missing argument");
        rec = host_find(h, plugin_id);
        if (!rec)
                return invoke_error(error_message, HOST_ERR_NO_SUCH_PLUGIN, "Plugin '%s' not found", plugin_id);
        if (!rec->plugin)
                return invoke_error(error_message, HOST_ERR_NOT_LOADED, "Plugin '%s' is not loaded", plugin_id);
        fn = plugin_find_function(rec->plugin, function);
        if (!fn)
                return invoke_error(error_message, HOST_ERR_NO_SUCH_FUNCTION, "Plugin '%s' has no function '%s'",
                                    plugin_id, function);
        if (isempty(params_json))
                params_json = "{}";
        size_t n = strlen(params_json);
        if (n > HOST_MAX_PARAMS)
                return invoke_error(error_message, HOST_ERR_INVALID_PARAMS, "params exceed %u bytes", HOST_MAX_PARAMS);
        r = json_parse_strict(params_json, n, &params, &dup);
        if (r == -ENOTUNIQ)
                return invoke_error(error_message, HOST_ERR_INVALID_PARAMS, "params: duplicate key \"%s\"", dup);
        if (r < 0)
                return invoke_error(error_message, HOST_ERR_INVALID_PARAMS, "params are not valid JSON");
        r = call_check_params(fn, params, n, error_message);
        if (r < 0)
                return r;

        cj = calloc(1, sizeof(CallJob));
        if (!cj || !(cj->params = strdup(params_json))) {
                free(cj);
                return invoke_error(error_message, -ENOMEM, "out of memory");
        }
        cj->call.job.run = call_run;
        cj->call.job.complete = call_complete;
        cj->call.job.serial_key = rec->plugin->thread_safe ? NULL : rec->plugin;
        cj->host = h;
        cj->plugin = plugin_ref(rec->plugin);
        cj->fn = fn;
        cj->cb = cb;
        cj->userdata = userdata;
        cj->timeout_usec = timeout_usec ? timeout_usec : h->config->call_timeout_usec;
        /* 1% slack: consecutive calls share one timerfd wake-up instead of re-arming it twice per call. */
        r = sd_event_add_time_relative(h->event, &cj->timeout, CLOCK_MONOTONIC, cj->timeout_usec,
                                       cj->timeout_usec / 100 > 1000 ? cj->timeout_usec / 100 : 1000,
                                       on_call_timeout, cj);
        if (r >= 0)
                r = worker_pool_submit(h->pool, &cj->call.job);
        if (r < 0) {
                sd_event_source_disable_unref(cj->timeout);
                plugin_unref(cj->plugin);
                free(cj->params);
                free(cj);
                if (r == -EBUSY)
                        return invoke_error(error_message, HOST_ERR_BUSY, "too many plugin calls in progress");
                return invoke_error(error_message, r, "cannot dispatch the call: %s", strerror(-r));
        }
        rec->plugin->in_flight++;
        return 0;
}

/* ---- accessors ------------------------------------------------------------------ */

size_t host_n_records(Host *h) {
        return h->n_records;
}
PluginRecord *host_record(Host *h, size_t i) {
        return i < h->n_records ? h->records[i] : NULL;
}
size_t host_n_loaded(Host *h) {
        size_t n = 0;
        for (size_t i = 0; i < h->n_records; i++)
                n += h->records[i]->plugin != NULL;
        return n;
}
unsigned host_n_queued_calls(Host *h) {
        return worker_pool_queued(h->pool);
}
const Policy *host_policy(Host *h) {
        return h->policy;
}
const HostConfig *host_config(Host *h) {
        return h->config;
}
char *const *host_roots(Host *h) {
        return h->roots;
}
size_t host_n_shadowed(Host *h) {
        return h->n_shadowed;
}
const PluginRecord *host_shadowed(Host *h, size_t i) {
        return i < h->n_shadowed ? h->shadowed[i] : NULL;
}

#define PLUGIN_OR(r, fallback) \
        if (!(r)->plugin)      \
                return fallback;
size_t plugin_n_functions(const PluginRecord *r) {
        PLUGIN_OR(r, 0);
        return r->plugin->n_functions;
}
const char *plugin_function_name(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_functions ? r->plugin->functions[i].def->name : NULL;
}
const char *plugin_function_description(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_functions ? r->plugin->functions[i].def->description : NULL;
}
const char *plugin_function_schema(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_functions ? r->plugin->functions[i].schema_text : NULL;
}
size_t plugin_n_events(const PluginRecord *r) {
        PLUGIN_OR(r, 0);
        return r->plugin->n_events;
}
const char *plugin_event_name(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_events ? r->plugin->events[i].def->name : NULL;
}
const char *plugin_event_description(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_events ? r->plugin->events[i].def->description : NULL;
}
const char *plugin_event_schema(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_events ? r->plugin->events[i].schema_text : NULL;
}
size_t plugin_n_routines(const PluginRecord *r) {
        PLUGIN_OR(r, 0);
        return r->plugin->n_routines;
}
const char *plugin_routine_name(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_routines ? r->plugin->routines[i].def->name : NULL;
}

/* ---- JSON ------------------------------------------------------------------------ */

static void add_str(struct json_object *o, const char *key, const char *value) {
        json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

struct json_object *host_record_to_json(Host *h, const PluginRecord *r) {
        struct json_object *o = json_object_new_object(), *fns, *evs, *rts;
        if (!o)
                return NULL;
        add_str(o, "id", r->id);
        add_str(o, "state", plugin_state_to_string(r->state));
        add_str(o, "reason", reason_to_string(r->reason));
        add_str(o, "message", r->message);
        add_str(o, "digest", r->digest);
        add_str(o, "root", r->root);
        add_str(o, "layout", r->layout == LAYOUT_FLAT ? "flat" : "folder");
        add_str(o, "name", r->name);
        add_str(o, "version", r->version);
        add_str(o, "description", r->description);
        json_object_object_add(o, "changed_usec", json_object_new_uint64(r->changed_usec));
        fns = json_object_new_array();
        for (size_t i = 0; i < plugin_n_functions(r); i++) {
                struct json_object *f = json_object_new_object(), *schema = NULL;
                add_str(f, "name", plugin_function_name(r, i));
                add_str(f, "description", plugin_function_description(r, i));
                json_object_deep_copy(r->plugin->functions[i].schema, &schema, NULL);
                json_object_object_add(f, "params", schema);
                json_object_array_add(fns, f);
        }
        json_object_object_add(o, "functions", fns);
        evs = json_object_new_array();
        for (size_t i = 0; i < plugin_n_events(r); i++) {
                struct json_object *e = json_object_new_object(), *schema = NULL;
                add_str(e, "name", plugin_event_name(r, i));
                add_str(e, "description", plugin_event_description(r, i));
                json_object_deep_copy(r->plugin->events[i].schema, &schema, NULL);
                json_object_object_add(e, "payload", schema);
                json_object_array_add(evs, e);
        }
        json_object_object_add(o, "events", evs);
        rts = json_object_new_array();
        for (size_t i = 0; i < plugin_n_routines(r); i++)
                json_object_array_add(rts, json_object_new_string(plugin_routine_name(r, i)));
        json_object_object_add(o, "routines", rts);
        if (r->manifest_json) {
                struct json_object *m = json_tokener_parse(r->manifest_json);
                json_object_object_add(o, "manifest", m);
        }
        return o;
}

struct json_object *host_describe(Host *h) {
        struct json_object *o = json_object_new_object(), *policy, *roots, *plugins, *shadowed;
        if (!o)
                return NULL;
        add_str(o, "version", PACKAGE_VERSION);
        json_object_object_add(o, "api_level", json_object_new_int(DC_PLUGIN_ABI_MAJOR));
        policy = json_object_new_object();
        if (h->policy) {
                add_str(policy, "mode", signature_mode_to_string(h->policy->mode));
                add_str(policy, "invalid_reason", h->policy->invalid_reason);
                json_object_object_add(policy, "pins", json_object_new_int((int) h->policy->n_pins));
                json_object_object_add(policy, "trusted_keys", json_object_new_int((int) h->policy->n_keys));
                json_object_object_add(policy, "require_signatures", json_object_new_boolean(h->policy->require_signatures));
                json_object_object_add(policy, "strict_elf", json_object_new_boolean(h->policy->strict_elf));
        }
        json_object_object_add(o, "policy", policy);
        roots = json_object_new_array();
        for (size_t i = 0; i < h->n_roots; i++) {
                struct json_object *r = json_object_new_object();
                add_str(r, "path", h->roots[i]);
                add_str(r, "kind", h->root_kinds[i] == ROOT_STORE ? "store" : "read-only");
                json_object_array_add(roots, r);
        }
        json_object_object_add(o, "roots", roots);
        plugins = json_object_new_array();
        for (size_t i = 0; i < h->n_records; i++)
                json_object_array_add(plugins, host_record_to_json(h, h->records[i]));
        json_object_object_add(o, "plugins", plugins);
        shadowed = json_object_new_array();
        for (size_t i = 0; i < h->n_shadowed; i++)
                json_object_array_add(shadowed, host_record_to_json(h, h->shadowed[i]));
        json_object_object_add(o, "shadowed", shadowed);
        return o;
}
