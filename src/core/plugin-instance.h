/* SPDX-License-Identifier: MIT */
/* A loaded plugin generation: the mapped object, its descriptor and tables. */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "dc-plugin-host/plugin.h"
#include "host.h"
#include "worker-pool.h"

/* Handed to the plugin; outlives the instance (plugins may keep it after
 * cleanup() in threads of their own), so it is freed only with the host. */
struct dc_plugin_ctx {
        Plugin *plugin;
        int dead; /* atomic: set once cleanup() returned */
};

/* One function call; the plugin sees only the dc_call. */
struct dc_call {
        Job job; /* first: container_of-free casts */
        char *result;
        char *error;
};

typedef struct PluginFunction {
        const dc_plugin_function *def;
        struct json_object *schema; /* read-only once loaded: shared by threads */
        char *schema_text;          /* compact: serialising the object writes into it */
        int demoted; /* atomic: a direct call overran; use the worker pool */
} PluginFunction;

typedef struct PluginEvent {
        const dc_plugin_event *def;
        struct json_object *schema;
        char *schema_text;
} PluginEvent;

typedef struct RoutineTimer {
        Plugin *plugin;
        const dc_plugin_routine *def;
        sd_event_source *source;
        bool busy;
} RoutineTimer;

struct Plugin {
        unsigned n_ref; /* loop thread only */
        Host *host;
        char *id;
        const struct dc_plugin_descriptor *desc;
        void *dl;
        char digest[DIGEST_STRING_MAX];
        PluginFunction *functions;
        size_t n_functions;
        PluginEvent *events;
        size_t n_events;
        RoutineTimer *routines;
        size_t n_routines;
        struct dc_plugin_ctx *ctx;
        char *config_json;
        void *data;
        bool thread_safe;
        bool initialized;
        bool draining;
        unsigned in_flight;
        unsigned direct_calls; /* direct-call.c, under its lock */
        bool direct_withdrawn; /* likewise */
        Plugin *drained_next;  /* host.c's list of finished direct drains */
        host_done_cb drain_cb;
        void *drain_userdata;
};

/* §3.3 steps 15-22: dlopen the verified image and check the descriptor.
 * The image fd must stay open for the life of the process. */
int plugin_instantiate(Host *h, Candidate *c, Plugin **ret, Verdict *v);
/* Step 23: init().  On failure the plugin is not registered. */
int plugin_init(Plugin *p, Verdict *v);
Plugin *plugin_ref(Plugin *p);
Plugin *plugin_unref(Plugin *p);
const PluginFunction *plugin_find_function(const Plugin *p, const char *name);
const PluginEvent *plugin_find_event(const Plugin *p, const char *name);

/* The dc_host_api table (host-api.c). */
extern const dc_host_api host_api_table;
/* The outcome of a handler that returned r: 0 and *result ("null" if it
 * never replied), or HOST_ERR_HANDLER_FAILED and *message.  The pointers
 * refer to call or to static text.  Any thread. */
int dc_call_outcome(const struct dc_call *call, int r, const char **result, const char **message);

/* Internal hooks of host.c used by the loader and host-api.c. */
int host_track_ctx(Host *h, struct dc_plugin_ctx *ctx);
int host_queue_event(Host *h, const char *plugin_id, const char *event, const char *payload_json);
const char *host_plugin_config_dir(Host *h);
/* Size, strict-object and schema checks of a call's params: 0, or
 * HOST_ERR_INVALID_PARAMS with *error_message.  Any thread. */
int call_check_params(const PluginFunction *fn, struct json_object *params, size_t text_len, char **error_message);
