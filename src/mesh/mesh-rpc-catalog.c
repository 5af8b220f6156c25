/* SPDX-License-Identifier: MIT */
#include "mesh-rpc-catalog.h"

#include <stdio.h>

#include "json-util.h"
#include "macro.h"

bool mesh_arg_bool(struct json_object *p, const char *k, bool def) {
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
char *mesh_check_params(const Param *table, struct json_object *params) {
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

PackageFormat mesh_arg_format(struct json_object *p) {
        PackageFormat f;
        return package_format_from_string(json_get_string(p, "format"), &f) < 0 ? PACKAGE_FORMAT_AUTO : f; /* upstream: unknown = auto */
}

#define PID_REQ { "plugin_id", P_STRING, true, NULL, "Plugin id (folder name = manifest id)." }
#define PID_OPT { "plugin_id", P_STRING_OR_NULL, false, "null", "Plugin id; default: the manifest's id." }
#define DEPS { "install_dependencies", P_BOOL_OR_NULL, false, "null", "Accepted for compatibility; C plugins have none." }
#define DIGEST { "digest", P_STRING_OR_NULL, false, "null", "sha256:<hex> or <hex> of the archive." }
#define FORMAT { "format", P_STRING, false, "\"auto\"", "auto, tar.gz, tgz or zip." }
#define LOAD { "load", P_BOOL, false, "true", "Load the plugin after installing it." }
#define REPLACE { "replace", P_BOOL, false, "false", "Replace an installed plugin of the same id." }
#define DOWNGRADE { "allow_downgrade", P_BOOL, false, "false", "Install a version older than one installed before (ours)." }

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
                                   DOWNGRADE,
                                   {} };
static const Param p_url[] = {
        { "url", P_STRING, true, NULL, "HTTPS URL of a .tar.gz or .zip." }, PID_OPT, DIGEST, FORMAT, LOAD, DEPS, REPLACE, DOWNGRADE, {}
};
static const Param p_bundle[] = {
        { "bundle_b64", P_STRING, true, NULL, "The archive, base64." }, PID_OPT, DIGEST, FORMAT, LOAD, DEPS, REPLACE, DOWNGRADE, {}
};
static const Param p_docker[] = { { "manifest", P_OBJECT, true, NULL, "Docker manifest." }, LOAD, {} };
static const Param p_manifest[] = { { "manifest", P_OBJECT, true, NULL, "Delivery manifest: bundle_b64 or url." },
                                    LOAD,
                                    REPLACE,
                                    DOWNGRADE,
                                    {} };
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

static const HostRpcInfo host_rpcs[] = {
        { "get_status", "Return plugin host connectivity and configuration.", no_params },
        { "get_plugin_authoring_guide", "Return structured plugin authoring instructions and doc pointers for agents.",
          no_params },
        { "get_plugin_template", "Render manifest.json, C source and meson.build for a new plugin.", p_template },
        { "list_plugin_examples", "List bundled plugin examples and template locations for agents.", no_params },
        { "list_plugins", "List loaded plugins and available plugin directories on disk.", no_params },
        { "load_plugin", "Load a plugin by id (verified by the trust policy first).", p_load, true },
        { "unload_plugin", "Unload a previously loaded plugin.", p_pid, true },
        { "reload_plugin", "Unload and reload a plugin (picks up code changes on disk).", p_pid, true },
        { "install_plugin", "Copy a plugin directory from the import directory into the store and load it.", p_install,
          true },
        { "install_plugin_from_url", "Download a plugin archive from HTTPS and install it on this host.", p_url, true },
        { "install_plugin_from_bundle", "Install a plugin from a base64-encoded archive (.tar.gz or .zip).", p_bundle,
          true },
        { "install_plugin_from_docker", "Deploy a container plugin from a docker manifest (sidecar proxied on this host).",
          p_docker, true },
        { "install_plugin_from_manifest", "Install a plugin from a typed manifest (bundle metadata or docker).", p_manifest,
          true },
        { "publish_plugin_artifact", "Publish a plugin archive to the local artifact store.", p_publish, true },
        { "list_plugin_artifacts", "List plugin archives in the local artifact store.", no_params },
        { "get_plugin_artifact_url", "Return download URL and digest for a published plugin artifact.", p_get_url },
        { "deploy_sidecar", "Move a loaded capability into a sandboxed worker process (no container).", p_deploy,
          true },
        { "undeploy_sidecar", "Move a capability out of its worker process, back where the configuration puts it.",
          p_pid, true },
        /* ours: serves dc-mesh:// artifact URLs to other hosts of the tenant */
        { "read_plugin_artifact", "Read one chunk of a published plugin artifact (base64).", p_read },
        /* ours: the remote counterpart of dc-plugin-hostctl remove */
        { "remove_plugin", "Unload a plugin (waiting for running calls) and delete it from the plugin store.", p_pid,
          true },
};

size_t mesh_n_host_rpcs(void) {
        return ELEMENTSOF(host_rpcs);
}

const HostRpcInfo *mesh_host_rpc(size_t i) {
        assert(i < ELEMENTSOF(host_rpcs));
        return &host_rpcs[i];
}

const HostRpcInfo *mesh_host_rpc_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(host_rpcs); i++)
                if (streq(host_rpcs[i].name, name))
                        return &host_rpcs[i];
        return NULL;
}

bool mesh_is_host_rpc(const char *name) {
        return mesh_host_rpc_find(name) || streq(name, "requestRegistration");
}

static void add_str(struct json_object *o, const char *k, const char *v) {
        json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

struct json_object *mesh_host_rpc_schema(const HostRpcInfo *rpc) {
        struct json_object *s = json_object_new_object(), *props = json_object_new_object(), *req = json_object_new_array();
        static const char *const types[] = { "string", "string", "boolean", "boolean", "integer", "object" };
        for (const Param *p = rpc->params; p->name; p++) {
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
