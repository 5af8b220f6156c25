/* SPDX-License-Identifier: MIT */
/* The install RPCs: a bundle, an HTTPS URL, a dc-mesh:// URL of another
 * host's artifact store, a delivery manifest, or a folder below
 * ImportDirectory= — each one install operation of the core. */
#include <fcntl.h>
#include <sys/stat.h>

#include "json-util.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "mesh-rpc-catalog.h"
#include "names.h"

/* Install outcome → the upstream envelope (docs/mesh.md, "install_plugin_from_*"). */
static void on_installed(const OpResult *res, void *userdata) {
        Req *r = userdata;
        const InstallResult *ir = res->install;
        struct json_object *o;
        if (res->error < 0) {
                o = mesh_error_result(NULL, res->message, reason_to_string(res->reason));
                if (r->url)
                        mesh_add_str(o, "url", r->url);
                if (ir && ir->plugin_id)
                        mesh_add_str(o, "plugin_id", ir->plugin_id);
                mesh_req_finish(r, o);
                return;
        }
        bool partial = r->load && !ir->loaded;
        o = mesh_status_obj(partial ? "partial" : "success");
        mesh_add_str(o, "plugin_id", ir->plugin_id);
        mesh_add_str(o, "installed_to", ir->installed_to);
        if (!r->load) {
                /* "loaded" says what runs: a loaded plugin keeps its code
                 * until reload_plugin (docs/mesh.md, "install_plugin_from_*"). */
                json_object_object_add(o, "loaded", json_object_new_boolean(ir->running));
                if (ir->running)
                        json_object_object_add(o, "reload_required", json_object_new_boolean(ir->reload_pending));
        } else if (ir->loaded)
                json_object_object_add(o, "load_result", mesh_load_success(r->m, ir->plugin_id));
        else {
                OpResult lr = { .kind = OP_LOAD, .error = ir->load_error, .reason = op_reason_for(ir->load_error, &ir->load_verdict),
                                .message = ir->load_verdict.message ? ir->load_verdict.message : strerror(-ir->load_error) };
                json_object_object_add(o, "load_result", mesh_load_failure(ir->plugin_id, "load", &lr));
        }
        mesh_req_finish(r, o);
}

/* The install operation; admitted: the caller's rate limit was taken already. */
static int start_install(Req *r, InstallRequest *ir, bool load, bool admitted) {
        r->load = load;
        if (ir->url && !r->url && !(r->url = strdup(ir->url)))
                return -ENOMEM;
        OpRequest req = { .kind = OP_INSTALL, .caller = mesh_caller, .install = *ir, .load = load, .admitted = admitted };
        ops_run(r->m->ops, &req, on_installed, r);
        return 0;
}

/* A dc-mesh:// install while its bytes are on the way. */
typedef struct MeshInstall {
        Req *r;
        char *digest, *plugin_id, *filename;
        PackageFormat format;
        bool load, replace, allow_downgrade;
} MeshInstall;

static void mesh_install_free(MeshInstall *mi) {
        free(mi->digest);
        free(mi->plugin_id);
        free(mi->filename);
        free(mi);
}

static void fetched(Mesh *m, int fd, const char *error, void *userdata, bool cancelled) {
        MeshInstall *mi = userdata;
        Req *r = mi->r;
        if (cancelled) {
                safe_close(fd);
                mesh_req_free(r);
        } else if (error) {
                struct json_object *o = mesh_error_result(NULL, error, reason_to_string(REASON_DOWNLOAD_FAILED));
                mesh_add_str(o, "url", r->url);
                mesh_req_finish(r, o);
        } else {
                InstallRequest req = {
                        .source = INSTALL_SOURCE_FD,
                        .fd = fd,
                        .name_hint = mi->filename,
                        .plugin_id = mi->plugin_id,
                        .digest = mi->digest,
                        .format = mi->format,
                        .replace = mi->replace,
                        .allow_downgrade = mi->allow_downgrade,
                };
                if (start_install(r, &req, mi->load, true) < 0)
                        mesh_req_fail(r, JSONRPC_SERVER_ERROR, "Out of memory");
        }
        mesh_install_free(mi);
}

/* dc-mesh://: the caller's share of the rate limit is taken before the
 * download starts, not after it (SECURITY.md, "Hostile callers"). */
