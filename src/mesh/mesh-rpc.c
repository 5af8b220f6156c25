/* SPDX-License-Identifier: MIT */
/*
 * JSON-RPC over `…<device_id>.cmd` (wire §5) and the 18 host RPCs
 * (§15.3).  Each host RPC translates its named params into one core
 * operation (host_load, host_install, …) and its outcome into the Python
 * host's result envelope, plus a machine-readable "error" reason (§16 D10).
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "artifact.h"
#include "base64.h"
#include "build-config.h"
#include "install.h"
#include "json-util.h"
#include "log.h"
#include "mesh-artifact-reply.h"
#include "mesh-internal.h"
#include "plugin-id.h"
#include "strv.h"

#define JSONRPC_PARSE_ERROR (-32700)
#define JSONRPC_INVALID_REQUEST (-32600)
#define JSONRPC_METHOD_NOT_FOUND (-32601)
#define JSONRPC_INVALID_PARAMS (-32602)
#define JSONRPC_SERVER_ERROR (-32000)

#define SIDECARS_DISABLED "Sidecars disabled. Restart with --enable-sidecars or DC_PLUGIN_ENABLE_SIDECARS=1"

/* One request in flight: survives async host operations. */
typedef struct Req {
        Mesh *m;
        char *reply;              /* reply subject, NULL: nobody listens */
        struct json_object *id;   /* echoed verbatim */
        char *method;
        char *plugin_id;
        char *url;
        bool load;
} Req;

static void req_free(Req *r) {
        if (!r)
                return;
        r->m->in_flight--;
        free(r->reply);
        json_object_put(r->id);
        free(r->method);
        free(r->plugin_id);
        free(r->url);
        free(r);
}

static struct json_object *oversize_error(void) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "code", json_object_new_int(JSONRPC_SERVER_ERROR));
        json_object_object_add(e, "message", json_object_new_string("reply exceeds the server's max_payload"));
        return e;
}

/* Any thread: nc is the connection the request came on (the loop's m->nc). */
static void send_envelope_on(natsConnection *nc, const char *reply, struct json_object *id, const char *key,
                             struct json_object *value) {
        struct json_object *o = json_object_new_object();
        if (!reply || !o) {
                json_object_put(o);
                json_object_put(value);
                return;
        }
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(o, "id", json_object_get(id));
        json_object_object_add(o, key, value);
        if (mesh_publish_json_on(nc, reply, o) == -EMSGSIZE) {
                /* never silence: tell the caller why */
                json_object_object_del(o, key);
                json_object_object_add(o, "error", oversize_error());
                (void) mesh_publish_json_on(nc, reply, o);
        }
        json_object_put(o);
}

static void send_envelope(Mesh *m, const char *reply, struct json_object *id, const char *key, struct json_object *value) {
        send_envelope_on(m->nc, reply, id, key, value);
}

/* A plugin's result is validated JSON text already: splice it in. */
static void send_result_text(natsConnection *nc, const char *reply, struct json_object *id, const char *result) {
        _cleanup_free_ char *text = NULL;
        const char *id_text = json_object_to_json_string_ext(id, JSON_C_TO_STRING_PLAIN);
        int len;

        if (!reply)
                return;
        len = asprintf(&text, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}", id_text, result);
        if (len < 0)
                return;
        if (mesh_publish_text(nc, reply, text, (size_t) len) == -EMSGSIZE)
                send_envelope_on(nc, reply, id, "error", oversize_error());
}

static void reply_error_on(natsConnection *nc, const char *reply, struct json_object *id, int code, const char *fmt, ...)
        _printf_(5, 6);
static void reply_error_on(natsConnection *nc, const char *reply, struct json_object *id, int code, const char *fmt, ...) {
        struct json_object *e = json_object_new_object();
        char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        json_object_object_add(e, "code", json_object_new_int(code));
        json_object_object_add(e, "message", json_object_new_string(msg ? msg : "error"));
        free(msg);
        send_envelope_on(nc, reply, id, "error", e);
}

#define reply_error(m, reply, id, code, ...) reply_error_on((m)->nc, reply, id, code, __VA_ARGS__)

/* Reply with a result (taken) and free the request. */
static void req_finish(Req *r, struct json_object *result) {
        send_envelope(r->m, r->reply, r->id, "result", result);
        req_free(r);
}

static void req_fail(Req *r, int code, const char *message) {
        reply_error(r->m, r->reply, r->id, code, "%s", message);
        req_free(r);
}

/* ---- result envelopes ------------------------------------------------------------ */

static void add_str(struct json_object *o, const char *k, const char *v) {
        json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static struct json_object *status_obj(const char *status) {
        struct json_object *o = json_object_new_object();
        add_str(o, "status", status);
        return o;
}

/* {"status":"error", ["plugin_id"], "message", "error": <reason>} */
static struct json_object *error_result(const char *plugin_id, const char *message, const char *reason) {
        struct json_object *o = status_obj("error");
        if (plugin_id)
                add_str(o, "plugin_id", plugin_id);
        add_str(o, "message", message);
        add_str(o, "error", isempty(reason) ? "failed" : reason);
        return o;
}

static struct json_object *string_array(const PluginRecord *r, size_t (*n)(const PluginRecord *),
                                        const char *(*get)(const PluginRecord *, size_t)) {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; r && i < n(r); i++)
                json_object_array_add(a, json_object_new_string(get(r, i)));
        return a;
}

/* The manifest's five upstream keys (class_name has no C meaning: null). */
static struct json_object *manifest_summary(const PluginRecord *r) {
        struct json_object *o = json_object_new_object(), *m = NULL, *x;
        _cleanup_free_ char *entry = NULL;
        if (r->manifest_json)
                (void) json_parse_strict(r->manifest_json, strlen(r->manifest_json), &m, NULL);
        add_str(o, "id", r->id);
        add_str(o, "description", r->description);
        add_str(o, "version", r->version);
        if (m && json_object_object_get_ex(m, "entry_point", &x) && json_object_is_type(x, json_type_string))
                add_str(o, "entry_point", json_object_get_string(x));
        else if (asprintf(&entry, "%s.so", r->id) >= 0)
                add_str(o, "entry_point", entry);
        json_object_object_add(o, "class_name", NULL);
        json_object_put(m);
        return o;
}

static struct json_object *plugin_info(const PluginRecord *r) {
        struct json_object *o = json_object_new_object();
        add_str(o, "id", r->id);
        json_object_object_add(o, "functions", string_array(r, plugin_n_functions, plugin_function_name));
        json_object_object_add(o, "routines", string_array(r, plugin_n_routines, plugin_routine_name));
        json_object_object_add(o, "manifest", manifest_summary(r));
        return o;
}

static struct json_object *load_success(Mesh *m, const char *id) {
        const PluginRecord *r = host_find(m->host, id);
        struct json_object *o = status_obj("success");
        json_object_object_add(o, "plugin", r ? plugin_info(r) : NULL);
        return o;
}

static struct json_object *load_failure(const char *id, const char *what, int error, const Verdict *v) {
        _cleanup_free_ char *msg = NULL;
        const char *reason = v && v->reason ? reason_to_string(v->reason)
                             : error == -ENOENT ? "not-found"
                             : error == -EBUSY  ? "busy"
                                                : "load-failed";
        if (asprintf(&msg, "Failed to %s plugin '%s'", what, id) < 0)
                return NULL;
        struct json_object *o = error_result(id, msg, reason);
        add_str(o, "detail", v && v->message ? v->message : error == -ENOENT ? "no such plugin" : strerror(-error));
        return o;
}

/* ---- parameters ------------------------------------------------------------------- */

typedef enum ParamType {
        P_STRING,
        P_STRING_OR_NULL,
        P_BOOL,
        P_BOOL_OR_NULL,
        P_INT,
        P_OBJECT,
} ParamType;

typedef struct Param {
        const char *name;
        ParamType type;
        bool required;
        const char *default_json; /* advertised default, NULL = none */
        const char *description;
} Param;


static bool arg_bool(struct json_object *p, const char *k, bool def) {
        struct json_object *x;
        return json_object_object_get_ex(p, k, &x) && json_object_is_type(x, json_type_boolean) ? json_object_get_boolean(x)
                                                                                             : def;
}

