/* SPDX-License-Identifier: MIT */
/* org.deviceconnect.PluginHost1.Manager at /org/deviceconnect/PluginHost1. */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "artifact.h"
#include "build-config.h"
#include "bus-errors.h"
#include "bus-internal.h"
#include "dc-plugin-host/plugin.h"
#include "digest.h"
#include "json-util.h"
#include "log.h"
#include "names.h"
#include "plugin-id.h"

/* dbus-daemon's max_message_unix_fds default: a message we hold may carry
 * this many fds, whatever its signature says (sd-bus cannot show or close
 * them), plus the one we dup for InstallPlugin. */
#define FDS_PER_REQUEST 17
/* Kept free for plugins, installs, the journal and the bus itself. */
#define FD_RESERVE 512

/* ---- operations ---- */

static int dispatch(BusManager *m, sd_bus_message *msg, OpKind kind, const char *plugin_id, sd_bus_error *error) {
        BusRequest *r;
        int k = bus_request_new(m, msg, kind, plugin_id, &r, error);
        return k < 0 ? k : bus_request_submit(r, error);
}

static int reply_result_json(BusRequest *r, const OpResult *res) {
        return sd_bus_reply_method_return(r->msg, "s", res->result_json);
}

static int method_invoke(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *id, *fn, *params;
        BusRequest *r;
        int k = sd_bus_message_read(msg, "sss", &id, &fn, &params);
        if (k < 0)
                return k;
        if ((k = bus_check_id(id, error)) < 0 || (k = bus_check_params_size(params, error)) < 0)
                return k;
        k = bus_request_new(userdata, msg, OP_INVOKE, id, &r, error);
        if (k < 0)
                return k;
        r->op.function = fn;
        r->op.params_json = params;
        r->reply = reply_result_json;
        return bus_request_submit(r, error);
}

static int manager_op(sd_bus_message *msg, void *userdata, sd_bus_error *error, OpKind kind) {
        const char *id;
        uint64_t flags;
        int r = sd_bus_message_read(msg, "st", &id, &flags);
        if (r < 0)
                return r;
        if ((r = bus_check_flags(flags, error)) < 0 || (r = bus_check_id(id, error)) < 0)
                return r;
        return dispatch(userdata, msg, kind, id, error);
}

static int method_load_plugin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return manager_op(msg, userdata, error, OP_LOAD);
}
static int method_unload_plugin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return manager_op(msg, userdata, error, OP_UNLOAD);
}
static int method_reload_plugin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return manager_op(msg, userdata, error, OP_RELOAD);
}
static int method_remove_plugin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return manager_op(msg, userdata, error, OP_REMOVE);
}

static int method_rescan(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int r = bus_read_flags(msg, error);
        if (r < 0)
                return r;
        return dispatch(userdata, msg, OP_RESCAN, NULL, error);
}

/* InstallPlugin options: name → D-Bus type (unknown keys are refused). */
static int read_install_options(sd_bus_message *msg, BusRequest *req, sd_bus_error *error) {
        InstallRequest *ir = &req->op.install;
        int r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key, *contents, *s = NULL;
                char expected;
                int b = 0;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "plugin-id") || streq(key, "digest") || streq(key, "format"))
                        expected = 's';
                else if (streq(key, "load") || streq(key, "replace") || streq(key, "allow-downgrade"))
                        expected = 'b';
                else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'", key);
                r = sd_bus_message_peek_type(msg, NULL, &contents);
                if (r < 0)
                        return r;
                if (contents[0] != expected || contents[1])
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' must be of type '%c'", key,
                                                 expected);
                r = expected == 's' ? sd_bus_message_read(msg, "v", "s", &s) : sd_bus_message_read(msg, "v", "b", &b);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;

                /* Strings point into msg, which the request holds until it is answered. */
                if (streq(key, "plugin-id")) {
                        if ((r = bus_check_id(s, error)) < 0)
                                return r;
                        ir->plugin_id = req->op.plugin_id = s;
                } else if (streq(key, "digest")) {
                        uint8_t d[SHA256_DIGEST_SIZE];
                        if (digest_parse_loose(s, d) < 0)
                                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                                        "Invalid 'digest' option: expected 64 hex digits, optionally "
                                                        "prefixed with sha256:");
                        ir->digest = s;
                } else if (streq(key, "format")) {
                        if (package_format_from_string(s, &ir->format) < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Invalid 'format' option '%s': expected auto, tar.gz, tgz, tar or zip", s);
                } else if (streq(key, "load"))
                        req->op.load = b;
                else if (streq(key, "allow-downgrade"))
                        ir->allow_downgrade = b;
                else
                        ir->replace = b;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

static int reply_installed(BusRequest *r, const OpResult *res) {
        /* Installed; if the load step failed the object says why (State,
         * LastError): the files are in place either way. */
        _cleanup_free_ char *path = bus_plugin_path(res->install->plugin_id);
        return path ? sd_bus_reply_method_return(r->msg, "o", path) : sd_bus_reply_method_errno(r->msg, -ENOMEM, NULL);
}

static int method_install_plugin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        BusRequest *req;
        struct stat st;
        int fd, r, fl;

        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fstat(fd, &st) < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot use the archive file descriptor: %m");
        /* A pipe or socket whose writer never closes would hold the install
         * (and every later one): only what has an end already. */
        if ((fl & O_ACCMODE) == O_WRONLY || !S_ISREG(st.st_mode) || (fl & O_PATH))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "The archive must be a readable regular file or memfd (pipes and sockets are "
                                        "refused)");
        r = bus_request_new(m, msg, OP_INSTALL, NULL, &req, error);
        if (r < 0)
                return r;
        req->op.load = true;
        req->op.install = (InstallRequest){ .source = INSTALL_SOURCE_FD, .fd = -1 };
        req->reply = reply_installed;
        r = read_install_options(msg, req, error);
        if (r < 0) {
                bus_request_free(req);
                return r;
        }
        req->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (req->fd < 0) {
                bus_request_free(req);
                return -errno;
        }
        return bus_request_submit(req, error);
}

