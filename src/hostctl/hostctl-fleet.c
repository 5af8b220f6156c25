/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl --mesh for fleets: the plugin hosts of the tenant
 * (hosts), and installs from a URL on a remote host, a dc-mesh:// URL's
 * digest taken from the host that published it (docs/mesh.md, "Fleet
 * operations").
 */
#include <math.h>
#include <time.h>

#include "escape.h"
#include "hostctl-mesh.h"
#include "hostctl-output.h"
#include "json-util.h"
#include "log.h"
#include "mesh.h"
#include "names.h"

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

/* The install flags every install_* request carries. */
void hostctl_mesh_install_flags(struct json_object *p, const MeshCliArgs *a) {
        json_object_object_add(p, "load", json_object_new_boolean(a->load));
        json_object_object_add(p, "replace", json_object_new_boolean(a->replace));
        if (a->allow_downgrade)
                json_object_object_add(p, "allow_downgrade", json_object_new_boolean(true));
        if (a->plugin_id)
                json_object_object_add(p, "plugin_id", json_object_new_string(a->plugin_id));
        if (a->format)
                json_object_object_add(p, "format", json_object_new_string(a->format));
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
        hostctl_mesh_install_flags(p, a);
        *ret = p;
        return 0;
}

int hostctl_fleet_hosts(Mesh *m, const MeshCliArgs *a) {
        _cleanup_json_ struct json_object *hosts = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        struct timespec now;
        size_t answered = 0;
        int r = mesh_client_discover(m, a->timeout_usec, &hosts);
        if (r < 0)
                return log_error_errno(-r, "Cannot list the plugin hosts of tenant %s: %m", mesh_client_tenant(m));
        output_begin();
        if (output_json_enabled())
                return output_json(hosts);
        t = table_new(5, "DEVICE", "VERSION", "PLUGINS", "LAST SEEN", "FOUND BY");
        if (!t)
                return log_oom();
        clock_gettime(CLOCK_REALTIME, &now);
        for (size_t i = 0; i < json_object_array_length(hosts); i++) {
                struct json_object *h = json_object_array_get_idx(hosts, i), *x, *src;
                _cleanup_free_ char *id = escape_untrusted(json_get_string(h, "device_id") ?: "?", 64),
                                    *version = json_get_string(h, "version")
                                                       ? escape_untrusted(json_get_string(h, "version"), 16)
                                                       : NULL;
                char plugins[16] = "-", seen[32] = "-", via[80] = "";
                bool ok = json_object_object_get_ex(h, "answered", &x) && json_object_get_boolean(x);
                answered += ok;
                if (json_object_object_get_ex(h, "loaded_count", &x) && json_object_is_type(x, json_type_int))
                        snprintf(plugins, sizeof plugins, "%d", json_object_get_int(x));
                if (ok)
                        snprintf(seen, sizeof seen, "now");
                else if (json_object_object_get_ex(h, "last_seen", &x) && json_object_is_type(x, json_type_double))
                        snprintf(seen, sizeof seen, "%.0f s ago", fmax(0, (double) now.tv_sec - json_object_get_double(x)));
                if (json_object_object_get_ex(h, "sources", &src) && json_object_is_type(src, json_type_array))
                        for (size_t k = 0; k < json_object_array_length(src); k++)
                                snprintf(via + strlen(via), sizeof via - strlen(via), "%s%s", k ? "," : "",
                                         json_object_get_string(json_object_array_get_idx(src, k)));
                if (!ok)
                        snprintf(via + strlen(via), sizeof via - strlen(via), " (no answer)");
                if (table_add_row(t, id ?: "?", ok ? version : NULL, plugins, seen, via) < 0)
                        return log_oom();
        }
        table_print(t);
        if (output_legend())
                printf("\n%zu plugin host(s), %zu answered.\n", table_n_rows(t), answered);
        return 0;
}
