/* SPDX-License-Identifier: MIT */
#include "bus-manager.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "build-config.h"
#include "bus-errors.h"
#include "bus-polkit.h"
#include "dc-plugin-host/plugin.h"
#include "digest.h"
#include "artifact.h"
#include "install.h"
#include "json-util.h"
#include "log.h"
#include "names.h"
#include "plugin-id.h"
#include "strv.h"

/* dbus-daemon's max_message_unix_fds default: a message we hold may carry
 * this many fds, whatever its signature says (sd-bus cannot show or close
 * them), plus the one we dup for InstallPlugin. */
#define FDS_PER_REQUEST 17
/* Kept free for plugins, installs, the journal and the bus itself. */
#define FD_RESERVE 512

struct BusManager {
        sd_bus *bus;
        Host *host;
        PolkitQueue *polkit;
        unsigned n_requests;   /* Requests alive: each holds one incoming message */
        unsigned max_requests; /* so that their fds can never exhaust RLIMIT_NOFILE */
        ManagerState state;
        sd_bus_slot *slots[8];
        size_t n_slots;
};

/* One authorized operation in flight: survives the polkit round trip and,
 * for Invoke/Unload, the plugin call. */
typedef enum Op {
        OP_INVOKE,
        OP_LOAD,
        OP_UNLOAD,
        OP_RELOAD,
        OP_RESCAN,
        OP_INSTALL,
        OP_REMOVE,
        OP_PUBLISH,
} Op;

typedef struct Request {
        BusManager *m;
        sd_bus_message *msg;
        Op op;
        char *plugin_id;
        char *function;
        char *params;
        char *version; /* OP_PUBLISH, "" = default */
        /* OP_INSTALL */
        int fd;
        char *digest;
        PackageFormat format;
        bool load, replace;
} Request;

static void request_free(void *p) {
        Request *r = p;
        if (!r)
                return;
        assert(r->m->n_requests > 0);
        r->m->n_requests--;
        sd_bus_message_unref(r->msg);
        free(r->plugin_id);
        free(r->function);
        free(r->params);
        safe_close(r->fd);
        free(r->digest);
        free(r->version);
        free(r);
}

static char *plugin_path(const char *id) {
        char *path = NULL;
        return sd_bus_path_encode(DC_BUS_PATH_PLUGINS, id, &path) < 0 ? NULL : path;
}

/* ---- running an authorized request: every path replies exactly once ---- */

static void reply_error(sd_bus_message *msg, const sd_bus_error *e) {
        (void) sd_bus_reply_method_error(msg, e);
}

static void on_invoke_done(Host *h, int error, const char *result, const char *message, void *userdata) {
        Request *r = userdata;
        if (error < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                bus_error_from_invoke(&e, error, message);
                reply_error(r->msg, &e);
        } else
                (void) sd_bus_reply_method_return(r->msg, "s", result);
        request_free(r);
}

static void on_unload_done(Host *h, int error, void *userdata) {
        Request *r = userdata;
        if (error < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                bus_error_from_operation(&e, error, NULL, r->plugin_id);
                reply_error(r->msg, &e);
        } else
                (void) sd_bus_reply_method_return(r->msg, NULL);
        request_free(r);
}

static void on_install_done(Host *h, int error, const Verdict *v, const InstallResult *res, void *userdata) {
        Request *r = userdata;
        if (error < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                bus_error_from_install(&e, error, v, res->plugin_id ? res->plugin_id : r->plugin_id);
                reply_error(r->msg, &e);
        } else {
                /* Installed; if the load step failed the object says why
                 * (State, LastError): the files are in place either way. */
                _cleanup_free_ char *path = plugin_path(res->plugin_id);
                if (path)
                        (void) sd_bus_reply_method_return(r->msg, "o", path);
                else
                        (void) sd_bus_reply_method_errno(r->msg, -ENOMEM, NULL);
        }
        request_free(r);
}

static void on_remove_done(Host *h, int error, void *userdata) {
        Request *r = userdata;
        if (error < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                Verdict v = { .reason = REASON_NONE };
                bus_error_from_install(&e, error, &v, r->plugin_id);
                reply_error(r->msg, &e);
        } else
                (void) sd_bus_reply_method_return(r->msg, NULL);
        request_free(r);
}

