/* SPDX-License-Identifier: MIT */
/* The authoring RPCs of the Device Connect plugin driver, for C plugins
 * (guide, template, examples), and the sidecar RPCs this host answers
 * without Docker. */
#include "build-config.h"
#include "json-util.h"
#include "mesh-internal.h"
#include "strv.h"


/* ---- authoring RPCs: C plugins ----------------------------------------------------- */

static const char *docs_base(void) {
        const char *e = getenv("DC_PLUGIN_DOCS_BASE_URL");
        return isempty(e) ? "https://github.com/example/device-connect-plugin-driver" : e;
}

static struct json_object *doc_url(const char *path) {
        _cleanup_free_ char *u = NULL;
        return asprintf(&u, "%s/%s", docs_base(), path) < 0 ? NULL : json_object_new_string(u);
}

static struct json_object *string_list(const char *const *items) {
        struct json_object *a = json_object_new_array();
        for (; a && *items; items++)
                json_object_array_add(a, json_object_new_string(*items));
        return a;
}

int rpc_authoring_guide(Req *r, struct json_object *p) {
        struct json_object *o = mesh_status_obj("success"), *x, *y;
        mesh_add_str(o, "version", "1");
        mesh_add_str(o, "device_type", "plugin_host");
        mesh_add_str(o, "summary",
                "Plugins are C shared objects built against <dc-plugin-host/plugin.h> (pkg-config dc-plugin-host), "
                "shipped as a folder <id>/ with manifest.json and <id>.so, verified by the host's trust policy "
                "before any code runs.");
        x = json_object_new_object();
        mesh_add_str(x, "authoring_rpc", "get_plugin_authoring_guide");
        mesh_add_str(x, "template_rpc", "get_plugin_template");
        mesh_add_str(x, "examples_rpc", "list_plugin_examples");
        y = json_object_new_object();
        mesh_add_str(y, "plugin_driver:role", "plugin_host");
        mesh_add_str(y, "plugin_driver:authoring_rpc", "get_plugin_authoring_guide");
        mesh_add_str(y, "plugin_driver:template_rpc", "get_plugin_template");
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
                "Build with meson (pkg-config dc-plugin-host) into <id>.so; copy it and manifest.json into dist/<id>/",
                "Check locally: dc-plugin-hostctl verify --content-only dist/<id> (no plugin code runs)",
                "Pack the folder: tar -czf <id>.tgz -C dist <id>",
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
                mesh_add_str(y, "rpc", methods[i][0]);
                mesh_add_str(y, "when", methods[i][1]);
                json_object_array_add(x, y);
        }
        json_object_object_add(o, "install_methods", x);
        x = json_object_new_object();
        mesh_add_str(x, "constructor", "DC_PLUGIN_DEFINE(...) declares the one descriptor; no work in ELF constructors");
        /* lists, as upstream: what declares a function, an event, a routine */
        json_object_object_add(x, "decorators", string_list((const char *const[]){
                "dc_plugin_function { name, handler, params_schema }", "dc_plugin_event { name, payload_schema }",
                "dc_plugin_routine { name, interval_ms, run }", NULL }));
        json_object_object_add(x, "lifecycle", string_list((const char *const[]){
                "init(ctx, host, &error) after every check passed", "cleanup(ctx) after the last call drained", NULL }));
        mesh_add_str(x, "naming", "plugin id ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$; functions ^[A-Za-z_][A-Za-z0-9_]{0,63}$");
        json_object_object_add(o, "capability_conventions", x);
        mesh_req_finish(r, o);
        return 0;
}

/* s inside a C string literal: the only characters needing an escape in
 * text that utf8_is_valid_text() accepted (no control characters). */
static char *c_literal(const char *s) {
        char *out = malloc(strlen(s) * 2 + 1), *o = out;
        if (!out)
                return NULL;
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        *o++ = '\\';
                *o++ = *s;
        }
        *o = 0;
        return out;
}