static int start_mesh_install(Req *r, struct json_object *p, const char *url) {
        const char *refusal, *slash = strrchr(url, '/');
        Reason reason;
        MeshInstall *mi = calloc(1, sizeof *mi);

        if (!mi || !(r->url = strdup(url)) || !(mi->filename = strdup(slash ? slash + 1 : url))) {
                free(mi);
                return -ENOMEM;
        }
        mi->r = r;
        mi->digest = json_dup_string(p, "digest");
        mi->plugin_id = json_dup_string(p, "plugin_id");
        mi->format = mesh_arg_format(p);
        mi->load = mesh_arg_bool(p, "load", true);
        mi->replace = mesh_arg_bool(p, "replace", false);
        mi->allow_downgrade = mesh_arg_bool(p, "allow_downgrade", false);
        if (ops_admit(r->m->ops, OP_INSTALL, &mesh_caller, &reason, &refusal) < 0 ||
            mesh_fetch_start(r->m, url, r->m->config->max_archive_size, fetched, mi, &refusal, &reason) < 0) {
                struct json_object *o = mesh_error_result(NULL, refusal, reason_to_string(reason));
                mesh_add_str(o, "url", url);
                mesh_req_finish(r, o);
                mesh_install_free(mi);
        }
        return 0;
}

int rpc_install_from_url(Req *r, struct json_object *p) {
        const char *url = json_get_string(p, "url");
        if (strncmp(url, DC_MESH_URL_SCHEME, strlen(DC_MESH_URL_SCHEME)) == 0)
                return start_mesh_install(r, p, url);
        InstallRequest req = {
                .source = INSTALL_SOURCE_URL,
                .fd = -1,
                .url = url,
                .plugin_id = json_get_string(p, "plugin_id"),
                .digest = json_get_string(p, "digest"),
                .format = mesh_arg_format(p),
                .replace = mesh_arg_bool(p, "replace", false),
                .allow_downgrade = mesh_arg_bool(p, "allow_downgrade", false),
        };
        return start_install(r, &req, mesh_arg_bool(p, "load", true), false);
}

int rpc_install_from_bundle(Req *r, struct json_object *p) {
        InstallRequest req = {
                .source = INSTALL_SOURCE_BASE64,
                .fd = -1,
                .bundle_b64 = json_get_string(p, "bundle_b64"),
                .plugin_id = json_get_string(p, "plugin_id"),
                .digest = json_get_string(p, "digest"),
                .format = mesh_arg_format(p),
                .replace = mesh_arg_bool(p, "replace", false),
                .allow_downgrade = mesh_arg_bool(p, "allow_downgrade", false),
        };
        return start_install(r, &req, mesh_arg_bool(p, "load", true), false);
}

int rpc_install_from_manifest(Req *r, struct json_object *p) {
        struct json_object *man = NULL;
        InstallRequest req = {};
        Verdict v = {};
        (void) json_member_object(p, "manifest", &man);
        if (install_request_from_manifest(man, &req, &v) < 0) {
                mesh_req_finish(r, mesh_error_result(NULL, v.message, reason_to_string(v.reason)));
                verdict_clear(&v);
                return 0;
        }
        req.allow_downgrade = req.allow_downgrade || mesh_arg_bool(p, "allow_downgrade", false);
        req.replace = req.replace || mesh_arg_bool(p, "replace", false);
        return start_install(r, &req, mesh_arg_bool(p, "load", true), false);
}

/* install_plugin: a folder below ImportDirectory=, reached without following links. */
int rpc_install_plugin(Req *r, struct json_object *p) {
        const char *src = json_get_string(p, "source_path"), *import = r->m->config->mesh.import_dir;
        _cleanup_free_ char *msg = NULL, *rel = NULL;
        _cleanup_close_ int dfd = -1;

        if (!import) {
                mesh_req_finish(r, mesh_error_result(NULL, "install_plugin is disabled on this host (no ImportDirectory= configured)",
                                                     reason_to_string(REASON_DISABLED)));
                return 0;
        }
        size_t il = strlen(import);
        if (src[0] == '/' && strncmp(src, import, il) == 0 && (src[il] == '/' || !src[il]))
                rel = strdup(src[il] ? src + il + 1 : ".");
        else if (src[0] != '/')
                rel = strdup(src);
        if (!rel || isempty(rel) || streq(rel, ".")) {
                (void) asprintf(&msg, "Source path is not a directory: %s", src);
                mesh_req_finish(r, mesh_error_result(NULL, msg, reason_to_string(REASON_INVALID_PATH)));
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
                mesh_req_finish(r, mesh_error_result(NULL, msg, reason_to_string(REASON_INVALID_PATH)));
                return 0;
        }
        _cleanup_free_ char *mpath = NULL;
        if (asprintf(&mpath, "%s/manifest.json", last) < 0)
                return -ENOMEM;
        if (fstatat(dfd, mpath, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                (void) asprintf(&msg, "Missing manifest.json in %s", src);
                mesh_req_finish(r, mesh_error_result(NULL, msg, reason_to_string(REASON_MANIFEST_MISSING)));
                return 0;
        }
        InstallRequest req = {
                .source = INSTALL_SOURCE_DIRECTORY,
                .fd = TAKE_FD(dfd),
                .name_hint = last,
                .plugin_id = json_get_string(p, "plugin_id"),
                .format = PACKAGE_FORMAT_TAR_GZ,
                .allow_downgrade = mesh_arg_bool(p, "allow_downgrade", false),
        };
        return start_install(r, &req, true, false);
}

