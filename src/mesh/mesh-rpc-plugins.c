/* SPDX-License-Identifier: MIT */
/* Host RPCs about plugins (status, list, load, unload, reload) and the
 * plugins' own functions, on the loop or right on the delivery thread. */
#include "build-config.h"
#include "dc-plugin-host/plugin.h"
#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "names.h"

/* ---- result envelopes ---- */

static struct json_object *string_array(const PluginRecord *r, size_t (*n)(const PluginRecord *),
                                        const char *(*get)(const PluginRecord *, size_t)) {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; r && i < n(r); i++)
                json_object_array_add(a, json_object_new_string(get(r, i)));
        return a;
}

/* The manifest's five upstream keys (class_name has no C meaning: null). */
static struct json_object *manifest_summary(const PluginRecord *r) {
        struct json_object *o = json_object_new_object(), *m = NULL;
        _cleanup_free_ char *entry = NULL;
        const char *ep = NULL;
        if (r->manifest_json)
                (void) json_parse_strict(r->manifest_json, strlen(r->manifest_json), &m, NULL);
        mesh_add_str(o, "id", r->id);
        mesh_add_str(o, "description", r->description);
        mesh_add_str(o, "version", r->version);
        if (json_member_string(m, "entry_point", &ep) >= 0)
                mesh_add_str(o, "entry_point", ep);
        else if (asprintf(&entry, "%s.so", r->id) >= 0)
                mesh_add_str(o, "entry_point", entry);
        json_object_object_add(o, "class_name", NULL);
        json_object_put(m);
        return o;
}

struct json_object *mesh_plugin_info(const PluginRecord *r) {
        struct json_object *o = json_object_new_object();
        mesh_add_str(o, "id", r->id);
        json_object_object_add(o, "functions", string_array(r, plugin_n_functions, plugin_function_name));
        json_object_object_add(o, "routines", string_array(r, plugin_n_routines, plugin_routine_name));
        json_object_object_add(o, "manifest", manifest_summary(r));
        mesh_add_str(o, "isolation", r->isolation);
        return o;
}

struct json_object *mesh_load_success(Mesh *m, const char *id) {
        const PluginRecord *r = host_find(m->host, id);
        struct json_object *o = mesh_status_obj("success");
        json_object_object_add(o, "plugin", r ? mesh_plugin_info(r) : NULL);
        return o;
}

struct json_object *mesh_load_failure(const char *id, const char *what, const OpResult *res) {
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, "Failed to %s plugin '%s'", what, id) < 0)
                return NULL;
        struct json_object *o = mesh_error_result(id, msg, reason_to_string(res->reason));
        mesh_add_str(o, "detail", res->message);
        return o;
}

/* ---- status and lists ---- */

/* Ours, beside upstream's keys: what `dc-plugin-hostctl list` shows
 * locally (state, reason, digest of the code, version, description, and
 * the signer and isolation where the record has them). */
static void add_record_state(Host *h, const PluginRecord *rec, struct json_object *e) {
        static const char *const keys[] = { "state", "reason", "message", "digest", "version", "description", "signer",
                                            "isolation" };
        _cleanup_json_ struct json_object *full = host_record_to_json(h, rec);
        struct json_object *v;
        for (size_t i = 0; full && i < ELEMENTSOF(keys); i++)
                if (json_object_object_get_ex(full, keys[i], &v) && v &&
                    !(json_object_is_type(v, json_type_string) && !*json_object_get_string(v)))
                        json_object_object_add(e, keys[i], json_object_get(v));
}

static struct json_object *authoring_pointers(void) {
        struct json_object *a = json_object_new_object();
        mesh_add_str(a, "guide_rpc", "get_plugin_authoring_guide");
        mesh_add_str(a, "template_rpc", "get_plugin_template");
        mesh_add_str(a, "examples_rpc", "list_plugin_examples");
        mesh_add_str(a, "agents_doc", "AGENTS.md");
        return a;
}