static int append_artifact(sd_bus_message *m, const ArtifactRecord *a) {
        return sd_bus_message_append(m, "a{sv}", 7, "plugin_id", "s", a->plugin_id, "filename", "s", a->filename, "digest",
                                     "s", a->digest, "size", "t", a->size, "version", "s", a->version ? a->version : "",
                                     "created_at", "s", a->created_at ? a->created_at : "", "path", "s", a->path);
}

static void on_publish_done(Host *h, int error, const Verdict *v, const ArtifactRecord *rec, void *userdata) {
        Request *r = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        if (error < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                bus_error_from_install(&e, error, v, r->plugin_id);
                reply_error(r->msg, &e);
        } else if (sd_bus_message_new_method_return(r->msg, &reply) < 0 || append_artifact(reply, rec) < 0 ||
                   sd_bus_send(NULL, reply, NULL) < 0)
                (void) sd_bus_reply_method_errno(r->msg, -ENOMEM, NULL);
        request_free(r);
}

static void request_run(Request *r) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Host *h = r->m->host;
        Verdict v = {};
        bool unchanged;
        int k;

        switch (r->op) {
        case OP_INVOKE: {
                _cleanup_free_ char *msg = NULL;
                k = host_invoke(h, r->plugin_id, r->function, r->params, 0, on_invoke_done, r, &msg);
                if (k >= 0)
                        return; /* on_invoke_done replies and frees */
                bus_error_from_invoke(&e, k, msg);
                break;
        }
        case OP_UNLOAD:
                k = host_unload(h, r->plugin_id, on_unload_done, r);
                if (k >= 0)
                        return; /* on_unload_done replies and frees */
                bus_error_from_operation(&e, k, NULL, r->plugin_id);
                break;
        case OP_LOAD:
                k = host_load(h, r->plugin_id, &v);
                if (k < 0)
                        bus_error_from_operation(&e, k, &v, r->plugin_id);
                break;
        case OP_RELOAD:
                k = host_reload(h, r->plugin_id, &unchanged, &v);
                if (k < 0)
                        bus_error_from_operation(&e, k, &v, r->plugin_id);
                break;
        case OP_RESCAN:
                k = host_rescan(h);
                if (k < 0)
                        sd_bus_error_set_errno(&e, k);
                break;
        case OP_INSTALL: {
                _cleanup_free_ char *caller = NULL;
                const char *sender = sd_bus_message_get_sender(r->msg);
                InstallRequest req = {
                        .source = INSTALL_SOURCE_FD,
                        .fd = TAKE_FD(r->fd),
                        .plugin_id = r->plugin_id,
                        .digest = r->digest,
                        .format = r->format,
                        .load = r->load,
                        .replace = r->replace,
                        .caller = sender,
                };
                k = host_install(h, &req, on_install_done, r, &v);
                if (k >= 0)
                        return; /* on_install_done replies and frees */
                bus_error_from_install(&e, k, &v, r->plugin_id);
                break;
        }
        case OP_PUBLISH:
                k = host_publish_artifact(h, r->plugin_id, isempty(r->version) ? NULL : r->version, NULL, on_publish_done,
                                          r, &v);
                if (k >= 0)
                        return; /* on_publish_done replies and frees */
                bus_error_from_install(&e, k, &v, r->plugin_id);
                break;
        case OP_REMOVE:
                k = host_remove(h, r->plugin_id, on_remove_done, r, &v);
                if (k >= 0)
                        return; /* on_remove_done replies and frees */
                bus_error_from_install(&e, k, &v, r->plugin_id);
                break;
        }
        verdict_clear(&v);
        if (sd_bus_error_is_set(&e))
                reply_error(r->msg, &e);
        else
                (void) sd_bus_reply_method_return(r->msg, NULL);
        request_free(r);
}

static void on_authorized(sd_bus_message *msg, int authorized, const sd_bus_error *error, void *userdata) {
        Request *r = userdata;
        if (!authorized) {
                reply_error(msg, error);
                request_free(r);
                return;
        }
        request_run(r);
}

