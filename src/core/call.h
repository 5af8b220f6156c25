/* SPDX-License-Identifier: MIT */
/*
 * The call contract, the same on every path (worker pool, direct call):
 * what params a handler may see and what its outcome means to a caller.
 * Any thread.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "plugin-instance.h"

/* Size, strict-object and schema checks of a call's params: 0, or
 * HOST_ERR_INVALID_PARAMS with *error_message. */
int call_check_params(const PluginFunction *fn, struct json_object *params, size_t text_len, char **error_message);
/* params_json ("" or NULL = {}) parsed strictly and checked: 0 with
 * *ret_params, or HOST_ERR_INVALID_PARAMS with *error_message. */
int call_parse_params(const PluginFunction *fn, const char *params_json, struct json_object **ret_params,
                      char **error_message);
/* The outcome of a handler that returned r: 0 and *result ("null" if it
 * never replied), or HOST_ERR_HANDLER_FAILED and *message.  The pointers
 * refer to call or to static text. */
int call_outcome(const struct dc_call *call, int r, const char **result, const char **message);
/* Set *error_message (if given) from a format and return error. */
int call_error(char **error_message, int error, const char *fmt, ...) _printf_(3, 4);
