/* SPDX-License-Identifier: MIT */
#include "ops.h"

#include <time.h>

#include "log.h"
#include "names.h"
#include "strv.h"
#include "plugin-id.h"

#define RATE_BUCKETS 64

static const char *const kind_table[_OP_MAX] = {
        [OP_INVOKE] = "invoke", [OP_LOAD] = "load",       [OP_UNLOAD] = "unload", [OP_RELOAD] = "reload",
        [OP_RESCAN] = "rescan", [OP_INSTALL] = "install", [OP_REMOVE] = "remove", [OP_PUBLISH] = "publish",
        [OP_RELOAD_CONFIG] = "reload-config", [OP_ISOLATE] = "isolate",
};

const char *op_kind_to_string(OpKind k) {
        return k >= 0 && k < _OP_MAX ? kind_table[k] : "unknown";
}

/* One caller's share of the rate limit: a token bucket. */
typedef struct RateBucket {
        char share[64];
        double tokens;
        uint64_t refilled_usec;
} RateBucket;

typedef struct OpCall OpCall;
struct OpCall {
        OpCall *next, *prev;
        Ops *ops; /* NULL once the Ops is gone: the completion is dropped */
        OpKind kind;
        op_done_fn done;
        void *userdata;
        char *plugin_id;
        bool answered;
};

struct Ops {
        Host *host;
        const HostConfig *config;
        RateBucket buckets[RATE_BUCKETS];
        size_t n_buckets;
        OpCall *running;
        unsigned n_running;
        bool shut;               /* ops_shutdown(): everything new is refused */
        HostConfig *live_config; /* == config, writable: OP_RELOAD_CONFIG */
        ops_config_reader read_config;
        void *read_config_userdata;
};

int ops_new(Host *h, const HostConfig *c, Ops **ret) {
        assert(h && c && ret);
        Ops *o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        o->host = h;
        o->config = c;
        *ret = o;
        return 0;
}

Ops *ops_free(Ops *o) {
        if (!o)
                return NULL;
        for (OpCall *c = o->running; c; c = c->next)
                c->ops = NULL;
        free(o);
        return NULL;
}

void ops_set_config_source(Ops *o, HostConfig *live, ops_config_reader read, void *userdata) {
        assert(o && live == o->config && read);
        o->live_config = live;
        o->read_config = read;
        o->read_config_userdata = userdata;
}

unsigned ops_n_running(Ops *o) {
        return o->n_running;
}

/* ---- outcomes -------------------------------------------------------------- */

Reason op_reason_for(int error, const Verdict *v) {
        if (error >= 0)
                return REASON_NONE;
        if (v && v->reason != REASON_NONE)
                return v->reason;
        switch (error) {
        case -ENOENT: /* HOST_ERR_NO_SUCH_PLUGIN */
                return REASON_NOT_FOUND;
        case -EALREADY:
                return REASON_ALREADY_LOADED;
        case -ESRCH: /* HOST_ERR_NOT_LOADED */
                return REASON_NOT_LOADED;
        case HOST_ERR_NO_SUCH_FUNCTION:
                return REASON_NO_SUCH_FUNCTION;
        case -EINVAL: /* HOST_ERR_INVALID_PARAMS */
                return REASON_INVALID_PARAMS;
        case -EBUSY:
                return REASON_BUSY;
        case HOST_ERR_TIMEOUT:
                return REASON_TIMEOUT;
        case HOST_ERR_HANDLER_FAILED:
                return REASON_HANDLER_FAILED;
        case HOST_ERR_CRASHED:
                return REASON_PLUGIN_CRASHED;
        case -ESHUTDOWN:
                return REASON_SHUTTING_DOWN;
        case -ENOMEM:
                return REASON_OUT_OF_MEMORY;
        case -EEXIST:
                return REASON_ALREADY_EXISTS;
        case -EROFS:
                return REASON_READ_ONLY;
        default:
                return REASON_FAILED;
        }
}

static void answer(op_done_fn done, void *userdata, OpKind kind, const char *plugin_id, int error, const Verdict *v,
                   const char *message) {
        OpResult res = {
                .kind = kind,
                .error = error < 0 ? error : 0,
                .reason = op_reason_for(error, v),
                .message = error < 0 ? (message ? message : v && v->message ? v->message : strerror(-error)) : NULL,
                .plugin_id = plugin_id,
        };
        done(&res, userdata);
}