/*
 * Every request holds its message (and whatever fds it carries) until it is
 * answered: past the budget the kernel would truncate SCM_RIGHTS and sd-bus
 * drop the connection, so refuse instead (issue: fds beyond the signature).
 */
static int request_new(BusManager *m, sd_bus_message *msg, Op op, const char *plugin_id, const char *function,
                       const char *params, Request **ret, sd_bus_error *error) {
        if (m->n_requests >= m->max_requests)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "Too many requests in progress (at most %u)", m->max_requests);
        Request *r = calloc(1, sizeof(Request));
        if (!r)
                return -ENOMEM;
        m->n_requests++;
        r->fd = -1;
        r->m = m;
        r->msg = sd_bus_message_ref(msg);
        r->op = op;
        r->plugin_id = plugin_id ? strdup(plugin_id) : NULL;
        r->function = function ? strdup(function) : NULL;
        r->params = params ? strdup(params) : NULL;
        if ((plugin_id && !r->plugin_id) || (function && !r->function) || (params && !r->params)) {
                request_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

/* Authorize asynchronously, then run; takes over r.  Returns what an
 * sd-bus handler returns: 1 when the reply is (or will be) sent. */
static int request_submit(Request *r, sd_bus_error *error) {
        static const char *const actions[] = {
                [OP_INVOKE] = DC_POLKIT_ACTION_INVOKE, [OP_LOAD] = DC_POLKIT_ACTION_MANAGE,
                [OP_UNLOAD] = DC_POLKIT_ACTION_MANAGE, [OP_RELOAD] = DC_POLKIT_ACTION_MANAGE,
                [OP_RESCAN] = DC_POLKIT_ACTION_MANAGE, [OP_INSTALL] = DC_POLKIT_ACTION_INSTALL,
                [OP_REMOVE] = DC_POLKIT_ACTION_INSTALL, [OP_PUBLISH] = DC_POLKIT_ACTION_MANAGE,
        };
        const char *details[] = { "plugin_id", r->plugin_id ? r->plugin_id : "", r->function ? "function" : NULL,
                                  r->function, NULL };
        size_t bytes = 256 + (r->plugin_id ? strlen(r->plugin_id) : 0) + (r->function ? strlen(r->function) : 0) +
                       (r->params ? strlen(r->params) : 0);
        int k = polkit_check_async(r->m->polkit, r->msg, actions[r->op], details, bytes, on_authorized, r, request_free,
                                   error);
        if (k < 0) {
                request_free(r);
                return k;
        }
        if (k > 0)
                request_run(r);
        return 1;
}

static int dispatch(BusManager *m, sd_bus_message *msg, Op op, const char *plugin_id, const char *function,
                    const char *params, sd_bus_error *error) {
        Request *r;
        int k = request_new(m, msg, op, plugin_id, function, params, &r, error);
        return k < 0 ? k : request_submit(r, error);
}

static int check_flags(uint64_t flags, sd_bus_error *error) {
        if (flags != 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid 'flags' parameter");
        return 0;
}

/* Before anything is queued: an oversize call never waits for polkit. */
static int check_params_size(const char *params, sd_bus_error *error) {
        if (strlen(params) > HOST_MAX_PARAMS)
                return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_PARAMS, "params exceed %u bytes", HOST_MAX_PARAMS);
        return 0;
}

static int check_id(const char *id, sd_bus_error *error) {
        if (!plugin_id_is_valid(id))
                return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_ID, "Invalid plugin id \"%s\"", id);
        return 0;
}

/* ---- Manager ---- */

