/* SPDX-License-Identifier: MIT */
#include "bus-errors.h"

#include <errno.h>
#include <string.h>

#include "host.h"
#include "names.h"

/* errno values are what an sd-bus client's sd_bus_call() returns. */
const sd_bus_error_map dc_bus_error_map[] = {
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_NO_SUCH_PLUGIN, ENOENT),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_NO_SUCH_FUNCTION, EBADRQC),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_INVALID_PARAMS, EINVAL),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_ALREADY_LOADED, EALREADY),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_NOT_LOADED, ESRCH),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_INCOMPATIBLE, EPROTO),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_INVALID_PACKAGE, EBADMSG),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_INVALID_ID, EINVAL),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_LOAD_FAILED, EIO),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_REJECTED, EPERM),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_TIMEOUT, ETIME),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_INVOKE_FAILED, EREMOTEIO),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_ALREADY_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_READ_ONLY, EROFS),
        SD_BUS_ERROR_MAP(DC_BUS_ERROR_SHUTTING_DOWN, ESHUTDOWN),
        SD_BUS_ERROR_MAP_END
};

int bus_error_from_operation(sd_bus_error *error, int r, const Verdict *v, const char *plugin_id) {
        Reason reason = v ? v->reason : REASON_NONE;
        const char *msg = v && v->message ? v->message : NULL;

        if (r >= 0)
                return r;
        if (reason == REASON_INVALID_ID)
                return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_ID, "Invalid plugin id \"%s\"", plugin_id);
        if (reason == REASON_ABI_MISMATCH)
                return sd_bus_error_setf(error, DC_BUS_ERROR_INCOMPATIBLE, "%s: %s", reason_to_string(reason), msg ? msg : "");
        if (reason != REASON_NONE && reason_is_rejection(reason))
                /* The message starts with the stable reason code. */
                return sd_bus_error_setf(error, DC_BUS_ERROR_REJECTED, "%s: %s", reason_to_string(reason), msg ? msg : "");
        if (reason == REASON_LOAD_FAILED || reason == REASON_INIT_FAILED || reason == REASON_READ_FAILED)
                return sd_bus_error_setf(error, DC_BUS_ERROR_LOAD_FAILED, "%s: %s", reason_to_string(reason), msg ? msg : "");
        if (reason == REASON_DISABLED)
                return sd_bus_error_setf(error, DC_BUS_ERROR_REJECTED, "disabled: plugin '%s' is disabled", plugin_id);
        switch (r) {
        case -ENOENT:
                return sd_bus_error_setf(error, DC_BUS_ERROR_NO_SUCH_PLUGIN, "No plugin '%s'", plugin_id);
        case -EALREADY:
                return sd_bus_error_setf(error, DC_BUS_ERROR_ALREADY_LOADED, "Plugin '%s' is already loaded", plugin_id);
        case -ESRCH:
                return sd_bus_error_setf(error, DC_BUS_ERROR_NOT_LOADED, "Plugin '%s' is not loaded", plugin_id);
        case -EBUSY:
                return sd_bus_error_setf(error, DC_BUS_ERROR_BUSY, "An operation on plugin '%s' is in progress", plugin_id);
        case -ESHUTDOWN:
                return sd_bus_error_set(error, DC_BUS_ERROR_SHUTTING_DOWN, "The plugin host is shutting down");
        case -ENOMEM:
                return sd_bus_error_set(error, SD_BUS_ERROR_NO_MEMORY, "Out of memory");
        default:
                return sd_bus_error_setf(error, DC_BUS_ERROR_LOAD_FAILED, "Operation on plugin '%s' failed: %s", plugin_id,
                                         msg ? msg : strerror(-r));
        }
}

