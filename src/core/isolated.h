/* SPDX-License-Identifier: MIT */
/*
 * A plugin in a dc-plugin-worker process (docs/architecture.md, "Plugin
 * processes"): started from the verified candidate, its calls, routines,
 * events and log lines through the worker, and supervision: a worker that
 * dies fails its calls with HOST_ERR_CRASHED and is started again after a
 * back-off, until CrashRestartLimit= crashes within CrashRestartIntervalSec=
 * ask for quarantine.  Loop thread.
 */
#pragma once

#include <json-c/json.h>

#include "host-internal.h"

typedef struct Isolated Isolated;

/* What the isolated plugin tells its owner (lifecycle.c). */
typedef struct IsolatedCallbacks {
        /* The first start: p (owned by the callee) or NULL with r < 0 and *v. */
        void (*started)(Host *h, Plugin *p, int r, const Verdict *v, void *userdata);
        /* A routine run finished (or was lost with its worker). */
        void (*routine_done)(Plugin *p, RoutineTimer *t);
        /* Too many crashes: quarantine it (why: for people). */
        void (*quarantine)(Host *h, Plugin *p, const char *why);
        /* Stopped on request (isolated_stop). */
        void (*stopped)(Host *h, Plugin *p);
} IsolatedCallbacks;

/* Takes the candidate's image; network: the worker may open IP sockets. */
int isolated_start(Host *h, Candidate *c, bool network, const IsolatedCallbacks *cb, void *userdata, Verdict *v);
void isolated_free(Isolated *i);

/* The worker answers; cb exactly once (maybe before this returns an
 * error: then it is not called). */
int isolated_call(Plugin *p, const PluginFunction *fn, const char *params, uint64_t timeout_usec,
                  host_invoke_cb cb, void *userdata, char **error_message);
int isolated_routine(Plugin *p, RoutineTimer *t);
/* cleanup() in the worker and its exit, bounded by StopTimeoutSec=; then cb->stopped. */
void isolated_stop(Plugin *p);

/* For Describe / list_plugins: pid, sandbox layers, restarts. */
struct json_object *isolated_describe(const Plugin *p);