static bool type_ok(ParamType t, struct json_object *v) {
        json_type jt = json_object_get_type(v);
        switch (t) {
        case P_STRING:
                return jt == json_type_string;
        case P_STRING_OR_NULL:
                return jt == json_type_string || jt == json_type_null;
        case P_BOOL:
                return jt == json_type_boolean;
        case P_BOOL_OR_NULL:
                return jt == json_type_boolean || jt == json_type_null;
        case P_INT:
                return jt == json_type_int;
        case P_OBJECT:
                return jt == json_type_object;
        }
        return false;
}

static const char *type_name(ParamType t) {
        static const char *const names[] = { "a string", "a string or null", "a boolean", "a boolean or null", "an integer",
                                             "an object" };
        return names[t];
}

/* -32602 text, or NULL when the params fit the table. */
static char *check_params(const Param *table, struct json_object *params) {
        char *msg = NULL;
        json_object_object_foreach(params, key, val) {
                const Param *p = table;
                while (p && p->name && !streq(p->name, key))
                        p++;
                if (!p || !p->name) {
                        if (asprintf(&msg, "Invalid params: unexpected parameter '%s'", key) < 0)
                                return NULL;
                        return msg;
                }
                if (!type_ok(p->type, val)) {
                        if (asprintf(&msg, "Invalid params: '%s' must be %s", key, type_name(p->type)) < 0)
                                return NULL;
                        return msg;
                }
        }
        for (const Param *p = table; p && p->name; p++) {
                struct json_object *x;
                if (p->required && !json_object_object_get_ex(params, p->name, &x)) {
                        if (asprintf(&msg, "Invalid params: missing required parameter '%s'", p->name) < 0)
                                return NULL;
                        return msg;
                }
        }
        return NULL;
}

/* ---- host RPCs ---------------------------------------------------------------------- */

static struct json_object *authoring_pointers(void) {
        struct json_object *a = json_object_new_object();
        add_str(a, "guide_rpc", "get_plugin_authoring_guide");
        add_str(a, "template_rpc", "get_plugin_template");
        add_str(a, "examples_rpc", "list_plugin_examples");
        add_str(a, "agents_doc", "AGENTS.md");
        return a;
}

static int rpc_get_status(Req *r, struct json_object *p) {
        Mesh *m = r->m;
        struct json_object *o = status_obj("success"), *loaded = json_object_new_array();
        int store = host_store_index(m->host);
        for (char **id = m->load_order; *id; id++)
                json_object_array_add(loaded, json_object_new_string(*id));
        json_object_object_add(o, "connected", json_object_new_boolean(natsConnection_Status(m->nc) == NATS_CONN_STATUS_CONNECTED));
        add_str(o, "device_type", "plugin_host");
        add_str(o, "capabilities_dir", store >= 0 ? host_roots(m->host)[store] : NULL);
        json_object_object_add(o, "auto_load", json_object_new_boolean(m->config->auto_load));
        json_object_object_add(o, "enable_sidecars", json_object_new_boolean(false));
        json_object_object_add(o, "loaded_count", json_object_new_int((int) host_n_loaded(m->host)));
        json_object_object_add(o, "sidecar_count", json_object_new_int(0));
        json_object_object_add(o, "loaded_plugins", loaded);
        json_object_object_add(o, "authoring", authoring_pointers());
        req_finish(r, o);
        return 0;
}

static int rpc_list_plugins(Req *r, struct json_object *p) {
        Host *h = r->m->host;
        struct json_object *o = status_obj("success"), *loaded = json_object_new_object(), *avail = json_object_new_array();
        int store = host_store_index(h);
        for (size_t i = 0; i < host_n_records(h); i++) {
                const PluginRecord *rec = host_record(h, i);
                struct json_object *e = json_object_new_object(), *man = NULL;
                _cleanup_free_ char *path = NULL;
                if (rec->plugin)
                        json_object_object_add(loaded, rec->id, plugin_info(rec));
                add_str(e, "id", rec->id);
                if (asprintf(&path, "%s/%s", rec->root, rec->id) >= 0)
                        add_str(e, "path", path);
                json_object_object_add(e, "loaded", json_object_new_boolean(rec->plugin != NULL));
                if (rec->manifest_json && json_parse_strict(rec->manifest_json, strlen(rec->manifest_json), &man, NULL) >= 0)
                        json_object_object_add(e, "manifest", man);
                else
                        add_str(e, "manifest_error", rec->message ? rec->message : "missing manifest.json");
                json_object_array_add(avail, e);
        }
        json_object_object_add(o, "loaded", loaded);
        json_object_object_add(o, "available", avail);
        json_object_object_add(o, "sidecars", json_object_new_object());
        add_str(o, "capabilities_dir", store >= 0 ? host_roots(h)[store] : NULL);
        req_finish(r, o);
        return 0;
}

/* Install/load/reload RPCs: a token bucket refilled at MeshOperationsPerMinute=. */
static bool rate_limited(Req *r, const char *id) {
        Mesh *m = r->m;
        double rate = m->config->ops_per_minute / 60.0;
        uint64_t now;
        sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (m->op_tokens_usec == 0)
                m->op_tokens = m->config->ops_per_minute;
        else
                m->op_tokens += (double) (now - m->op_tokens_usec) / 1e6 * rate;
        if (m->op_tokens > m->config->ops_per_minute)
                m->op_tokens = m->config->ops_per_minute;
        m->op_tokens_usec = now;
        if (m->op_tokens >= 1.0) {
                m->op_tokens -= 1.0;
                return false;
        }
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, "rate limit: at most %u install/load operations per minute", m->config->ops_per_minute) < 0)
                return false;
        req_finish(r, error_result(id, msg, "rate-limited"));
        return true;
}

static bool too_many_loaded(Req *r, const char *id) {
        if (host_n_loaded(r->m->host) < r->m->config->max_loaded_plugins)
                return false;
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, "too many plugins loaded (at most %u)", r->m->config->max_loaded_plugins) < 0)
                return false;
        req_finish(r, error_result(id, msg, "limit-exceeded"));
        return true;
}

static int rpc_load_plugin(Req *r, struct json_object *p) {
        const char *id = json_get_string(p, "plugin_id");
        Verdict v = {};
        if (!plugin_id_is_valid(id)) {
                req_finish(r, error_result(id, "invalid plugin id", "invalid-id"));
                return 0;
        }
        if (rate_limited(r, id) || too_many_loaded(r, id))
                return 0;
        int k = host_load(r->m->host, id, &v);
        /* already loaded: as upstream, report the plugin */
        req_finish(r, k >= 0 || k == -EALREADY ? load_success(r->m, id) : load_failure(id, "load", k, &v));
        verdict_clear(&v);
        return 0;
}

static int rpc_reload_plugin(Req *r, struct json_object *p) {
        const char *id = json_get_string(p, "plugin_id");
        Verdict v = {};
        bool unchanged;
        if (!plugin_id_is_valid(id)) {
                req_finish(r, error_result(id, "invalid plugin id", "invalid-id"));
                return 0;
        }
        if (rate_limited(r, id))
                return 0;
        const PluginRecord *rec = host_find(r->m->host, id);
        int k = rec && rec->plugin ? host_reload(r->m->host, id, &unchanged, &v) : host_load(r->m->host, id, &v);
        req_finish(r, k >= 0 ? load_success(r->m, id) : load_failure(id, "reload", k, &v));
        verdict_clear(&v);
        return 0;
}

static void on_unloaded(Host *h, int error, void *userdata) {
        Req *r = userdata;
        struct json_object *o;
        if (error < 0) {
                _cleanup_free_ char *msg = NULL;
                (void) asprintf(&msg, "Plugin '%s' could not be unloaded: %s", r->plugin_id, strerror(-error));
                o = error_result(r->plugin_id, msg, "unload-failed");
        } else {
                o = status_obj("success");
                add_str(o, "plugin_id", r->plugin_id);
        }
        req_finish(r, o);
}

