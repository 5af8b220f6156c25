/* SPDX-License-Identifier: MIT */
/* A D-Bus request's life: admitted, authorized, run by the operation layer,
 * answered exactly once with a named error or the method's reply. */
#include <fcntl.h>

#include "bus-internal.h"
#include "log.h"
#include "memory-trim.h"
#include "names.h"
#include "plugin-id.h"

int bus_check_flags(uint64_t flags, sd_bus_error *error) {
        if (flags != 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid 'flags' parameter");
        return 0;
}

int bus_read_flags(sd_bus_message *msg, sd_bus_error *error) {
        uint64_t flags;
        int r = sd_bus_message_read(msg, "t", &flags);
        if (r < 0)
                return r;
        return bus_check_flags(flags, error);
}

int bus_check_id(const char *id, sd_bus_error *error) {
        if (!plugin_id_is_valid(id))
                return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_ID, "Invalid plugin id \"%s\"", id);
        return 0;
}

/* Before anything is queued: an oversize call never waits for polkit. */
int bus_check_params_size(const char *params, sd_bus_error *error) {
        if (strlen(params) > HOST_MAX_PARAMS)
                return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_PARAMS, "params exceed %u bytes", HOST_MAX_PARAMS);
        return 0;
}

/*
 * Every request holds its message (and whatever fds it carries) until it is
 * answered: past the budget the kernel would truncate SCM_RIGHTS and sd-bus
 * drop the connection, so refuse instead (SECURITY.md, "Hostile callers").
 */
int bus_request_new(BusManager *m, sd_bus_message *msg, OpKind kind, const char *plugin_id, BusRequest **ret,
                    sd_bus_error *error) {
        if (m->n_requests >= m->max_requests)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED, "Too many requests in progress (at most %u)",
                                         m->max_requests);
        BusRequest *r = calloc(1, sizeof(BusRequest));
        if (!r)
                return -ENOMEM;
        m->n_requests++;
        r->m = m;
        r->msg = sd_bus_message_ref(msg);
        r->fd = -1;
        r->op = (OpRequest){ .kind = kind, .plugin_id = plugin_id };
        *ret = r;
        return 0;
}

void bus_request_free(BusRequest *r) {
        if (!r)
                return;
        assert(r->m->n_requests > 0);
        r->m->n_requests--;
        safe_close(r->fd);
        sd_bus_message_unref(r->msg);
        free(r->owned_id);
        free(r);
}

int bus_request_set_id(BusRequest *r, const char *id) {
        if (free_and_strdup(&r->owned_id, id) < 0)
                return -ENOMEM;
        r->op.plugin_id = r->owned_id;
        return 0;
}

static void free_request(void *r) {
        bus_request_free(r);
}

/* ---- outcomes ------------------------------------------------------------ */

static const char *id_or_empty(const OpResult *res) {
        return res->plugin_id ? res->plugin_id : "";
}

/* Loads, unloads, reloads, rescans: the message starts with the reason code
 * where the trust policy or the plugin is why. */
static int error_from_operation(sd_bus_error *e, const OpResult *res) {
        const char *code = reason_to_string(res->reason), *msg = res->message ? res->message : "", *id = id_or_empty(res);

        if (res->reason == REASON_INVALID_ID)
                return sd_bus_error_setf(e, DC_BUS_ERROR_INVALID_ID, "Invalid plugin id \"%s\"", id);
        if (res->reason == REASON_ABI_MISMATCH)
                return sd_bus_error_setf(e, DC_BUS_ERROR_INCOMPATIBLE, "%s: %s", code, msg);
        if (reason_is_rejection(res->reason))
                return sd_bus_error_setf(e, DC_BUS_ERROR_REJECTED, "%s: %s", code, msg);
        switch (res->reason) {
        case REASON_LOAD_FAILED:
        case REASON_INIT_FAILED:
        case REASON_INIT_TIMEOUT:
        case REASON_READ_FAILED:
        case REASON_ISOLATION_UNAVAILABLE:
                return sd_bus_error_setf(e, DC_BUS_ERROR_LOAD_FAILED, "%s: %s", code, msg);
        case REASON_DISABLED:
                return sd_bus_error_setf(e, DC_BUS_ERROR_REJECTED, "disabled: plugin '%s' is disabled", id);
        case REASON_NOT_FOUND:
                return sd_bus_error_setf(e, DC_BUS_ERROR_NO_SUCH_PLUGIN, "No plugin '%s'", id);
        case REASON_ALREADY_LOADED:
                return sd_bus_error_setf(e, DC_BUS_ERROR_ALREADY_LOADED, "Plugin '%s' is already loaded", id);
        case REASON_NOT_LOADED:
                return sd_bus_error_setf(e, DC_BUS_ERROR_NOT_LOADED, "Plugin '%s' is not loaded", id);
        case REASON_BUSY:
                return sd_bus_error_setf(e, DC_BUS_ERROR_BUSY, "An operation on plugin '%s' is in progress", id);
        default:
                return sd_bus_error_setf(e, DC_BUS_ERROR_LOAD_FAILED, "Operation on plugin '%s' failed: %s", id, msg);
        }
}

