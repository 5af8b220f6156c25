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
        struct json_object *schema;
} PluginFunction;

typedef struct PluginEvent {
        const dc_plugin_event *def;
        struct json_object *schema;
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

/* Internal hooks of host.c used by the loader and host-api.c. */
int host_track_ctx(Host *h, struct dc_plugin_ctx *ctx);
int host_queue_event(Host *h, const char *plugin_id, const char *event, const char *payload_json);
const char *host_plugin_config_dir(Host *h);