static int rpc_unload_plugin(Req *r, struct json_object *p) {
        const char *id = json_get_string(p, "plugin_id");
        _cleanup_free_ char *msg = NULL;
        if (!plugin_id_is_valid(id)) {
                req_finish(r, error_result(id, "invalid plugin id", "invalid-id"));
                return 0;
        }
        if (!(r->plugin_id = strdup(id)))
                return -ENOMEM;
        int k = host_unload(r->m->host, id, on_unloaded, r);
        if (k >= 0)
                return 0; /* on_unloaded replies */
        if (k == -EBUSY)
                (void) asprintf(&msg, "An operation on plugin '%s' is in progress", id);
        else
                (void) asprintf(&msg, "Plugin '%s' is not loaded", id);
        req_finish(r, error_result(id, msg, k == -EBUSY ? "busy" : "not-loaded"));
        return 0;
}

/* Install outcome → the upstream envelope (wire §15.3). */
static void on_installed(Host *h, int error, const Verdict *v, const InstallResult *res, void *userdata) {
        Req *r = userdata;
        struct json_object *o;
        if (error < 0) {
                o = error_result(NULL, v->message ? v->message : strerror(-error),
                                 v->reason ? reason_to_string(v->reason) : "install-failed");
                if (r->url)
                        add_str(o, "url", r->url);
                if (res->plugin_id)
                        add_str(o, "plugin_id", res->plugin_id);
                req_finish(r, o);
                return;
        }
        bool partial = r->load && !res->loaded;
        o = status_obj(partial ? "partial" : "success");
        add_str(o, "plugin_id", res->plugin_id);
        add_str(o, "installed_to", res->installed_to);
        if (!r->load)
                json_object_object_add(o, "loaded", json_object_new_boolean(false));
        else if (res->loaded)
                json_object_object_add(o, "load_result", load_success(r->m, res->plugin_id));
        else
                json_object_object_add(o, "load_result", load_failure(res->plugin_id, "load", res->load_error, &res->load_verdict));
        req_finish(r, o);
}

static int start_install(Req *r, InstallRequest *req, bool load) {
        Verdict v = {};
        r->load = load;
        req->load = load;
        req->caller = "mesh";
        if (rate_limited(r, req->plugin_id)) {
                if (req->source == INSTALL_SOURCE_FD || req->source == INSTALL_SOURCE_DIRECTORY)
                        safe_close(req->fd);
                return 0;
        }
        if (load && host_n_loaded(r->m->host) >= r->m->config->max_loaded_plugins && too_many_loaded(r, req->plugin_id)) {
                if (req->source == INSTALL_SOURCE_FD || req->source == INSTALL_SOURCE_DIRECTORY)
                        safe_close(req->fd);
                return 0;
        }
        if (req->url && !(r->url = strdup(req->url)))
                return -ENOMEM;
        int k = host_install(r->m->host, req, on_installed, r, &v);
        if (k < 0) {
                struct json_object *o = error_result(NULL, v.message ? v.message : strerror(-k),
                                                     v.reason ? reason_to_string(v.reason) : "install-failed");
                if (r->url)
                        add_str(o, "url", r->url);
                req_finish(r, o);
        }
        verdict_clear(&v);
        return 0;
}

static PackageFormat arg_format(struct json_object *p) {
        PackageFormat f;
        return package_format_from_string(json_get_string(p, "format"), &f) < 0 ? PACKAGE_FORMAT_AUTO : f; /* upstream: unknown = auto */
}

static int start_mesh_fetch(Req *r, struct json_object *p, const char *url);

static int rpc_install_from_url(Req *r, struct json_object *p) {
        if (strncmp(json_get_string(p, "url"), "dc-mesh://", 10) == 0)
                return start_mesh_fetch(r, p, json_get_string(p, "url"));
        InstallRequest req = {
                .source = INSTALL_SOURCE_URL,
                .fd = -1,
                .url = json_get_string(p, "url"),
                .plugin_id = json_get_string(p, "plugin_id"),
                .digest = json_get_string(p, "digest"),
                .format = arg_format(p),
                .replace = arg_bool(p, "replace", false),
        };
        return start_install(r, &req, arg_bool(p, "load", true));
}

static int rpc_install_from_bundle(Req *r, struct json_object *p) {
        InstallRequest req = {
                .source = INSTALL_SOURCE_BASE64,
                .fd = -1,
                .bundle_b64 = json_get_string(p, "bundle_b64"),
                .plugin_id = json_get_string(p, "plugin_id"),
                .digest = json_get_string(p, "digest"),
                .format = arg_format(p),
                .replace = arg_bool(p, "replace", false),
        };
        return start_install(r, &req, arg_bool(p, "load", true));
}

static int rpc_install_from_manifest(Req *r, struct json_object *p) {
        struct json_object *man;
        InstallRequest req = {};
        Verdict v = {};
        json_object_object_get_ex(p, "manifest", &man);
        if (install_request_from_manifest(man, &req, &v) < 0) {
                req_finish(r, error_result(NULL, v.message, reason_to_string(v.reason)));
                verdict_clear(&v);
                return 0;
        }
        return start_install(r, &req, arg_bool(p, "load", true));
}