int bus_error_from_install(sd_bus_error *error, int r, const Verdict *v, const char *plugin_id) {
        Reason reason = v ? v->reason : REASON_NONE;
        const char *msg = v && v->message ? v->message : strerror(-r);
        const char *code = reason_to_string(reason);

        if (r >= 0)
                return r;
        switch (reason) {
        case REASON_ALREADY_EXISTS:
                return sd_bus_error_set(error, DC_BUS_ERROR_ALREADY_EXISTS, msg);
        case REASON_READ_ONLY:
                return sd_bus_error_set(error, DC_BUS_ERROR_READ_ONLY, msg);
        case REASON_NOT_FOUND:
                return sd_bus_error_set(error, DC_BUS_ERROR_NO_SUCH_PLUGIN, msg);
        case REASON_INVALID_ID:
                return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_ID, "%s: %s", code, msg);
        case REASON_MANIFEST_MISSING:
        case REASON_MANIFEST_INVALID:
        case REASON_RUNTIME_UNSUPPORTED:
        case REASON_ID_MISMATCH:
                /* The package is malformed rather than distrusted. */
                return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_PACKAGE, "%s: %s", code, msg);
        case REASON_DIGEST_MISMATCH:
                /* The caller's archive digest (a pin mismatch is a policy rejection). */
                if (r == -EBADMSG)
                        return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_PACKAGE, "%s: %s", code, msg);
                break;
        default:
                if (reason_is_install_problem(reason))
                        return sd_bus_error_setf(error, DC_BUS_ERROR_INVALID_PACKAGE, "%s: %s", code, msg);
        }
        if (reason == REASON_NONE) {
                switch (r) {
                case -EEXIST:
                        return sd_bus_error_set(error, DC_BUS_ERROR_ALREADY_EXISTS, msg);
                case -EROFS:
                        return sd_bus_error_set(error, DC_BUS_ERROR_READ_ONLY, msg);
                case -EBUSY:
                        return sd_bus_error_set(error, DC_BUS_ERROR_BUSY, msg);
                case -ESHUTDOWN:
                        return sd_bus_error_set(error, DC_BUS_ERROR_SHUTTING_DOWN, "The plugin host is shutting down");
                case -ENOMEM:
                        return sd_bus_error_set(error, SD_BUS_ERROR_NO_MEMORY, "Out of memory");
                case -ENOENT:
                        return sd_bus_error_setf(error, DC_BUS_ERROR_NO_SUCH_PLUGIN, "No plugin '%s'", plugin_id ? plugin_id : "");
                default:
                        return sd_bus_error_setf(error, DC_BUS_ERROR_LOAD_FAILED, "Install failed: %s", msg);
                }
        }
        return bus_error_from_operation(error, r, v, plugin_id ? plugin_id : "");
}

int bus_error_from_invoke(sd_bus_error *error, int r, const char *message) {
        const char *name;

        switch (r) {
        case HOST_ERR_NO_SUCH_PLUGIN:
                name = DC_BUS_ERROR_NO_SUCH_PLUGIN;
                break;
        case HOST_ERR_NOT_LOADED:
                name = DC_BUS_ERROR_NOT_LOADED;
                break;
        case HOST_ERR_NO_SUCH_FUNCTION:
                name = DC_BUS_ERROR_NO_SUCH_FUNCTION;
                break;
        case HOST_ERR_INVALID_PARAMS:
                name = DC_BUS_ERROR_INVALID_PARAMS;
                break;
        case HOST_ERR_BUSY:
                name = DC_BUS_ERROR_BUSY;
                break;
        case HOST_ERR_TIMEOUT:
                name = DC_BUS_ERROR_TIMEOUT;
                break;
        case HOST_ERR_HANDLER_FAILED:
                name = DC_BUS_ERROR_INVOKE_FAILED;
                break;
        case -ESHUTDOWN:
                name = DC_BUS_ERROR_SHUTTING_DOWN;
                break;
        case -ENOMEM:
                name = SD_BUS_ERROR_NO_MEMORY;
                break;
        default:
                name = DC_BUS_ERROR_INVOKE_FAILED;
        }
        return sd_bus_error_set(error, name, message ? message : strerror(-r));
}