static OpCall *call_new(Ops *o, OpKind kind, const char *plugin_id, op_done_fn done, void *userdata) {
        OpCall *c = calloc(1, sizeof *c);
        if (!c || (plugin_id && !(c->plugin_id = strdup(plugin_id)))) {
                free(c);
                return NULL;
        }
        c->ops = o;
        c->kind = kind;
        c->done = done;
        c->userdata = userdata;
        c->next = o->running;
        if (o->running)
                o->running->prev = c;
        o->running = c;
        o->n_running++;
        return c;
}

/* The core is done with c: answer (unless already answered) and forget it. */
static void call_finish(OpCall *c, OpResult *res) {
        if (!c->answered && c->ops) {
                c->answered = true;
                res->kind = c->kind;
                res->plugin_id = res->plugin_id ? res->plugin_id : c->plugin_id;
                c->done(res, c->userdata);
        }
        if (c->ops) {
                Ops *o = c->ops;
                if (c->prev)
                        c->prev->next = c->next;
                else
                        o->running = c->next;
                if (c->next)
                        c->next->prev = c->prev;
                o->n_running--;
        }
        free(c->plugin_id);
        free(c);
}

void ops_shutdown(Ops *o) {
        o->shut = true;
        for (OpCall *c = o->running; c; c = c->next) {
                if (c->answered)
                        continue;
                c->answered = true;
                OpResult res = { .kind = c->kind, .error = -ESHUTDOWN, .reason = REASON_SHUTTING_DOWN,
                                 .message = "the plugin host is shutting down", .plugin_id = c->plugin_id };
                c->done(&res, c->userdata);
        }
}

/* ---- limits every caller shares ------------------------------------------------ */

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static bool kind_is_rate_limited(OpKind k) {
        return k == OP_LOAD || k == OP_RELOAD || k == OP_INSTALL || k == OP_REMOVE || k == OP_PUBLISH ||
               k == OP_ISOLATE;
}

static RateBucket *bucket_for(Ops *o, const char *share, uint64_t now) {
        RateBucket *oldest = NULL;
        for (size_t i = 0; i < o->n_buckets; i++) {
                if (streq(o->buckets[i].share, share))
                        return &o->buckets[i];
                if (!oldest || o->buckets[i].refilled_usec < oldest->refilled_usec)
                        oldest = &o->buckets[i];
        }
        /* A new caller starts with a full bucket; past the table's size the
         * caller seen least recently gives up its entry. */
        RateBucket *b = o->n_buckets < RATE_BUCKETS ? &o->buckets[o->n_buckets++] : oldest;
        snprintf(b->share, sizeof b->share, "%s", share);
        b->tokens = o->config->ops_per_minute;
        b->refilled_usec = now;
        return b;
}

static bool rate_take(Ops *o, const char *share) {
        double per_minute = o->config->ops_per_minute;
        uint64_t now = now_usec();
        RateBucket *b = bucket_for(o, share ? share : "", now);

        b->tokens += (double) (now - b->refilled_usec) / 60e6 * per_minute;
        if (b->tokens > per_minute)
                b->tokens = per_minute;
        b->refilled_usec = now;
        if (b->tokens < 1.0)
                return false;
        b->tokens -= 1.0;
        return true;
}

/* Whether the operation may start code that is not running yet
 * (deploy_sidecar of a plugin that is not loaded loads it). */
static bool brings_code(Ops *o, const OpRequest *req) {
        if (req->kind == OP_ISOLATE) {
                const PluginRecord *r = req->plugin_id ? host_find(o->host, req->plugin_id) : NULL;
                return req->isolate && (!r || !r->plugin);
        }
        return req->kind == OP_INSTALL || req->kind == OP_LOAD || req->kind == OP_RELOAD;
}

static bool loads_a_plugin(Ops *o, const OpRequest *req) {
        if (req->kind == OP_LOAD)
                return true;
        if (req->kind == OP_ISOLATE)
                return brings_code(o, req);
        if (req->kind == OP_INSTALL)
                return req->load;
        if (req->kind == OP_RELOAD) {
                const PluginRecord *r = req->plugin_id ? host_find(o->host, req->plugin_id) : NULL;
                return !r || !r->plugin;
        }
        return false;
}

bool ops_policy_verifies_code(const Policy *p) {
        return p && (p->mode != SIGNATURES_PERMISSIVE || p->require_signatures);
}

/* req->admitted: the caller's token was taken by ops_admit() before work
 * such as a download; the other limits are checked again, as they may have
 * changed meanwhile. */
