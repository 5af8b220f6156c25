/* SPDX-License-Identifier: MIT */
/* dc-plugin-hostctl: control dc-plugin-hostd over the system bus (like hostnamectl). */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "build-config.h"
#include "bus-errors.h"
#include "config.h"
#include "dc-plugin-host/plugin.h"
#include "digest.h"
#include "host.h"
#include "image.h"
#include "extract.h"
#include "json-util.h"
#include "hostctl-mesh.h"
#include "pack.h"
#include "log.h"
#include "names.h"
#include "strv.h"

static bool arg_json;
static const char *arg_plugin_id;
static const char *arg_digest;
static const char *arg_format;
static bool arg_load = true;
static bool arg_replace;
static bool arg_mesh;
static const char *arg_device, *arg_tenant, *arg_creds, *arg_nats_url;
static uint64_t arg_timeout_usec = 60ull * 1000000;
static bool arg_ask_password = true;
static const char *arg_config;
static MeshCliArgs arg_fleet; /* --from, --to, --all, --parallel, --keep-going, --dry-run */

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Query or control the Device Connect plugin host.\n\n"
               "Commands:\n"
               "  status                  Show the host's state (default)\n"
               "  list                    List plugins with state and reason\n"
               "  show ID                 Show one plugin, its functions and events\n"
               "  load ID                 Verify and load a plugin\n"
               "  unload ID               Unload a plugin (waits for running calls)\n"
               "  reload ID               Reload a plugin if its file changed\n"
               "  invoke ID FUNCTION [JSON]\n"
               "                          Call a plugin function (params: a JSON object)\n"
               "  rescan                  Re-read the plugin directories\n"
               "  reload-config           Re-read the configuration, pins and trusted keys\n"
               "  install PATH            Install a plugin archive (.tar.gz, .tgz, .zip) or a\n"
               "                          plugin folder (packed here) into the plugin store\n"
               "  remove ID               Unload and delete a plugin from the plugin store\n"
               "  publish ID [VERSION]    Pack an installed plugin into the artifact store\n"
               "  artifacts               List the artifact store\n"
               "  hosts                   --mesh: list the plugin hosts of the tenant\n"
               "  rollout PLUGIN[@VERSION] --from=HOST --to=HOST,...|--all\n"
               "                          --mesh: publish on one host, install on the others\n"
               "  hash FILE               Print sha256:<hex> of FILE (for the allowlist)\n"
               "  verify PATH             Run every static check on a plugin folder or .so\n"
               "                          without running plugin code (no daemon needed)\n\n"
               "Options:\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "     --json               Print JSON\n"
               "     --no-ask-password    Do not ask for a password (polkit)\n"
               "     --config=FILE        verify, --mesh: read FILE instead of the default configuration\n"
               "     --plugin-id=ID       install: the plugin id (default: the manifest's)\n"
               "     --digest=SHA256      install: required sha256 of the archive (sha256:<hex>)\n"
               "     --format=FORMAT      install: auto, tar.gz, tgz, tar or zip\n"
               "     --no-load            install: do not load the plugin\n"
               "     --replace            install: replace an installed plugin of the same id\n"
               "     --mesh               Talk to a plugin host on the Device Connect mesh\n"
               "                          instead of the local one over D-Bus\n"
               "     --device=ID          --mesh: the target device (default: plugin-host-1)\n"
               "     --tenant=TENANT      --mesh: the tenant (default: from the credentials, else default)\n"
               "     --creds=FILE         --mesh: .creds.json or .creds (default: $MESSAGING_CREDENTIALS_FILE)\n"
               "     --nats-url=URL       --mesh: server (default: $MESSAGING_URLS, $NATS_URL, the credentials)\n"
               "     --timeout=SEC        --mesh: reply timeout (default 60)\n"
               "     --from=HOST          rollout: the host that has the plugin\n"
               "     --to=HOST,...        rollout: the hosts to install it on\n"
               "     --all                rollout: every plugin host of the tenant\n"
               "     --parallel=N         rollout: hosts installing at once (default 16)\n"
               "     --keep-going         rollout: go on after a host failed\n"
               "     --dry-run            rollout: show what would be done\n"
               "\nThe system bus is $DBUS_SYSTEM_BUS_ADDRESS if set.  See dc-plugin-hostctl(1).\n",
               program_invocation_short_name);
}