/* The rendered plugin builds with -Wall -Wextra (but unused parameters) and
 * loads under StrictELF=yes; tests/mesh/test-mesh.mjs builds and runs it. */
static char *template_source(const char *id, const char *class_name, const char *description) {
        _cleanup_free_ char *name_lit = c_literal(class_name), *desc_lit = c_literal(description);
        char *s = NULL;
        if (!name_lit || !desc_lit)
                return NULL;
        if (asprintf(&s,
                     "/* %s: a dc-plugin-host plugin.  The API: <dc-plugin-host/plugin.h> and\n"
                     " * docs/plugin-development.md; building: README.md. */\n"
                     "#include <dc-plugin-host/plugin.h>\n\n"
                     "/* The host's services, valid from init() until cleanup() returns. */\n"
                     "static const dc_host_api *host;\n\n"
                     "static int hello(dc_plugin_ctx *ctx, dc_call *call, const char *params_json) {\n"
                     "        return host->reply(call, \"{\\\"message\\\":\\\"hello from %s\\\"}\");\n"
                     "}\n\n"
                     "static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {\n"
                     "        host = api;\n"
                     "        return 0;\n"
                     "}\n\n"
                     "/* Required: called once on unload; free what init() allocated. */\n"
                     "static int cleanup(dc_plugin_ctx *ctx) {\n"
                     "        return 0;\n"
                     "}\n\n"
                     "static const dc_plugin_function functions[] = {\n"
                     "        {\n"
                     "                .name = \"hello\",\n"
                     "                .description = \"Say hello\",\n"
                     "                .params_schema = NULL, /* no parameters: only {} is accepted */\n"
                     "                .handler = hello,\n"
                     "        },\n"
                     "};\n\n"
                     "DC_PLUGIN_DEFINE({\n"
                     "        DC_PLUGIN_HEADER,\n"
                     "        .id = \"%s\",\n"
                     "        .name = \"%s\",\n"
                     "        .version = \"0.1.0\", /* equals manifest.json's */\n"
                     "        .description = \"%s\",\n"
                     "        .functions = functions,\n"
                     "        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),\n"
                     "        .init = init,\n"
                     "        .cleanup = cleanup,\n"
                     "});\n",
                     id, id, id, name_lit, desc_lit) < 0)
                return NULL;
        return s;
}

