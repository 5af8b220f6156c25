/* SPDX-License-Identifier: MIT */
/* The services a plugin may call (dc_host_api); safe from any thread. */
#include "host-internal.h"
#include "json-util.h"
#include "escape.h"
#include "log.h"
#include "plugin-output.h"
#include "plugin-text.h"
#include "schema.h"

static bool ctx_alive(dc_plugin_ctx *ctx) {
        return ctx && !__atomic_load_n(&ctx->dead, __ATOMIC_ACQUIRE);
}

static int api_emit_event(dc_plugin_ctx *ctx, const char *name, const char *payload_json) {
        if (!ctx_alive(ctx))
                return -ESHUTDOWN;
        int r = plugin_output_event(ctx->plugin, name, payload_json);
        return r == -ENOBUFS ? 0 : r; /* dropped by the limits: counted, not the plugin's error */
}

static void api_log(dc_plugin_ctx *ctx, int priority, const char *message) {
        if (ctx)
                plugin_output_log(ctx->plugin, priority, message);
}

static const char *api_config(dc_plugin_ctx *ctx) {
        return ctx && ctx->plugin->config_json ? ctx->plugin->config_json : "{}";
}

static void api_set_data(dc_plugin_ctx *ctx, void *data) {
        if (ctx)
                ctx->plugin->data = data;
}

static void *api_get_data(dc_plugin_ctx *ctx) {
        return ctx ? ctx->plugin->data : NULL;
}

static int api_reply(dc_call *call, const char *result_json) {
        return call ? plugin_result_store(&call->result, result_json) : -EINVAL;
}

static int api_fail(dc_call *call, const char *message) {
        if (!call)
                return -EINVAL;
        /* goes into D-Bus error messages (valid UTF-8 only) and mesh replies */
        char *copy = escape_untrusted(message ? message : "plugin call failed", PLUGIN_LOG_LINE_MAX);
        if (!copy)
                return -ENOMEM;
        free(call->error);
        call->error = copy;
        return 0;
}

static int api_cancelled(dc_call *call) {
        return call ? job_is_cancelled(&call->job) : 1;
}

const dc_host_api host_api_table = {
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
