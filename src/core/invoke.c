/* SPDX-License-Identifier: MIT */
/*
 * Plugin calls on the worker pool: one job per call, a per-call timeout on
 * the loop, and the answer back on the loop exactly once.
 */
#include "call.h"
#include "crash-marker.h"
#include "host-internal.h"
#include "json-util.h"
#include "isolated.h"
#include "lifecycle.h"
#include "log.h"
#include "plugin-id.h"

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
        crash_marker_enter(cj->plugin->id, cj->fn->def.name);
        cj->handler_r = cj->fn->def.handler(cj->plugin->ctx, &cj->call, cj->params);
        crash_marker_leave();
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
                int k = call_outcome(&cj->call, cj->handler_r, &result, &message);
                call_answer(cj, k, result, message);
        }
        assert(p->in_flight > 0);
        p->in_flight--;
        lifecycle_drain_check(p);
        plugin_unref(p);
        free(cj->call.result);
        free(cj->call.error);
        free(cj->params);
        free(cj);
}

static int on_call_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        CallJob *cj = userdata;
        char msg[128];

        /* The caller moves on.  A queued call leaves the queue; a running
         * handler keeps its thread until it returns, and the pool starts
         * another thread for everybody else. */
        snprintf(msg, sizeof msg, "plugin call timed out after %.3g s", (double) cj->timeout_usec / 1e6);
        log_ratelimit_full(LOG_WARNING, "Plugin %s: call of %s timed out after %.3g s", cj->plugin->id,
                           cj->fn->def.name, (double) cj->timeout_usec / 1e6);
        call_answer(cj, HOST_ERR_TIMEOUT, NULL, msg);
        cj->timeout = sd_event_source_disable_unref(cj->timeout);
        worker_pool_abandon(cj->host->pool, &cj->call.job);
        return 0;
}

/* A call answered by an isolated plugin's worker: the same accounting as a pool job. */
typedef struct IsolatedInvoke {
        Plugin *plugin;
        host_invoke_cb cb;
        void *userdata;
} IsolatedInvoke;

static void on_isolated_reply(Host *h, int error, const char *result, const char *message, void *userdata) {
        IsolatedInvoke *ii = userdata;
        Plugin *p = ii->plugin;
        ii->cb(h, error, result, message, ii->userdata);
        assert(p->in_flight > 0);
        p->in_flight--;
        lifecycle_drain_check(p);
        plugin_unref(p);
        free(ii);
}

int host_call_direct(Host *h, const char *plugin_id, const char *function, struct json_object *params,
                     const char *params_text, char **result, char **error_message) {
        return direct_table_call(h->direct, plugin_id, function, params, params_text, result, error_message);
}

int host_invoke_here(Host *h, const char *plugin_id, const char *function, const char *params_json, char **result,
                     char **error_message) {
        _cleanup_json_ struct json_object *params = NULL;
        _cleanup_free_ char *dup = NULL;
        const PluginFunction *fn;
        PluginRecord *rec;
        int r;

        assert(plugin_id && function);
        rec = registry_find(&h->registry, plugin_id);
        if (!rec || !rec->plugin || rec->plugin->isolated || !rec->plugin->thread_safe ||
            !(fn = plugin_find_function(rec->plugin, function)) ||
            !(fn->def.flags & DC_FUNCTION_FLAG_NONBLOCKING) || __atomic_load_n(&fn->demoted, __ATOMIC_RELAXED))
                return -EAGAIN;
        const char *text = isempty(params_json) ? "{}" : params_json;
        size_t n = strlen(text);
        if (n > HOST_MAX_PARAMS)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params exceed %u bytes", HOST_MAX_PARAMS);
        r = json_parse_strict(text, n, &params, &dup);
        if (r == -ENOTUNIQ)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params: duplicate key \"%s\"", dup);
        if (r < 0)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params are not valid JSON");
        if (!params)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params must be a JSON object");
        return direct_table_call(h->direct, plugin_id, function, params, text, result, error_message);
}

int host_invoke(Host *h, const char *plugin_id, const char *function, const char *params_json, uint64_t timeout_usec,
                host_invoke_cb cb, void *userdata, char **error_message) {
        _cleanup_json_ struct json_object *params = NULL;
        const PluginFunction *fn;
        PluginRecord *rec;
        CallJob *cj;
        int r;

        if (!plugin_id || !function || !cb)
                return call_error(error_message, -EINVAL, "missing argument");
        rec = registry_find(&h->registry, plugin_id);
        if (!rec)
                return call_error(error_message, HOST_ERR_NO_SUCH_PLUGIN, "Plugin '%s' not found", plugin_id);
        if (!rec->plugin)
                return call_error(error_message, HOST_ERR_NOT_LOADED, "Plugin '%s' is not loaded", plugin_id);
        fn = plugin_find_function(rec->plugin, function);
        if (!fn)
                return call_error(error_message, HOST_ERR_NO_SUCH_FUNCTION, "Plugin '%s' has no function '%s'",
                                  plugin_id, function);
        /* Non-blocking functions of thread-safe plugins answer right here,
         * on the loop thread: no hand-off to a worker and back. */
        _cleanup_free_ char *result = NULL, *message = NULL;
        r = host_invoke_here(h, plugin_id, function, params_json, &result, &message);
        if (r != -EAGAIN) {
                if (r == HOST_ERR_INVALID_PARAMS)
                        return call_error(error_message, r, "%s", message ? message : "invalid params");
                cb(h, r, r >= 0 ? result : NULL, r >= 0 ? NULL : message, userdata);
                return 0;
        }
        r = call_parse_params(fn, params_json, &params, error_message);
        if (r < 0)
                return r;
        /* One plugin's calls never fill the queue for the others. */
        if (rec->plugin->in_flight >= h->config->max_calls_per_plugin) {
                log_ratelimit_full(LOG_WARNING, "Plugin %s: call of %s refused, %u calls in progress (MaxCallsPerPlugin=)",
                                   plugin_id, function, rec->plugin->in_flight);
                return call_error(error_message, HOST_ERR_BUSY, "too many calls of plugin %s in progress (at most %u)",
                                  plugin_id, h->config->max_calls_per_plugin);
        }
        if (rec->plugin->isolated) {
                IsolatedInvoke *ii = calloc(1, sizeof *ii);
                if (!ii)
                        return call_error(error_message, -ENOMEM, "out of memory");
                *ii = (IsolatedInvoke){ .plugin = plugin_ref(rec->plugin), .cb = cb, .userdata = userdata };
                r = isolated_call(rec->plugin, fn, isempty(params_json) ? "{}" : params_json,
                                  timeout_usec ? timeout_usec : h->config->call_timeout_usec, on_isolated_reply, ii,
                                  error_message);
                if (r < 0) {
                        plugin_unref(ii->plugin);
                        free(ii);
                        return r;
                }
                rec->plugin->in_flight++;
                return 0;
        }

        cj = calloc(1, sizeof(CallJob));
        if (!cj || !(cj->params = strdup(isempty(params_json) ? "{}" : params_json))) {
                free(cj);
                return call_error(error_message, -ENOMEM, "out of memory");
        }
        cj->call.job.run = call_run;
        cj->call.job.complete = call_complete;
        cj->call.job.serial_key = rec->plugin->thread_safe ? NULL : rec->plugin;
        cj->call.job.owner = rec->plugin;
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
                        return call_error(error_message, HOST_ERR_BUSY, "too many plugin calls in progress");
                return call_error(error_message, r, "cannot dispatch the call: %s", strerror(-r));
        }
        rec->plugin->in_flight++;
        return 0;
}