/* HTTPS only: dc-mesh:// names a peer on the mesh, which the mesh front end
 * (dc-plugin-hostctl --mesh install) reaches. */
static int method_install_plugin_from_url(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        BusRequest *req;
        const char *url;
        int r = sd_bus_message_read(msg, "s", &url);
        if (r < 0)
                return r;
        if (strncmp(url, DC_MESH_URL_SCHEME, strlen(DC_MESH_URL_SCHEME)) == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_NOT_SUPPORTED,
                                        "dc-mesh:// URLs are fetched over the mesh: use dc-plugin-hostctl --mesh install");
        if (strlen(url) > 4096 || !utf8_is_valid_text(url, 4096))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid URL");
        r = bus_request_new(m, msg, OP_INSTALL, NULL, &req, error);
        if (r < 0)
                return r;
        req->op.load = true;
        req->op.install = (InstallRequest){ .source = INSTALL_SOURCE_URL, .fd = -1, .url = url, .name_hint = url };
        req->reply = reply_installed;
        r = read_install_options(msg, req, error);
        if (r < 0) {
                bus_request_free(req);
                return r;
        }
        return bus_request_submit(req, error);
}

static int reply_reloaded(BusRequest *r, const OpResult *res) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int k = sd_bus_message_new_method_return(r->msg, &reply);
        if (k >= 0)
                k = sd_bus_message_append_strv(reply, (char **) res->unloaded);
        if (k >= 0)
                k = sd_bus_message_append_strv(reply, (char **) res->restart);
        return k < 0 ? sd_bus_reply_method_errno(r->msg, k, NULL) : sd_bus_send(NULL, reply, NULL);
}

static int method_reload_configuration(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusRequest *req;
        int r = bus_read_flags(msg, error);
        if (r < 0)
                return r;
        r = bus_request_new(userdata, msg, OP_RELOAD_CONFIG, NULL, &req, error);
        if (r < 0)
                return r;
        req->reply = reply_reloaded;
        return bus_request_submit(req, error);
}

static int append_artifact(sd_bus_message *m, const ArtifactRecord *a) {
        return sd_bus_message_append(m, "a{sv}", 7, "plugin_id", "s", a->plugin_id, "filename", "s", a->filename, "digest",
                                     "s", a->digest, "size", "t", a->size, "version", "s", a->version ? a->version : "",
                                     "created_at", "s", a->created_at ? a->created_at : "", "path", "s", a->path);
}

static int reply_published(BusRequest *r, const OpResult *res) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int k = sd_bus_message_new_method_return(r->msg, &reply);
        if (k >= 0)
                k = append_artifact(reply, res->artifact);
        return k < 0 ? sd_bus_reply_method_errno(r->msg, k, NULL) : sd_bus_send(NULL, reply, NULL);
}

static int method_publish_artifact(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *id, *version;
        BusRequest *req;
        uint64_t flags;
        int r = sd_bus_message_read(msg, "sst", &id, &version, &flags);
        if (r < 0)
                return r;
        if ((r = bus_check_flags(flags, error)) < 0 || (r = bus_check_id(id, error)) < 0)
                return r;
        if (!isempty(version) && !artifact_version_is_valid(version))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid version \"%s\"", version);
        r = bus_request_new(userdata, msg, OP_PUBLISH, id, &req, error);
        if (r < 0)
                return r;
        req->op.version = isempty(version) ? NULL : version;
        req->reply = reply_published;
        return bus_request_submit(req, error);
}

/* ---- reads (no authorization: the bus policy lets anyone read) ---- */

