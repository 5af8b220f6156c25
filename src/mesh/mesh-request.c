/* SPDX-License-Identifier: MIT */
/* A caller's request from its envelope to its one reply, and the envelopes
 * of every reply (docs/mesh.md, "Envelopes"). */
#include <stdarg.h>

#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "names.h"

const OpCaller mesh_caller = { .front_end = "mesh", .id = "mesh", .share = "mesh", .remote = true };

Req *mesh_req_new(Mesh *m, const char *reply, struct json_object *id, const char *method) {
        Req *r = calloc(1, sizeof *r);
        if (!r)
                return NULL;
        m->in_flight++;
        r->m = m;
        r->id = json_object_get(id);
        r->reply = reply ? strdup(reply) : NULL;
        r->method = strdup(method);
        if ((reply && !r->reply) || !r->method) {
                mesh_req_free(r);
                return NULL;
        }
        return r;
}

bool mesh_reply_subject_ok(Mesh *m, const char *reply) {
        if (!reply)
                return true; /* nobody listens: nothing is published */
        const char *prefix = m->config->mesh.reply_prefix ? m->config->mesh.reply_prefix : DC_MESH_REPLY_PREFIX_DEFAULT;
        if (strncmp(reply, prefix, strlen(prefix)) == 0 && strncmp(reply, m->subj_own_prefix, strlen(m->subj_own_prefix)) != 0 &&
            !strpbrk(reply, "*> \t\r\n"))
                return true;
        log_ratelimit_warning("Ignoring a request whose reply subject is not an inbox (%s…)", prefix);
        return false;
}

void mesh_req_count_call(Req *r) {
        assert(!r->plugin_call);
        r->plugin_call = true;
        r->m->in_flight_calls++;
}

void mesh_req_free(Req *r) {
        if (!r)
                return;
        assert(r->m->in_flight > 0);
        r->m->in_flight--;
        if (r->plugin_call) {
                assert(r->m->in_flight_calls > 0);
                r->m->in_flight_calls--;
        }
        free(r->reply);
        json_object_put(r->id);
        free(r->method);
        free(r->plugin_id);
        free(r->url);
        free(r);
}

static struct json_object *oversize_error(void) {
        return jsonrpc_error_object(JSONRPC_SERVER_ERROR, "reply exceeds the server's max_payload");
}

/* Any thread: nc is the connection the request came on (the loop's m->nc). */
static void send_envelope(natsConnection *nc, const char *reply, struct json_object *id, const char *key,
                          struct json_object *value) {
        if (!reply) {
                json_object_put(value);
                return;
        }
        _cleanup_json_ struct json_object *o = jsonrpc_reply(id, key, value);
        if (!o)
                return;
        if (mesh_publish_json_on(nc, reply, o) == -EMSGSIZE) {
                /* never silence: tell the caller why */
                json_object_object_del(o, key);
                json_object_object_add(o, "error", oversize_error());
                (void) mesh_publish_json_on(nc, reply, o);
        }
}

/* A plugin's result is validated JSON text already: splice it in. */
void mesh_reply_result_text(natsConnection *nc, const char *reply, struct json_object *id, const char *result) {
        _cleanup_free_ char *text = NULL;
        const char *id_text = json_object_to_json_string_ext(id, JSON_C_TO_STRING_PLAIN);
        int len;

        if (!reply)
                return;
        len = asprintf(&text, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}", id_text, result);
        if (len < 0)
                return;
        if (mesh_publish_text(nc, reply, text, (size_t) len) == -EMSGSIZE)
                send_envelope(nc, reply, id, "error", oversize_error());
}

void mesh_reply_error(natsConnection *nc, const char *reply, struct json_object *id, int code, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        send_envelope(nc, reply, id, "error", jsonrpc_error_object(code, msg));
}

void mesh_req_finish(Req *r, struct json_object *result) {
        send_envelope(r->m->nc, r->reply, r->id, "result", result);
        mesh_req_free(r);
}

void mesh_req_fail(Req *r, int code, const char *message) {
        mesh_reply_error(r->m->nc, r->reply, r->id, code, "%s", message);
        mesh_req_free(r);
}

void mesh_add_str(struct json_object *o, const char *k, const char *v) {
        json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

struct json_object *mesh_status_obj(const char *status) {
        struct json_object *o = json_object_new_object();
        mesh_add_str(o, "status", status);
        return o;
}

/* {"status":"error", ["plugin_id"], "message", "error": <reason>} */
struct json_object *mesh_error_result(const char *plugin_id, const char *message, const char *reason) {
        struct json_object *o = mesh_status_obj("error");
        if (plugin_id)
                mesh_add_str(o, "plugin_id", plugin_id);
        mesh_add_str(o, "message", message);
        mesh_add_str(o, "error", isempty(reason) ? "failed" : reason);
        return o;
}
