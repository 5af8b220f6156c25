/* SPDX-License-Identifier: MIT */
/* dc-plugin-hostctl --mesh: the same server, credential and identity rules
 * as the daemon, connected without subscriptions, failing at once when the
 * server is down.  Requests may come from several threads at once (a
 * roll-out); nats.c's connection is thread-safe and nothing here changes
 * after mesh_client_open(). */
#include <ctype.h>
#include <stdarg.h>

#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "names.h"
#include "reason.h"

int mesh_client_open(const HostConfig *c, Mesh **ret) {
        Mesh *m = calloc(1, sizeof *m);
        natsStatus s;
        int r;

        if (!m)
                return -ENOMEM;
        m->config = c;
        mesh_init_common(m);
        if (nats_Open(-1) != NATS_OK) {
                free(m);
                return -ENOMEM;
        }
        r = mesh_configure(m);
        /* A server that is down fails at once; a connection that drops
         * (a cluster node going away mid-roll-out) moves to another server
         * of the list for a while. */
        if (r >= 0 && natsOptions_SetRetryOnFailedConnect(m->opts, false, NULL, NULL) != NATS_OK)
                r = -EINVAL;
        if (r >= 0 && (natsOptions_SetMaxReconnect(m->opts, 20) != NATS_OK ||
                       natsOptions_SetReconnectWait(m->opts, 250) != NATS_OK ||
                       natsOptions_SetReconnectJitter(m->opts, 100, 100) != NATS_OK ||
                       natsOptions_SetName(m->opts, "dc-plugin-hostctl") != NATS_OK))
                r = -EINVAL;
        if (r >= 0 && (s = natsConnection_Connect(&m->nc, m->opts)) != NATS_OK) {
                log_error("Cannot connect to the mesh: %s", nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
                r = -ECONNREFUSED;
        }
        if (r < 0) {
                mesh_client_close(m);
                return r;
        }
        *ret = m;
        return 0;
}

static int call_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int call_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

/* The host refused an admin RPC on cmd (MeshAdminRPCsOnCmd=no). */
static bool refused_admin_only(struct json_object *reply) {
        struct json_object *res;
        const char *e = NULL;
        return json_member_object(reply, "result", &res) >= 0 && json_member_string(res, "error", &e) >= 0 && e &&
               streq(e, reason_to_string(REASON_ADMIN_ONLY));
}

static int request_on(Mesh *m, const char *subject, const char *device, const char *method, const char *text,
                      uint64_t timeout_usec, struct json_object **ret_reply, char **ret_error) {
        natsMsg *reply = NULL;
        natsStatus s = natsConnection_RequestString(&reply, m->nc, subject, text, (int64_t) (timeout_usec / 1000));
        if (s == NATS_NO_RESPONDERS)
                return call_error(ret_error, -EHOSTUNREACH, "device %s is not on the mesh (tenant %s)", device, m->tenant);
        if (s == NATS_TIMEOUT)
                return call_error(ret_error, -ETIMEDOUT, "device %s did not answer %s in time", device, method);
        if (s != NATS_OK)
                return call_error(ret_error, -EIO, "request to %s failed: %s", device, natsStatus_GetText(s));
        int r = json_parse_strict(natsMsg_GetData(reply), (size_t) natsMsg_GetDataLength(reply), ret_reply, NULL);
        natsMsg_Destroy(reply);
        if (r < 0 || !json_object_is_type(*ret_reply, json_type_object)) {
                json_object_put(*ret_reply);
                *ret_reply = NULL;
                return call_error(ret_error, -EBADMSG, "device %s sent invalid JSON", device);
        }
        return 0;
}

int mesh_client_call(Mesh *m, const char *device, const char *method, struct json_object *params, unsigned flags,
                     uint64_t timeout_usec, struct json_object **ret_reply, char **ret_error) {
        _cleanup_free_ char *cmd = NULL, *admin = NULL;
        char id[32];
        int r;

        device = device ? device : m->device_id;
        *ret_reply = NULL;
        if (ret_error)
                *ret_error = NULL;
        if (asprintf(&cmd, DC_MESH_SUBJECT_CMD_FMT, m->tenant, device) < 0 ||
            asprintf(&admin, DC_MESH_SUBJECT_ADMIN_FMT, m->tenant, device) < 0)
                return -ENOMEM;
        mesh_random_hex(id, 12);
        _cleanup_json_ struct json_object *req = jsonrpc_request(id, method, params ? json_object_get(params) : NULL);
        if (!req)
                return -ENOMEM;
        const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        r = request_on(m, cmd, device, method, text, timeout_usec, ret_reply, ret_error);
        /* An admin RPC the host serves on its admin subject only: there,
         * if our credential may publish to it (docs/mesh.md). */
        if (r >= 0 && (flags & MESH_CALL_ADMIN) && refused_admin_only(*ret_reply)) {
                struct json_object *first = TAKE_PTR(*ret_reply);
                r = request_on(m, admin, device, method, text, timeout_usec, ret_reply, ret_error);
                if (r == -ETIMEDOUT || r == -EHOSTUNREACH) {
                        /* not permitted to publish there: the host's refusal says why */
                        free(*ret_error);
                        *ret_error = NULL;
                        *ret_reply = first;
                        return 0;
                }
                json_object_put(first);
        }
        return r;
}

int mesh_client_request(Mesh *m, const char *method, struct json_object *params, uint64_t timeout_usec,
                        struct json_object **ret_reply) {
        _cleanup_free_ char *error = NULL;
        int r = mesh_client_call(m, NULL, method, params, MESH_CALL_ADMIN, timeout_usec, ret_reply, &error);
        if (r < 0 && r != -ENOMEM && error)
                log_error("%c%s", toupper((unsigned char) error[0]), error + 1);
        return r;
}

const char *mesh_client_tenant(const Mesh *m) {
        return m->tenant;
}

void mesh_client_close(Mesh *m) {
        if (!m)
                return;
        if (m->nc) {
                natsConnection_Close(m->nc);
                natsConnection_Destroy(m->nc);
        }
        natsOptions_Destroy(m->opts);
        mesh_free_common(m);
}