static int admit(Ops *o, const OpRequest *req, Reason *reason, char **message) {
        /* With a permissive policy, any tenant credential would run code as
         * the service user (SECURITY.md, "Mesh installs"). */
        if (req->caller.remote && brings_code(o, req) && !ops_policy_verifies_code(host_policy(o->host)) &&
            !o->config->mesh.allow_unverified_installs) {
                *reason = REASON_UNVERIFIED_CODE;
                *message = strdup("the trust policy is permissive: installs and loads from the mesh are refused "
                                  "(pin digests or require signatures, or set AllowUnverifiedMeshInstalls=yes)");
                return -EPERM;
        }
        if (!req->admitted && kind_is_rate_limited(req->kind) && !rate_take(o, req->caller.share)) {
                *reason = REASON_RATE_LIMITED;
                if (asprintf(message, "rate limit: at most %u install/load operations per minute",
                             o->config->ops_per_minute) < 0)
                        *message = NULL;
                return -EBUSY;
        }
        if (loads_a_plugin(o, req) && host_n_loaded(o->host) >= o->config->max_loaded_plugins) {
                *reason = REASON_LIMIT_EXCEEDED;
                if (asprintf(message, "too many plugins loaded (at most %u)", o->config->max_loaded_plugins) < 0)
                        *message = NULL;
                return -E2BIG;
        }
        return 0;
}

int ops_admit(Ops *o, OpKind kind, const OpCaller *caller, Reason *reason, const char **message) {
        static _Thread_local char buf[128];
        _cleanup_free_ char *m = NULL;
        OpRequest req = { .kind = kind, .caller = *caller, .load = true };
        int r = admit(o, &req, reason, &m);
        if (r < 0) {
                snprintf(buf, sizeof buf, "%s", m ? m : reason_to_string(*reason));
                *message = buf;
        }
        return r;
}

/* ---- the operations ----------------------------------------------------------- */

static void on_invoked(Host *h, int error, const char *result, const char *message, void *userdata) {
        OpResult res = { .error = error < 0 ? error : 0, .reason = op_reason_for(error, NULL),
                         .message = error < 0 ? message : NULL, .result_json = error < 0 ? NULL : result };
        call_finish(userdata, &res);
}

static void on_loaded(Host *h, const char *id, int error, const Verdict *v, void *userdata) {
        OpResult res = { .error = error < 0 ? error : 0, .reason = op_reason_for(error, v),
                         .message = error < 0 ? (v && v->message ? v->message : strerror(-error)) : NULL };
        call_finish(userdata, &res);
}

static void on_unloaded(Host *h, int error, void *userdata) {
        OpResult res = { .error = error < 0 ? error : 0, .reason = op_reason_for(error, NULL),
                         .message = error < 0 ? strerror(-error) : NULL };
        call_finish(userdata, &res);
}

static void on_installed(Host *h, int error, const Verdict *v, const InstallResult *ir, void *userdata) {
        OpResult res = { .error = error < 0 ? error : 0, .reason = op_reason_for(error, v),
                         .message = error < 0 ? (v && v->message ? v->message : strerror(-error)) : NULL,
                         .plugin_id = ir->plugin_id, .install = ir };
        call_finish(userdata, &res);
}

static void on_removed(Host *h, int error, void *userdata) {
        OpResult res = { .error = error < 0 ? error : 0, .reason = op_reason_for(error, NULL),
                         .message = error < 0 ? strerror(-error) : NULL };
        call_finish(userdata, &res);
}

static void on_published(Host *h, int error, const Verdict *v, const ArtifactRecord *rec, void *userdata) {
        OpResult res = { .error = error < 0 ? error : 0, .reason = op_reason_for(error, v),
                         .message = error < 0 ? (v && v->message ? v->message : strerror(-error)) : NULL,
                         .artifact = error < 0 ? NULL : rec };
        call_finish(userdata, &res);
}

/* Start an asynchronous core operation; a synchronous refusal is answered
 * here, the OpCall dropped.  start returns the core's immediate result. */