static int method_list_plugins(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(so)");
        for (size_t i = 0; r >= 0 && i < host_n_records(m->host); i++) {
                PluginRecord *rec = host_record(m->host, i);
                _cleanup_free_ char *path = plugin_path(rec->id);
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
        _cleanup_free_ char *path = plugin_path(id);
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

static int method_invoke(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *id, *fn, *params;
        int r = sd_bus_message_read(msg, "sss", &id, &fn, &params);
        if (r < 0)
                return r;
        if ((r = check_id(id, error)) < 0 || (r = check_params_size(params, error)) < 0)
                return r;
        return dispatch(userdata, msg, OP_INVOKE, id, fn, params, error);
}

static int manager_op(sd_bus_message *msg, void *userdata, sd_bus_error *error, Op op) {
        const char *id;
        uint64_t flags;
        int r = sd_bus_message_read(msg, "st", &id, &flags);
        if (r < 0)
                return r;
        if ((r = check_flags(flags, error)) < 0 || (r = check_id(id, error)) < 0)
                return r;
        return dispatch(userdata, msg, op, id, NULL, NULL, error);
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

static int method_rescan(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        uint64_t flags;
        int r = sd_bus_message_read(msg, "t", &flags);
        if (r < 0)
                return r;
        if ((r = check_flags(flags, error)) < 0)
                return r;
        return dispatch(userdata, msg, OP_RESCAN, NULL, NULL, NULL, error);
}

/* InstallPlugin options: name → D-Bus type (unknown keys are refused). */
static int read_install_options(sd_bus_message *msg, Request *req, sd_bus_error *error) {
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
                else if (streq(key, "load") || streq(key, "replace"))
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

                if (streq(key, "plugin-id")) {
                        if ((r = check_id(s, error)) < 0)
                                return r;
                        if (free_and_strdup(&req->plugin_id, s) < 0)
                                return -ENOMEM;
                } else if (streq(key, "digest")) {
                        uint8_t d[SHA256_DIGEST_SIZE];
                        if (digest_parse_loose(s, d) < 0)
                                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                                        "Invalid 'digest' option: expected 64 hex digits, optionally "
                                                        "prefixed with sha256:");
                        if (free_and_strdup(&req->digest, s) < 0)
                                return -ENOMEM;
                } else if (streq(key, "format")) {
                        if (package_format_from_string(s, &req->format) < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Invalid 'format' option '%s': expected auto, tar.gz, tgz, tar or zip", s);
                } else if (streq(key, "load"))
                        req->load = b;
                else
                        req->replace = b;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

static int method_install_plugin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusManager *m = userdata;
        struct stat st;
        int fd, r, fl;

        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fstat(fd, &st) < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot use the archive file descriptor: %m");
        if ((fl & O_ACCMODE) == O_WRONLY || S_ISDIR(st.st_mode) || (fl & O_PATH))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "The archive must be a readable file descriptor (regular file, pipe or socket)");
        Request *req;
        r = request_new(m, msg, OP_INSTALL, NULL, NULL, NULL, &req, error);
        if (r < 0)
                return r;
        req->load = true;
        r = read_install_options(msg, req, error);
        if (r < 0) {
                request_free(req);
                return r;
        }
        req->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (req->fd < 0) {
                request_free(req);
                return -errno;
        }
        return request_submit(req, error);
}

static int method_publish_artifact(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *id, *version;
        uint64_t flags;
        int r = sd_bus_message_read(msg, "sst", &id, &version, &flags);
        if (r < 0)
                return r;
        if ((r = check_flags(flags, error)) < 0 || (r = check_id(id, error)) < 0)
                return r;
        if (!isempty(version) && !artifact_version_is_valid(version))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid version \"%s\"", version);
        Request *req;
        r = request_new(userdata, msg, OP_PUBLISH, id, NULL, NULL, &req, error);
        if (r < 0)
                return r;
        if (free_and_strdup(&req->version, version) < 0) {
                request_free(req);
                return -ENOMEM;
        }
        return request_submit(req, error);
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

static int method_remove_plugin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return manager_op(msg, userdata, error, OP_REMOVE);
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

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ApiLevel", "u", property_get_api_level, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PluginDirectories", "as", property_get_dirs, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "u", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* The policy is built once at start-up (a restart applies a new one). */
        SD_BUS_PROPERTY("SignatureMode", "s", property_get_signature_mode, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RequireSignatures", "b", property_get_require_signatures, 0, SD_BUS_VTABLE_PROPERTY_CONST),
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

/* ---- Plugin objects (fallback vtable: one object per registry record) ---- */

static int plugin_find(sd_bus *bus, const char *path, const char *iface, void *userdata, void **found,
                       sd_bus_error *error) {
        BusManager *m = userdata;
        _cleanup_free_ char *id = NULL;
        PluginRecord *r;

        if (sd_bus_path_decode(path, DC_BUS_PATH_PLUGINS, &id) <= 0 || !id || !(r = host_find(m->host, id)))
                return 0;
        *found = r;
        return 1;
}

static int plugin_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error) {
        BusManager *m = userdata;
        _cleanup_strv_free_ char **l = calloc(host_n_records(m->host) + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < host_n_records(m->host); i++)
                if (!(l[i] = plugin_path(host_record(m->host, i)->id)))
                        return -ENOMEM;
        *nodes = TAKE_PTR(l);
        return 1;
}

#define RECORD_STRING_PROPERTY(fname, expr)                                                                       \
        static int fname(sd_bus *bus, const char *path, const char *iface, const char *property,                   \
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {                             \
                PluginRecord *r = userdata;                                                                        \
                const char *v = (expr);                                                                            \
                return sd_bus_message_append(reply, "s", v ? v : "");                                              \
        }
RECORD_STRING_PROPERTY(property_get_id, r->id)
RECORD_STRING_PROPERTY(property_get_name, r->name)
RECORD_STRING_PROPERTY(property_get_plugin_version, r->version)
RECORD_STRING_PROPERTY(property_get_description, r->description)
RECORD_STRING_PROPERTY(property_get_last_error, reason_to_string(r->reason))
RECORD_STRING_PROPERTY(property_get_digest, r->digest)

static int property_get_plugin_state(sd_bus *bus, const char *path, const char *iface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) r->state);
}

static int property_get_plugin_api_level(sd_bus *bus, const char *path, const char *iface, const char *property,
                                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) (r->plugin ? DC_PLUGIN_ABI_MAJOR : 0));
}

