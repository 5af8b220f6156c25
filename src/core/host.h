/* SPDX-License-Identifier: MIT */
/*
 * The plugin host: registry of every candidate, the one load path, plugin
 * instances, invocation on the worker pool, periodic routines and events.
 * Front ends (D-Bus, mesh) translate their requests into these operations
 * and subscribe to changes with a HostListener.  No D-Bus or NATS here.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "fs-check.h"
#include "policy.h"
#include "digest.h"
#include "reason.h"
#include "verify.h"

typedef struct Host Host;
typedef struct Plugin Plugin;

/* Values are the D-Bus API's (0 = unknown). */
typedef enum PluginState {
        PLUGIN_STATE_UNKNOWN = 0,
        PLUGIN_STATE_AVAILABLE = 1,
        PLUGIN_STATE_LOADING = 2,
        PLUGIN_STATE_LOADED = 3,
        PLUGIN_STATE_FAILED = 4,
        PLUGIN_STATE_DISABLED = 5,
        PLUGIN_STATE_REJECTED = 6,
        _PLUGIN_STATE_MAX,
} PluginState;

const char *plugin_state_to_string(PluginState s);

typedef struct PluginRecord {
        char *id;
        char *root;
        PluginLayout layout;
        PluginState state;
        Reason reason;         /* last error code, REASON_NONE if none */
        char *message;         /* last error message */
        char digest[DIGEST_STRING_MAX];
        uint64_t changed_usec; /* CLOCK_REALTIME of the last state change */
        char *name, *version, *description, *manifest_json;
        Plugin *plugin;        /* the live instance when loaded */
        bool draining;         /* unload in progress (calls still running) */
        bool seen;             /* scan bookkeeping */
} PluginRecord;

/* Change notifications, delivered on the event loop thread. */
typedef struct HostListener {
        void (*record_added)(Host *h, const PluginRecord *r, void *userdata);
        void (*record_changed)(Host *h, const PluginRecord *r, void *userdata);
        void (*record_removed)(Host *h, const char *id, void *userdata);
        void (*plugin_loaded)(Host *h, const PluginRecord *r, void *userdata);
        void (*plugin_unloaded)(Host *h, const char *id, void *userdata);
        void (*plugin_event)(Host *h, const char *plugin_id, const char *event, const char *payload_json,
                             void *userdata);
        void (*policy_changed)(Host *h, void *userdata); /* host_reload_policy() */
} HostListener;

/* Errors of invoke beyond the obvious errnos. */
#define HOST_ERR_NO_SUCH_PLUGIN (-ENOENT)
#define HOST_ERR_NOT_LOADED (-ESRCH)
#define HOST_ERR_NO_SUCH_FUNCTION (-EBADRQC)
#define HOST_ERR_INVALID_PARAMS (-EINVAL)
#define HOST_ERR_BUSY (-EBUSY)
#define HOST_ERR_TIMEOUT (-ETIME)
#define HOST_ERR_HANDLER_FAILED (-EREMOTEIO)
#define HOST_ERR_CRASHED (-EOWNERDEAD) /* the plugin's worker process died during the call */

/* Largest params text a call accepts (front ends refuse more before queueing). */
#define HOST_MAX_PARAMS (1024u * 1024u)

typedef void (*host_invoke_cb)(Host *h, int error, const char *result_json, const char *error_message, void *userdata);
typedef void (*host_done_cb)(Host *h, int error, void *userdata);

int host_new(sd_event *e, const HostConfig *config, Host **ret);
Host *host_free(Host *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Host *, host_free);

/* Startup: policy, then scan every root and load what passes. */
int host_start(Host *h);
/* Verify every candidate without executing plugin code (--check). */
int host_check(Host *h);
/* Rebuild the policy object from the configuration (policy reload). */
int host_reload_policy(Host *h);
/* Does the current policy still allow the running code of loaded plugin id?
 * 1 yes, 0 no (*v says why), < 0 error (-ESRCH: not loaded). */
int host_recheck(Host *h, const char *id, Verdict *v);

int host_add_listener(Host *h, const HostListener *l, void *userdata);
void host_remove_listener(Host *h, const HostListener *l, void *userdata);

/* Operations: 0 or a negative errno; on a policy/load failure *v says why. */
int host_load(Host *h, const char *id, Verdict *v);
/* Stops dispatch, waits for running calls, calls cleanup(); cb runs once
 * done (possibly before this returns).  -ENOENT unknown id, -ESRCH not
 * loaded (nothing done), -EBUSY an unload is already in progress. */
