/* SPDX-License-Identifier: MIT */
/* A loaded plugin generation: the mapped object, its descriptor and tables. */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "dc-plugin-host/plugin.h"
#include "fs-check.h"
#include "host.h"
#include "loop-mailbox.h"
#include "plugin-output.h"
#include "verify.h"
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
        dc_plugin_function def; /* the plugin's element, as far as this host knows the struct */
        struct json_object *schema; /* read-only once loaded: shared by threads */
        char *schema_text;          /* compact: serialising the object writes into it */
        int demoted; /* atomic: a direct call overran; use the worker pool */
} PluginFunction;

typedef struct PluginEvent {
        dc_plugin_event def;
        struct json_object *schema;
        char *schema_text;
} PluginEvent;

typedef struct RoutineTimer {
        Plugin *plugin;
        dc_plugin_routine def;
        sd_event_source *source;
        bool busy;
} RoutineTimer;

struct Plugin {
        unsigned n_ref; /* loop thread only */
        Host *host;
        char *id;
        struct dc_plugin_descriptor desc; /* copied up to the plugin's struct_size, the rest zero */
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
        char **strings; /* a worker's description: the texts the tables point to */
        PluginOutput *output; /* events and log lines: limits and counters */
        void *data;
        bool thread_safe;
        bool initialized;
        bool draining;
        unsigned in_flight;
        unsigned direct_calls; /* direct-call.c, under its lock */
        bool direct_withdrawn; /* likewise */
        MailboxItem drained;   /* lifecycle.c: the last direct call returned */
        host_done_cb drain_cb;
        void *drain_userdata;
};

/* Contexts outlive their plugin (plugins may keep them in threads of their
 * own after cleanup()): the host frees them at exit. */
typedef struct CtxList {
        struct dc_plugin_ctx **items;
        size_t n;
} CtxList;
void ctx_list_done(CtxList *l);

/* What the loader needs from its caller (instead of calling back into it). */
typedef struct LoaderContext {
        Host *host;                    /* stored in the instance, never dereferenced here */
        const HostConfig *config;      /* the plugin output limits */
        const char *plugin_config_dir; /* <dir>/<id>.json is handed to the plugin */
        OwnerRule config_rule;         /* who may own that file */
        CtxList *ctxs;
} LoaderContext;

/* Steps 15-22 of the load (docs/plugin-security.md): dlopen the verified
 * image and check the descriptor.  The image fd stays open for the life of
 * the process. */
int plugin_instantiate(const LoaderContext *lc, Candidate *c, Plugin **ret, Verdict *v);
/* Step 23: init() with the services api.  On failure the plugin is not registered. */
int plugin_init(Plugin *p, const dc_host_api *api, Verdict *v);
Plugin *plugin_ref(Plugin *p);
Plugin *plugin_unref(Plugin *p);
const PluginFunction *plugin_find_function(const Plugin *p, const char *name);
const PluginEvent *plugin_find_event(const Plugin *p, const char *name);

/* The dc_host_api table (host-api.c). */
extern const dc_host_api host_api_table;