/* install_plugin: a folder below ImportDirectory=, reached without following links. */
static int rpc_install_plugin(Req *r, struct json_object *p) {
        const char *src = json_get_string(p, "source_path"), *import = r->m->config->import_dir;
        _cleanup_free_ char *msg = NULL, *rel = NULL;
        _cleanup_close_ int dfd = -1;

        if (!import) {
                req_finish(r, error_result(NULL, "install_plugin is disabled on this host (no ImportDirectory= configured)",
                                           "disabled"));
                return 0;
        }
        size_t il = strlen(import);
        if (src[0] == '/' && strncmp(src, import, il) == 0 && (src[il] == '/' || !src[il]))
                rel = strdup(src[il] ? src + il + 1 : ".");
        else if (src[0] != '/')
                rel = strdup(src);
        if (!rel || isempty(rel) || streq(rel, ".")) {
                (void) asprintf(&msg, "Source path is not a directory: %s", src);
                req_finish(r, error_result(NULL, msg, "invalid-path"));
                return 0;
        }
        dfd = open(import, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *save = NULL, *last = NULL;
        for (char *c = strtok_r(rel, "/", &save); c && dfd >= 0; c = strtok_r(NULL, "/", &save)) {
                if (last) {
                        int n = openat(dfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        safe_close(dfd);
                        dfd = n;
                }
                if (streq(c, "..") || streq(c, ".")) {
                        dfd = safe_close(dfd);
                        break;
                }
                last = c;
        }
        struct stat st;
        if (dfd < 0 || !last || fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
                (void) asprintf(&msg, "Source path is not a directory: %s", src);
                req_finish(r, error_result(NULL, msg, "invalid-path"));
                return 0;
        }
        _cleanup_free_ char *mpath = NULL;
        if (asprintf(&mpath, "%s/manifest.json", last) < 0)
                return -ENOMEM;
        if (fstatat(dfd, mpath, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                (void) asprintf(&msg, "Missing manifest.json in %s", src);
                req_finish(r, error_result(NULL, msg, "manifest-missing"));
                return 0;
        }
        InstallRequest req = {
                .source = INSTALL_SOURCE_DIRECTORY,
                .fd = TAKE_FD(dfd),
                .name_hint = last,
                .plugin_id = json_get_string(p, "plugin_id"),
                .format = PACKAGE_FORMAT_TAR_GZ,
        };
        return start_install(r, &req, true);
}

static int rpc_sidecars_disabled(Req *r, struct json_object *p) {
        struct json_object *o = status_obj("error");
        add_str(o, "message", SIDECARS_DISABLED);
        add_str(o, "error", "sidecars-disabled");
        req_finish(r, o);
        return 0;
}

static int rpc_undeploy_sidecar(Req *r, struct json_object *p) {
        struct json_object *o = status_obj("error");
        add_str(o, "message", "Sidecars are not enabled on this host");
        add_str(o, "error", "sidecars-disabled");
        req_finish(r, o);
        return 0;
}

/* Artifacts are served over the mesh, never by an HTTP listener. */
static struct json_object *artifact_json(Mesh *m, const ArtifactRecord *a) {
        struct json_object *o = artifact_record_to_json(a);
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "dc-mesh://%s/%s/artifacts/%s/%s", m->tenant, m->device_id, a->plugin_id, a->filename) >= 0)
                add_str(o, "url", url);
        return o;
}

static void on_published(Host *h, int error, const Verdict *v, const ArtifactRecord *rec, void *userdata) {
        Req *r = userdata;
        if (error < 0) {
                req_finish(r, error_result(NULL, v->message, v->reason ? reason_to_string(v->reason) : "publish-failed"));
                return;
        }
        struct json_object *o = status_obj("success"), *a = artifact_json(r->m, rec);
        _cleanup_free_ char *dir = host_artifact_dir(h);
        add_str(a, "artifact_dir", dir);
        json_object_object_add(o, "artifact", a);
        req_finish(r, o);
}

static int rpc_publish_artifact(Req *r, struct json_object *p) {
        Verdict v = {};
        int k = host_publish_artifact(r->m->host, json_get_string(p, "plugin_id"), json_get_string(p, "version"), json_get_string(p, "bundle_b64"),
                                      on_published, r, &v);
        if (k < 0)
                req_finish(r, error_result(NULL, v.message, reason_to_string(v.reason)));
        verdict_clear(&v);
        return 0;
}

static int rpc_list_artifacts(Req *r, struct json_object *p) {
        _cleanup_free_ char *dir = host_artifact_dir(r->m->host);
        ArtifactRecord *l = NULL;
        size_t n = 0;
        struct json_object *o = status_obj("success"), *a = json_object_new_array();
        if (dir)
                (void) artifact_list(dir, &l, &n);
        for (size_t i = 0; i < n; i++) {
                json_object_array_add(a, artifact_json(r->m, &l[i]));
                artifact_record_done(&l[i]);
        }
        free(l);
        json_object_object_add(o, "artifacts", a);
        add_str(o, "artifact_dir", dir);
        json_object_object_add(o, "serve_enabled", json_object_new_boolean(false));
        req_finish(r, o);
        return 0;
}

static int rpc_get_artifact_url(Req *r, struct json_object *p) {
        _cleanup_free_ char *dir = host_artifact_dir(r->m->host);
        ArtifactRecord a = {};
        Verdict v = {};
        if (!dir)
                return -ENOMEM;
        if (artifact_find(dir, json_get_string(p, "plugin_id"), json_get_string(p, "version"), &a, &v) < 0) {
                req_finish(r, error_result(NULL, v.message, reason_to_string(v.reason)));
                verdict_clear(&v);
                return 0;
        }
        struct json_object *o = status_obj("success");
        json_object_object_add(o, "artifact", artifact_json(r->m, &a));
        artifact_record_done(&a);
        req_finish(r, o);
        return 0;
}

/* Raw bytes per chunk: what fits the server's max_payload once base64'd in an envelope. */
static size_t chunk_max(Mesh *m) {
        int64_t max = natsConnection_GetMaxPayload(m->nc);
        if (max <= 0)
                max = 1024 * 1024;
        size_t raw = (size_t) (max - 2048) / 4 * 3;
        return raw > 4 * 1024 * 1024 ? 4 * 1024 * 1024 : raw;
}

/* read_plugin_artifact: one chunk of a published artifact, for another host's
 * install from a dc-mesh:// URL (serving over the authenticated mesh). */
static int rpc_read_artifact(Req *r, struct json_object *p) {
        const char *id = json_get_string(p, "plugin_id"), *file = json_get_string(p, "filename");
        struct json_object *x;
        int64_t offset = json_object_object_get_ex(p, "offset", &x) ? json_object_get_int64(x) : 0;
        _cleanup_free_ char *dir = host_artifact_dir(r->m->host), *path = NULL;

        if (!plugin_id_is_valid(id) || !artifact_filename_is_valid(file) || offset < 0) {
                req_finish(r, error_result(id, "invalid artifact reference", "invalid-id"));
                return 0;
        }
        if (!dir || asprintf(&path, "%s/%s/%s", dir, id, file) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                _cleanup_free_ char *msg = NULL;
                (void) asprintf(&msg, "artifact not found for %s", id);
                req_finish(r, error_result(id, msg, "not-found"));
                return 0;
        }
        size_t want = chunk_max(r->m);
        if (offset > st.st_size)
                offset = st.st_size;
        if ((uint64_t) (st.st_size - offset) < want)
                want = (size_t) (st.st_size - offset);
        _cleanup_free_ uint8_t *buf = malloc(want + 1);
        _cleanup_free_ char *b64 = malloc(base64_encoded_size(want));
        if (!buf || !b64)
                return -ENOMEM;
        ssize_t n = pread(fd, buf, want, offset);
        if (n < 0)
                return -errno;
        base64_encode(buf, (size_t) n, b64);
        struct json_object *o = status_obj("success");
        add_str(o, "plugin_id", id);
        add_str(o, "filename", file);
        json_object_object_add(o, "offset", json_object_new_int64(offset));
        json_object_object_add(o, "size", json_object_new_int64(st.st_size));
        json_object_object_add(o, "eof", json_object_new_boolean(offset + n >= st.st_size));
        add_str(o, "data_b64", b64);
        req_finish(r, o);
        return 0;
}

/* ---- installs from another host's artifact store (dc-mesh:// URLs) ------------------- */

typedef struct MeshFetch {
        Mesh *m;
        Req *r;
        char *subject, *plugin_id_param, *digest, *artifact_id, *filename;
        PackageFormat format;
        bool load, replace;
        uint64_t max;
        int fd;          /* memfd with the bytes */
        char *error;     /* set on failure */
} MeshFetch;

static void mesh_fetch_free(MeshFetch *f) {
        free(f->subject);
        free(f->plugin_id_param);
        free(f->digest);
        free(f->artifact_id);
        free(f->filename);
        free(f->error);
        safe_close(f->fd);
        free(f);
}

static void fetch_done(Mesh *m, void *userdata, bool cancelled) {
        MeshFetch *f = userdata;
        Req *r = f->r;
        if (cancelled) {
                req_free(r);
        } else if (f->error) {
                struct json_object *o = error_result(NULL, f->error, "download-failed");
                add_str(o, "url", r->url);
                req_finish(r, o);
        } else {
                (void) lseek(f->fd, 0, SEEK_SET);
                InstallRequest req = {
                        .source = INSTALL_SOURCE_FD,
                        .fd = TAKE_FD(f->fd),
                        .name_hint = f->filename,
                        .plugin_id = f->plugin_id_param,
                        .digest = f->digest,
                        .format = f->format,
                        .replace = f->replace,
                };
                if (start_install(r, &req, f->load) < 0)
                        req_fail(r, JSONRPC_SERVER_ERROR, "Out of memory");
        }
        mesh_fetch_free(f);
}

static void *fetch_main(void *userdata) {
        MeshFetch *f = userdata;
        Mesh *m = f->m;
        int64_t offset = 0;
        for (unsigned i = 0; !f->error; i++) {
                struct json_object *req = json_object_new_object(), *params = json_object_new_object();
                char id[32];
                natsMsg *reply = NULL;
                snprintf(id, sizeof id, "fetch-%u", i);
                add_str(req, "jsonrpc", "2.0");
                add_str(req, "id", id);
                add_str(req, "method", "read_plugin_artifact");
                add_str(params, "plugin_id", f->artifact_id);
                add_str(params, "filename", f->filename);
                json_object_object_add(params, "offset", json_object_new_int64(offset));
                json_object_object_add(req, "params", params);
                natsStatus s = natsConnection_RequestString(&reply, m->nc, f->subject,
                                                            json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), 30000);
                json_object_put(req);
                if (s != NATS_OK) {
                        (void) asprintf(&f->error, "download failed: %s",
                                        s == NATS_NO_RESPONDERS ? "the publishing host is not on the mesh" : natsStatus_GetText(s));
                        break;
                }
                ArtifactChunk c;
                _cleanup_free_ char *why = NULL;
                int k = artifact_chunk_parse(natsMsg_GetData(reply), (size_t) natsMsg_GetDataLength(reply), offset, &c, &why);
                natsMsg_Destroy(reply);
                if (k < 0) {
                        f->error = why ? TAKE_PTR(why) : strdup("download failed: invalid reply");
                        break;
                }
                if ((uint64_t) offset + c.size > f->max)
                        (void) asprintf(&f->error, "artifact exceeds max size (%llu bytes)", (unsigned long long) f->max);
                else if (pwrite(f->fd, c.data, c.size, offset) != (ssize_t) c.size)
                        (void) asprintf(&f->error, "download failed: %s", strerror(errno));
                else if (!c.eof && c.size == 0)
                        (void) asprintf(&f->error, "download failed: empty chunk before the end");
                offset += (int64_t) c.size;
                bool eof = c.eof;
                artifact_chunk_done(&c);
                if (eof)
                        break;
        }
        if (mesh_post(m, fetch_done, f) < 0)
                mesh_fetch_free(f); /* cannot report: out of memory */
        pthread_mutex_lock(&m->lock);
        m->n_fetchers--;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

/* dc-mesh://<tenant>/<device>/artifacts/<plugin_id>/<file> */
static int start_mesh_fetch(Req *r, struct json_object *p, const char *url) {
        Mesh *m = r->m;
        _cleanup_strv_free_ char **parts = strv_split(url + strlen("dc-mesh://"), "/");
        MeshFetch *f;
        pthread_t t;

        if (!(r->url = strdup(url)))
                return -ENOMEM;
        size_t n = strv_length(parts);
        if (n != 5 || !streq(parts[2], "artifacts") || !plugin_id_is_valid(parts[3]) ||
            !artifact_filename_is_valid(parts[4]) || !plugin_id_is_valid(parts[1])) {
                struct json_object *o = error_result(NULL, "invalid URL: expected dc-mesh://<tenant>/<device>/artifacts/<id>/<file>.tgz", "url-invalid");
                add_str(o, "url", url);
                req_finish(r, o);
                return 0;
        }
        if (!streq(parts[0], m->tenant)) {
                struct json_object *o = error_result(NULL, "mesh URLs must name this host's tenant", "url-not-allowed");
                add_str(o, "url", url);
                req_finish(r, o);
                return 0;
        }
        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->m = m;
        f->r = r;
        f->fd = memfd_create("dc-plugin-mesh-fetch", MFD_CLOEXEC);
        f->format = arg_format(p);
        f->load = arg_bool(p, "load", true);
        f->replace = arg_bool(p, "replace", false);
        f->max = m->config->max_archive_size;
        f->artifact_id = strdup(parts[3]);
        f->filename = strdup(parts[4]);
        f->plugin_id_param = json_get_string(p, "plugin_id") ? strdup(json_get_string(p, "plugin_id")) : NULL;
        f->digest = json_get_string(p, "digest") ? strdup(json_get_string(p, "digest")) : NULL;
        if (f->fd < 0 || !f->artifact_id || !f->filename ||
            asprintf(&f->subject, "device-connect.%s.%s.cmd", parts[0], parts[1]) < 0) {
                mesh_fetch_free(f);
                return -ENOMEM;
        }
        pthread_mutex_lock(&m->lock);
        m->n_fetchers++;
        pthread_mutex_unlock(&m->lock);
        if (pthread_create(&t, NULL, fetch_main, f) != 0) {
                pthread_mutex_lock(&m->lock);
                m->n_fetchers--;
                pthread_mutex_unlock(&m->lock);
                mesh_fetch_free(f);
                return -ENOMEM;
        }
        pthread_detach(t);
        return 0;
}

/* ---- authoring RPCs: C plugins ----------------------------------------------------- */

static const char *docs_base(void) {
        const char *e = getenv("DC_PLUGIN_DOCS_BASE_URL");
        return isempty(e) ? "https://github.com/example/device-connect-plugin-driver" : e;
}

static struct json_object *doc_url(const char *path) {
        _cleanup_free_ char *u = NULL;
        return asprintf(&u, "%s/%s", docs_base(), path) < 0 ? NULL : json_object_new_string(u);
}

static int rpc_authoring_guide(Req *r, struct json_object *p) {
        struct json_object *o = status_obj("success"), *x, *y;
        add_str(o, "version", "1");
        add_str(o, "device_type", "plugin_host");
        add_str(o, "summary",
                "Plugins are C shared objects built against <dc-plugin-host/plugin.h> (pkg-config dc-plugin-host), "
                "shipped as a folder <id>/ with manifest.json and <id>.so, verified by the host's trust policy "
                "before any code runs.");
        x = json_object_new_object();
        add_str(x, "authoring_rpc", "get_plugin_authoring_guide");
        add_str(x, "template_rpc", "get_plugin_template");
        add_str(x, "examples_rpc", "list_plugin_examples");
        y = json_object_new_object();
        add_str(y, "plugin_driver:role", "plugin_host");
        add_str(y, "plugin_driver:authoring_rpc", "get_plugin_authoring_guide");
        add_str(y, "plugin_driver:template_rpc", "get_plugin_template");
        json_object_object_add(x, "device_labels", y);
        json_object_object_add(o, "discovery", x);
        x = json_object_new_object();
        json_object_object_add(x, "agents_playbook", doc_url("AGENTS.md"));
        json_object_object_add(x, "readme", doc_url("README.md"));
        json_object_object_add(x, "design", doc_url("docs/plugin-development.md"));
        json_object_object_add(x, "template_dir", doc_url("examples/hello-world"));
        json_object_object_add(x, "hello_world_example", doc_url("examples/hello-world"));
        json_object_object_add(x, "delivery_manifests", doc_url("docs/mesh.md"));
        json_object_object_add(o, "docs", x);
        static const char *const workflow[] = {
                "Call get_plugin_template with a plugin_id to get manifest.json, the C source and meson.build",
                "Implement the functions in C against <dc-plugin-host/plugin.h>; describe params with JSON schemas",
                "Build with meson (pkg-config dc-plugin-host) into <id>.so",
                "Check locally: dc-plugin-hostctl verify <folder> (no plugin code runs)",
                "Pack the folder: tar -czf <id>.tgz -C . <id>",
                "Install with install_plugin_from_bundle (base64 + sha256 digest) or install_plugin_from_url",
        };
        x = json_object_new_array();
        for (size_t i = 0; i < ELEMENTSOF(workflow); i++)
                json_object_array_add(x, json_object_new_string(workflow[i]));
        json_object_object_add(o, "workflow", x);
        json_object_object_add(o, "manifest_schema",
                               json_tokener_parse("{\"required\":[\"id\",\"runtime\",\"api_level\"],\"optional\":[\"version\","
                                                  "\"description\",\"entry_point\",\"dependencies\"],\"example\":{\"id\":"
                                                  "\"garage-door\",\"version\":\"0.1.0\",\"description\":\"Garage door\","
                                                  "\"runtime\":\"c\",\"api_level\":1,\"entry_point\":\"garage-door.so\"}}"));
        static const char *const methods[][2] = {
                { "install_plugin_from_bundle", "a packed folder sent inline (base64), up to the server's max_payload" },
                { "install_plugin_from_url", "an HTTPS URL on an allowed host" },
                { "install_plugin_from_manifest", "a delivery manifest naming bundle_b64 or url" },
                { "install_plugin", "a folder already below this host's import directory" },
                { "publish_plugin_artifact", "pack an installed plugin for other hosts" },
                { "get_plugin_artifact_url", "find a published artifact" },
                { "load_plugin", "a plugin already in a plugin directory" },
        };
        x = json_object_new_array();
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                y = json_object_new_object();
                add_str(y, "rpc", methods[i][0]);
                add_str(y, "when", methods[i][1]);
                json_object_array_add(x, y);
        }
        json_object_object_add(o, "install_methods", x);
        x = json_object_new_object();
        add_str(x, "constructor", "DC_PLUGIN_DEFINE(...) declares the one descriptor; no work in ELF constructors");
        add_str(x, "decorators", "functions, events and routines are tables in the descriptor, each with a JSON schema");
        add_str(x, "lifecycle", "init() after every check passed; cleanup() after the last call drained");
        add_str(x, "naming", "plugin id ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$; functions ^[A-Za-z_][A-Za-z0-9_]{0,63}$");
        json_object_object_add(o, "capability_conventions", x);
        req_finish(r, o);
        return 0;
}

