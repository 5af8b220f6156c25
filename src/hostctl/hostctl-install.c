/* SPDX-License-Identifier: MIT */
/* install (a file, a folder or an https:// URL), remove, publish, artifacts:
 * the plugin store and the artifact store. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "hostctl-bus.h"
#include "hostctl-output.h"
#include "hostctl-path.h"
#include "hostctl-verbs.h"
#include "json-util.h"
#include "log.h"
#include "names.h"
#include "pack.h"

bool hostctl_is_url(const char *s) {
        /* scheme "://": https://, and what the daemon refuses with a reason (http://, dc-mesh://) */
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
        return n > 0 && s[0] >= 'a' && s[0] <= 'z' && strncmp(s + n, "://", 3) == 0;
}

int hostctl_open_archive(const char *path) {
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", path);
        if (fstat(fd, &st) < 0) {
                close(fd);
                return log_error_errno(errno, "Cannot stat %s: %m", path);
        }
        if (!S_ISDIR(st.st_mode))
                return fd;
        close(fd);
        _cleanup_free_ char *parent = NULL, *name = NULL;
        int r = hostctl_split_path(path, &parent, &name);
        if (r < 0)
                return log_error_errno(r, "Cannot pack %s: %m", path);
        _cleanup_close_ int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int mfd = memfd_create("dc-plugin-pack", MFD_CLOEXEC);
        Verdict v = {};
        if (dfd < 0 || mfd < 0) {
                safe_close(mfd);
                return log_error_errno(errno, "Cannot pack %s: %m", path);
        }
        r = pack_directory(dfd, name, mfd, &v);
        if (r < 0) {
                log_error("Cannot pack %s: %s", path, v.message ? v.message : strerror(-r));
                verdict_clear(&v);
                close(mfd);
                return r;
        }
        (void) lseek(mfd, 0, SEEK_SET);
        return mfd;
}

static int append_install_options(Hostctl *c, sd_bus_message *m) {
        const HostctlArgs *a = c->arg;
        int r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && a->plugin_id)
                r = sd_bus_message_append(m, "{sv}", "plugin-id", "s", a->plugin_id);
        if (r >= 0 && a->digest)
                r = sd_bus_message_append(m, "{sv}", "digest", "s", a->digest);
        if (r >= 0 && a->format)
                r = sd_bus_message_append(m, "{sv}", "format", "s", a->format);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}{sv}", "load", "b", a->load, "replace", "b", a->replace);
        if (r >= 0 && a->allow_downgrade)
                r = sd_bus_message_append(m, "{sv}", "allow-downgrade", "b", true);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int print_installed(Hostctl *c, const char *object) {
        _cleanup_free_ char *id = NULL;
        _cleanup_json_ struct json_object *p = NULL;
        int r = sd_bus_path_decode(object, DC_BUS_PATH_PLUGINS, &id);
        if (r <= 0)
                return log_error_errno(r < 0 ? r : EBADMSG, "Malformed reply: %s is not a plugin object", object);
        r = hostctl_plugin_json(c, id, &p);
        if (r != 0)
                return r;
        const char *state = p ? json_get_string(p, "state") : NULL;
        bool loaded = streq_ptr(state, "loaded");
        if (output_json_enabled()) {
                _cleanup_json_ struct json_object *o = json_object_new_object();
                struct json_object *v;
                if (!o)
                        return log_oom();
                json_object_object_add(o, "plugin_id", json_object_new_string(id));
                json_object_object_add(o, "object", json_object_new_string(object));
                json_object_object_add(o, "loaded", json_object_new_boolean(loaded));
                for (const char *const *k = (const char *const[]){ "state", "reason", "message", "version", "digest", NULL };
                     *k; k++)
                        json_object_object_add(o, *k,
                                               p && json_object_object_get_ex(p, *k, &v) ? json_object_get(v) : NULL);
                output_json(o);
        } else
                printf("Installed plugin %s (%s)\n", id, object);
        if (c->arg->load && !loaded) {
                const char *reason = p ? json_get_string(p, "reason") : NULL, *msg = p ? json_get_string(p, "message") : NULL;
                log_error("The plugin is installed but did not load: %s%s%s (see dc-plugin-hostctl show %s)",
                          reason ? reason : state ? state : "unknown", msg ? ": " : "", msg ? msg : "", id);
                return HOSTCTL_EXIT_FAILURE;
        }
        return 0;
}

int verb_install(Hostctl *c, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *what = NULL;
        _cleanup_close_ int fd = -1;
        const char *source = args[0], *object;
        bool url = hostctl_is_url(source);
        int r;

        if (!url && c->arg->host) {
                log_error("install %s: a local file travels as a file descriptor, which cannot cross -H/--host (ssh); "
                          "install it from an https:// URL, or copy it to %s.", source, c->arg->host);
                return HOSTCTL_EXIT_USAGE;
        }
        if (!url && (fd = hostctl_open_archive(source)) < 0)
                return fd;
        r = hostctl_bus_message(c, url ? "InstallPluginFromURL" : "InstallPlugin", &m);
        if (r < 0)
                return r;
        r = url ? sd_bus_message_append(m, "s", source) : sd_bus_message_append(m, "h", fd);
        if (r >= 0)
                r = append_install_options(c, m);
        if (r < 0)
                return log_error_errno(r, "Cannot build the request: %m");
        if (asprintf(&what, "Failed to install %s", source) < 0)
                return log_oom();
        r = hostctl_bus_call(c, m, true, HOSTCTL_INSTALL_TIMEOUT_USEC, what, &reply);
        if (r != 0)
                return r;
        r = sd_bus_message_read(reply, "o", &object);
        if (r < 0)
                return log_error_errno(r, "Malformed reply: %m");
        return print_installed(c, object);
}

