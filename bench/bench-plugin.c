/* SPDX-License-Identifier: MIT */
/* Benchmark plugin: the id "bench-XXX" is patched per copy by bench-coldstart. */
#include "dc-plugin-host/plugin.h"

static const dc_host_api *host;

static int echo(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return host->reply(call, params);
}

static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {
        host = api;
        return 0;
}

static int cleanup(dc_plugin_ctx *ctx) {
        return 0;
}

static const dc_plugin_function functions[] = {
        { .name = "echo", .params_schema = "{\"type\":\"object\",\"additionalProperties\":true}", .handler = echo },
};

DC_PLUGIN_DEFINE({
        DC_PLUGIN_HEADER,
        .flags = DC_PLUGIN_FLAG_THREAD_SAFE,
        .id = "bench-XXX",
        .name = "Benchmark plugin",
        .version = "1.0.0",
        .functions = functions,
        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),
        .init = init,
        .cleanup = cleanup,
});