static int rpc_template(Req *r, struct json_object *p) {
        const char *id = json_get_string(p, "plugin_id"), *cls = json_get_string(p, "class_name"), *desc = json_get_string(p, "description");
        _cleanup_free_ char *class_name = NULL, *description = NULL, *manifest_text = NULL, *source = NULL, *meson = NULL,
                           *readme = NULL, *key_m = NULL, *key_c = NULL, *key_b = NULL, *key_r = NULL, *cmd = NULL, *sym = NULL;
        if (!plugin_id_is_valid(id)) {
                struct json_object *o = error_result(NULL, "plugin_id must be a simple name (e.g. garage-door)", "invalid-id");
                add_str(o, "plugin_id", id);
                req_finish(r, o);
                return 0;
        }
        /* garage-door → GarageDoorCapability (upstream's rule, kept for the key) */
        size_t n = strlen(id);
        class_name = calloc(1, n + 16);
        sym = strdup(id);
        if (!class_name || !sym)
                return -ENOMEM;
        bool up = true;
        for (size_t i = 0, o = 0; i < n; i++) {
                if (id[i] == '-' || id[i] == '_') {
                        up = true;
                        continue;
                }
                class_name[o++] = up && id[i] >= 'a' && id[i] <= 'z' ? (char) (id[i] - 32) : id[i];
                up = false;
        }
        strcat(class_name, "Capability");
        for (char *c = sym; *c; c++)
                if (*c == '-')
                        *c = '_';
        if (cls)
                free_and_strdup(&class_name, cls);
        if (asprintf(&description, "%s", desc ? desc : "") < 0 || (!desc && (free(description), asprintf(&description, "Capability plugin for %s", id) < 0)))
                return -ENOMEM;
        struct json_object *manifest = json_object_new_object();
        add_str(manifest, "id", id);
        add_str(manifest, "version", "0.1.0");
        add_str(manifest, "description", description);
        add_str(manifest, "runtime", "c");
        json_object_object_add(manifest, "api_level", json_object_new_int(1));
        _cleanup_free_ char *entry = NULL;
        if (asprintf(&entry, "%s.so", id) < 0)
                return -ENOMEM;
        add_str(manifest, "entry_point", entry);
        manifest_text = strdup(json_object_to_json_string_ext(manifest, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!manifest_text ||
            asprintf(&source,
                     "/* %s: %s */\n#include <dc-plugin-host/plugin.h>\n\nstatic const dc_host_api *host;\n\n"
                     "static int hello(dc_plugin_ctx *ctx, dc_call *call, const char *params) {\n"
                     "        return host->reply(call, \"{\\\"message\\\":\\\"hello from %s\\\"}\");\n}\n\n"
                     "static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {\n"
                     "        host = api;\n        return 0;\n}\n\n"
                     "static const dc_plugin_function functions[] = {\n"
                     "        {\n                .name = \"hello\",\n                .description = \"Say hello\",\n"
                     "                .params_schema = \"{\\\"type\\\":\\\"object\\\",\\\"properties\\\":{}}\",\n"
                     "                .handler = hello,\n        },\n};\n\n"
                     "DC_PLUGIN_DEFINE({\n        DC_PLUGIN_HEADER,\n        .id = \"%s\",\n        .name = \"%s\",\n"
                     "        .version = \"0.1.0\",\n        .description = \"%s\",\n"
                     "        .functions = functions,\n        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),\n"
                     "        .init = init,\n});\n",
                     class_name, description, id, id, class_name, description) < 0 ||
            asprintf(&meson,
                     "project('%s', 'c')\nshared_module('%s', '%s.c', name_prefix : '', name_suffix : 'so',\n"
                     "        dependencies : dependency('dc-plugin-host'))\n",
                     id, id, sym) < 0 ||
            asprintf(&readme, "# %s\n\n%s\n\nBuild: `meson setup build && ninja -C build`, then copy `build/%s.so` next to "
                              "`manifest.json` in a folder named `%s`.\n",
                     id, description, id, id) < 0 ||
            asprintf(&key_m, "%s/manifest.json", id) < 0 || asprintf(&key_c, "%s/%s.c", id, sym) < 0 ||
            asprintf(&key_b, "%s/meson.build", id) < 0 || asprintf(&key_r, "%s/README.md", id) < 0 ||
            asprintf(&cmd, "tar -czf %s.tgz -C . %s", id, id) < 0) {
                json_object_put(manifest);
                return -ENOMEM;
        }
        struct json_object *o = status_obj("success"), *layout = json_object_new_object(), *pk = json_object_new_object();
        add_str(o, "plugin_id", id);
        add_str(o, "class_name", class_name);
        add_str(o, "description", description);
        json_object_object_add(o, "manifest", manifest);
        add_str(o, "manifest_text", manifest_text);
        add_str(o, "capability_py", source); /* upstream's key; the content is the C source */
        add_str(o, "plugin_c", source);
        add_str(o, "meson_build", meson);
        add_str(o, "readme", readme);
        add_str(layout, key_m, "manifest_text");
        add_str(layout, key_c, "plugin_c");
        add_str(layout, key_b, "meson_build");
        add_str(layout, key_r, "readme");
        json_object_object_add(o, "layout", layout);
        add_str(pk, "command", cmd);
        add_str(pk, "note", "Build <id>.so into the folder, archive it; install via install_plugin_from_bundle or "
                            "install_plugin_from_url");
        json_object_object_add(o, "packaging", pk);
        req_finish(r, o);
        return 0;
}

static int rpc_examples(Req *r, struct json_object *p) {
        static const char *const ex[][3] = {
                { "hello-world", "Greets and echoes.", "hello_world echo" },
                { "counter", "A serialised counter with a periodic tick event.", "increment get reset" },
                { "sensor", "Typed parameters, a slow call, a failing call and an alert event.", "read slow stats fail" },
        };
        struct json_object *o = status_obj("success"), *a = json_object_new_array();
        for (size_t i = 0; i < ELEMENTSOF(ex); i++) {
                struct json_object *e = json_object_new_object(), *fns = json_object_new_array();
                _cleanup_free_ char *path = NULL;
                _cleanup_strv_free_ char **l = strv_split(ex[i][2], " ");
                add_str(e, "id", ex[i][0]);
                if (asprintf(&path, "%s/%s", PKG_EXAMPLES_DIR, ex[i][0]) >= 0)
                        add_str(e, "path", path);
                add_str(e, "description", ex[i][1]);
                for (char **f = l; f && *f; f++)
                        json_object_array_add(fns, json_object_new_string(*f));
                json_object_object_add(e, "functions", fns);
                json_object_array_add(a, e);
        }
        json_object_object_add(o, "examples", a);
        add_str(o, "hint", "Use get_plugin_template to render the template for a specific service id");
        json_object_object_add(o, "repo_examples_dir", NULL);
        req_finish(r, o);
        return 0;
}

/* ---- the host RPC table ---------------------------------------------------------------- */

#define PID_REQ { "plugin_id", P_STRING, true, NULL, "Plugin id (folder name = manifest id)." }
#define PID_OPT { "plugin_id", P_STRING_OR_NULL, false, "null", "Plugin id; default: the manifest's id." }
#define DEPS { "install_dependencies", P_BOOL_OR_NULL, false, "null", "Accepted for compatibility; C plugins have none." }
#define DIGEST { "digest", P_STRING_OR_NULL, false, "null", "sha256:<hex> or <hex> of the archive." }
#define FORMAT { "format", P_STRING, false, "\"auto\"", "auto, tar.gz, tgz or zip." }
#define LOAD { "load", P_BOOL, false, "true", "Load the plugin after installing it." }
#define REPLACE { "replace", P_BOOL, false, "false", "Replace an installed plugin of the same id." }

static const Param no_params[] = { {} };
static const Param p_template[] = { PID_REQ,
                                    { "class_name", P_STRING_OR_NULL, false, "null", "Display name (upstream key)." },
                                    { "description", P_STRING_OR_NULL, false, "null", "Plugin description." },
                                    {} };
static const Param p_load[] = { PID_REQ, DEPS, {} };
static const Param p_pid[] = { PID_REQ, {} };
static const Param p_install[] = { { "source_path", P_STRING, true, NULL, "Folder below this host's import directory." },
                                   PID_OPT,
                                   DEPS,
                                   {} };
static const Param p_url[] = {
        { "url", P_STRING, true, NULL, "HTTPS URL of a .tar.gz or .zip." }, PID_OPT, DIGEST, FORMAT, LOAD, DEPS, REPLACE, {}
};
static const Param p_bundle[] = {
        { "bundle_b64", P_STRING, true, NULL, "The archive, base64." }, PID_OPT, DIGEST, FORMAT, LOAD, DEPS, REPLACE, {}
};
static const Param p_docker[] = { { "manifest", P_OBJECT, true, NULL, "Docker manifest." }, LOAD, {} };
static const Param p_manifest[] = { { "manifest", P_OBJECT, true, NULL, "Delivery manifest: bundle_b64 or url." }, LOAD, {} };
static const Param p_publish[] = { { "plugin_id", P_STRING_OR_NULL, false, "null", "Installed plugin to pack." },
                                   { "bundle_b64", P_STRING_OR_NULL, false, "null", "An archive to store as is." },
                                   { "version", P_STRING_OR_NULL, false, "null", "Version; default: the manifest's." },
                                   {} };
static const Param p_get_url[] = { PID_REQ, { "version", P_STRING_OR_NULL, false, "null", "Version; default: latest." }, {} };
static const Param p_read[] = { PID_REQ,
                                { "filename", P_STRING, true, NULL, "Artifact file name (<version>.tgz)." },
                                { "offset", P_INT, false, "0", "Byte offset of the chunk." },
                                {} };
static const Param p_deploy[] = { PID_REQ,
                                  { "image", P_STRING_OR_NULL, false, "null", "Container image." },
                                  { "port", P_INT, false, "8787", "Container port." },
                                  {} };

typedef struct HostRpc {
        const char *name;
        const char *description;
        const Param *params;
        int (*handler)(Req *r, struct json_object *params);
} HostRpc;

static const HostRpc host_rpcs[] = {
        { "get_status", "Return plugin host connectivity and configuration.", no_params, rpc_get_status },
        { "get_plugin_authoring_guide", "Return structured plugin authoring instructions and doc pointers for agents.",
          no_params, rpc_authoring_guide },
        { "get_plugin_template", "Render manifest.json, C source and meson.build for a new plugin.", p_template, rpc_template },
        { "list_plugin_examples", "List bundled plugin examples and template locations for agents.", no_params, rpc_examples },
        { "list_plugins", "List loaded plugins and available plugin directories on disk.", no_params, rpc_list_plugins },
        { "load_plugin", "Load a plugin by id (verified by the trust policy first).", p_load, rpc_load_plugin },
        { "unload_plugin", "Unload a previously loaded plugin.", p_pid, rpc_unload_plugin },
        { "reload_plugin", "Unload and reload a plugin (picks up code changes on disk).", p_pid, rpc_reload_plugin },
        { "install_plugin", "Copy a plugin directory from the import directory into the store and load it.", p_install,
          rpc_install_plugin },
        { "install_plugin_from_url", "Download a plugin archive from HTTPS and install it on this host.", p_url,
          rpc_install_from_url },
        { "install_plugin_from_bundle", "Install a plugin from a base64-encoded archive (.tar.gz or .zip).", p_bundle,
          rpc_install_from_bundle },
        { "install_plugin_from_docker", "Deploy a container plugin from a docker manifest (sidecar proxied on this host).",
          p_docker, rpc_sidecars_disabled },
        { "install_plugin_from_manifest", "Install a plugin from a typed manifest (bundle metadata or docker).", p_manifest,
          rpc_install_from_manifest },
        { "publish_plugin_artifact", "Publish a plugin archive to the local artifact store.", p_publish, rpc_publish_artifact },
        { "list_plugin_artifacts", "List plugin archives in the local artifact store.", no_params, rpc_list_artifacts },
        { "get_plugin_artifact_url", "Return download URL and digest for a published plugin artifact.", p_get_url,
          rpc_get_artifact_url },
        { "deploy_sidecar", "Deploy a capability as an isolated container sidecar (requires docker extra).", p_deploy,
          rpc_sidecars_disabled },
        { "undeploy_sidecar", "Stop a sidecar container and remove proxied RPCs.", p_pid, rpc_undeploy_sidecar },
        /* ours: serves dc-mesh:// artifact URLs to other hosts of the tenant */
        { "read_plugin_artifact", "Read one chunk of a published plugin artifact (base64).", p_read, rpc_read_artifact },
};

size_t mesh_n_host_rpcs(void) {
        return ELEMENTSOF(host_rpcs);
}

const char *mesh_host_rpc_name(size_t i) {
        return host_rpcs[i].name;
}

const char *mesh_host_rpc_description(size_t i) {
        return host_rpcs[i].description;
}

struct json_object *mesh_host_rpc_schema(size_t i) {
        struct json_object *s = json_object_new_object(), *props = json_object_new_object(), *req = json_object_new_array();
        static const char *const types[] = { "string", "string", "boolean", "boolean", "integer", "object" };
        for (const Param *p = host_rpcs[i].params; p->name; p++) {
                struct json_object *x = json_object_new_object();
                add_str(x, "type", types[p->type]);
                add_str(x, "description", p->description);
                if (p->default_json)
                        json_object_object_add(x, "default", json_tokener_parse(p->default_json));
                json_object_object_add(props, p->name, x);
                if (p->required)
                        json_object_array_add(req, json_object_new_string(p->name));
        }
        add_str(s, "type", "object");
        json_object_object_add(s, "properties", props);
        json_object_object_add(s, "required", req);
        return s;
}

static const HostRpc *find_host_rpc(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(host_rpcs); i++)
                if (streq(host_rpcs[i].name, name))
                        return &host_rpcs[i];
        return NULL;
}