int rpc_get_status(Req *r, struct json_object *p) {
        Mesh *m = r->m;
        struct json_object *o = mesh_status_obj("success"), *loaded = json_object_new_array();
        int store = host_store_index(m->host);
        for (char **id = m->load_order; *id; id++)
                json_object_array_add(loaded, json_object_new_string(*id));
        json_object_object_add(o, "connected", json_object_new_boolean(natsConnection_Status(m->nc) == NATS_CONN_STATUS_CONNECTED));
        mesh_add_str(o, "device_type", DC_MESH_DEVICE_TYPE);
        /* ours: the daemon's version and trust policy, for fleet tools */
        mesh_add_str(o, "version", PACKAGE_VERSION);
        json_object_object_add(o, "api_level", json_object_new_int(DC_PLUGIN_ABI_MAJOR));
        const Policy *pol = host_policy(m->host);
        mesh_add_str(o, "signature_mode", pol ? signature_mode_to_string(pol->mode) : NULL);
        mesh_add_str(o, "capabilities_dir", store >= 0 ? host_roots(m->host)[store] : NULL);
        json_object_object_add(o, "auto_load", json_object_new_boolean(m->config->auto_load));
        /* "Sidecars" here are plugins in sandboxed worker processes (docs/mesh.md). */
        unsigned sidecars = 0;
        for (size_t i = 0; i < host_n_records(m->host); i++) {
                const PluginRecord *rec = host_record(m->host, i);
                sidecars += rec->plugin && rec->isolation && streq(rec->isolation, "process");
        }
        struct json_object *sandbox = host_sandbox_json(m->host), *x;
        json_object_object_add(o, "enable_sidecars",
                               json_object_new_boolean(sandbox && json_object_object_get_ex(sandbox, "worker_available", &x) &&
                                                       json_object_get_boolean(x)));
        json_object_object_add(o, "loaded_count", json_object_new_int((int) host_n_loaded(m->host)));
        json_object_object_add(o, "sidecar_count", json_object_new_int((int) sidecars));
        json_object_object_add(o, "sandbox", sandbox);
        json_object_object_add(o, "loaded_plugins", loaded);
        json_object_object_add(o, "authoring", authoring_pointers());
        mesh_req_finish(r, o);
        return 0;
}

int rpc_list_plugins(Req *r, struct json_object *p) {
        Host *h = r->m->host;
        struct json_object *o = mesh_status_obj("success"), *loaded = json_object_new_object(), *avail = json_object_new_array();
        int store = host_store_index(h);
        for (size_t i = 0; i < host_n_records(h); i++) {
                const PluginRecord *rec = host_record(h, i);
                struct json_object *e = json_object_new_object(), *man = NULL;
                _cleanup_free_ char *path = NULL;
                if (rec->plugin)
                        json_object_object_add(loaded, rec->id, mesh_plugin_info(rec));
                mesh_add_str(e, "id", rec->id);
                if (asprintf(&path, "%s/%s", rec->root, rec->id) >= 0)
                        mesh_add_str(e, "path", path);
                json_object_object_add(e, "loaded", json_object_new_boolean(rec->plugin != NULL));
                if (rec->manifest_json && json_parse_strict(rec->manifest_json, strlen(rec->manifest_json), &man, NULL) >= 0)
                        json_object_object_add(e, "manifest", man);
                else
                        mesh_add_str(e, "manifest_error", rec->message ? rec->message : "missing manifest.json");
                add_record_state(h, rec, e);
                json_object_array_add(avail, e);
        }
        json_object_object_add(o, "loaded", loaded);
        json_object_object_add(o, "available", avail);
        struct json_object *sidecars = json_object_new_object();
        for (size_t i = 0; i < host_n_records(h); i++) {
                const PluginRecord *rec = host_record(h, i);
                struct json_object *w = host_plugin_worker_json(rec);
                if (w)
                        json_object_object_add(sidecars, rec->id, w);
        }
        json_object_object_add(o, "sidecars", sidecars);
        mesh_add_str(o, "capabilities_dir", store >= 0 ? host_roots(h)[store] : NULL);
        mesh_req_finish(r, o);
        return 0;
}

