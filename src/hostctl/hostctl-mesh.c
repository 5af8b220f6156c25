/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl --mesh: the same commands against a remote plugin host
 * over the Device Connect mesh (its JSON-RPC host RPCs).
 */
#include "hostctl-mesh.h"

#include <sys/stat.h>

#include "base64.h"
#include "digest.h"
#include "escape.h"
#include "hostctl-output.h"
#include "hostctl-verbs.h"
#include "image.h"
#include "json-util.h"
#include "log.h"
#include "mesh.h"

/* The reply comes from a peer: every member is type-checked before use. */
static int print_result(struct json_object *reply, const char *what) {
        struct json_object *res, *err;
        const char *msg = NULL, *status = NULL;
        if (json_member_object(reply, "error", &err) >= 0) {
                (void) json_member_string(err, "message", &msg);
                _cleanup_free_ char *safe = escape_untrusted(msg ? msg : "error", 1024);
                log_error("Failed to %s: %s", what, safe ? safe : "error");
                return -EIO;
        }
        if (!json_object_object_get_ex(reply, "result", &res))
                return log_error_errno(EBADMSG, "Failed to %s: malformed reply", what);
        output_begin();
        output_json(res);
        /* host RPCs report failures as results (docs/mesh.md) */
        if (json_member_string(res, "status", &status) == -EBADMSG)
                return log_error_errno(EBADMSG, "Failed to %s: malformed reply (status)", what);
        if (status && !streq(status, "success")) {
                (void) json_member_string(res, "message", &msg);
                _cleanup_free_ char *safe = escape_untrusted(msg ? msg : status, 1024);
                log_error("Failed to %s: %s", what, safe ? safe : status);
                return -EIO;
        }
        return 0;
}

static struct json_object *obj(const char *key, const char *value) {
        struct json_object *o = json_object_new_object();
        if (o && key)
                json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
        return o;
}

static int install_params(int fd, const MeshCliArgs *a, struct json_object **ret) {
        struct stat st;
        uint8_t sha[SHA256_DIGEST_SIZE];
        char digest[DIGEST_STRING_MAX];
        if (fstat(fd, &st) < 0)
                return -errno;
        _cleanup_free_ uint8_t *buf = malloc((size_t) st.st_size + 1);
        _cleanup_free_ char *b64 = malloc(base64_encoded_size((size_t) st.st_size));
        if (!buf || !b64)
                return -ENOMEM;
        if (pread(fd, buf, (size_t) st.st_size, 0) != st.st_size)
                return -EIO;
        base64_encode(buf, (size_t) st.st_size, b64);
        if (sha256_fd(fd, sha) < 0)
                return -EIO;
        digest_format(sha, digest);
        if (a->digest && !streq(a->digest, digest))
                log_warning("The archive's digest is %s, not %s; the host will refuse it", digest, a->digest);
        struct json_object *p = obj("bundle_b64", b64);
        json_object_object_add(p, "digest", json_object_new_string(a->digest ? a->digest : digest));
        json_object_object_add(p, "load", json_object_new_boolean(a->load));
        json_object_object_add(p, "replace", json_object_new_boolean(a->replace));
        if (a->allow_downgrade)
                json_object_object_add(p, "allow_downgrade", json_object_new_boolean(true));
        if (a->plugin_id)
                json_object_object_add(p, "plugin_id", json_object_new_string(a->plugin_id));
        if (a->format)
                json_object_object_add(p, "format", json_object_new_string(a->format));
        *ret = p;
        return 0;
}

int hostctl_mesh(const HostConfig *c, const MeshCliArgs *a, const char *verb, int nargs, char **args) {
        Mesh *m = NULL;
        struct json_object *params = NULL, *reply = NULL;
        _cleanup_free_ char *method = NULL;
        const char *what = verb;
        int r;

        if (streq(verb, "status"))
                method = strdup("get_status");
        else if (streq(verb, "list") || streq(verb, "show"))
                method = strdup("list_plugins");
        else if (streq(verb, "load") || streq(verb, "unload") || streq(verb, "reload")) {
                if (asprintf(&method, "%s_plugin", verb) < 0)
                        return log_oom();
                params = obj("plugin_id", args[0]);
        } else if (streq(verb, "invoke")) {
                if (asprintf(&method, "%s.%s", args[0], args[1]) < 0)
                        return log_oom();
                const char *text = nargs > 2 ? args[2] : "{}";
                if (json_parse_strict(text, strlen(text), &params, NULL) < 0 || !json_object_is_type(params, json_type_object)) {
                        json_object_put(params);
                        return log_error_errno(EINVAL, "Parameters must be a JSON object: %s", text);
                }
        } else if (streq(verb, "install")) {
                int fd = hostctl_open_archive(args[0]);
                if (fd < 0)
                        return fd;
                r = install_params(fd, a, &params);
                close(fd);
                if (r < 0)
                        return log_error_errno(-r, "Cannot read %s: %m", args[0]);
                method = strdup("install_plugin_from_bundle");
        } else if (streq(verb, "publish")) {
                method = strdup("publish_plugin_artifact");
                params = obj("plugin_id", args[0]);
                if (nargs > 1)
                        json_object_object_add(params, "version", json_object_new_string(args[1]));
        } else if (streq(verb, "artifacts"))
                method = strdup("list_plugin_artifacts");
        else
                return log_error_errno(EOPNOTSUPP, "\"%s\" is not available over the mesh", verb);
        if (!method)
                return log_oom();

        r = mesh_client_open(c, &m);
        if (r >= 0)
                r = mesh_client_request(m, method, params, a->timeout_usec, &reply);
        if (r >= 0 && streq(verb, "show")) {
                struct json_object *res, *loaded, *p;
                if (json_member_object(reply, "result", &res) >= 0 && json_member_object(res, "loaded", &loaded) >= 0 &&
                    json_member_object(loaded, args[0], &p) >= 0) {
                        output_begin();
                        output_json(p);
                } else
                        r = log_error_errno(ENOENT, "No loaded plugin '%s' on %s", args[0], mesh_device_id(m));
        } else if (r >= 0)
                r = print_result(reply, what);
        json_object_put(params);
        json_object_put(reply);
        mesh_client_close(m);
        return r;
}