bool mesh_is_host_rpc(const char *name) {
        return find_host_rpc(name) || streq(name, "requestRegistration");
}

const PluginRecord *mesh_bare_owner(Mesh *m, const char *fn) {
        for (char **id = m->load_order; id && *id; id++) {
                const PluginRecord *r = host_find(m->host, *id);
                for (size_t i = 0; r && r->plugin && i < plugin_n_functions(r); i++)
                        if (streq(plugin_function_name(r, i), fn))
                                return r;
        }
        return NULL;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(((const MeshName *) a)->name, ((const MeshName *) b)->name);
}

static int name_order_cmp(const void *a, const void *b) {
        const MeshName *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void names_free(MeshName *names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i].name);
        free(names);
}

static int names_build(Mesh *m, MeshName **ret, size_t *ret_n) {
        MeshName *names = NULL;
        size_t n = 0, cap = 0, kept = 0;
        unsigned order = 0;

        for (char **id = m->load_order; id && *id; id++, order++) {
                const PluginRecord *r = host_find(m->host, *id);
                for (size_t i = 0; r && r->plugin && i < plugin_n_functions(r); i++) {
                        const char *fn = plugin_function_name(r, i);
                        if (mesh_is_host_rpc(fn))
                                continue;
                        MeshName *t = n < cap ? names : realloc(names, (cap = cap ? cap * 2 : 32) * sizeof *t);
                        char *copy = t ? strdup(fn) : NULL;
                        if (t)
                                names = t;
                        if (!copy) {
                                names_free(names, n);
                                return -ENOMEM;
                        }
                        names[n] = (MeshName){ .name = copy, .order = order };
                        snprintf(names[n++].owner, sizeof names->owner, "%s", r->id);
                }
        }
        if (n > 1)
                qsort(names, n, sizeof *names, name_order_cmp);
        for (size_t i = 0; i < n; i++) /* the first of each name wins */
                if (kept > 0 && streq(names[kept - 1].name, names[i].name))
                        free(names[i].name);
                else
                        names[kept++] = names[i];
        *ret = names;
        *ret_n = kept;
        return 0;
}

