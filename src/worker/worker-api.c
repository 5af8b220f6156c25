/* SPDX-License-Identifier: MIT */
/*
 * The dc_host_api a plugin sees inside a worker: the same contract as in
 * the daemon (src/core/host-api.c), so a plugin does not know where it runs.
 * What leaves the worker is checked again by the daemon.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "plugin-text.h"
#include "worker-proto.h"
#include "worker.h"

static Plugin *plugin;
static const char *config_text = "{}";
static void *plugin_data;

void worker_api_init(Plugin *p, const char *config_json) {
        plugin = p;
        if (config_json)
                config_text = config_json;
}

static int api_emit_event(dc_plugin_ctx *ctx, const char *name, const char *payload_json) {
        if (!ctx || !name || !plugin_find_event(plugin, name))
                return -EINVAL;
        if (!payload_json)
                payload_json = "{}";
        if (plugin_json_parse(payload_json, true, NULL) < 0)
                return -EINVAL;
        int r = output_send(WORKER_EVENT, 0, 0, 0, name, strlen(name) + 1, payload_json, strlen(payload_json), true);
        return r == -ENOBUFS ? 0 : r; /* dropped under pressure, as the daemon would */
}

static void api_log(dc_plugin_ctx *ctx, int priority, const char *message) {
        if (!ctx || !message)
                return;
        size_t n = strnlen(message, PLUGIN_LOG_LINE_MAX + 1);
        (void) output_send(WORKER_LOG, 0, priority, 0, message, n, NULL, 0, true);
}

static const char *api_config(dc_plugin_ctx *ctx) {
        return config_text;
}

static void api_set_data(dc_plugin_ctx *ctx, void *data) {
        plugin_data = data;
}

static void *api_get_data(dc_plugin_ctx *ctx) {
        return plugin_data;
}

static int api_reply(dc_call *call, const char *result_json) {
        WorkerCall *c = (WorkerCall *) call;
        return c ? plugin_result_store(&c->result, result_json) : -EINVAL;
}

static int api_fail(dc_call *call, const char *message) {
        WorkerCall *c = (WorkerCall *) call;
        if (!c)
                return -EINVAL;
        char *copy = strndup(message ? message : "plugin call failed", PLUGIN_LOG_LINE_MAX);
        if (!copy)
                return -ENOMEM;
        free(c->error);
        c->error = copy;
        return 0;
}

static int api_cancelled(dc_call *call) {
        WorkerCall *c = (WorkerCall *) call;
        return c ? __atomic_load_n(&c->cancelled, __ATOMIC_RELAXED) : 1;
}

const dc_host_api worker_api = {
        .struct_size = sizeof(dc_host_api),
        .abi_major = DC_PLUGIN_ABI_MAJOR,
        .emit_event = api_emit_event,
        .log = api_log,
        .config = api_config,
        .set_data = api_set_data,
        .get_data = api_get_data,
        .reply = api_reply,
        .fail = api_fail,
        .cancelled = api_cancelled,
};