/* ---- lifecycle ---- */

static void on_loaded(const OpResult *res, void *userdata) {
        Req *r = userdata;
        const char *what = res->kind == OP_RELOAD ? "reload" : "load";
        /* already loaded: as upstream, report the plugin, and announce the
         * load (upstream loads it again) */
        bool ok = res->error >= 0 || res->reason == REASON_ALREADY_LOADED;
        const PluginRecord *rec = res->reason == REASON_ALREADY_LOADED ? host_find(r->m->host, r->plugin_id) : NULL;
        if (rec && rec->plugin)
                mesh_event_plugin_loaded(r->m, rec);
        mesh_req_finish(r, ok ? mesh_load_success(r->m, r->plugin_id) : mesh_load_failure(r->plugin_id, what, res));
}

/* An operation on the one plugin named by "plugin_id" (load, reload,
 * unload, remove, the sidecar moves). */
int mesh_plugin_op(Req *r, struct json_object *p, OpKind kind, bool isolate, op_done_fn done) {
        const char *id = json_get_string(p, "plugin_id");
        if (!plugin_id_is_valid(id)) {
                mesh_req_finish(r, mesh_error_result(id, "invalid plugin id", reason_to_string(REASON_INVALID_ID)));
                return 0;
        }
        if (!(r->plugin_id = strdup(id)))
                return -ENOMEM;
        OpRequest req = { .kind = kind, .caller = mesh_caller, .plugin_id = r->plugin_id, .isolate = isolate };
        ops_run(r->m->ops, &req, done, r);
        return 0;
}

int rpc_load_plugin(Req *r, struct json_object *p) {
        return mesh_plugin_op(r, p, OP_LOAD, false, on_loaded);
}

int rpc_reload_plugin(Req *r, struct json_object *p) {
        /* Not loaded: reload loads it (the operation layer decides). */
        return mesh_plugin_op(r, p, OP_RELOAD, false, on_loaded);
}

static void on_unloaded(const OpResult *res, void *userdata) {
        Req *r = userdata;
        struct json_object *o;
        _cleanup_free_ char *msg = NULL;
        if (res->error >= 0) {
                o = mesh_status_obj("success");
                mesh_add_str(o, "plugin_id", r->plugin_id);
        } else if (res->reason == REASON_BUSY) {
                (void) asprintf(&msg, "An operation on plugin '%s' is in progress", r->plugin_id);
                o = mesh_error_result(r->plugin_id, msg, reason_to_string(res->reason));
        } else if (res->reason == REASON_NOT_LOADED || res->reason == REASON_NOT_FOUND) {
                (void) asprintf(&msg, "Plugin '%s' is not loaded", r->plugin_id);
                o = mesh_error_result(r->plugin_id, msg, reason_to_string(REASON_NOT_LOADED));
        } else {
                (void) asprintf(&msg, "Plugin '%s' could not be unloaded: %s", r->plugin_id, res->message);
                o = mesh_error_result(r->plugin_id, msg, reason_to_string(res->reason));
        }
        mesh_req_finish(r, o);
}

static void on_removed(const OpResult *res, void *userdata) {
        Req *r = userdata;
        _cleanup_free_ char *msg = NULL;
        struct json_object *o;
        if (res->error >= 0) {
                o = mesh_status_obj("success");
                mesh_add_str(o, "plugin_id", r->plugin_id);
                json_object_object_add(o, "removed", json_object_new_boolean(true));
        } else {
                if (res->reason == REASON_NOT_FOUND)
                        (void) asprintf(&msg, "Plugin '%s' is not installed", r->plugin_id);
                o = mesh_error_result(r->plugin_id, msg ? msg : res->message, reason_to_string(res->reason));
        }
        mesh_req_finish(r, o);
}

/* remove_plugin (ours): dc-plugin-hostctl remove on a remote host. */
int rpc_remove_plugin(Req *r, struct json_object *p) {
        return mesh_plugin_op(r, p, OP_REMOVE, false, on_removed);
}