static int method_list_plugins(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(so)");
        for (size_t i = 0; r >= 0 && i < host_n_records(m->host); i++) {
                PluginRecord *rec = host_record(m->host, i);
                _cleanup_free_ char *path = bus_plugin_path(rec->id);
                r = path ? sd_bus_message_append(reply, "(so)", rec->id, path) : -ENOMEM;
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_plugin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        const char *id;
        int r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        if (!host_find(m->host, id))
                return sd_bus_error_setf(error, DC_BUS_ERROR_NO_SUCH_PLUGIN, "No plugin '%s'", id);
        _cleanup_free_ char *path = bus_plugin_path(id);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "o", path);
}

static int method_describe(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        _cleanup_json_ struct json_object *o = host_describe(m->host);
        if (!o)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "s", json_to_string_compact(o));
}

static int method_list_artifacts(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *dir = host_artifact_dir(m->host);
        ArtifactRecord *l = NULL;
        size_t n = 0;
        int r = dir ? artifact_list(dir, &l, &n) : -ENOMEM;
        if (r >= 0)
                r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; i < n; i++) {
                if (r >= 0)
                        r = append_artifact(reply, &l[i]);
                artifact_record_done(&l[i]);
        }
        free(l);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the artifact store: %m");
        return sd_bus_send(NULL, reply, NULL);
}

static int property_get_version(sd_bus *bus, const char *path, const char *iface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_api_level(sd_bus *bus, const char *path, const char *iface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", (uint32_t) DC_PLUGIN_ABI_MAJOR);
}

static int property_get_dirs(sd_bus *bus, const char *path, const char *iface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        return sd_bus_message_append_strv(reply, (char **) host_roots(m->host));
}

static int property_get_state(sd_bus *bus, const char *path, const char *iface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) m->state);
}

static int property_get_signature_mode(sd_bus *bus, const char *path, const char *iface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        const Policy *p = host_policy(m->host);
        return sd_bus_message_append(reply, "s", p ? signature_mode_to_string(p->mode) : "");
}

static int property_get_require_signatures(sd_bus *bus, const char *path, const char *iface, const char *property,
                                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        const Policy *p = host_policy(m->host);
        return sd_bus_message_append(reply, "b", p && p->require_signatures);
}

const sd_bus_vtable bus_manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ApiLevel", "u", property_get_api_level, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PluginDirectories", "as", property_get_dirs, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "u", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* The policy is built once at start-up (a restart applies a new one). */
        SD_BUS_PROPERTY("SignatureMode", "s", property_get_signature_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RequireSignatures", "b", property_get_require_signatures, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ListPlugins", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(so)", plugins), method_list_plugins,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPlugin", SD_BUS_ARGS("s", plugin_id), SD_BUS_RESULT("o", plugin),
                                method_get_plugin, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Describe", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", description_json), method_describe,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Invoke", SD_BUS_ARGS("s", plugin_id, "s", function, "s", params_json),
                                SD_BUS_RESULT("s", result_json), method_invoke, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("LoadPlugin", SD_BUS_ARGS("s", plugin_id, "t", flags), SD_BUS_NO_RESULT,
                                method_load_plugin, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnloadPlugin", SD_BUS_ARGS("s", plugin_id, "t", flags), SD_BUS_NO_RESULT,
                                method_unload_plugin, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReloadPlugin", SD_BUS_ARGS("s", plugin_id, "t", flags), SD_BUS_NO_RESULT,
                                method_reload_plugin, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Rescan", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_rescan,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InstallPlugin", SD_BUS_ARGS("h", archive, "a{sv}", options), SD_BUS_RESULT("o", plugin),
                                method_install_plugin, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InstallPluginFromURL", SD_BUS_ARGS("s", url, "a{sv}", options),
                                SD_BUS_RESULT("o", plugin), method_install_plugin_from_url, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReloadConfiguration", SD_BUS_ARGS("t", flags),
                                SD_BUS_RESULT("as", unloaded_plugins, "as", restart_needed), method_reload_configuration,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemovePlugin", SD_BUS_ARGS("s", plugin_id, "t", flags), SD_BUS_NO_RESULT,
                                method_remove_plugin, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PublishArtifact", SD_BUS_ARGS("s", plugin_id, "s", version, "t", flags),
                                SD_BUS_RESULT("a{sv}", artifact), method_publish_artifact, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListArtifacts", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", artifacts),
                                method_list_artifacts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("PluginLoaded", SD_BUS_ARGS("s", plugin_id, "as", functions), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PluginUnloaded", SD_BUS_ARGS("s", plugin_id), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PluginEvent", SD_BUS_ARGS("s", plugin_id, "s", event, "s", payload_json), 0),
        SD_BUS_VTABLE_END
};

/* ---- host → Manager signals ---- */

