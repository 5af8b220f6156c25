/* SPDX-License-Identifier: MIT */
/*
 * One source, many variants (-DTP_* in meson.build) for the loader tests.
 * Every variant appends "ctor <id>" / "init <id>" / "cleanup <id>" to the
 * file named by $DC_TEST_MARKER, so tests can prove that rejected plugins
 * never ran a single instruction.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc-plugin-host/plugin.h"

#ifndef TP_ID
#error "TP_ID must be defined"
#endif
#ifndef TP_BUILD
#define TP_BUILD "default"
#endif
#ifndef TP_VERSION
#define TP_VERSION "1.0.0"
#endif

static const dc_host_api *host;

static void mark(const char *what) {
        const char *path = getenv("DC_TEST_MARKER");
        char line[128];
        if (!path)
                return;
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        int n = snprintf(line, sizeof line, "%s %s\n", what, TP_ID);
        if (write(fd, line, (size_t) n) < 0) {
        }
        close(fd);
}

__attribute__((constructor)) static void constructor(void) {
        mark("ctor");
}

#ifdef TP_BULK
/* Roll-out tests: 100 KiB of 'Z' that a test overwrites with random bytes
 * of the same length (an incompressible plugin of about 100 KB). */
__attribute__((used)) static const char bulk[100 * 1024] = { [0 ... 100 * 1024 - 1] = 'Z' };

static int probe(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        char buf[96];
        snprintf(buf, sizeof buf, "{\"build\":\"%s\",\"version\":\"%s\",\"bulk\":%u}", TP_BUILD, TP_VERSION,
                 (unsigned) (unsigned char) bulk[sizeof bulk / 2]);
        return host->reply(call, buf);
}
#else
static int probe(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return host->reply(call, "{\"build\":\"" TP_BUILD "\"}");
}
#endif

static int config(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return host->reply(call, host->config(ctx));
}

static int emit(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int r = host->emit_event(ctx, "ping", params);
        char buf[32];
        snprintf(buf, sizeof buf, "{\"r\":%d}", r);
        return host->reply(call, buf);
}

static int bad_result(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int r = host->reply(call, "{not json");
        char buf[32];
        snprintf(buf, sizeof buf, "{\"r\":%d}", r);
        return host->reply(call, buf);
}

/* Hostile text: terminal escapes, a bell, invalid UTF-8 and a 10 KiB line,
 * logged and returned as the failure message. */
static int shout(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        static char line[10 * 1024 + 1];
        memset(line, 'a', sizeof line - 1);
        memcpy(line, "\x1b[2J\x07\xff", 6);
        host->log(ctx, DC_LOG_WARNING, line);
        return host->fail(call, line);
}

/* Concurrency probe: how many handlers of this plugin ran at once. */
static int active, max_active;