int verb_remove(Hostctl *c, char **args, int n) {
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "Failed to remove %s", args[0]) < 0)
                return log_oom();
        int r = hostctl_bus_call_method(c, "RemovePlugin", true, what, NULL, "st", args[0], (uint64_t) 0);
        if (r != 0)
                return r;
        if (output_json_enabled()) {
                _cleanup_json_ struct json_object *o = json_object_new_object();
                if (!o)
                        return log_oom();
                json_object_object_add(o, "plugin_id", json_object_new_string(args[0]));
                json_object_object_add(o, "removed", json_object_new_boolean(true));
                return output_json(o);
        }
        printf("Removed plugin %s\n", args[0]);
        return 0;
}

/* One artifact record (a{sv}) as JSON; 0 at the end of the array. */
static int read_artifact(sd_bus_message *reply, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = NULL;
        const char *key, *contents, *s;
        uint64_t t;
        int r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r <= 0)
                return r;
        if (!(o = json_object_new_object()))
                return -ENOMEM;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                if ((r = sd_bus_message_read(reply, "s", &key)) < 0 ||
                    (r = sd_bus_message_peek_type(reply, NULL, &contents)) < 0)
                        return r;
                if (streq(contents, "s")) {
                        r = sd_bus_message_read(reply, "v", "s", &s);
                        /* an artifact without a version says null, as list_plugin_artifacts does */
                        json_object_object_add(o, key, streq(key, "version") && !*s ? NULL : json_object_new_string(s));
                } else if (streq(contents, "t")) {
                        r = sd_bus_message_read(reply, "v", "t", &t);
                        json_object_object_add(o, key, json_object_new_uint64(t));
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0)
                        return r;
        }
        if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 1;
}

static const char *ostr(struct json_object *o, const char *key) {
        const char *s = json_get_string(o, key);
        return s ? s : "";
}

static int add_artifact_row(Table *t, struct json_object *a) {
        char size[32], buf[32];
        struct json_object *v;
        snprintf(size, sizeof size, "%" PRIu64,
                 json_object_object_get_ex(a, "size", &v) ? json_object_get_uint64(v) : (uint64_t) 0);
        return table_add_row(t, ostr(a, "plugin_id"), ostr(a, "version"), ostr(a, "filename"), size,
                             ostr(a, "created_at"), digest_short(ostr(a, "digest"), buf));
}

int verb_publish(Hostctl *c, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ struct json_object *a = NULL;
        _cleanup_free_ char *what = NULL;
        int r = hostctl_bus_message(c, "PublishArtifact", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sst", args[0], n > 1 ? args[1] : "", (uint64_t) 0);
        if (r < 0)
                return log_error_errno(r, "Cannot build the request: %m");
        if (asprintf(&what, "Failed to publish %s", args[0]) < 0)
                return log_oom();
        r = hostctl_bus_call(c, m, true, HOSTCTL_INSTALL_TIMEOUT_USEC, what, &reply);
        if (r != 0)
                return r;
        r = read_artifact(reply, &a);
        if (r <= 0)
                return log_error_errno(r < 0 ? r : EBADMSG, "Malformed reply: %m");
        if (output_json_enabled())
                return output_json(a);
        printf("Published %s as %s\n  digest: %s\n    size: %s\n", args[0], ostr(a, "path"), ostr(a, "digest"),
               json_object_get_string(json_object_object_get(a, "size")));
        return 0;
}

int verb_artifacts(Hostctl *c, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_ struct json_object *list = json_object_new_array();
        _cleanup_(table_freep) Table *t = table_new(6, "PLUGIN", "VERSION", "FILE", "SIZE", "CREATED", "DIGEST");
        int r;

        if (!list || !t)
                return log_oom();
        r = hostctl_bus_call_method(c, "ListArtifacts", false, "Failed to list artifacts", &reply, NULL);
        if (r != 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        for (;;) {
                struct json_object *a = NULL;
                if (r < 0 || (r = read_artifact(reply, &a)) <= 0)
                        break;
                if (add_artifact_row(t, a) < 0 || json_object_array_add(list, a) < 0) {
                        json_object_put(a);
                        return log_oom();
                }
        }
        if (r < 0)
                return log_error_errno(r, "Malformed reply: %m");
        output_begin();
        if (output_json_enabled())
                return output_json(list);
        table_print(t);
        if (output_legend())
                printf("\n%zu artifact(s).\n", table_n_rows(t));
        return 0;
}