static int property_get_functions(sd_bus *bus, const char *path, const char *iface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        int k = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; k >= 0 && i < plugin_n_functions(r); i++)
                k = sd_bus_message_append(reply, "s", plugin_function_name(r, i));
        return k < 0 ? k : sd_bus_message_close_container(reply);
}

static int property_get_events(sd_bus *bus, const char *path, const char *iface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        int k = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; k >= 0 && i < plugin_n_events(r); i++)
                k = sd_bus_message_append(reply, "s", plugin_event_name(r, i));
        return k < 0 ? k : sd_bus_message_close_container(reply);
}

static int plugin_op(sd_bus_message *msg, void *userdata, sd_bus_error *error, Op op) {
        PluginRecord *r = userdata;
        BusManager *m = sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(msg)));
        uint64_t flags;
        int k = sd_bus_message_read(msg, "t", &flags);
        if (k < 0)
                return k;
        if ((k = check_flags(flags, error)) < 0)
                return k;
        /* The record may change meanwhile: the request carries the id, not the pointer. */
        return dispatch(m, msg, op, r->id, NULL, NULL, error);
}

static int method_plugin_load(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return plugin_op(msg, userdata, error, OP_LOAD);
}
static int method_plugin_unload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return plugin_op(msg, userdata, error, OP_UNLOAD);
}
static int method_plugin_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return plugin_op(msg, userdata, error, OP_RELOAD);
}

static int method_plugin_invoke(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        BusManager *m = sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(msg)));
        const char *fn, *params;
        int k = sd_bus_message_read(msg, "ss", &fn, &params);
        if (k < 0)
                return k;
        if ((k = check_params_size(params, error)) < 0)
                return k;
        return dispatch(m, msg, OP_INVOKE, r->id, fn, params, error);
}

static const sd_bus_vtable plugin_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Version", "s", property_get_plugin_version, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Description", "s", property_get_description, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ApiLevel", "u", property_get_plugin_api_level, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "u", property_get_plugin_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastError", "s", property_get_last_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Digest", "s", property_get_digest, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Functions", "as", property_get_functions, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Events", "as", property_get_events, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Load", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_plugin_load,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unload", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_plugin_unload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_plugin_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Invoke", SD_BUS_ARGS("s", function, "s", params_json), SD_BUS_RESULT("s", result_json),
                                method_plugin_invoke, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* ---- LogControl1 (setters root-only: no UNPRIVILEGED flag) ---- */

static int property_get_log_level(sd_bus *bus, const char *path, const char *iface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_level_to_string(log_get_max_level()));
}

