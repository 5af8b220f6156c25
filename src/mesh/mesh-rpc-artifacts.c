/* SPDX-License-Identifier: MIT */
/* The artifact RPCs: publish, list and find packed plugins, and serve them
 * in chunks to other hosts of the tenant (dc-mesh:// URLs). */
#include <fcntl.h>
#include <sys/stat.h>

#include "base64.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "json-util.h"
#include "names.h"

/* Artifacts are served over the mesh, never by an HTTP listener. */
static struct json_object *artifact_json(Mesh *m, const ArtifactRecord *a) {
        struct json_object *o = artifact_record_to_json(a);
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, DC_MESH_URL_SCHEME "%s/%s/artifacts/%s/%s", m->tenant, m->device_id, a->plugin_id, a->filename) >= 0)
                mesh_add_str(o, "url", url);
        return o;
}

static void on_published(const OpResult *res, void *userdata) {
        Req *r = userdata;
        if (res->error < 0) {
                mesh_req_finish(r, mesh_error_result(NULL, res->message, reason_to_string(res->reason)));
                return;
        }
        struct json_object *o = mesh_status_obj("success"), *a = artifact_json(r->m, res->artifact);
        _cleanup_free_ char *dir = host_artifact_dir(r->m->host);
        mesh_add_str(a, "artifact_dir", dir);
        json_object_object_add(o, "artifact", a);
        mesh_req_finish(r, o);
}

int rpc_publish_artifact(Req *r, struct json_object *p) {
        OpRequest req = {
                .kind = OP_PUBLISH,
                .caller = mesh_caller,
                .plugin_id = json_get_string(p, "plugin_id"),
                .version = json_get_string(p, "version"),
                .bundle_b64 = json_get_string(p, "bundle_b64"),
        };
        ops_run(r->m->ops, &req, on_published, r);
        return 0;
}

int rpc_list_artifacts(Req *r, struct json_object *p) {
        _cleanup_free_ char *dir = host_artifact_dir(r->m->host);
        ArtifactRecord *l = NULL;
        size_t n = 0;
        struct json_object *o = mesh_status_obj("success"), *a = json_object_new_array();
        if (dir)
                (void) artifact_list(dir, &l, &n);
        for (size_t i = 0; i < n; i++) {
                json_object_array_add(a, artifact_json(r->m, &l[i]));
                artifact_record_done(&l[i]);
        }
        free(l);
        json_object_object_add(o, "artifacts", a);
        mesh_add_str(o, "artifact_dir", dir);
        json_object_object_add(o, "serve_enabled", json_object_new_boolean(false));
        mesh_req_finish(r, o);
        return 0;
}

int rpc_get_artifact_url(Req *r, struct json_object *p) {
        _cleanup_free_ char *dir = host_artifact_dir(r->m->host);
        ArtifactRecord a = {};
        Verdict v = {};
        if (!dir)
                return -ENOMEM;
        if (artifact_find(dir, json_get_string(p, "plugin_id"), json_get_string(p, "version"), &a, &v) < 0) {
                mesh_req_finish(r, mesh_error_result(NULL, v.message, reason_to_string(v.reason)));
                verdict_clear(&v);
                return 0;
        }
        struct json_object *o = mesh_status_obj("success");
        json_object_object_add(o, "artifact", artifact_json(r->m, &a));
        artifact_record_done(&a);
        mesh_req_finish(r, o);
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
int rpc_read_artifact(Req *r, struct json_object *p) {
        const char *id = json_get_string(p, "plugin_id"), *file = json_get_string(p, "filename");
        struct json_object *x;
        int64_t offset = json_object_object_get_ex(p, "offset", &x) ? json_object_get_int64(x) : 0;
        _cleanup_free_ char *dir = host_artifact_dir(r->m->host), *path = NULL;

        if (!plugin_id_is_valid(id) || !artifact_filename_is_valid(file) || offset < 0) {
                mesh_req_finish(r, mesh_error_result(id, "invalid artifact reference", "invalid-id"));
                return 0;
        }
        if (!dir || asprintf(&path, "%s/%s/%s", dir, id, file) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                _cleanup_free_ char *msg = NULL;
                (void) asprintf(&msg, "artifact not found for %s", id);
                mesh_req_finish(r, mesh_error_result(id, msg, "not-found"));
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
        struct json_object *o = mesh_status_obj("success");
        mesh_add_str(o, "plugin_id", id);
        mesh_add_str(o, "filename", file);
        json_object_object_add(o, "offset", json_object_new_int64(offset));
        json_object_object_add(o, "size", json_object_new_int64(st.st_size));
        json_object_object_add(o, "eof", json_object_new_boolean(offset + n >= st.st_size));
        mesh_add_str(o, "data_b64", b64);
        mesh_req_finish(r, o);
        return 0;
}