static int sleepy(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int now = __atomic_add_fetch(&active, 1, __ATOMIC_SEQ_CST);
        int seen = __atomic_load_n(&max_active, __ATOMIC_SEQ_CST);
        while (now > seen && !__atomic_compare_exchange_n(&max_active, &seen, now, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                ;
        usleep(50 * 1000);
        __atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
        return 0;
}

static int get_max_active(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        char buf[32];
        snprintf(buf, sizeof buf, "{\"max\":%d}", __atomic_load_n(&max_active, __ATOMIC_SEQ_CST));
        return host->reply(call, buf);
}

#ifdef TP_FAST
/* Direct calls (DC_FUNCTION_FLAG_NONBLOCKING): an echo, a failure, and a
 * stall that breaks the promise ({"ms": N}) and marks its start and end. */
static int fast_echo(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return host->reply(call, params);
}

static int fast_fail(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return host->fail(call, "fast failure as asked");
}

static int stall(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        const char *p = strstr(params, "\"ms\":");
        mark("stall-start");
        usleep((useconds_t) (p ? atoi(p + 5) : 0) * 1000);
        mark("stall-end");
        return host->reply(call, "{\"stalled\":true}");
}
#endif

__attribute__((unused)) static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {
        host = api;
        mark("init");
#ifdef TP_INIT_FAIL
        *error = "the test asked me to fail";
        return -5;
#endif
        return 0;
}

__attribute__((unused)) static int cleanup(dc_plugin_ctx *ctx) {
        mark("cleanup");
#ifdef TP_CLEANUP_FAIL
        return -5;
#endif
        return 0;
}

static const dc_plugin_function functions[] = {
        { .name = "probe", .description = "Which build is this", .handler = probe },
        { .name = "config", .description = "The plugin's configuration", .handler = config },
        {
                .name = "emit",
                .description = "Emit a ping event with the params as payload",
                .params_schema = "{\"type\":\"object\",\"additionalProperties\":true}",
                .handler = emit,
        },
        { .name = "bad_result", .description = "Tries to reply invalid JSON", .handler = bad_result },
        { .name = "shout", .description = "Logs and fails with hostile text", .handler = shout },
        { .name = "sleepy", .description = "Sleep 50 ms, counting concurrent runs", .handler = sleepy },
        { .name = "max_active", .description = "Most concurrent sleepy runs seen", .handler = get_max_active },
#ifdef TP_FAST
        { .name = "fast_echo",
          .params_schema = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}",
          .flags = DC_FUNCTION_FLAG_NONBLOCKING,
          .handler = fast_echo },
        { .name = "fast_fail", .flags = DC_FUNCTION_FLAG_NONBLOCKING, .handler = fast_fail },
        { .name = "stall",
          .params_schema = "{\"type\":\"object\",\"properties\":{\"ms\":{\"type\":\"integer\"}}}",
          .flags = DC_FUNCTION_FLAG_NONBLOCKING,
          .handler = stall },
#endif
#ifdef TP_BAD_SCHEMA
        { .name = "broken", .params_schema = "{\"type\":\"object\",\"patternProperties\":{}}", .handler = probe },
#endif
#ifdef TP_DUP_FUNCTION
        { .name = "probe", .handler = probe },
#endif
#ifdef TP_MANY_FUNCTIONS
/* 20 functions in all: the advertisement-size test (200 plugins x 20). */
#define MANY_SCHEMA                                                                                              \
        "{\"type\":\"object\",\"properties\":{\"channel\":{\"type\":\"integer\",\"description\":\"which channel\"},"   \
        "\"calibrated\":{\"type\":\"boolean\",\"default\":true}},\"required\":[\"channel\"]}"
        { .name = "reading_00", .description = "Return reading number 0 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_01", .description = "Return reading number 1 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_02", .description = "Return reading number 2 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_03", .description = "Return reading number 3 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_04", .description = "Return reading number 4 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_05", .description = "Return reading number 5 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_06", .description = "Return reading number 6 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_07", .description = "Return reading number 7 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_08", .description = "Return reading number 8 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_09", .description = "Return reading number 9 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_10", .description = "Return reading number 10 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_11", .description = "Return reading number 11 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_12", .description = "Return reading number 12 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
        { .name = "reading_13", .description = "Return reading number 13 of this simulated device", .params_schema = MANY_SCHEMA, .handler = probe },
#endif
};

static const dc_plugin_event events[] = {
        { .name = "ping", .description = "test event",
          .payload_schema = "{\"type\":\"object\",\"additionalProperties\":true}" },
};

DC_PLUGIN_DEFINE({
#ifdef TP_BAD_MAGIC
        .magic = 0xdeadbeef,
#else
        .magic = DC_PLUGIN_MAGIC,
#endif
#ifdef TP_ABI
        .abi_major = TP_ABI,
#else
        .abi_major = DC_PLUGIN_ABI_MAJOR,
#endif
        .abi_minor = DC_PLUGIN_ABI_MINOR,
        .struct_size = sizeof(struct dc_plugin_descriptor),
#ifdef TP_FAST
        .flags = DC_PLUGIN_FLAG_THREAD_SAFE,
#endif
#ifdef TP_DESC_ID
        .id = TP_DESC_ID,
#else
        .id = TP_ID,
#endif
#ifdef TP_NO_NAME
        .name = "",
#else
        .name = "Test plugin " TP_ID,
#endif
        .version = TP_VERSION,
        .description = "loader test plugin",
#ifdef TP_TOOLCHAIN
        .toolchain = TP_TOOLCHAIN,
#else
        .toolchain = DC_PLUGIN_TOOLCHAIN,
#endif
        .functions = functions,
        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),
        .events = events,
        .n_events = DC_PLUGIN_N_ELEMENTS(events),
#ifdef TP_NULL_INIT
        .init = NULL,
#else
        .init = init,
#endif
#ifdef TP_NULL_CLEANUP
        .cleanup = NULL,
#else
        .cleanup = cleanup,
#endif
});