static void run_async(Ops *o, const OpRequest *req, op_done_fn done, void *userdata) {
        _cleanup_free_ char *msg = NULL;
        Verdict v = {};
        int k;

        OpCall *c = call_new(o, req->kind, req->plugin_id, done, userdata);
        if (!c) {
                answer(done, userdata, req->kind, req->plugin_id, -ENOMEM, NULL, "out of memory");
                return;
        }
        switch (req->kind) {
        case OP_INVOKE:
                k = host_invoke(o->host, req->plugin_id, req->function, req->params_json, req->timeout_usec, on_invoked,
                                c, &msg);
                break;
        case OP_LOAD:
                k = host_load(o->host, req->plugin_id, &v, on_loaded, c);
                break;
        case OP_RELOAD:
        case OP_ISOLATE:
                k = req->kind == OP_RELOAD ? host_reload(o->host, req->plugin_id, &v, on_loaded, c)
                                           : host_set_isolated(o->host, req->plugin_id, req->isolate, &v, on_loaded, c);
                if (k > 0) {
                        /* nothing needed doing: nothing started, answered here; a
                         * reload still counts as an unload and a load for subscribers */
                        if (req->kind == OP_RELOAD)
                                host_notify_loaded_again(o->host, req->plugin_id, true);
                        OpResult res = { .kind = req->kind, .plugin_id = req->plugin_id, .unchanged = true };
                        c->answered = true;
                        done(&res, userdata);
                        OpResult dummy = {};
                        call_finish(c, &dummy);
                        verdict_clear(&v);
                        return;
                }
                break;
        case OP_UNLOAD:
                k = host_unload(o->host, req->plugin_id, on_unloaded, c);
                break;
        case OP_INSTALL: {
                InstallRequest ir = req->install;
                ir.load = req->load;
                ir.caller = req->caller.id;
                k = host_install(o->host, &ir, on_installed, c, &v);
                break;
        }
        case OP_REMOVE:
                k = host_remove(o->host, req->plugin_id, on_removed, c, &v);
                break;
        case OP_PUBLISH:
                k = host_publish_artifact(o->host, req->plugin_id, req->version, req->bundle_b64, on_published, c, &v);
                break;
        default:
                assert_not_reached();
        }
        if (k < 0) {
                /* Refused before anything started: the core will not call back. */
                c->answered = true;
                answer(done, userdata, req->kind, req->plugin_id, k, &v, msg);
                OpResult dummy = {};
                call_finish(c, &dummy);
        }
        verdict_clear(&v);
}

/* A plugin the new policy refuses has drained: its record shows why. */
static void on_refused_unloaded(Host *h, int error, void *userdata) {
        _cleanup_free_ char *id = userdata;
        (void) host_refresh(h, id);
}

/* Configuration, then policy, then the loaded plugins judged again; what
 * the policy no longer allows is unloaded, what it now allows is loaded
 * (AutoLoad=), as at start. */
static void reload_config(Ops *o, const OpRequest *req, op_done_fn done, void *userdata) {
        _cleanup_(host_config_done) HostConfig fresh = {};
        _cleanup_strv_free_ char **changed = NULL, **restart = NULL, **unloaded = calloc(1, sizeof(char *));
        Verdict v = {};
        int k;

        if (!o->read_config) {
                answer(done, userdata, req->kind, NULL, -EOPNOTSUPP, NULL, "this daemon has no configuration to reload");
                return;
        }
        k = o->read_config(&fresh, o->read_config_userdata);
        if (k < 0) {
                v.reason = k == -ENOMEM ? REASON_OUT_OF_MEMORY : REASON_CONFIG_INVALID;
                answer(done, userdata, req->kind, NULL, k, &v,
                       k == -ENOMEM ? NULL : "the configuration is invalid; nothing was changed (see the journal)");
                return;
        }
        if (!unloaded || host_config_apply(o->live_config, &fresh, &changed, &restart) < 0 ||
            host_reload_policy(o->host) < 0) {
                answer(done, userdata, req->kind, NULL, -ENOMEM, NULL, NULL);
                return;
        }
        for (size_t i = 0; i < host_n_records(o->host); i++) {
                PluginRecord *r = host_record(o->host, i);
                if (!r->plugin || r->draining)
                        continue;
                k = host_recheck(o->host, r->id, &v);
                if (k != 0) {
                        verdict_clear(&v);
                        continue;
                }
                log_struct(LOG_WARNING, 0, DC_MESSAGE_PLUGIN_REJECTED,
                           LOG_FIELDS(LF("PLUGIN_ID", r->id), LF("DC_REASON", reason_to_string(v.reason)),
                                      LF("DC_CALLER", req->caller.id)),
                           "Unloading plugin %s: the reloaded trust policy refuses it: %s", r->id,
                           v.message ? v.message : reason_to_string(v.reason));
                verdict_clear(&v);
                char *id = strdup(r->id);
                if (!id || strv_extend(&unloaded, r->id) < 0) {
                        free(id);
                        continue;
                }
                if (host_unload(o->host, id, on_refused_unloaded, id) < 0)
                        free(id);
        }
        if (o->config->auto_load)
                (void) host_rescan(o->host);
        _cleanup_free_ char *c = strv_join(changed, " "), *rs = strv_join(restart, " ");
        log_struct(LOG_INFO, 0, DC_MESSAGE_CONFIG_RELOADED,
                   LOG_FIELDS(LF("DC_CALLER", req->caller.id), LF("DC_CHANGED", c), LF("DC_RESTART_NEEDED", rs)),
                   "Configuration reloaded: %zu setting(s) changed%s%s, %zu plugin(s) unloaded",
                   strv_length(changed), isempty(rs) ? "" : "; restart to apply ", rs ? rs : "",
                   strv_length(unloaded));
        OpResult res = { .kind = OP_RELOAD_CONFIG, .unloaded = unloaded, .changed = changed, .restart = restart };
        done(&res, userdata);
}