/*
 * The delivery threads' copy of mesh_bare_owner()'s answers (the same rule:
 * the earliest loaded plugin exporting the name).  A hint only: a stale or
 * missing entry sends the call to the loop, which asks the registry.
 * Without memory it is emptied, and bare names all take the loop.
 */
void mesh_update_names(Mesh *m) {
        MeshName *names = NULL, *old;
        size_t n = 0, n_old;

        (void) names_build(m, &names, &n);
        pthread_mutex_lock(&m->names_lock);
        old = m->names;
        n_old = m->n_names;
        m->names = names;
        m->n_names = n;
        pthread_mutex_unlock(&m->names_lock);
        names_free(old, n_old);
}

void mesh_names_clear(Mesh *m) {
        names_free(m->names, m->n_names);
        m->names = NULL;
        m->n_names = 0;
}

/* Delivery thread: the owner of a bare name per the snapshot. */
static bool lookup_owner(Mesh *m, const char *fn, char owner[static PLUGIN_ID_MAX + 1]) {
        MeshName key = { .name = (char *) fn }, *hit;
        pthread_mutex_lock(&m->names_lock);
        hit = m->names ? bsearch(&key, m->names, m->n_names, sizeof key, name_cmp) : NULL;
        if (hit)
                memcpy(owner, hit->owner, PLUGIN_ID_MAX + 1);
        pthread_mutex_unlock(&m->names_lock);
        return hit != NULL;
}