static int bus_connect(sd_bus **ret) {
        int r = sd_bus_open_system(ret);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        (void) sd_bus_set_allow_interactive_authorization(*ret, arg_ask_password);
        (void) sd_bus_error_add_map(dc_bus_error_map);
        return 0;
}

static int fail(const char *what, const sd_bus_error *e, int r) {
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) || sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                log_error("%s: dc-plugin-hostd is not running (%s is not on the bus).", what, DC_BUS_NAME);
        else
                log_error("%s: %s", what, e && e->message ? e->message : strerror(-r));
        return r < 0 ? r : -EIO;
}

static int call_describe(sd_bus *bus, struct json_object **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r = sd_bus_call_method(bus, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "Describe", &e, &reply, NULL);
        if (r < 0)
                return fail("Failed to query the plugin host", &e, r);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return log_error_errno(r, "Malformed reply: %m");
        if (json_parse_strict(text, strlen(text), ret, NULL) < 0 || !*ret)
                return log_error_errno(EBADMSG, "The plugin host sent invalid JSON");
        return 0;
}

static const char *jstr(struct json_object *o, const char *key) {
        struct json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static void print_json(struct json_object *o) {
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int verb_status(sd_bus *bus) {
        _cleanup_json_ struct json_object *d = NULL;
        struct json_object *policy, *roots, *plugins;
        int r = call_describe(bus, &d);
        if (r < 0)
                return r;
        if (arg_json) {
                print_json(d);
                return 0;
        }
        json_object_object_get_ex(d, "policy", &policy);
        json_object_object_get_ex(d, "roots", &roots);
        json_object_object_get_ex(d, "plugins", &plugins);
        size_t loaded = 0, n = json_object_array_length(plugins);
        for (size_t i = 0; i < n; i++)
                loaded += streq(jstr(json_object_array_get_idx(plugins, i), "state"), "loaded");
        printf("       Version: %s\n     API level: %d\n", jstr(d, "version"),
               json_object_get_int(json_object_object_get(d, "api_level")));
        printf("Signature mode: %s%s\n", jstr(policy, "mode"),
               json_object_get_boolean(json_object_object_get(policy, "require_signatures")) ? " (signatures required)" : "");
        printf("  Trusted keys: %d\n", json_object_get_int(json_object_object_get(policy, "trusted_keys")));
        for (size_t i = 0; i < json_object_array_length(roots); i++) {
                struct json_object *root = json_object_array_get_idx(roots, i);
                printf("%s %s (%s)\n", i == 0 ? "   Directories:" : "               ", jstr(root, "path"), jstr(root, "kind"));
        }
        printf("       Plugins: %zu loaded, %zu known\n", loaded, n);
        return 0;
}

static int verb_list(sd_bus *bus) {
        _cleanup_json_ struct json_object *d = NULL;
        struct json_object *plugins;
        int r = call_describe(bus, &d);
        if (r < 0)
                return r;
        json_object_object_get_ex(d, "plugins", &plugins);
        if (arg_json) {
                print_json(plugins);
                return 0;
        }
        printf("%-28s %-10s %-26s %-10s %s\n", "ID", "STATE", "REASON", "VERSION", "DIGEST");
        for (size_t i = 0; i < json_object_array_length(plugins); i++) {
                struct json_object *p = json_object_array_get_idx(plugins, i);
                const char *reason = jstr(p, "reason"), *digest = jstr(p, "digest");
                printf("%-28s %-10s %-26s %-10s %.19s%s\n", jstr(p, "id"), jstr(p, "state"), *reason ? reason : "-",
                       *jstr(p, "version") ? jstr(p, "version") : "-", *digest ? digest : "-", *digest ? "…" : "");
        }
        printf("\n%zu plugin(s).\n", json_object_array_length(plugins));
        return 0;
}

static int verb_show(sd_bus *bus, const char *id) {
        _cleanup_json_ struct json_object *d = NULL;
        struct json_object *plugins, *p = NULL, *x;
        int r = call_describe(bus, &d);
        if (r < 0)
                return r;
        json_object_object_get_ex(d, "plugins", &plugins);
        for (size_t i = 0; i < json_object_array_length(plugins) && !p; i++)
                if (streq(jstr(json_object_array_get_idx(plugins, i), "id"), id))
                        p = json_object_array_get_idx(plugins, i);
        if (!p)
                return log_error_errno(ENOENT, "No plugin '%s'.", id);
        if (arg_json) {
                print_json(p);
                return 0;
        }
        printf("         Id: %s\n       Name: %s\n    Version: %s\nDescription: %s\n      State: %s\n",
               jstr(p, "id"), jstr(p, "name"), jstr(p, "version"), jstr(p, "description"), jstr(p, "state"));
        if (*jstr(p, "reason"))
                printf(" Last error: %s: %s\n", jstr(p, "reason"), jstr(p, "message"));
        printf("     Digest: %s\n       Root: %s (%s)\n", *jstr(p, "digest") ? jstr(p, "digest") : "-", jstr(p, "root"),
               jstr(p, "layout"));
        if (json_object_object_get_ex(p, "functions", &x))
                for (size_t i = 0; i < json_object_array_length(x); i++) {
                        struct json_object *f = json_object_array_get_idx(x, i);
                        printf("%s %s — %s\n", i == 0 ? "  Functions:" : "            ", jstr(f, "name"),
                               jstr(f, "description"));
                }
        if (json_object_object_get_ex(p, "events", &x))
                for (size_t i = 0; i < json_object_array_length(x); i++)
                        printf("%s %s\n", i == 0 ? "     Events:" : "            ", jstr(json_object_array_get_idx(x, i), "name"));
        return 0;
}

static int verb_simple(sd_bus *bus, const char *method, const char *id, const char *what) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *label = NULL;
        int r;
        if (id)
                r = sd_bus_call_method(bus, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, method, &e, NULL, "st", id,
                                       (uint64_t) 0);
        else
                r = sd_bus_call_method(bus, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, method, &e, NULL, "t",
                                       (uint64_t) 0);
        if (r < 0) {
                if (asprintf(&label, "Failed to %s%s%s", what, id ? " " : "", id ? id : "") < 0)
                        return log_oom();
                return fail(label, &e, r);
        }
        return 0;
}

static int verb_reload_config(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **unloaded = NULL, **restart = NULL;
        int r = sd_bus_call_method(bus, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "ReloadConfiguration", &e,
                                   &reply, "t", (uint64_t) 0);
        if (r < 0)
                return fail("Failed to reload the configuration", &e, r);
        if ((r = sd_bus_message_read_strv(reply, &unloaded)) < 0 || (r = sd_bus_message_read_strv(reply, &restart)) < 0)
                return log_error_errno(r, "Malformed reply: %m");
        for (char **i = unloaded; i && *i; i++)
                printf("Unloaded %s: the trust policy no longer allows it (see: dc-plugin-hostctl show %s)\n", *i, *i);
        for (char **i = restart; i && *i; i++)
                printf("%s= changed; it takes effect after a restart\n", *i);
        return 0;
}

static int verb_invoke(sd_bus *bus, const char *id, const char *fn, const char *params) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_ struct json_object *o = NULL;
        const char *result;
        int r;

        /* Calls may legitimately take long: wait as long as the daemon's own timeout allows. */
        r = sd_bus_call_method(bus, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "Invoke", &e, &reply, "sss", id, fn,
                               params ? params : "{}");
        if (r < 0) {
                _cleanup_free_ char *label = NULL;
                if (asprintf(&label, "Failed to invoke %s.%s", id, fn) < 0)
                        return log_oom();
                return fail(label, &e, r);
        }
        r = sd_bus_message_read(reply, "s", &result);
        if (r < 0)
                return log_error_errno(r, "Malformed reply: %m");
        if (json_parse_strict(result, strlen(result), &o, NULL) >= 0 && o && !arg_json)
                print_json(o);
        else
                puts(result);
        return 0;
}

