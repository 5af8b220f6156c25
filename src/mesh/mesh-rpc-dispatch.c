/* SPDX-License-Identifier: MIT */
/*
 * A request on "…<device>.cmd": its envelope, the in-flight cap, then a
 * host RPC (its params checked against the catalog) or a plugin function
 * by "<plugin_id>.<fn>" or bare name.  Loop thread.
 */
#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "mesh-rpc-catalog.h"
#include "memory-trim.h"

typedef int (*rpc_handler_fn)(Req *r, struct json_object *params);

static const struct {
        const char *name;
        rpc_handler_fn handler;
} handlers[] = {
        { "get_status", rpc_get_status },
        { "get_plugin_authoring_guide", rpc_authoring_guide },
        { "get_plugin_template", rpc_template },
        { "list_plugin_examples", rpc_examples },
        { "list_plugins", rpc_list_plugins },
        { "load_plugin", rpc_load_plugin },
        { "unload_plugin", rpc_unload_plugin },
        { "reload_plugin", rpc_reload_plugin },
        { "install_plugin", rpc_install_plugin },
        { "install_plugin_from_url", rpc_install_from_url },
        { "install_plugin_from_bundle", rpc_install_from_bundle },
        { "install_plugin_from_docker", rpc_sidecars_disabled },
        { "install_plugin_from_manifest", rpc_install_from_manifest },
        { "publish_plugin_artifact", rpc_publish_artifact },
        { "list_plugin_artifacts", rpc_list_artifacts },
        { "get_plugin_artifact_url", rpc_get_artifact_url },
        { "deploy_sidecar", rpc_deploy_sidecar },
        { "undeploy_sidecar", rpc_undeploy_sidecar },
        { "read_plugin_artifact", rpc_read_artifact },
        { "remove_plugin", rpc_remove_plugin },
};

static rpc_handler_fn find_handler(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(handlers); i++)
                if (streq(handlers[i].name, name))
                        return handlers[i].handler;
        return NULL;
}

bool mesh_rpc_dispatch_complete(void) {
        for (size_t i = 0; i < mesh_n_host_rpcs(); i++)
                if (!find_handler(mesh_host_rpc(i)->name))
                        return false;
        return ELEMENTSOF(handlers) == mesh_n_host_rpcs();
}

/* Slots of MeshMaxInFlight= kept for host RPCs: slow plugin calls never
 * lock out get_status, unload_plugin or an install (an eighth, 1 to 64). */
unsigned mesh_host_rpc_reserve(unsigned max_in_flight) {
        if (max_in_flight < 2)
                return 0;
        unsigned r = max_in_flight / 8;
        return r < 1 ? 1 : r > 64 ? 64 : r;
}

static bool admitted(Mesh *m, bool host_rpc) {
        unsigned max = m->config->mesh.max_in_flight;
        if (m->in_flight >= max)
                return false;
        return host_rpc || m->in_flight_calls < max - mesh_host_rpc_reserve(max);
}

/* An admin RPC that came on cmd while MeshAdminRPCsOnCmd=no. */
static bool refused_on_cmd(Mesh *m, const HostRpcInfo *rpc, natsMsg *msg) {
        return rpc->admin && !m->config->mesh.admin_rpcs_on_cmd && !streq(natsMsg_GetSubject(msg), m->subj_admin);
}

void mesh_handle_request(Mesh *m, natsMsg *msg) {
        const char *reply = natsMsg_GetReply(msg), *problem = NULL;
        JsonRpcRequest req;

        if (!mesh_reply_subject_ok(m, reply))
                return;
        int code = jsonrpc_parse_request(natsMsg_GetData(msg), (size_t) natsMsg_GetDataLength(msg), &req, &problem);
        if (code != 0) {
                /* upstream stays silent and the caller times out; we say why */
                mesh_reply_error(m->nc, reply, req.id, code, "%s", problem);
                goto finish;
        }
        if (!req.id)
                goto finish; /* a notification */

        const char *name = req.method;
        const HostRpcInfo *rpc = mesh_host_rpc_find(name);
        if (!admitted(m, rpc || streq(name, "requestRegistration"))) {
                mesh_reply_error(m->nc, reply, req.id, JSONRPC_SERVER_ERROR, "Error invoking %s: busy: %u requests in flight",
                                 name, m->in_flight);
                goto finish;
        }
        Req *r = mesh_req_new(m, reply, req.id, name);
        if (!r)
                goto finish;

        if (streq(name, "requestRegistration")) {
                mesh_req_finish(r, m->registration_params(m));
                goto finish;
        }
        if (rpc) {
                _cleanup_free_ char *bad = mesh_check_params(rpc->params, req.params);
                if (bad) {
                        mesh_req_fail(r, JSONRPC_INVALID_PARAMS, bad);
                        goto finish;
                }
                if (refused_on_cmd(m, rpc, msg)) {
                        _cleanup_free_ char *text = NULL;
                        if (asprintf(&text, "%s is served on %s only (MeshAdminRPCsOnCmd=no)", name, m->subj_admin) < 0)
                                text = NULL;
                        mesh_req_finish(r, mesh_error_result(json_get_string(req.params, "plugin_id"), text ? text : name,
                                                             reason_to_string(REASON_ADMIN_ONLY)));
                        goto finish;
                }
                if (find_handler(name)(r, req.params) < 0)
                        mesh_req_fail(r, JSONRPC_SERVER_ERROR, "Out of memory");
                goto finish;
        }
        /* <plugin_id>.<fn>, or a bare <fn> owned by the first loaded plugin exporting it */
        if (strchr(name, '.')) {
                char pid[PLUGIN_ID_MAX + 1];
                const char *fn;
                if (jsonrpc_split_qualified(name, pid, &fn)) {
                        mesh_req_count_call(r);
                        mesh_invoke_plugin(r, pid, fn, req.params);
                        goto finish;
                }
        } else {
                const PluginRecord *owner = mesh_bare_owner(m, name);
                if (owner) {
                        mesh_req_count_call(r);
                        mesh_invoke_plugin(r, owner->id, name, req.params);
                        goto finish;
                }
        }
        mesh_reply_error(m->nc, r->reply, r->id, JSONRPC_METHOD_NOT_FOUND, "Unknown method: %s", name);
        mesh_req_free(r);
finish:
        jsonrpc_request_done(&req);
        memory_trim_after((size_t) natsMsg_GetDataLength(msg));
}