int rpc_unload_plugin(Req *r, struct json_object *p) {
        return mesh_plugin_op(r, p, OP_UNLOAD, false, on_unloaded);
}

/* ---- plugin functions ---- */

/* The JSON-RPC error of a failed plugin call (both paths). */
static void reply_call_error(natsConnection *nc, const char *reply, struct json_object *id, const char *method,
                             Reason reason, const char *message) {
        switch (reason) {
        case REASON_NO_SUCH_FUNCTION:
        case REASON_NOT_FOUND:
        case REASON_NOT_LOADED:
        case REASON_INVALID_ID:
                mesh_reply_error(nc, reply, id, JSONRPC_METHOD_NOT_FOUND, "Unknown method: %s", method);
                break;
        case REASON_INVALID_PARAMS:
                mesh_reply_error(nc, reply, id, JSONRPC_INVALID_PARAMS, "Invalid params: %s", message ? message : "");
                break;
        case REASON_BUSY:
                mesh_reply_error(nc, reply, id, JSONRPC_SERVER_ERROR, "Error invoking %s: busy: too many calls queued", method);
                break;
        case REASON_PLUGIN_CRASHED:
        case REASON_TIMEOUT:
                /* the reason code first, as in D-Bus error messages */
                mesh_reply_error(nc, reply, id, JSONRPC_SERVER_ERROR, "Error invoking %s: %s: %s", method,
                                 reason_to_string(reason), message ? message : "");
                break;
        default:
                mesh_reply_error(nc, reply, id, JSONRPC_SERVER_ERROR, "Error invoking %s: %s", method,
                                 message ? message : reason_to_string(reason));
        }
}

static void on_invoked(const OpResult *res, void *userdata) {
        Req *r = userdata;
        if (res->error < 0)
                reply_call_error(r->m->nc, r->reply, r->id, r->method, res->reason, res->message);
        else
                mesh_reply_result_text(r->m->nc, r->reply, r->id, res->result_json);
        mesh_req_free(r);
}

void mesh_invoke_plugin(Req *r, const char *plugin_id, const char *fn, struct json_object *params) {
        OpRequest req = {
                .kind = OP_INVOKE,
                .caller = mesh_caller,
                .plugin_id = plugin_id,
                .function = fn,
                .params_json = json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        };
        ops_run(r->m->ops, &req, on_invoked, r);
}

/* Calls answered on the delivery thread are small ones. */
#define DIRECT_MAX_BYTES (64 * 1024)

bool mesh_try_direct(Mesh *m, natsConnection *nc, natsMsg *msg) {
        _cleanup_free_ char *result = NULL, *message = NULL;
        JsonRpcRequest req = {};
        const char *reply = natsMsg_GetReply(msg), *fn, *problem;
        char owner[PLUGIN_ID_MAX + 1];
        Reason reason = REASON_NONE;
        bool done = false;
        int k;

        if (!mesh_reply_subject_ok(m, reply))
                return true; /* dropped: never published on */
        /* Anything unusual is the loop's: it answers every error.  A large
         * message is parsed once there, not twice. */
        if (!reply || natsMsg_GetDataLength(msg) > DIRECT_MAX_BYTES || jsonrpc_parse_request(natsMsg_GetData(msg), (size_t) natsMsg_GetDataLength(msg), &req, &problem) != 0 ||
            !req.id)
                goto finish;
        if (strchr(req.method, '.')) {
                if (!jsonrpc_split_qualified(req.method, owner, &fn))
                        goto finish;
        } else if (!mesh_lookup_owner(m, req.method, owner)) /* host RPC names are never in the snapshot */
                goto finish;
        else
                fn = req.method;
        const char *text = json_object_to_json_string_ext(req.params, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        k = ops_invoke_direct(m->ops, owner, fn, req.params, text, &result, &reason, &message);
        if (k == -EAGAIN)
                goto finish;
        if (k < 0)
                reply_call_error(nc, reply, req.id, req.method, reason, message);
        else
                mesh_reply_result_text(nc, reply, req.id, result);
        done = true;
finish:
        jsonrpc_request_done(&req);
        return done;
}
