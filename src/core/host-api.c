/* SPDX-License-Identifier: MIT */
/* The services a plugin may call (dc_host_api); safe from any thread. */
#include "host-internal.h"
#include "json-util.h"
#include "escape.h"
#include "log.h"
#include "schema.h"

/* An event on its way to the loop, where listeners hear about it. */
typedef struct QueuedEvent {
        MailboxItem item; /* first */
        Registry *registry;
        char *plugin_id, *name, *payload;
} QueuedEvent;

static void queued_event_run(MailboxItem *item, bool cancelled) {
        QueuedEvent *e = (QueuedEvent *) item;
        if (!cancelled)
                registry_notify_event(e->registry, e->plugin_id, e->name, e->payload);
        free(e->plugin_id);
        free(e->name);
        free(e->payload);
        free(e);
}

static int queue_event(Plugin *p, const char *event, const char *payload_json) {
        QueuedEvent *e = calloc(1, sizeof(QueuedEvent));
        if (!e)
                return -ENOMEM;
        e->item.run = queued_event_run;
        e->registry = &p->host->registry;
        e->plugin_id = strdup(p->id);
        e->name = strdup(event);
        e->payload = strdup(payload_json);
        if (!e->plugin_id || !e->name || !e->payload) {
                queued_event_run(&e->item, true);
                return -ENOMEM;
        }
        loop_mailbox_post(p->host->mailbox, &e->item);
        return 0;
}

#define MAX_RESULT (16u * 1024u * 1024u)
#define PLUGIN_LOG_LINE_MAX 4096u

static bool ctx_alive(dc_plugin_ctx *ctx) {
        return ctx && !__atomic_load_n(&ctx->dead, __ATOMIC_ACQUIRE);
}

static int api_emit_event(dc_plugin_ctx *ctx, const char *name, const char *payload_json) {
        _cleanup_json_ struct json_object *o = NULL;
        _cleanup_free_ char *err = NULL;
        const PluginEvent *e;

        if (!ctx_alive(ctx))
                return -ESHUTDOWN;
        if (!name || !(e = plugin_find_event(ctx->plugin, name)))
                return -EINVAL;
        if (!payload_json)
                payload_json = "{}";
        if (strlen(payload_json) > MAX_RESULT || json_parse_strict(payload_json, strlen(payload_json), &o, NULL) < 0 ||
            !json_object_is_type(o, json_type_object))
                return -EINVAL;
        if (schema_validate(e->schema, o, &err) < 0) {
                log_struct(LOG_WARNING, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", ctx->plugin->id)),
                           "Dropping event %s of plugin %s: payload %s", name, ctx->plugin->id, err);
                return -EINVAL;
        }
        return queue_event(ctx->plugin, name, json_to_string_compact(o));
}

static void api_log(dc_plugin_ctx *ctx, int priority, const char *message) {
        if (!ctx || !message)
                return;
        if (priority < LOG_ERR)
                priority = LOG_ERR; /* plugins cannot raise emergencies */
        if (priority > LOG_DEBUG)
                priority = LOG_DEBUG;
        /* A plugin's text is untrusted: escaped, and one line is at most
         * PLUGIN_LOG_LINE_MAX bytes. */
        _cleanup_free_ char *safe = escape_untrusted(message, PLUGIN_LOG_LINE_MAX);
        log_struct(priority, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", ctx->plugin->id)), "%s: %s", ctx->plugin->id,
                   safe ? safe : "(out of memory)");
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
        _cleanup_json_ struct json_object *o = NULL;

        if (!call || !result_json)
                return -EINVAL;
        size_t n = strlen(result_json);
        if (n > MAX_RESULT || json_parse_strict(result_json, n, &o, NULL) < 0)
                return -EINVAL;
        char *copy = strdup(result_json);
        if (!copy)
                return -ENOMEM;
        free(call->result);
        call->result = copy;
        return 0;
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