static int property_set_log_level(sd_bus *bus, const char *path, const char *iface, const char *property,
                                  sd_bus_message *value, void *userdata, sd_bus_error *error) {
        const char *s;
        int r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        r = log_level_from_string(s);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid log level \"%s\"", s);
        log_set_max_level(r);
        return 0;
}

static int property_get_log_target(sd_bus *bus, const char *path, const char *iface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_target_to_string(log_get_target()));
}

static int property_set_log_target(sd_bus *bus, const char *path, const char *iface, const char *property,
                                   sd_bus_message *value, void *userdata, sd_bus_error *error) {
        const char *s;
        int r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        r = log_target_from_string(s);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid log target \"%s\"", s);
        log_set_target(r);
        return 0;
}

static int property_get_syslog_identifier(sd_bus *bus, const char *path, const char *iface, const char *property,
                                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", DC_SYSLOG_IDENTIFIER);
}

static const sd_bus_vtable log_control_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_WRITABLE_PROPERTY("LogLevel", "s", property_get_log_level, property_set_log_level, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_WRITABLE_PROPERTY("LogTarget", "s", property_get_log_target, property_set_log_target, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SyslogIdentifier", "s", property_get_syslog_identifier, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END
};

/* ---- host → bus notifications ---- */

static void emit_changed(Host *h, const PluginRecord *r, void *userdata) {
        BusManager *m = userdata;
        _cleanup_free_ char *path = plugin_path(r->id);
        if (!path)
                return;
        int k = sd_bus_emit_properties_changed(m->bus, path, DC_BUS_IFACE_PLUGIN, "Name", "Version", "Description",
                                               "ApiLevel", "State", "LastError", "Digest", "Functions", "Events", NULL);
        if (k < 0)
                log_debug("Failed to emit PropertiesChanged for %s: %s", r->id, strerror(-k));
}

static void emit_added(Host *h, const PluginRecord *r, void *userdata) {
        BusManager *m = userdata;
        _cleanup_free_ char *path = plugin_path(r->id);
        if (path)
                (void) sd_bus_emit_object_added(m->bus, path);
}

static void emit_removed(Host *h, const char *id, void *userdata) {
        BusManager *m = userdata;
        _cleanup_free_ char *path = plugin_path(id);
        if (path)
                (void) sd_bus_emit_object_removed(m->bus, path);
}

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

static const HostListener bus_listener = {
        .record_added = emit_added,
        .record_changed = emit_changed,
        .record_removed = emit_removed,
        .plugin_loaded = emit_loaded,
        .plugin_unloaded = emit_unloaded,
        .plugin_event = emit_event,
};

/* ---- setup ---- */

static int add_objects(sd_bus *bus, BusManager *m) {
        int r;
#define SLOT (&m->slots[m->n_slots++])
        r = sd_bus_add_object_vtable(bus, SLOT, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, manager_vtable, m);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(bus, SLOT, DC_BUS_PATH_PLUGINS, DC_BUS_IFACE_PLUGIN, plugin_vtable,
                                               plugin_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(bus, SLOT, DC_BUS_PATH_PLUGINS, plugin_enumerate, m);
        if (r >= 0)
                r = sd_bus_add_object_manager(bus, SLOT, DC_BUS_PATH_ROOT);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, SLOT, DC_BUS_PATH_LOG_CONTROL, DC_BUS_IFACE_LOG_CONTROL,
                                             log_control_vtable, m);
        if (r >= 0)
                r = sd_bus_error_add_map(dc_bus_error_map);
#undef SLOT
        return r;
}

int bus_manager_new(sd_bus *bus, Host *host, const BusSettings *settings, BusManager **ret) {
        BusManager *m = calloc(1, sizeof(BusManager));
        int r;

        if (!m)
                return -ENOMEM;
        m->bus = sd_bus_ref(bus);
        m->host = host;
        m->state = MANAGER_STATE_STARTING;
        struct rlimit rl;
        rlim_t soft = getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 1024;
        rlim_t budget = soft > FD_RESERVE + 16 * FDS_PER_REQUEST ? (soft - FD_RESERVE) / FDS_PER_REQUEST : 16;
        m->max_requests = budget > 4096 ? 4096 : (unsigned) budget;
        log_debug("D-Bus: at most %u requests in progress (RLIMIT_NOFILE %llu)", m->max_requests,
                  (unsigned long long) soft);
        PolkitLimits limits = {
                .max_pending = settings->max_pending_authorizations,
                .max_pending_per_caller = settings->max_pending_authorizations_per_caller,
                .max_bytes_per_caller = settings->max_pending_authorization_bytes,
                .timeout_usec = settings->polkit_timeout_usec,
        };
        r = polkit_queue_new(bus, &limits, &m->polkit);
        if (r >= 0)
                r = add_objects(bus, m);
        if (r >= 0)
                r = host_add_listener(host, &bus_listener, m);
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
        host_remove_listener(m->host, &bus_listener, m);
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

/* ---- --bus-introspect ---- */

int bus_introspect_interface(const char *interface, char **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *server = NULL, *client = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path, *xml;
        sd_id128_t id;
        int fds[2], r;

        if (streq(interface, DC_BUS_IFACE_MANAGER))
                path = DC_BUS_PATH_ROOT;
        else if (streq(interface, DC_BUS_IFACE_PLUGIN))
                path = DC_BUS_PATH_PLUGINS "/introspect";
        else if (streq(interface, DC_BUS_IFACE_LOG_CONTROL))
                path = DC_BUS_PATH_LOG_CONTROL;
        else
                return -ENOENT;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                return -errno;
        if ((r = sd_bus_new(&server)) < 0 || (r = sd_bus_set_fd(server, fds[0], fds[0])) < 0 ||
            (r = sd_id128_randomize(&id)) < 0 || (r = sd_bus_set_server(server, 1, id)) < 0 ||
            (r = sd_bus_set_anonymous(server, 1)) < 0 || (r = sd_bus_start(server)) < 0)
                return r;
        if ((r = sd_bus_add_object_vtable(server, NULL, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, manager_vtable, NULL)) < 0 ||
            (r = sd_bus_add_object_vtable(server, NULL, DC_BUS_PATH_PLUGINS "/introspect", DC_BUS_IFACE_PLUGIN,
                                          plugin_vtable, NULL)) < 0 ||
            (r = sd_bus_add_object_vtable(server, NULL, DC_BUS_PATH_LOG_CONTROL, DC_BUS_IFACE_LOG_CONTROL,
                                          log_control_vtable, NULL)) < 0)
                return r;
        if ((r = sd_bus_new(&client)) < 0 || (r = sd_bus_set_fd(client, fds[1], fds[1])) < 0 ||
            (r = sd_bus_set_anonymous(client, 1)) < 0 || (r = sd_bus_start(client)) < 0)
                return r;

        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        uint64_t cookie;
        r = sd_bus_message_new_method_call(client, &call, NULL, path, "org.freedesktop.DBus.Introspectable", "Introspect");
        if (r < 0 || (r = sd_bus_send(client, call, &cookie)) < 0)
                return r;
        /* Pump both ends until the reply arrives. */
        for (int i = 0; i < 10000 && !reply; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                r = sd_bus_process(server, NULL);
                if (r < 0)
                        return r;
                r = sd_bus_process(client, &m);
                if (r < 0)
                        return r;
                uint64_t rc;
                if (m && sd_bus_message_get_reply_cookie(m, &rc) >= 0 && rc == cookie)
                        reply = sd_bus_message_ref(m);
                else if (r == 0) {
                        (void) sd_bus_wait(server, 10000);
                }
        }
        if (!reply)
                return -ETIMEDOUT;
        if (sd_bus_message_is_method_error(reply, NULL))
                return -sd_bus_message_get_errno(reply);
        r = sd_bus_message_read(reply, "s", &xml);
        if (r < 0)
                return r;

        /* Keep the requested <interface> element only. */
        _cleanup_free_ char *open_tag = NULL;
        if (asprintf(&open_tag, "<interface name=\"%s\">", interface) < 0)
                return -ENOMEM;
        const char *start = strstr(xml, open_tag), *end = start ? strstr(start, "</interface>") : NULL;
        if (!start || !end)
                return -ENOENT;
        end += strlen("</interface>");
        if (asprintf(ret, " %.*s\n", (int) (end - start), start) < 0)
                return -ENOMEM;
        return 0;
}