/* ---- plugin functions ------------------------------------------------------------------ */

/* The JSON-RPC error for a plugin call that failed with a HOST_ERR_* (both paths). */
static void reply_call_error(natsConnection *nc, const char *reply, struct json_object *id, const char *method, int error,
                             const char *message) {
        if (error == HOST_ERR_NO_SUCH_FUNCTION || error == HOST_ERR_NO_SUCH_PLUGIN || error == HOST_ERR_NOT_LOADED)
                reply_error_on(nc, reply, id, JSONRPC_METHOD_NOT_FOUND, "Unknown method: %s", method);
        else if (error == HOST_ERR_INVALID_PARAMS)
                reply_error_on(nc, reply, id, JSONRPC_INVALID_PARAMS, "Invalid params: %s", message ? message : "");
        else
                reply_error_on(nc, reply, id, JSONRPC_SERVER_ERROR, "Error invoking %s: %s", method,
                               error == HOST_ERR_BUSY ? "busy: too many calls queued"
                               : message              ? message
                                                      : strerrordesc_np(-error));
}

static void on_invoked(Host *h, int error, const char *result, const char *message, void *userdata) {
        Req *r = userdata;
        if (error < 0)
                reply_call_error(r->m->nc, r->reply, r->id, r->method, error, message);
        else
                send_result_text(r->m->nc, r->reply, r->id, result);
        req_free(r);
}

static void invoke_plugin(Req *r, const char *plugin_id, const char *fn, struct json_object *params) {
        _cleanup_free_ char *msg = NULL;
        const char *text = json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        int k = host_invoke(r->m->host, plugin_id, fn, text, 0, on_invoked, r, &msg);
        if (k >= 0)
                return;
        reply_call_error(r->m->nc, r->reply, r->id, r->method, k, msg);
        req_free(r);
}

/* The checks both paths make before looking at the method: NULL if the
 * envelope is fine, else the JSON-RPC error to answer (*code). */
static const char *envelope_problem(struct json_object *o, struct json_object **id, struct json_object **method,
                                    struct json_object **params, int *code) {
        *id = *method = *params = NULL;
        if (!json_object_is_type(o, json_type_object))
                return *code = JSONRPC_INVALID_REQUEST, "Invalid Request: not a JSON object";
        if (!json_object_object_get_ex(o, "id", id))
                return *code = 0, NULL; /* a notification: no reply, no error */
        if (!json_object_is_type(*id, json_type_string) && !json_object_is_type(*id, json_type_int) &&
            !json_object_is_type(*id, json_type_double)) {
                *id = NULL;
                return *code = JSONRPC_INVALID_REQUEST, "Invalid Request: id must be a string or a number";
        }
        if (!json_object_object_get_ex(o, "method", method) || json_object_is_type(*method, json_type_null))
                return *code = JSONRPC_METHOD_NOT_FOUND, "Unknown method: None";
        if (!json_object_is_type(*method, json_type_string))
                return *code = JSONRPC_INVALID_REQUEST, "Invalid Request: method must be a string";
        if (!json_object_object_get_ex(o, "params", params)) {
                *params = json_object_new_object();
                json_object_object_add(o, "params", *params);
        }
        if (!*params || !json_object_is_type(*params, json_type_object))
                return *code = JSONRPC_INVALID_PARAMS, "Invalid params: params must be an object";
        /* Caller metadata is unauthenticated and never reaches a handler's params. */
        json_object_object_del(*params, "_dc_meta");
        json_object_object_del(*params, "source_device");
        return NULL;
}

/* "<plugin_id>.<fn>" split into id (a buffer) and function; false if malformed. */
static bool split_qualified(const char *name, char id[static PLUGIN_ID_MAX + 1], const char **fn) {
        const char *dot = strchr(name, '.');
        if (!dot || (size_t) (dot - name) > PLUGIN_ID_MAX)
                return false;
        memcpy(id, name, (size_t) (dot - name));
        id[dot - name] = 0;
        *fn = dot + 1;
        return plugin_id_is_valid(id) && plugin_symbol_name_is_valid(*fn);
}

bool mesh_try_direct(Mesh *m, natsConnection *nc, natsMsg *msg) {
        _cleanup_json_ struct json_object *o = NULL;
        _cleanup_free_ char *result = NULL, *message = NULL;
        struct json_object *id, *method, *params;
        const char *reply = natsMsg_GetReply(msg), *name, *fn;
        char owner[PLUGIN_ID_MAX + 1];
        int code, k;

        /* Anything unusual is the loop's: it answers every error. */
        if (!reply || json_parse_strict(natsMsg_GetData(msg), (size_t) natsMsg_GetDataLength(msg), &o, NULL) < 0 || !o ||
            envelope_problem(o, &id, &method, &params, &code) || !id)
                return false;
        name = json_object_get_string(method);
        if (strchr(name, '.')) {
                if (!split_qualified(name, owner, &fn))
                        return false;
        } else if (!lookup_owner(m, name, owner)) /* host RPC names are never in the snapshot */
                return false;
        else
                fn = name;
        const char *text = json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        k = host_call_direct(m->host, owner, fn, params, text, &result, &message);
        if (k == -EAGAIN)
                return false;
        if (k < 0)
                reply_call_error(nc, reply, id, name, k, message);
        else
                send_result_text(nc, reply, id, result);
        return true;
}

/* ---- the envelope ------------------------------------------------------------------------ */

void mesh_handle_request(Mesh *m, natsMsg *msg) {
        const char *reply = natsMsg_GetReply(msg), *problem;
        struct json_object *o = NULL, *id = NULL, *method = NULL, *params = NULL;
        int len = natsMsg_GetDataLength(msg), code;

        if (json_parse_strict(natsMsg_GetData(msg), (size_t) len, &o, NULL) < 0) {
                /* upstream stays silent and the caller times out (wire §5.2 FIX) */
                reply_error(m, reply, NULL, JSONRPC_PARSE_ERROR, "Parse error");
                return;
        }
        problem = envelope_problem(o, &id, &method, &params, &code);
        if (problem) {
                reply_error(m, reply, id, code, "%s", problem);
                goto finish;
        }
        if (!id)
                goto finish; /* a notification */

        const char *name = json_object_get_string(method);
        if (m->in_flight >= m->config->mesh_max_in_flight) {
                reply_error(m, reply, id, JSONRPC_SERVER_ERROR, "Error invoking %s: busy: %u requests in flight", name,
                            m->in_flight);
                goto finish;
        }
        Req *r = calloc(1, sizeof *r);
        if (!r)
                goto finish;
        m->in_flight++;
        r->m = m;
        r->id = json_object_get(id);
        r->reply = reply ? strdup(reply) : NULL;
        r->method = strdup(name);
        if ((reply && !r->reply) || !r->method) {
                req_free(r);
                goto finish;
        }

        if (streq(name, "requestRegistration")) {
                req_finish(r, mesh_registration_params(m));
                goto finish;
        }
        const HostRpc *rpc = find_host_rpc(name);
        if (rpc) {
                _cleanup_free_ char *bad = check_params(rpc->params, params);
                if (bad) {
                        req_fail(r, JSONRPC_INVALID_PARAMS, bad);
                        goto finish;
                }
                if (rpc->handler(r, params) < 0)
                        req_fail(r, JSONRPC_SERVER_ERROR, "Out of memory");
                goto finish;
        }
        /* <plugin_id>.<fn>, or a bare <fn> owned by the first loaded plugin exporting it */
        if (strchr(name, '.')) {
                char pid[PLUGIN_ID_MAX + 1];
                const char *fn;
                if (split_qualified(name, pid, &fn)) {
                        invoke_plugin(r, pid, fn, params);
                        goto finish;
                }
        } else {
                const PluginRecord *owner = mesh_bare_owner(m, name);
                if (owner) {
                        invoke_plugin(r, owner->id, name, params);
                        goto finish;
                }
        }
        reply_error(m, r->reply, r->id, JSONRPC_METHOD_NOT_FOUND, "Unknown method: %s", name);
        req_free(r);
finish:
        json_object_put(o);
}