static int verb_hash(const char *path) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char s[DIGEST_STRING_MAX];
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", path);
        int r = sha256_fd(fd, d);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);
        digest_format(d, s);
        puts(s);
        return 0;
}

/* The daemon's own code-free verification, on the folder's parent directory. */
static int verb_verify(const char *path) {
        _cleanup_free_ char *abs = realpath(path, NULL), *parent = NULL, *id = NULL;
        HostConfig c;
        sd_event *e = NULL;
        Host *h = NULL;
        int r;

        if (!abs)
                return log_error_errno(errno, "Cannot resolve %s: %m", path);
        char *slash = strrchr(abs, '/');
        parent = slash == abs ? strdup("/") : strndup(abs, (size_t) (slash - abs));
        id = strdup(slash + 1);
        if (!parent || !id)
                return log_oom();
        size_t l = strlen(id);
        if (l > 3 && streq(id + l - 3, ".so"))
                id[l - 3] = 0;

        r = host_config_init(&c);
        if (r < 0)
                return log_oom();
        r = host_config_load_file(&c, arg_config ? arg_config : PKG_CONF_DIR "/dc-plugin-host.conf");
        if (r < 0 && (r != -ENOENT || arg_config)) {
                host_config_done(&c);
                return log_error_errno(r, "Failed to read the configuration: %m");
        }
        (void) host_config_load_env(&c);
        strv_free(c.plugin_dirs);
        c.plugin_dirs = strv_split(parent, "\n");
        free(c.store_dir);
        c.store_dir = NULL;
        log_set_max_level(LOG_WARNING);
        r = sd_event_new(&e);
        if (r >= 0)
                r = host_new(e, &c, &h);
        if (r >= 0)
                r = host_check(h);
        if (r < 0) {
                log_error_errno(r, "Verification failed: %m");
                goto finish;
        }
        PluginRecord *rec = host_find(h, id);
        const PluginRecord *shadow = NULL;
        if (!rec) {
                r = log_error_errno(ENOENT, "%s is not a plugin folder or <id>.so file.", path);
                goto finish;
        }
        for (size_t i = 0; i < host_n_shadowed(h); i++)
                if (streq(host_shadowed(h, i)->id, id))
                        shadow = host_shadowed(h, i);
        bool ok = rec->state == PLUGIN_STATE_AVAILABLE && !shadow;
        if (arg_json) {
                _cleanup_json_ struct json_object *o = host_record_to_json(h, rec);
                json_object_object_add(o, "ok", json_object_new_boolean(ok));
                print_json(o);
        } else {
                printf("%s: %s%s%s\n", rec->id, ok ? "ok" : reason_to_string(rec->reason), ok ? "" : " — ",
                       ok ? "" : (rec->message ? rec->message : ""));
                if (rec->digest[0])
                        printf("digest: %s\n", rec->digest);
        }
        r = ok ? 0 : -EPERM;
finish:
        host_free(h);
        sd_event_unref(e);
        host_config_done(&c);
        return r;
}