/* Installs, removals, publishes: malformed packages are InvalidPackage. */
static int error_from_install(sd_bus_error *e, const OpResult *res) {
        const char *code = reason_to_string(res->reason), *msg = res->message ? res->message : "";

        switch (res->reason) {
        case REASON_ALREADY_EXISTS:
                return sd_bus_error_set(e, DC_BUS_ERROR_ALREADY_EXISTS, msg);
        case REASON_URL_INVALID:
        case REASON_URL_NOT_ALLOWED:
        case REASON_URL_INSECURE:
        case REASON_DOWNLOAD_FAILED:
                return sd_bus_error_setf(e, DC_BUS_ERROR_DOWNLOAD_FAILED, "%s: %s", code, msg);
        case REASON_READ_ONLY:
                return sd_bus_error_set(e, DC_BUS_ERROR_READ_ONLY, msg);
        case REASON_NOT_FOUND:
                return sd_bus_error_set(e, DC_BUS_ERROR_NO_SUCH_PLUGIN, msg);
        case REASON_INVALID_ID:
                return sd_bus_error_setf(e, DC_BUS_ERROR_INVALID_ID, "%s: %s", code, msg);
        case REASON_MANIFEST_MISSING:
        case REASON_MANIFEST_INVALID:
        case REASON_RUNTIME_UNSUPPORTED:
        case REASON_ID_MISMATCH:
                /* The package is malformed rather than distrusted. */
                return sd_bus_error_setf(e, DC_BUS_ERROR_INVALID_PACKAGE, "%s: %s", code, msg);
        case REASON_DIGEST_MISMATCH:
                /* The caller's archive digest (a pin mismatch is a policy rejection). */
                if (res->error == -EBADMSG)
                        return sd_bus_error_setf(e, DC_BUS_ERROR_INVALID_PACKAGE, "%s: %s", code, msg);
                break;
        case REASON_BUSY:
                return sd_bus_error_set(e, DC_BUS_ERROR_BUSY, msg);
        case REASON_FAILED:
                return sd_bus_error_setf(e, DC_BUS_ERROR_LOAD_FAILED, "Install failed: %s", msg);
        default:
                if (reason_is_install_problem(res->reason))
                        return sd_bus_error_setf(e, DC_BUS_ERROR_INVALID_PACKAGE, "%s: %s", code, msg);
        }
        return error_from_operation(e, res);
}

static int error_from_invoke(sd_bus_error *e, const OpResult *res) {
        const char *name;
        switch (res->reason) {
        case REASON_NOT_FOUND:
                name = DC_BUS_ERROR_NO_SUCH_PLUGIN;
                break;
        case REASON_INVALID_ID:
                name = DC_BUS_ERROR_INVALID_ID;
                break;
        case REASON_NOT_LOADED:
                name = DC_BUS_ERROR_NOT_LOADED;
                break;
        case REASON_NO_SUCH_FUNCTION:
                name = DC_BUS_ERROR_NO_SUCH_FUNCTION;
                break;
        case REASON_INVALID_PARAMS:
                name = DC_BUS_ERROR_INVALID_PARAMS;
                break;
        case REASON_BUSY:
                name = DC_BUS_ERROR_BUSY;
                break;
        case REASON_TIMEOUT:
                name = DC_BUS_ERROR_TIMEOUT;
                break;
        case REASON_PLUGIN_CRASHED:
                name = DC_BUS_ERROR_PLUGIN_CRASHED;
                break;
        default:
                name = DC_BUS_ERROR_INVOKE_FAILED;
        }
        return sd_bus_error_set(e, name, res->message ? res->message : reason_to_string(res->reason));
}

