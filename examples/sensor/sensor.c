/* SPDX-License-Identifier: MIT */
/*
 * sensor: typed parameters (integer, number, boolean, array) and a slow
 * function for concurrency tests.  Thread-safe: no shared mutable state
 * except an atomic read counter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc-plugin-host/plugin.h"

static const dc_host_api *host;
static unsigned long reads;

/* Minimal accessors for the validated params object. */
static const char *find_key(const char *params, const char *key) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\"", key);
        const char *p = strstr(params, pat);
        return p ? strchr(p + strlen(pat), ':') + 1 : NULL;
}

static double get_number(const char *params, const char *key, double def) {
        const char *p = find_key(params, key);
        return p ? strtod(p, NULL) : def;
}

static int get_bool(const char *params, const char *key, int def) {
        const char *p = find_key(params, key);
        if (!p)
                return def;
        while (*p == ' ')
                p++;
        return strncmp(p, "true", 4) == 0;
}

static int read_sensor(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int channel = (int) get_number(params, "channel", 0);
        double scale = get_number(params, "scale", 1.0);
        int calibrated = get_bool(params, "calibrated", 1);
        double value = (20.0 + channel * 0.5) * scale + (calibrated ? 0.0 : 0.25);
        char buf[256];

        __atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED);
        snprintf(buf, sizeof buf, "{\"channel\":%d,\"value\":%.3f,\"calibrated\":%s,\"unit\":\"C\"}", channel, value,
                 calibrated ? "true" : "false");
        if (value > get_number(host->config(ctx), "alert_above", 1e300)) {
                char ev[128];
                snprintf(ev, sizeof ev, "{\"channel\":%d,\"value\":%.3f}", channel, value);
                host->emit_event(ctx, "alert", ev);
        }
        return host->reply(call, buf);
}

static int slow(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        long ms = (long) get_number(params, "ms", 100);
        long slept = 0;
        /* Sleep in slices so a cancelled call returns early. */
        while (slept < ms && !host->cancelled(call)) {
                long slice = ms - slept < 10 ? ms - slept : 10;
                struct timespec ts = { slice / 1000, (slice % 1000) * 1000000L };
                nanosleep(&ts, NULL);
                slept += slice;
        }
        char buf[64];
        snprintf(buf, sizeof buf, "{\"slept_ms\":%ld}", slept);
        return host->reply(call, buf);
}

static int stats(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        char buf[64];
        snprintf(buf, sizeof buf, "{\"reads\":%lu}", __atomic_load_n(&reads, __ATOMIC_RELAXED));
        return host->reply(call, buf);
}

static int fail(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        host->fail(call, "sensor is unplugged");
        return -5;
}

static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {
        host = api;
        reads = 0;
        return 0;
}

static int cleanup(dc_plugin_ctx *ctx) {
        return 0;
}

static const dc_plugin_function functions[] = {
        {
                .name = "read",
                .description = "Read one channel",
                .params_schema = "{\"type\":\"object\",\"properties\":{"
                                 "\"channel\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":7},"
                                 "\"scale\":{\"type\":\"number\"},"
                                 "\"calibrated\":{\"type\":\"boolean\"},"
                                 "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":8}},"
                                 "\"required\":[\"channel\"]}",
                .handler = read_sensor,
        },
        {
                .name = "slow",
                .description = "Sleep for ms milliseconds, then answer",
                .params_schema = "{\"type\":\"object\",\"properties\":{\"ms\":{\"type\":\"integer\","
                                 "\"minimum\":0,\"maximum\":60000}}}",
                .flags = DC_FUNCTION_FLAG_SLOW,
                .handler = slow,
        },
        { .name = "stats", .description = "How many reads so far", .handler = stats },
        { .name = "fail", .description = "Always fails", .handler = fail },
};

static const dc_plugin_event events[] = {
        {
                .name = "alert",
                .description = "A reading exceeded the configured alert_above",
                .payload_schema = "{\"type\":\"object\",\"properties\":{\"channel\":{\"type\":\"integer\"},"
                                  "\"value\":{\"type\":\"number\"}},\"required\":[\"channel\",\"value\"]}",
        },
};

DC_PLUGIN_DEFINE({
        DC_PLUGIN_HEADER,
        .flags = DC_PLUGIN_FLAG_THREAD_SAFE,
        .id = "sensor",
        .name = "Sensor",
        .version = "1.0.0",
        .description = "A simulated sensor with typed parameters and a slow function",
        .author = "Device Connect",
        .functions = functions,
        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),
        .events = events,
        .n_events = DC_PLUGIN_N_ELEMENTS(events),
        .init = init,
        .cleanup = cleanup,
});
