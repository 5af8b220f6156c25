/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crash-marker.h"
#include "direct-call.h"
#include "log.h"
#include "macro.h"
#include "call.h"
#include "plugin-instance.h"

/* A direct call longer than this blocked its caller's thread: demote the
 * function to the worker pool (plugin.h promises 2 ms). */
#define DIRECT_CALL_BUDGET_NSEC (2 * 1000 * 1000)

struct DirectTable {
        pthread_mutex_t lock;
        Plugin **plugins; /* sorted by id */
        size_t n, cap;
        void (*drained)(Plugin *p, void *userdata);
        void *userdata;
};

int direct_table_new(void (*drained)(Plugin *p, void *userdata), void *userdata, DirectTable **ret) {
        DirectTable *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        t->drained = drained;
        t->userdata = userdata;
        *ret = t;
        return 0;
}

DirectTable *direct_table_free(DirectTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n; i++)
                assert(t->plugins[i]->direct_calls == 0); /* front ends stop calling first */
        pthread_mutex_destroy(&t->lock);
        free(t->plugins);
        free(t);
        return NULL;
}

/* Index of id, or where it would go (*found false).  Lock held. */
static size_t find(DirectTable *t, const char *id, bool *found) {
        size_t lo = 0, hi = t->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(t->plugins[mid]->id, id);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

int direct_table_publish(DirectTable *t, Plugin *p) {
        bool any = false, found;

        for (size_t i = 0; p->thread_safe && i < p->n_functions; i++)
                any = any || (p->functions[i].def.flags & DC_FUNCTION_FLAG_NONBLOCKING);
        if (!any)
                return 0;
        pthread_mutex_lock(&t->lock);
        size_t i = find(t, p->id, &found);
        if (found)
                t->plugins[i] = p; /* the old generation drains on its own */
        else {
                if (t->n == t->cap) {
                        size_t cap = t->cap ? t->cap * 2 : 16;
                        Plugin **n = realloc(t->plugins, cap * sizeof *n);
                        if (!n) {
                                pthread_mutex_unlock(&t->lock);
                                return -ENOMEM; /* calls keep working through the pool */
                        }
                        t->plugins = n;
                        t->cap = cap;
                }
                memmove(t->plugins + i + 1, t->plugins + i, (t->n - i) * sizeof *t->plugins);
                t->plugins[i] = p;
                t->n++;
        }
        pthread_mutex_unlock(&t->lock);
        return 0;
}

bool direct_table_withdraw(DirectTable *t, Plugin *p) {
        bool found, busy;

        pthread_mutex_lock(&t->lock);
        size_t i = find(t, p->id, &found);
        if (found && t->plugins[i] == p) {
                memmove(t->plugins + i, t->plugins + i + 1, (t->n - i - 1) * sizeof *t->plugins);
                t->n--;
        }
        p->direct_withdrawn = true;
        busy = p->direct_calls > 0;
        pthread_mutex_unlock(&t->lock);
        return busy;
}

bool direct_table_busy(DirectTable *t, Plugin *p) {
        pthread_mutex_lock(&t->lock);
        bool busy = p->direct_calls > 0;
        pthread_mutex_unlock(&t->lock);
        return busy;
}

static uint64_t now_nsec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

int direct_table_call(DirectTable *t, const char *plugin_id, const char *function, struct json_object *params,
                      const char *params_text, char **result, char **error_message) {
        PluginFunction *fn = NULL;
        Plugin *p = NULL;
        bool found;
        int r;

        assert(t && plugin_id && function && params && params_text);
        pthread_mutex_lock(&t->lock);
        size_t i = find(t, plugin_id, &found);
        if (found) {
                p = t->plugins[i];
                fn = (PluginFunction *) plugin_find_function(p, function);
        }
        if (!fn || !(fn->def.flags & DC_FUNCTION_FLAG_NONBLOCKING) ||
            __atomic_load_n(&fn->demoted, __ATOMIC_RELAXED)) {
                pthread_mutex_unlock(&t->lock);
                return -EAGAIN;
        }
        p->direct_calls++;
        pthread_mutex_unlock(&t->lock);

        r = call_check_params(fn, params, strlen(params_text), error_message);
        if (r >= 0) {
                struct dc_call call = {};
                const char *res = NULL, *msg = NULL;
                uint64_t t0 = now_nsec();
                crash_marker_enter(p->id, fn->def.name);
                int hr = fn->def.handler(p->ctx, &call, params_text);
                crash_marker_leave();
                uint64_t took = now_nsec() - t0;

                r = call_outcome(&call, hr, &res, &msg);
                char **out = r >= 0 ? result : error_message;
                if (out && !(*out = strdup(r >= 0 ? res : msg)))
                        r = -ENOMEM;
                free(call.result);
                free(call.error);
                if (took > DIRECT_CALL_BUDGET_NSEC && !__atomic_exchange_n(&fn->demoted, 1, __ATOMIC_RELAXED)) {
                        char ms[32];
                        snprintf(ms, sizeof ms, "%.1f", (double) took / 1e6);
                        log_struct(LOG_WARNING, 0, NULL,
                                   LOG_FIELDS(LF("PLUGIN_ID", p->id), LF("PLUGIN_FUNCTION", function),
                                              LF("DURATION_MS", ms)),
                                   "Plugin %s: non-blocking function %s took %s ms; it runs on the worker pool from "
                                   "now on",
                                   p->id, function, ms);
                }
        }

        pthread_mutex_lock(&t->lock);
        p->direct_calls--;
        bool drained = p->direct_withdrawn && p->direct_calls == 0;
        pthread_mutex_unlock(&t->lock);
        if (drained)
                t->drained(p, t->userdata);
        return r;
}