int bus_error_from_result(sd_bus_error *e, const OpResult *res) {
        assert(res->error < 0);
        /* What every operation may hear, whatever it is. */
        switch (res->reason) {
        case REASON_SHUTTING_DOWN:
                return sd_bus_error_set(e, DC_BUS_ERROR_SHUTTING_DOWN, "The plugin host is shutting down");
        case REASON_OUT_OF_MEMORY:
                return sd_bus_error_set(e, SD_BUS_ERROR_NO_MEMORY, "Out of memory");
        case REASON_RATE_LIMITED:
                return sd_bus_error_set(e, DC_BUS_ERROR_RATE_LIMITED, res->message);
        case REASON_LIMIT_EXCEEDED:
                return sd_bus_error_set(e, SD_BUS_ERROR_LIMITS_EXCEEDED, res->message);
        case REASON_CONFIG_INVALID:
                return sd_bus_error_set(e, DC_BUS_ERROR_INVALID_CONFIGURATION, res->message);
        default:
                break;
        }
        switch (res->kind) {
        case OP_INVOKE:
                return error_from_invoke(e, res);
        case OP_INSTALL:
        case OP_REMOVE:
        case OP_PUBLISH:
                return error_from_install(e, res);
        default:
                return error_from_operation(e, res);
        }
}

/* ---- running ----------------------------------------------------------------- */

static void on_done(const OpResult *res, void *userdata) {
        BusRequest *r = userdata;
        int k;

        if (res->error < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                bus_error_from_result(&e, res);
                k = sd_bus_reply_method_error(r->msg, &e);
        } else
                k = r->reply ? r->reply(r, res) : sd_bus_reply_method_return(r->msg, NULL);
        if (k < 0)
                log_debug("Failed to reply to %s: %s", sd_bus_message_get_member(r->msg), strerror(-k));
        size_t bytes = r->op.params_json ? strlen(r->op.params_json) : 0;
        bus_request_free(r);
        memory_trim_after(bytes);
}

static void run(BusRequest *r) {
        /* The install takes the fd over (and closes it) in every case. */
        if (r->op.kind == OP_INSTALL)
                r->op.install.fd = TAKE_FD(r->fd);
        ops_run(r->m->ops, &r->op, on_done, r);
}

static void on_authorized(sd_bus_message *msg, int authorized, const sd_bus_error *error, void *userdata) {
        BusRequest *r = userdata;
        if (!authorized) {
                (void) sd_bus_reply_method_error(msg, error);
                bus_request_free(r);
                return;
        }
        run(r);
}

static const char *const polkit_actions[_OP_MAX] = {
        [OP_INVOKE] = DC_POLKIT_ACTION_INVOKE,   [OP_LOAD] = DC_POLKIT_ACTION_MANAGE,
        [OP_UNLOAD] = DC_POLKIT_ACTION_MANAGE,   [OP_RELOAD] = DC_POLKIT_ACTION_MANAGE,
        [OP_RESCAN] = DC_POLKIT_ACTION_MANAGE,   [OP_INSTALL] = DC_POLKIT_ACTION_INSTALL,
        [OP_REMOVE] = DC_POLKIT_ACTION_INSTALL,  [OP_PUBLISH] = DC_POLKIT_ACTION_MANAGE,
        [OP_RELOAD_CONFIG] = DC_POLKIT_ACTION_MANAGE, [OP_ISOLATE] = DC_POLKIT_ACTION_MANAGE,
};

int bus_request_submit(BusRequest *r, sd_bus_error *error) {
        const OpRequest *op = &r->op;
        uid_t uid;

        /* Who is asking, for the journal and the caller's share of the rate
         * limit (calls have neither: not formatted on the hot path). */
        if (op->kind == OP_INVOKE)
                ;
        else if (polkit_sender_uid(r->m->polkit, r->msg, &uid) >= 0) {
                snprintf(r->share, sizeof r->share, "uid:%u", (unsigned) uid);
                snprintf(r->caller_id, sizeof r->caller_id, "%s (uid %u)", sd_bus_message_get_sender(r->msg),
                         (unsigned) uid);
        } else {
                snprintf(r->share, sizeof r->share, "unknown");
                snprintf(r->caller_id, sizeof r->caller_id, "%s", strna(sd_bus_message_get_sender(r->msg)));
        }
        r->op.caller = (OpCaller){ .front_end = "bus", .id = r->caller_id, .share = r->share };

        const char *details[] = { "plugin_id", op->plugin_id ? op->plugin_id : "", op->function ? "function" : NULL,
                                  op->function, NULL };
        size_t bytes = 256 + (op->plugin_id ? strlen(op->plugin_id) : 0) + (op->function ? strlen(op->function) : 0) +
                       (op->params_json ? strlen(op->params_json) : 0);
        int k = polkit_check_async(r->m->polkit, r->msg, polkit_actions[op->kind], details, bytes, on_authorized, r,
                                   free_request, error);
        if (k < 0) {
                bus_request_free(r);
                return k;
        }
        if (k > 0)
                run(r);
        return 1;
}
