/* SPDX-License-Identifier: MIT */
/* hello-world: the smallest useful plugin.  Functions: hello_world, echo. */
#include <stdio.h>
#include <string.h>

#include "dc-plugin-host/plugin.h"

static const dc_host_api *host;

/* Escape a string for embedding in JSON (enough for names). */
static void json_escape(const char *in, char *out, size_t size) {
        size_t o = 0;
        for (; *in && o + 7 < size; in++) {
                unsigned char c = (unsigned char) *in;
                if (c == '"' || c == '\\') {
                        out[o++] = '\\';
                        out[o++] = (char) c;
                } else if (c < 0x20)
                        o += (size_t) snprintf(out + o, size - o, "\\u%04x", c);
                else
                        out[o++] = (char) c;
        }
        out[o] = 0;
}

/* Pull "name" out of the validated params without a JSON library. */
static void get_name(const char *params, char *out, size_t size) {
        const char *p = strstr(params, "\"name\"");
        snprintf(out, size, "world");
        if (!p || !(p = strchr(p + 6, '"')))
                return;
        p++;
        size_t n = 0;
        while (p[n] && p[n] != '"' && n + 1 < size) {
                if (p[n] == '\\' && p[n + 1])
                        n++;
                n++;
        }
        snprintf(out, size, "%.*s", (int) n, p);
}

static int hello_world(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        char name[128], esc[512], result[640];
        get_name(params, name, sizeof name);
        json_escape(name, esc, sizeof esc);
        snprintf(result, sizeof result, "{\"message\":\"Hello, %s!\"}", esc);
        return host->reply(call, result);
}

static int echo(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return host->reply(call, params);
}

static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {
        host = api;
        host->log(ctx, DC_LOG_INFO, "hello-world ready");
        return 0;
}

static int cleanup(dc_plugin_ctx *ctx) {
        return 0;
}

static const dc_plugin_function functions[] = {
        {
                .name = "hello_world",
                .description = "Return a greeting",
                .params_schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\","
                                 "\"description\":\"who to greet\",\"maxLength\":100}}}",
                .flags = DC_FUNCTION_FLAG_NONBLOCKING, /* pure: may run on the receiving thread */
                .handler = hello_world,
        },
        {
                .name = "echo",
                .description = "Return the params unchanged",
                .params_schema = "{\"type\":\"object\",\"additionalProperties\":true}",
                .flags = DC_FUNCTION_FLAG_NONBLOCKING,
                .handler = echo,
        },
};

DC_PLUGIN_DEFINE({
        DC_PLUGIN_HEADER,
        .flags = DC_PLUGIN_FLAG_THREAD_SAFE,
        .id = "hello-world",
        .name = "Hello World",
        .version = "1.0.0",
        .description = "Says hello and echoes its parameters",
        .author = "Device Connect",
        .functions = functions,
        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),
        .init = init,
        .cleanup = cleanup,
});