/* The archive to send: the file itself, or a folder packed into a memfd. */
static int open_archive(const char *path) {
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
        _cleanup_free_ char *copy = strdup(path), *parent = NULL;
        if (!copy)
                return log_oom();
        while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
                copy[strlen(copy) - 1] = 0;
        char *slash = strrchr(copy, '/');
        const char *name = slash ? slash + 1 : copy;
        parent = slash ? strndup(copy, (size_t) (slash - copy) + (slash == copy)) : strdup(".");
        if (!parent)
                return log_oom();
        _cleanup_close_ int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int mfd = memfd_create("dc-plugin-pack", MFD_CLOEXEC);
        Verdict v = {};
        if (dfd < 0 || mfd < 0)
                return log_error_errno(errno, "Cannot pack %s: %m", path);
        int r = pack_directory(dfd, name, mfd, &v);
        if (r < 0) {
                log_error("Cannot pack %s: %s", path, v.message ? v.message : strerror(-r));
                verdict_clear(&v);
                close(mfd);
                return r;
        }
        (void) lseek(mfd, 0, SEEK_SET);
        return mfd;
}

static int verb_install(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *last_error = NULL, *label = NULL;
        _cleanup_close_ int fd = open_archive(path);
        const char *object;
        uint32_t state = 0;
        int r;

        if (fd < 0)
                return fd;
        r = sd_bus_message_new_method_call(bus, &m, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "InstallPlugin");
        if (r >= 0)
                r = sd_bus_message_append(m, "h", fd);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_plugin_id)
                r = sd_bus_message_append(m, "{sv}", "plugin-id", "s", arg_plugin_id);
        if (r >= 0 && arg_digest)
                r = sd_bus_message_append(m, "{sv}", "digest", "s", arg_digest);
        if (r >= 0 && arg_format)
                r = sd_bus_message_append(m, "{sv}", "format", "s", arg_format);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}{sv}", "load", "b", arg_load, "replace", "b", arg_replace);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, arg_ask_password);
        if (r < 0)
                return log_error_errno(r, "Cannot build the request: %m");
        r = sd_bus_call(bus, m, 300ull * 1000000, &e, &reply);
        if (r < 0) {
                if (asprintf(&label, "Failed to install %s", path) < 0)
                        return log_oom();
                return fail(label, &e, r);
        }
        r = sd_bus_message_read(reply, "o", &object);
        if (r < 0)
                return log_error_errno(r, "Malformed reply: %m");
        const char *id = strrchr(object, '/') + 1;
        _cleanup_free_ char *decoded = NULL;
        (void) sd_bus_path_decode(object, DC_BUS_PATH_PLUGINS, &decoded);
        (void) sd_bus_get_property_trivial(bus, DC_BUS_NAME, object, DC_BUS_IFACE_PLUGIN, "State", NULL, 'u', &state);
        (void) sd_bus_get_property_string(bus, DC_BUS_NAME, object, DC_BUS_IFACE_PLUGIN, "LastError", NULL, &last_error);
        printf("Installed plugin %s (%s)\n", decoded ? decoded : id, object);
        if (arg_load && state != PLUGIN_STATE_LOADED) {
                log_error("The plugin is installed but did not load: %s (see dc-plugin-hostctl show %s)",
                          isempty(last_error) ? plugin_state_to_string(state) : last_error, decoded ? decoded : id);
                return -EIO;
        }
        return 0;
}

