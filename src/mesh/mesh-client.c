/* SPDX-License-Identifier: MIT */
/* dc-plugin-hostctl --mesh: the same server, credential and identity rules
 * as the daemon, connected without subscriptions, failing at once when the
 * server is down. */
#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"


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
        if (r >= 0 && natsOptions_SetRetryOnFailedConnect(m->opts, false, NULL, NULL) != NATS_OK)
                r = -EINVAL;
        if (r >= 0 && natsOptions_SetMaxReconnect(m->opts, 0) != NATS_OK)
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

int mesh_client_request(Mesh *m, const char *method, struct json_object *params, uint64_t timeout_usec,
                        struct json_object **ret_reply) {
        natsMsg *reply = NULL;
        char id[32];
        natsStatus s;

        mesh_random_hex(id, 12);
        struct json_object *req = jsonrpc_request(id, method, params ? json_object_get(params) : NULL);
        if (!req)
                return -ENOMEM;
        s = natsConnection_RequestString(&reply, m->nc, m->subj_cmd,
                                         json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                                         (int64_t) (timeout_usec / 1000));
        json_object_put(req);
        if (s == NATS_NO_RESPONDERS)
                return log_error_errno(EHOSTUNREACH, "Device %s is not on the mesh (tenant %s)", m->device_id, m->tenant);
        if (s == NATS_TIMEOUT)
                return log_error_errno(ETIMEDOUT, "Device %s did not answer %s in time", m->device_id, method);
        if (s != NATS_OK)
                return log_error_errno(EIO, "Request failed: %s", natsStatus_GetText(s));
        int r = json_parse_strict(natsMsg_GetData(reply), (size_t) natsMsg_GetDataLength(reply), ret_reply, NULL);
        natsMsg_Destroy(reply);
        return r < 0 ? log_error_errno(EBADMSG, "Device %s sent invalid JSON", m->device_id) : 0;
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