int rpc_template(Req *r, struct json_object *p) {
        const char *id = json_get_string(p, "plugin_id"), *cls = json_get_string(p, "class_name"), *desc = json_get_string(p, "description");
        _cleanup_free_ char *class_name = NULL, *description = NULL, *manifest_text = NULL, *source = NULL, *meson = NULL,
                           *readme = NULL, *key_m = NULL, *key_c = NULL, *key_b = NULL, *key_r = NULL, *cmd = NULL, *sym = NULL;
        if (!plugin_id_is_valid(id)) {
                struct json_object *o = mesh_error_result(NULL, "plugin_id must be a simple name (e.g. garage-door)", "invalid-id");
                mesh_add_str(o, "plugin_id", id);
                mesh_req_finish(r, o);
                return 0;
        }
        /* Both end up in the descriptor, which refuses anything else. */
        if ((cls && !utf8_is_valid_text(cls, 128)) || (desc && !utf8_is_valid_text(desc, 4096))) {
                mesh_req_finish(r, mesh_error_result(id, cls && !utf8_is_valid_text(cls, 128)
                                                                 ? "class_name must be text of at most 128 bytes without control characters"
                                                                 : "description must be text of at most 4096 bytes without control characters",
                                                     reason_to_string(REASON_INVALID_PARAMS)));
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
        if (cls && free_and_strdup(&class_name, cls) < 0)
                return -ENOMEM;
        if (desc ? !(description = strdup(desc)) : asprintf(&description, "Capability plugin for %s", id) < 0)
                return -ENOMEM;
        struct json_object *manifest = json_object_new_object();
        mesh_add_str(manifest, "id", id);
        mesh_add_str(manifest, "version", "0.1.0");
        mesh_add_str(manifest, "description", description);
        mesh_add_str(manifest, "runtime", "c");
        json_object_object_add(manifest, "api_level", json_object_new_int(1));
        _cleanup_free_ char *entry = NULL;
        if (asprintf(&entry, "%s.so", id) < 0)
                return -ENOMEM;
        mesh_add_str(manifest, "entry_point", entry);
        manifest_text = strdup(json_object_to_json_string_ext(manifest, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
        source = template_source(id, class_name, description);
        if (!manifest_text || !source ||
            asprintf(&meson,
                     "project('%s', 'c', default_options : ['c_std=gnu11', 'warning_level=2'])\n"
                     "# -nostartfiles: no ELF constructors, so that it also loads with StrictELF=yes\n"
                     "shared_module('%s', '%s.c', name_prefix : '', name_suffix : 'so',\n"
                     "        dependencies : dependency('dc-plugin-host'),\n"
                     "        gnu_symbol_visibility : 'hidden',\n"
                     "        c_args : '-Wno-unused-parameter',\n"
                     "        link_args : ['-nostartfiles', '-Wl,-z,noexecstack'])\n",
                     id, id, sym) < 0 ||
            asprintf(&readme,
                     "# %s\n\n%s\n\nBuild, assemble the plugin folder, check it (no plugin code runs) and pack it:\n\n"
                     "```sh\nmeson setup build && ninja -C build\n"
                     "mkdir -p dist/%s && cp manifest.json build/%s.so dist/%s/\n"
                     "dc-plugin-hostctl verify --content-only dist/%s\n"
                     "tar -czf %s.tgz -C dist %s\n```\n\n"
                     "Then install `%s.tgz` (`dc-plugin-hostctl install`, or the mesh's install_plugin_from_bundle).\n",
                     id, description, id, id, id, id, id, id, id) < 0 ||
            asprintf(&key_m, "%s/manifest.json", id) < 0 || asprintf(&key_c, "%s/%s.c", id, sym) < 0 ||
            asprintf(&key_b, "%s/meson.build", id) < 0 || asprintf(&key_r, "%s/README.md", id) < 0 ||
            asprintf(&cmd, "tar -czf %s.tgz -C dist %s", id, id) < 0) {
                json_object_put(manifest);
                return -ENOMEM;
        }
        struct json_object *o = mesh_status_obj("success"), *layout = json_object_new_object(), *pk = json_object_new_object();
        mesh_add_str(o, "plugin_id", id);
        mesh_add_str(o, "class_name", class_name);
        mesh_add_str(o, "description", description);
        json_object_object_add(o, "manifest", manifest);
        mesh_add_str(o, "manifest_text", manifest_text);
        mesh_add_str(o, "capability_py", source); /* upstream's key; the content is the C source */
        mesh_add_str(o, "plugin_c", source);
        mesh_add_str(o, "meson_build", meson);
        mesh_add_str(o, "readme", readme);
        mesh_add_str(layout, key_m, "manifest_text");
        mesh_add_str(layout, key_c, "plugin_c");
        mesh_add_str(layout, key_b, "meson_build");
        mesh_add_str(layout, key_r, "readme");
        json_object_object_add(o, "layout", layout);
        mesh_add_str(pk, "command", cmd);
        mesh_add_str(pk, "note", "Build <id>.so, copy it with manifest.json into dist/<id>/ (README.md), archive that; "
                            "install via install_plugin_from_bundle or install_plugin_from_url");
        json_object_object_add(o, "packaging", pk);
        mesh_req_finish(r, o);
        return 0;
}

int rpc_examples(Req *r, struct json_object *p) {
        static const char *const ex[][3] = {
                { "hello-world", "Greets and echoes.", "hello_world echo" },
                { "counter", "A serialised counter with a periodic tick event.", "increment get reset" },
                { "sensor", "Typed parameters, a slow call, a failing call and an alert event.", "read slow stats fail" },
        };
        struct json_object *o = mesh_status_obj("success"), *a = json_object_new_array();
        for (size_t i = 0; i < ELEMENTSOF(ex); i++) {
                struct json_object *e = json_object_new_object(), *fns = json_object_new_array();
                _cleanup_free_ char *path = NULL;
                _cleanup_strv_free_ char **l = strv_split(ex[i][2], " ");
                mesh_add_str(e, "id", ex[i][0]);
                if (asprintf(&path, "%s/%s", PKG_EXAMPLES_DIR, ex[i][0]) >= 0)
                        mesh_add_str(e, "path", path);
                mesh_add_str(e, "description", ex[i][1]);
                for (char **f = l; f && *f; f++)
                        json_object_array_add(fns, json_object_new_string(*f));
                json_object_object_add(e, "functions", fns);
                json_object_array_add(a, e);
        }
        json_object_object_add(o, "examples", a);
        mesh_add_str(o, "hint", "Use get_plugin_template to render the template for a specific service id");
        json_object_object_add(o, "repo_examples_dir", NULL);
        mesh_req_finish(r, o);
        return 0;
}

/* install_plugin_from_docker: containers are not how this host isolates. */
int rpc_sidecars_disabled(Req *r, struct json_object *p) {
        struct json_object *o = mesh_status_obj("error");
        mesh_add_str(o, "message", "Docker manifests are not supported: this host runs C plugins and isolates them in "
                                   "sandboxed worker processes (deploy_sidecar)");
        mesh_add_str(o, "error", "not-supported");
        mesh_req_finish(r, o);
        return 0;
}

/* deploy_sidecar / undeploy_sidecar: a plugin moves into a sandboxed worker
 * process, or back to where the configuration puts it (docs/mesh.md,
 * "Sidecars").  No container: image and port have no meaning here. */
static void on_isolated(const OpResult *res, void *userdata) {
        Req *r = userdata;
        const PluginRecord *rec = host_find(r->m->host, r->plugin_id);
        bool in_worker = rec && rec->plugin && rec->isolation && streq(rec->isolation, "process");
        struct json_object *o;

        if (res->error < 0) {
                _cleanup_free_ char *msg = NULL;
                if (res->reason == REASON_NOT_FOUND)
                        (void) asprintf(&msg, "Capability not found: %s", r->plugin_id);
                o = mesh_error_result(r->plugin_id, msg ? msg : res->message, reason_to_string(res->reason));
        } else if (r->isolate) {
                struct json_object *d = json_object_new_object();
                o = mesh_status_obj("success");
                mesh_add_str(d, "plugin_id", r->plugin_id);
                mesh_add_str(d, "mode", "process");
                json_object_object_add(d, "container", json_object_new_boolean(false));
                json_object_object_add(d, "worker", rec ? host_plugin_worker_json(rec) : NULL);
                json_object_object_add(o, "deployment", d);
        } else {
                o = mesh_status_obj("success");
                mesh_add_str(o, "plugin_id", r->plugin_id);
                /* stopped: its worker is gone, it runs in the daemon now */
                json_object_object_add(o, "stopped", json_object_new_boolean(!in_worker && !res->unchanged));
                mesh_add_str(o, "isolation", rec ? rec->isolation : NULL);
        }
        mesh_req_finish(r, o);
}

static int sidecar_op(Req *r, struct json_object *p, bool isolate) {
        r->isolate = isolate;
        return mesh_plugin_op(r, p, OP_ISOLATE, isolate, on_isolated);
}

int rpc_deploy_sidecar(Req *r, struct json_object *p) {
        return sidecar_op(r, p, true);
}

int rpc_undeploy_sidecar(Req *r, struct json_object *p) {
        return sidecar_op(r, p, false);
}