static int print_artifact(sd_bus_message *reply, bool comma) {
        const char *key, *plugin_id = "", *filename = "", *digest = "", *version = "", *created = "", *path = "";
        uint64_t size = 0;
        int r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r <= 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char **dst = NULL;
                if ((r = sd_bus_message_read(reply, "s", &key)) < 0)
                        return r;
                if (streq(key, "size"))
                        r = sd_bus_message_read(reply, "v", "t", &size);
                else {
                        dst = streq(key, "plugin_id") ? &plugin_id : streq(key, "filename") ? &filename
                            : streq(key, "digest")    ? &digest    : streq(key, "version")  ? &version
                            : streq(key, "created_at") ? &created  : streq(key, "path")     ? &path : NULL;
                        r = dst ? sd_bus_message_read(reply, "v", "s", dst) : sd_bus_message_skip(reply, "v");
                }
                if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0)
                        return r;
        }
        if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0)
                return r;
        if (arg_json) {
                _cleanup_json_ struct json_object *o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                json_object_object_add(o, "plugin_id", json_object_new_string(plugin_id));
                json_object_object_add(o, "filename", json_object_new_string(filename));
                json_object_object_add(o, "digest", json_object_new_string(digest));
                json_object_object_add(o, "size", json_object_new_int64((int64_t) size));
                json_object_object_add(o, "version", isempty(version) ? NULL : json_object_new_string(version));
                json_object_object_add(o, "created_at", json_object_new_string(created));
                json_object_object_add(o, "path", json_object_new_string(path));
                printf("%s%s", comma ? "," : "", json_to_string_compact(o));
        } else
                printf("%-24s %-20s %10" PRIu64 "  %s\n%-24s %s\n", plugin_id, filename, size, created, "", digest);
        return 1;
}

static int verb_publish(sd_bus *bus, const char *id, const char *version) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "PublishArtifact");
        if (r >= 0)
                r = sd_bus_message_append(m, "sst", id, version ? version : "", (uint64_t) 0);
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, arg_ask_password);
        if (r < 0)
                return log_error_errno(r, "Cannot build the request: %m");
        r = sd_bus_call(bus, m, 300ull * 1000000, &e, &reply);
        if (r < 0) {
                _cleanup_free_ char *label = NULL;
                if (asprintf(&label, "Failed to publish %s", id) < 0)
                        return log_oom();
                return fail(label, &e, r);
        }
        r = print_artifact(reply, false);
        if (arg_json)
                putchar('\n');
        return r < 0 ? log_error_errno(r, "Malformed reply: %m") : 0;
}