static void emit_loaded(Host *h, const PluginRecord *r, void *userdata) {
        BusManager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        int k = sd_bus_message_new_signal(m->bus, &sig, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "PluginLoaded");
        if (k >= 0)
                k = sd_bus_message_append(sig, "s", r->id);
        if (k >= 0)
                k = sd_bus_message_open_container(sig, 'a', "s");
        for (size_t i = 0; k >= 0 && i < plugin_n_functions(r); i++)
                k = sd_bus_message_append(sig, "s", plugin_function_name(r, i));
        if (k >= 0)
                k = sd_bus_message_close_container(sig);
        if (k >= 0)
                (void) sd_bus_send(m->bus, sig, NULL);
}

static void emit_unloaded(Host *h, const char *id, void *userdata) {
        BusManager *m = userdata;
        (void) sd_bus_emit_signal(m->bus, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "PluginUnloaded", "s", id);
}

static void emit_event(Host *h, const char *plugin_id, const char *event, const char *payload, void *userdata) {
        BusManager *m = userdata;
        (void) sd_bus_emit_signal(m->bus, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "PluginEvent", "sss", plugin_id, event,
                                  payload);
}

static void emit_policy_changed(Host *h, void *userdata) {
        BusManager *m = userdata;
        (void) sd_bus_emit_properties_changed(m->bus, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "SignatureMode",
                                              "RequireSignatures", NULL);
}

static const HostListener manager_listener = {
        .plugin_loaded = emit_loaded,
        .policy_changed = emit_policy_changed,
        .plugin_unloaded = emit_unloaded,
        .plugin_event = emit_event,
};

/* ---- setup ---- */

/* Requests in progress whose fds (FDS_PER_REQUEST each) fit RLIMIT_NOFILE. */
static unsigned request_budget(void) {
        struct rlimit rl;
        rlim_t soft = getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 1024;
        rlim_t budget = soft > FD_RESERVE + 16 * FDS_PER_REQUEST ? (soft - FD_RESERVE) / FDS_PER_REQUEST : 16;
        log_debug("D-Bus: at most %llu requests in progress (RLIMIT_NOFILE %llu)",
                  (unsigned long long) MIN(budget, 4096), (unsigned long long) soft);
        return (unsigned) MIN(budget, 4096);
}

int bus_manager_new(sd_bus *bus, Host *host, Ops *ops, const BusSettings *settings, BusManager **ret) {
        BusManager *m = calloc(1, sizeof(BusManager));
        int r;

        if (!m)
                return -ENOMEM;
        m->bus = sd_bus_ref(bus);
        m->host = host;
        m->ops = ops;
        m->state = MANAGER_STATE_STARTING;
        m->max_requests = request_budget();
        PolkitLimits limits = {
                .max_pending = settings->max_pending_authorizations,
                .max_pending_per_caller = settings->max_pending_authorizations_per_caller,
                .max_bytes_per_caller = settings->max_pending_authorization_bytes,
                .timeout_usec = settings->polkit_timeout_usec,
        };
        r = polkit_queue_new(bus, &limits, &m->polkit);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, &m->slots[m->n_slots++], DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER,
                                             bus_manager_vtable, m);
        if (r >= 0)
                r = sd_bus_add_object_manager(bus, &m->slots[m->n_slots++], DC_BUS_PATH_ROOT);
        if (r >= 0)
                r = bus_plugin_register(m);
        if (r >= 0)
                r = bus_log_control_register(m);
        if (r >= 0)
                r = sd_bus_error_add_map(dc_bus_error_map);
        if (r >= 0)
                r = host_add_listener(host, &manager_listener, m);
        if (r < 0) {
                bus_manager_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

BusManager *bus_manager_free(BusManager *m) {
        if (!m)
                return NULL;
        host_remove_listener(m->host, &manager_listener, m);
        bus_plugin_unregister(m);
        m->polkit = polkit_queue_free(m->polkit);
        for (size_t i = 0; i < m->n_slots; i++)
                sd_bus_slot_unref(m->slots[i]);
        sd_bus_unref(m->bus);
        free(m);
        return NULL;
}

int bus_manager_request_name(BusManager *m) {
        int r = sd_bus_request_name(m->bus, DC_BUS_NAME, 0);
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "Cannot own %s: access denied — is the static user %s present (sysusers.d) "
                                          "and the bus policy installed?",
                                       DC_BUS_NAME, DC_SERVICE_USER);
        if (r == -EEXIST)
                return log_error_errno(r, "Cannot own %s: another process already owns it", DC_BUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to request bus name %s: %m", DC_BUS_NAME);
        return 0;
}

void bus_manager_set_state(BusManager *m, ManagerState state) {
        if (m->state == state)
                return;
        m->state = state;
        (void) sd_bus_emit_properties_changed(m->bus, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, "State", NULL);
}