int host_unload(Host *h, const char *id, host_done_cb cb, void *userdata);
/* Same digest: no-op (*unchanged = true).  Changed: new generation, the old
 * one is unloaded only after the new one passed init(). */
int host_reload(Host *h, const char *id, bool *unchanged, Verdict *v);
/* Re-read every root: load new or fixed plugins, forget vanished ones. */
int host_rescan(Host *h);
/* Persist "disabled" (honoured at startup) or clear it. */
int host_set_disabled(Host *h, const char *id, bool disabled);

/*
 * Validate params against the function's schema, then run the handler on
 * the worker pool.  Returns a negative errno (and *error_message) without
 * calling cb, or 0: cb is then called exactly once on the loop thread.
 * timeout_usec 0 = the configured default.
 */
int host_invoke(Host *h, const char *plugin_id, const char *function, const char *params_json, uint64_t timeout_usec,
                host_invoke_cb cb, void *userdata, char **error_message);

/*
 * Loop thread: host_invoke()'s direct path alone, for callers that would
 * rather not set up a callback: 0 with *result, or an error with
 * *error_message; -EAGAIN when the call must go to the worker pool (then
 * use host_invoke(), which also gives the lookup errors).
 */
int host_invoke_here(Host *h, const char *plugin_id, const char *function, const char *params_json, char **result,
                     char **error_message);

/*
 * Any thread.  Run a function its thread-safe plugin declares
 * DC_FUNCTION_FLAG_NONBLOCKING right on the calling thread: 0 with *result
 * (JSON text, caller frees), or HOST_ERR_INVALID_PARAMS /
 * HOST_ERR_HANDLER_FAILED with *error_message.  -EAGAIN when this call
 * cannot run here (unknown, unloaded, blocking, demoted): hand it to
 * host_invoke() on the loop thread, which answers as usual.  params is the
 * parsed object of params_text (the front end parsed it already).
 */
int host_call_direct(Host *h, const char *plugin_id, const char *function, struct json_object *params,
                     const char *params_text, char **result, char **error_message);

/* Registry access. */
PluginRecord *host_find(Host *h, const char *id);
size_t host_n_records(Host *h);
PluginRecord *host_record(Host *h, size_t i); /* sorted by id */
size_t host_n_loaded(Host *h);
unsigned host_n_queued_calls(Host *h); /* waiting for a worker */
const Policy *host_policy(Host *h);
const HostConfig *host_config(Host *h);
/* Roots: read-only ones first, then the store. */
char *const *host_roots(Host *h);
/* Candidates that lost to an earlier plugin with the same id (--check, Describe). */
size_t host_n_shadowed(Host *h);
const PluginRecord *host_shadowed(Host *h, size_t i);

/* For the install operations (install.c). */
typedef struct WorkerPool WorkerPool;
/* Index of the install store among host_roots(), -ENOENT when none is configured. */
int host_store_index(Host *h);
/* Index of the first root that holds id (folder or flat), -ENOENT if none. */
int host_locate_root(Host *h, const char *id);
/* Re-read one id from disk without running its code: the record becomes
 * available (or rejected), or disappears when the files are gone.  A
 * loaded plugin is left alone (-EBUSY). */
int host_refresh(Host *h, const char *id);
WorkerPool *host_pool(Host *h);
Policy *host_policy_ref(Host *h);
OwnerRule host_owner_rule(Host *h, RootKind kind);
sd_event *host_event(Host *h);

/* Loaded plugin details (NULL/0 when not loaded). */
size_t plugin_n_functions(const PluginRecord *r);
const char *plugin_function_name(const PluginRecord *r, size_t i);
const char *plugin_function_description(const PluginRecord *r, size_t i);
const char *plugin_function_schema(const PluginRecord *r, size_t i);
size_t plugin_n_events(const PluginRecord *r);
const char *plugin_event_name(const PluginRecord *r, size_t i);
const char *plugin_event_description(const PluginRecord *r, size_t i);
const char *plugin_event_schema(const PluginRecord *r, size_t i);
size_t plugin_n_routines(const PluginRecord *r);
const char *plugin_routine_name(const PluginRecord *r, size_t i);

/* JSON descriptions for front ends (Describe, list_plugins, --check --json). */
struct json_object *host_record_to_json(Host *h, const PluginRecord *r);
struct json_object *host_describe(Host *h);
