/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl --mesh for fleets: the plugin hosts of the tenant
 * (hosts), and installs from a URL on a remote host, a dc-mesh:// URL's
 * digest taken from the host that published it (docs/mesh.md, "Fleet
 * operations").
 */
#include <math.h>
#include <time.h>

#include "build-config.h"
#include "escape.h"
#include "hostctl-mesh.h"
#include "json-util.h"
#include "log.h"
#include "mesh.h"
#include "names.h"

bool hostctl_mesh_is_url(const char *s) {
        return startswith(s, "https://") || startswith(s, "http://") || startswith(s, DC_MESH_URL_SCHEME);
}

/* dc-mesh://<tenant>/<device>/artifacts/<plugin>/<file> → its parts (caller frees). */
static int parse_mesh_url(const char *url, char **device, char **plugin, char **file) {
        const char *p = url + strlen(DC_MESH_URL_SCHEME), *dev = strchr(p, '/');
        if (!dev)
                return -EINVAL;
        dev++;
        const char *art = strchr(dev, '/');
        if (!art || !startswith(art, "/artifacts/"))
                return -EINVAL;
        const char *pid = art + strlen("/artifacts/"), *f = strchr(pid, '/');
        if (!f || !f[1] || strchr(f + 1, '/'))
                return -EINVAL;
        *device = strndup(dev, (size_t) (art - dev));
        *plugin = strndup(pid, (size_t) (f - pid));
        *file = strdup(f + 1);
        return *device && *plugin && *file ? 0 : -ENOMEM;
}

/* The digest the publishing host records for a dc-mesh:// artifact. */
static int publisher_digest(Mesh *m, const MeshCliArgs *a, const char *url, char **ret) {
        _cleanup_free_ char *device = NULL, *plugin = NULL, *file = NULL, *error = NULL;
        _cleanup_json_ struct json_object *reply = NULL;
        struct json_object *res, *list;
        if (parse_mesh_url(url, &device, &plugin, &file) < 0)
                return log_error_errno(EINVAL, "Invalid artifact URL %s: expected %s<tenant>/<device>/artifacts/<plugin>/<file>",
                                       url, DC_MESH_URL_SCHEME);
        int r = mesh_client_call(m, device, "list_plugin_artifacts", NULL, 0, a->timeout_usec, &reply, &error);
        if (r < 0)
                return log_error_errno(-r, "Cannot ask the publisher for the digest of %s: %s", url, error ? error : strerror(-r));
        if (json_member_object(reply, "result", &res) < 0 || !res || !json_object_object_get_ex(res, "artifacts", &list) ||
            !json_object_is_type(list, json_type_array))
                return log_error_errno(EBADMSG, "%s sent an invalid list_plugin_artifacts reply", device);
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                struct json_object *rec = json_object_array_get_idx(list, i);
                const char *pid = NULL, *fn = NULL, *digest = NULL;
                if (json_member_string(rec, "plugin_id", &pid) < 0 || json_member_string(rec, "filename", &fn) < 0 ||
                    json_member_string(rec, "digest", &digest) < 0 || !pid || !fn || !digest || !streq(pid, plugin) ||
                    !streq(fn, file))
                        continue;
                if (!(*ret = strdup(digest)))
                        return log_oom();
                return 0;
        }
        return log_error_errno(ENOENT, "%s has published no artifact %s of %s", device, file, plugin);
}

int hostctl_fleet_url_params(Mesh *m, const MeshCliArgs *a, const char *url, struct json_object **ret) {
        _cleanup_free_ char *digest = NULL;
        if (startswith(url, DC_MESH_URL_SCHEME)) {
                int r = publisher_digest(m, a, url, &digest);
                if (r < 0)
                        return r;
                if (a->digest && !streq(a->digest, digest) && !(startswith(digest, "sha256:") && streq(a->digest, digest + 7)))
                        return log_error_errno(EBADMSG, "The publisher's digest of %s is %s, not %s", url, digest, a->digest);
        }
        struct json_object *p = json_object_new_object();
        if (!p)
                return log_oom();
        json_object_object_add(p, "url", json_object_new_string(url));
        if (digest || a->digest)
                json_object_object_add(p, "digest", json_object_new_string(digest ? digest : a->digest));
        json_object_object_add(p, "load", json_object_new_boolean(a->load));
        json_object_object_add(p, "replace", json_object_new_boolean(a->replace));
        if (a->plugin_id)
                json_object_object_add(p, "plugin_id", json_object_new_string(a->plugin_id));
        if (a->format)
                json_object_object_add(p, "format", json_object_new_string(a->format));
        *ret = p;
        return 0;
}

