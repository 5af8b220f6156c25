/* SPDX-License-Identifier: MIT */
/*
 * One plugin source built against three SDK headers (tests/sdk/abi-1.0, the
 * current include/, tests/sdk/abi-future): the host must load each one and
 * read its tables right.  Functions, events and routines are several, so a
 * wrong element stride would show as wrong names.
 */
#include <stdio.h>

#include <dc-plugin-host/plugin.h>

static const dc_host_api *host;

static int answer(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        char buf[64];
        snprintf(buf, sizeof buf, "{\"abi_minor\":%u}", DC_PLUGIN_ABI_MINOR);
        return host->reply(call, buf);
}

static int second(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return host->reply(call, "\"second\"");
}

static void tick(dc_plugin_ctx *ctx) {
}

static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {
        host = api;
        return 0;
}

static int cleanup(dc_plugin_ctx *ctx) {
        return 0;
}

static const dc_plugin_function functions[] = {
        { .name = "answer", .description = "The SDK minor this plugin was built with", .handler = answer },
        { .name = "second", .description = "Another function", .handler = second },
        { .name = "third", .description = "And a third", .handler = second },
};

static const dc_plugin_event events[] = {
        { .name = "first_event", .description = "one" },
        { .name = "second_event", .description = "two" },
};

static const dc_plugin_routine routines[] = {
        { .name = "tick_a", .interval_ms = 3600000, .run = tick },
        { .name = "tick_b", .interval_ms = 7200000, .run = tick },
};

DC_PLUGIN_DEFINE({
        DC_PLUGIN_HEADER,
#ifdef SDK_TRUNCATED
        /* a descriptor that claims to be shorter than ABI 1.0's */
        .struct_size = 64,
#endif
#ifdef SDK_SMALL_ELEMENTS
        .function_size = 8,
#endif
        .id = TP_ID,
        .name = "SDK compatibility plugin",
        .version = "1.0.0",
        .description = "built against one SDK version",
        .functions = functions,
        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),
        .events = events,
        .n_events = DC_PLUGIN_N_ELEMENTS(events),
        .routines = routines,
        .n_routines = DC_PLUGIN_N_ELEMENTS(routines),
        .init = init,
        .cleanup = cleanup,
});