/* Every operation on a plugin names a valid id; a publish of a bundle may
 * leave it to the bundle's manifest. */
static bool plugin_id_ok(const OpRequest *req) {
        switch (req->kind) {
        case OP_RESCAN:
        case OP_INSTALL:
        case OP_RELOAD_CONFIG:
                return true;
        case OP_PUBLISH:
                if (req->bundle_b64 && !req->plugin_id)
                        return true;
                _fallthrough_;
        default:
                return plugin_id_is_valid(req->plugin_id);
        }
}

/* A refused install still owns its source fd (host_install would have closed it). */
static void release(const OpRequest *req) {
        if (req->kind == OP_INSTALL &&
            (req->install.source == INSTALL_SOURCE_FD || req->install.source == INSTALL_SOURCE_DIRECTORY))
                safe_close(req->install.fd);
}

void ops_run(Ops *o, const OpRequest *req, op_done_fn done, void *userdata) {
        _cleanup_free_ char *msg = NULL;
        Reason reason = REASON_NONE;
        Verdict v = {};
        int k;

        assert(o && req && done);
        if (o->shut) {
                release(req);
                v.reason = REASON_SHUTTING_DOWN;
                answer(done, userdata, req->kind, req->plugin_id, -ESHUTDOWN, &v, "the plugin host is shutting down");
                return;
        }
        if (!plugin_id_ok(req)) {
                release(req);
                v.reason = REASON_INVALID_ID;
                answer(done, userdata, req->kind, req->plugin_id, -EINVAL, &v, "invalid plugin id");
                return;
        }
        if (req->kind == OP_INVOKE && !plugin_symbol_name_is_valid(req->function)) {
                v.reason = REASON_NO_SUCH_FUNCTION;
                answer(done, userdata, req->kind, req->plugin_id, HOST_ERR_NO_SUCH_FUNCTION, &v,
                       "invalid function name");
                return;
        }
        k = admit(o, req, &reason, &msg);
        if (k < 0) {
                release(req);
                v.reason = reason;
                answer(done, userdata, req->kind, req->plugin_id, k, &v, msg);
                return;
        }

        switch (req->kind) {

        case OP_RESCAN:
                k = host_rescan(o->host);
                answer(done, userdata, req->kind, NULL, k, NULL, NULL);
                break;
        case OP_RELOAD_CONFIG:
                reload_config(o, req, done, userdata);
                break;
        case OP_INVOKE: {
                /* The direct path needs no OpCall: answered right here. */
                _cleanup_free_ char *result = NULL;
                k = host_invoke_here(o->host, req->plugin_id, req->function, req->params_json, &result, &msg);
                if (k == -EAGAIN) {
                        run_async(o, req, done, userdata);
                        break;
                }
                OpResult res = { .kind = OP_INVOKE, .error = k < 0 ? k : 0, .reason = op_reason_for(k, NULL),
                                 .message = k < 0 ? (msg ? msg : strerror(-k)) : NULL, .plugin_id = req->plugin_id,
                                 .result_json = k < 0 ? NULL : result };
                done(&res, userdata);
                break;
        }
        case OP_LOAD:
        case OP_RELOAD:
        case OP_ISOLATE:
        case OP_UNLOAD:
        case OP_INSTALL:
        case OP_REMOVE:
        case OP_PUBLISH:
                run_async(o, req, done, userdata);
                break;
        default:
                assert_not_reached();
        }
        verdict_clear(&v);
}

int ops_invoke_direct(Ops *o, const char *plugin_id, const char *function, struct json_object *params,
                      const char *params_text, char **result, Reason *reason, char **message) {
        int k = host_call_direct(o->host, plugin_id, function, params, params_text, result, message);
        if (k != -EAGAIN)
                *reason = op_reason_for(k, NULL);
        return k;
}