static int verb_artifacts(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "ListArtifacts", &e, &reply, NULL);
        if (r < 0)
                return fail("Failed to list artifacts", &e, r);
        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (arg_json)
                putchar('[');
        for (bool first = true; r >= 0 && (r = print_artifact(reply, !first)) > 0; first = false)
                ;
        if (arg_json)
                puts("]");
        return r < 0 ? log_error_errno(r, "Malformed reply: %m") : 0;
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_JSON, ARG_NO_ASK, ARG_CONFIG, ARG_PLUGIN_ID, ARG_DIGEST, ARG_FORMAT, ARG_NO_LOAD,
               ARG_REPLACE, ARG_MESH, ARG_DEVICE, ARG_TENANT, ARG_CREDS, ARG_NATS_URL, ARG_TIMEOUT, ARG_FROM, ARG_TO,
               ARG_ALL, ARG_PARALLEL, ARG_KEEP_GOING, ARG_DRY_RUN };
        static const struct option options[] = {
                { "plugin-id", required_argument, NULL, ARG_PLUGIN_ID },
                { "digest", required_argument, NULL, ARG_DIGEST },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "no-load", no_argument, NULL, ARG_NO_LOAD },
                { "replace", no_argument, NULL, ARG_REPLACE },
                { "mesh", no_argument, NULL, ARG_MESH },
                { "device", required_argument, NULL, ARG_DEVICE },
                { "tenant", required_argument, NULL, ARG_TENANT },
                { "creds", required_argument, NULL, ARG_CREDS },
                { "nats-url", required_argument, NULL, ARG_NATS_URL },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "from", required_argument, NULL, ARG_FROM },
                { "to", required_argument, NULL, ARG_TO },
                { "all", no_argument, NULL, ARG_ALL },
                { "parallel", required_argument, NULL, ARG_PARALLEL },
                { "keep-going", no_argument, NULL, ARG_KEEP_GOING },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", no_argument, NULL, ARG_JSON },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK },
                { "config", required_argument, NULL, ARG_CONFIG },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int c, r;

        log_set_target(LOG_TARGET_CONSOLE);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("dc-plugin-hostctl %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_NO_ASK:
                        arg_ask_password = false;
                        break;
                case ARG_CONFIG:
                        arg_config = optarg;
                        break;
                case ARG_PLUGIN_ID:
                        arg_plugin_id = optarg;
                        break;
                case ARG_DIGEST:
                        arg_digest = optarg;
                        break;
                case ARG_FORMAT: {
                        PackageFormat f;
                        if (package_format_from_string(optarg, &f) < 0) {
                                log_error("Unknown archive format \"%s\": expected auto, tar.gz, tgz, tar or zip.", optarg);
                                return 1;
                        }
                        arg_format = optarg;
                        break;
                }
                case ARG_NO_LOAD:
                        arg_load = false;
                        break;
                case ARG_REPLACE:
                        arg_replace = true;
                        break;
                case ARG_MESH:
                        arg_mesh = true;
                        break;
                case ARG_DEVICE:
                        arg_device = optarg;
                        break;
                case ARG_TENANT:
                        arg_tenant = optarg;
                        break;
                case ARG_CREDS:
                        arg_creds = optarg;
                        break;
                case ARG_NATS_URL:
                        arg_nats_url = optarg;
                        break;
                case ARG_TIMEOUT: {
                        char *end;
                        unsigned long sec = strtoul(optarg, &end, 10);
                        if (*end || sec == 0 || sec > 3600) {
                                log_error("Invalid --timeout=%s: seconds, 1-3600.", optarg);
                                return 1;
                        }
                        arg_timeout_usec = (uint64_t) sec * 1000000;
                        break;
                }
                case ARG_FROM ... ARG_DRY_RUN:
                        if (hostctl_fleet_option(&arg_fleet, c - ARG_FROM, optarg) < 0)
                                return 1;
                        break;
                default:
                        return 1;
                }

        const char *verb = optind < argc ? argv[optind] : "status";
        int nargs = optind < argc ? argc - optind - 1 : 0;
        char **args = argv + optind + 1;
        static const struct {
                const char *name;
                int min, max;
                bool bus;
        } verbs[] = {
                { "status", 0, 0, true }, { "list", 0, 0, true },   { "show", 1, 1, true },   { "load", 1, 1, true },
                { "unload", 1, 1, true }, { "reload", 1, 1, true }, { "invoke", 2, 3, true }, { "rescan", 0, 0, true },
                { "hash", 1, 1, false },  { "verify", 1, 1, false }, { "install", 1, 1, true }, { "remove", 1, 1, true },
                { "publish", 1, 2, true }, { "artifacts", 0, 0, true }, { "reload-config", 0, 0, true },
                { "hosts", 0, 0, true }, { "rollout", 1, 1, true },
        };
        size_t v;
        for (v = 0; v < ELEMENTSOF(verbs); v++)
                if (streq(verbs[v].name, verb))
                        break;
        if (v == ELEMENTSOF(verbs)) {
                log_error("Unknown command \"%s\"; see --help.", verb);
                return 1;
        }
        if (nargs < verbs[v].min || nargs > verbs[v].max) {
                log_error("\"%s\" takes %s%d argument(s); see --help.", verb,
                          verbs[v].min == verbs[v].max ? "" : "up to ", verbs[v].max);
                return 1;
        }
        if (!arg_mesh && (streq(verb, "hosts") || streq(verb, "rollout"))) {
                log_error("\"%s\" works on the mesh: add --mesh.", verb);
                return 1;
        }
        if (arg_mesh) {
                HostConfig mc;
                MeshCliArgs ma = arg_fleet;
                ma.plugin_id = arg_plugin_id, ma.digest = arg_digest, ma.format = arg_format, ma.load = arg_load;
                ma.replace = arg_replace, ma.timeout_usec = arg_timeout_usec, ma.json = arg_json;
                if (host_config_init(&mc) < 0 || hostctl_mesh_config_file(&mc, arg_config) < 0 || host_config_load_env(&mc) < 0)
                        return 1;
                if ((arg_device && host_config_set(&mc, "DeviceId", arg_device) < 0) ||
                    (arg_tenant && host_config_set(&mc, "Tenant", arg_tenant) < 0) ||
                    (arg_creds && host_config_set(&mc, "MeshCredentialsFile", arg_creds) < 0) ||
                    (arg_nats_url && host_config_set(&mc, "MeshURLs", arg_nats_url) < 0)) {
                        host_config_done(&mc);
                        return 1;
                }
                r = hostctl_mesh(&mc, &ma, verb, nargs, args, open_archive);
                host_config_done(&mc);
                return r < 0 ? 1 : 0;
        }
        if (verbs[v].bus && (r = bus_connect(&bus)) < 0)
                return 1;

        if (streq(verb, "status"))
                r = verb_status(bus);
        else if (streq(verb, "list"))
                r = verb_list(bus);
        else if (streq(verb, "show"))
                r = verb_show(bus, args[0]);
        else if (streq(verb, "load"))
                r = verb_simple(bus, "LoadPlugin", args[0], "load");
        else if (streq(verb, "unload"))
                r = verb_simple(bus, "UnloadPlugin", args[0], "unload");
        else if (streq(verb, "reload"))
                r = verb_simple(bus, "ReloadPlugin", args[0], "reload");
        else if (streq(verb, "rescan"))
                r = verb_simple(bus, "Rescan", NULL, "rescan the plugin directories");
        else if (streq(verb, "invoke"))
                r = verb_invoke(bus, args[0], args[1], nargs > 2 ? args[2] : NULL);
        else if (streq(verb, "install"))
                r = verb_install(bus, args[0]);
        else if (streq(verb, "remove")) {
                r = verb_simple(bus, "RemovePlugin", args[0], "remove");
                if (r >= 0)
                        printf("Removed plugin %s\n", args[0]);
        } else if (streq(verb, "publish"))
                r = verb_publish(bus, args[0], nargs > 1 ? args[1] : NULL);
        else if (streq(verb, "artifacts"))
                r = verb_artifacts(bus);
        else if (streq(verb, "reload-config"))
                r = verb_reload_config(bus);
        else if (streq(verb, "hash"))
                r = verb_hash(args[0]);
        else
                r = verb_verify(args[0]);
        return r < 0 ? 1 : 0;
}
