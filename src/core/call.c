/* SPDX-License-Identifier: MIT */
#include "call.h"

#include <stdarg.h>

#include "json-util.h"
#include "schema.h"

int call_error(char **error_message, int error, const char *fmt, ...) {
        va_list ap;
        if (error_message) {
                va_start(ap, fmt);
                if (vasprintf(error_message, fmt, ap) < 0)
                        *error_message = NULL;
                va_end(ap);
        }
        return error;
}

int call_check_params(const PluginFunction *fn, struct json_object *params, size_t text_len, char **error_message) {
        _cleanup_free_ char *err = NULL;

        assert(fn);
        if (text_len > HOST_MAX_PARAMS)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params exceed %u bytes", HOST_MAX_PARAMS);
        if (!params || !json_object_is_type(params, json_type_object))
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params must be a JSON object");
        if (schema_validate(fn->schema, params, &err) < 0)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "%s", err ? err : "invalid params");
        return 0;
}

int call_parse_params(const PluginFunction *fn, const char *params_json, struct json_object **ret_params,
                      char **error_message) {
        _cleanup_json_ struct json_object *params = NULL;
        _cleanup_free_ char *dup = NULL;
        int r;

        if (isempty(params_json))
                params_json = "{}";
        size_t n = strlen(params_json);
        if (n > HOST_MAX_PARAMS)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params exceed %u bytes", HOST_MAX_PARAMS);
        r = json_parse_strict(params_json, n, &params, &dup);
        if (r == -ENOTUNIQ)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params: duplicate key \"%s\"", dup);
        if (r < 0)
                return call_error(error_message, HOST_ERR_INVALID_PARAMS, "params are not valid JSON");
        r = call_check_params(fn, params, n, error_message);
        if (r < 0)
                return r;
        *ret_params = TAKE_PTR(params);
        return 0;
}

int call_outcome(const struct dc_call *call, int r, const char **result, const char **message) {
        if (r < 0 || call->error) {
                const char *e = r < 0 ? strerrordesc_np(-r) : NULL;
                *message = call->error ? call->error : e ? e : "plugin call failed";
                return HOST_ERR_HANDLER_FAILED;
        }
        *result = call->result ? call->result : "null";
        return 0;
}
