/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl --mesh: the same commands against a remote plugin host
 * over the Device Connect mesh (its JSON-RPC host RPCs): the client's
 * settings, and which RPC each command is.
 */
#include "hostctl-mesh.h"

#include <sys/stat.h>

#include "base64.h"
#include "build-config.h"
#include "config.h"
#include "digest.h"
#include "hostctl-verbs.h"
#include "image.h"
#include "json-util.h"
#include "log.h"
#include "mesh.h"
#include "names.h"

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
        hostctl_mesh_install_flags(p, a);
        *ret = p;
        return 0;
}

/* The mesh settings of the configuration file, as the daemon reads them:
 * --config=FILE (must exist), else $DC_PLUGIN_HOST_CONFIG, else the
 * default file when it exists and this user may read it. */
static int load_config_file(HostConfig *c, const char *path) {
        const char *file = path ? path : getenv(DC_ENV_CONFIG);
        int r = host_config_load_file(c, file ? file : PKG_CONF_DIR "/dc-plugin-host.conf");
        if (r < 0 && (file || (r != -ENOENT && r != -EACCES)))
                return log_error_errno(r, "Failed to read the configuration %s: %m",
                                       file ? file : PKG_CONF_DIR "/dc-plugin-host.conf");
        return 0;
}

/* The configuration file, the environment, then the options. */
static int mesh_settings(HostConfig *c, const HostctlArgs *a) {
        int r = host_config_init(c);
        if (r < 0)
                return log_oom();
        r = load_config_file(c, a->config);
        if (r < 0)
                return r;
        if (host_config_load_env(c) < 0)
                return log_oom();
        if ((a->device && host_config_set(c, "DeviceId", a->device) < 0) ||
            (a->tenant && host_config_set(c, "Tenant", a->tenant) < 0) ||
            (a->creds && host_config_set(c, "MeshCredentialsFile", a->creds) < 0) ||
            (a->nats_url && host_config_set(c, "MeshURLs", a->nats_url) < 0))
                return HOSTCTL_EXIT_USAGE;
        return 0;
}

static int run(const HostConfig *c, const MeshCliArgs *a, const char *verb, int nargs, char **args) {
        Mesh *m = NULL;
        struct json_object *params = NULL, *reply = NULL;
        _cleanup_free_ char *method = NULL;
        bool from_url = false, fleet = streq(verb, "hosts") || streq(verb, "rollout");
        int r;

        if (streq(verb, "status"))
                method = strdup("get_status");
        else if (streq(verb, "list") || streq(verb, "show"))
                method = strdup("list_plugins");
        else if (streq(verb, "load") || streq(verb, "unload") || streq(verb, "reload") || streq(verb, "remove")) {
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
        } else if (streq(verb, "install") && hostctl_is_url(args[0])) {
                method = strdup("install_plugin_from_url"); /* params need the mesh: below */
                from_url = true;
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
        else if (!fleet)
                return log_error_errno(EOPNOTSUPP, "\"%s\" is not available over the mesh", verb);
        if (!method && !fleet)
                return log_oom();

        r = mesh_client_open(c, &m);
        if (r >= 0 && streq(verb, "hosts"))
                r = hostctl_fleet_hosts(m, a);
        else if (r >= 0 && streq(verb, "rollout"))
                r = hostctl_rollout(m, a, args[0]);
        else {
                if (r >= 0 && from_url)
                        r = hostctl_fleet_url_params(m, a, args[0], &params);
                if (r >= 0)
                        r = mesh_client_request(m, method, params, a->timeout_usec, &reply);
                if (r >= 0)
                        r = hostctl_mesh_print(verb, args, reply, mesh_device_id(m), mesh_client_tenant(m));
        }
        json_object_put(params);
        json_object_put(reply);
        mesh_client_close(m);
        return r;
}

int hostctl_mesh(const HostctlArgs *a, const char *verb, int nargs, char **args) {
        HostConfig c;
        const MeshCliArgs ma = {
                .plugin_id = a->plugin_id, .digest = a->digest, .format = a->format,
                .load = a->load, .replace = a->replace, .allow_downgrade = a->allow_downgrade,
                .timeout_usec = a->timeout_usec > 0 ? a->timeout_usec : HOSTCTL_MESH_TIMEOUT_USEC,
                .from = a->from, .to = a->to, .all = a->all, .keep_going = a->keep_going, .dry_run = a->dry_run,
                .parallel = a->parallel,
        };
        int r = mesh_settings(&c, a);
        if (r == 0)
                r = run(&c, &ma, verb, nargs, args);
        host_config_done(&c);
        return r;
}