static const char *jstr(struct json_object *o, const char *k) {
        const char *v = NULL;
        return json_member_string(o, k, &v) >= 0 && v ? v : NULL;
}

int hostctl_fleet_hosts(Mesh *m, const MeshCliArgs *a) {
        _cleanup_json_ struct json_object *hosts = NULL;
        int r = mesh_client_discover(m, a->timeout_usec, &hosts);
        if (r < 0)
                return log_error_errno(-r, "Cannot list the plugin hosts of tenant %s: %m", mesh_client_tenant(m));
        if (a->json) {
                puts(json_object_to_json_string_ext(hosts, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
                return 0;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        size_t n = json_object_array_length(hosts), answered = 0;
        printf("%-32s %-10s %-8s %-14s %s\n", "DEVICE", "VERSION", "PLUGINS", "LAST SEEN", "FOUND BY");
        for (size_t i = 0; i < n; i++) {
                struct json_object *h = json_object_array_get_idx(hosts, i), *x, *src;
                _cleanup_free_ char *id = escape_untrusted(jstr(h, "device_id"), 64),
                                    *version = escape_untrusted(jstr(h, "version") ? jstr(h, "version") : "-", 16);
                char plugins[16] = "-", seen[32] = "-", via[64] = "";
                bool ok = json_object_object_get_ex(h, "answered", &x) && json_object_get_boolean(x);
                answered += ok;
                if (json_object_object_get_ex(h, "loaded_count", &x) && json_object_is_type(x, json_type_int))
                        snprintf(plugins, sizeof plugins, "%d", json_object_get_int(x));
                if (ok)
                        snprintf(seen, sizeof seen, "now");
                else if (json_object_object_get_ex(h, "last_seen", &x) && json_object_is_type(x, json_type_double))
                        snprintf(seen, sizeof seen, "%.0f s ago", fmax(0, (double) now.tv_sec - json_object_get_double(x)));
                if (json_object_object_get_ex(h, "sources", &src))
                        for (size_t k = 0; k < json_object_array_length(src); k++)
                                snprintf(via + strlen(via), sizeof via - strlen(via), "%s%s", k ? "," : "",
                                         json_object_get_string(json_object_array_get_idx(src, k)));
                printf("%-32s %-10s %-8s %-14s %s%s\n", id ? id : "?", ok ? (version ? version : "?") : "-", plugins, seen, via,
                       ok ? "" : " (no answer)");
        }
        printf("\n%zu plugin host(s), %zu answered.\n", n, answered);
        return 0;
}

/* --from, --to, --all, --parallel, --keep-going, --dry-run, in that order. */
int hostctl_fleet_option(MeshCliArgs *a, int which, const char *value) {
        char *end;
        switch (which) {
        case 0:
                a->from = value;
                return 0;
        case 1:
                a->to = value;
                return 0;
        case 2:
                a->all = true;
                return 0;
        case 3: {
                unsigned long n = strtoul(value, &end, 10);
                if (*end || n == 0 || n > 256)
                        return log_error_errno(EINVAL, "Invalid --parallel=%s: 1-256.", value);
                a->parallel = (unsigned) n;
                return 0;
        }
        case 4:
                a->keep_going = true;
                return 0;
        case 5:
                a->dry_run = true;
                return 0;
        }
        return -EINVAL;
}

/* The mesh settings of the configuration file, as the daemon reads them:
 * --config=FILE (must exist), else $DC_PLUGIN_HOST_CONFIG, else the
 * default file when it exists and this user may read it. */
int hostctl_mesh_config_file(HostConfig *c, const char *path) {
        const char *file = path ? path : getenv(DC_ENV_CONFIG);
        int r = host_config_load_file(c, file ? file : PKG_CONF_DIR "/dc-plugin-host.conf");
        if (r < 0 && (file || (r != -ENOENT && r != -EACCES)))
                return log_error_errno(r, "Failed to read the configuration %s: %m",
                                       file ? file : PKG_CONF_DIR "/dc-plugin-host.conf");
        return 0;
}
