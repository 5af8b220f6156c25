/* SPDX-License-Identifier: MIT */
/*
 * counter: state, a periodic routine and an event.  Not thread-safe on
 * purpose: the host serialises its handlers and routine, so plain
 * variables are enough.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc-plugin-host/plugin.h"

static const dc_host_api *host;
static long long count;
static long long ticks;

static int reply_count(dc_call *call) {
        char buf[64];
        snprintf(buf, sizeof buf, "{\"count\":%lld}", count);
        return host->reply(call, buf);
}

static int get(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return reply_count(call);
}

static int increment(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        const char *p = strstr(params, "\"by\"");
        long long by = 1;
        if (p && (p = strchr(p, ':')))
                by = strtoll(p + 1, NULL, 10);
        count += by;
        return reply_count(call);
}

static int reset(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        count = 0;
        return reply_count(call);
}

static void tick(dc_plugin_ctx *ctx) {
        char buf[96];
        ticks++;
        snprintf(buf, sizeof buf, "{\"count\":%lld,\"ticks\":%lld}", count, ticks);
        host->emit_event(ctx, "tick", buf);
}

static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {
        host = api;
        count = 0;
        ticks = 0;
        return 0;
}

static int cleanup(dc_plugin_ctx *ctx) {
        return 0;
}

static const dc_plugin_function functions[] = {
        { .name = "get", .description = "Current count", .handler = get },
        {
                .name = "increment",
                .description = "Add to the count",
                .params_schema = "{\"type\":\"object\",\"properties\":{\"by\":{\"type\":\"integer\","
                                 "\"minimum\":-1000000,\"maximum\":1000000}}}",
                .handler = increment,
        },
        { .name = "reset", .description = "Set the count to zero", .handler = reset },
};

static const dc_plugin_event events[] = {
        {
                .name = "tick",
                .description = "Emitted by the tick routine",
                .payload_schema = "{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"},"
                                  "\"ticks\":{\"type\":\"integer\"}},\"required\":[\"count\",\"ticks\"]}",
        },
};

static const dc_plugin_routine routines[] = {
        { .name = "tick", .interval_ms = 200, .run = tick },
};

DC_PLUGIN_DEFINE({
        DC_PLUGIN_HEADER,
        .flags = 0, /* serialised by the host */
        .id = "counter",
        .name = "Counter",
        .version = "1.0.0",
        .description = "A counter with a periodic routine that emits a tick event",
        .author = "Device Connect",
        .functions = functions,
        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),
        .events = events,
        .n_events = DC_PLUGIN_N_ELEMENTS(events),
        .routines = routines,
        .n_routines = DC_PLUGIN_N_ELEMENTS(routines),
        .init = init,
        .cleanup = cleanup,
});
