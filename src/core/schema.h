/* SPDX-License-Identifier: MIT */
/*
 * The JSON Schema subset plugins declare for their params (and events):
 * "type" (object, string, number, integer, boolean, array, null, or a list
 * of those), "properties", "required", "additionalProperties" (false is
 * implied for the params object: unknown keys are refused), "items",
 * "enum", "minimum", "maximum", "minLength", "maxLength", "minItems",
 * "maxItems", "description", "default", "title", "examples".
 * Any other keyword makes the schema invalid at load time, so a plugin never
 * believes the host checks something it does not.
 */
#pragma once

#include <json-c/json.h>

/* Parse and check a schema (NULL/"" = no params: {"type":"object","properties":{}}).
 * Returns 0 with *ret, or -EINVAL with *error. */
int schema_compile(const char *text, struct json_object **ret, char **error);
/* Validate a value.  0, or -EINVAL with *error naming the path ("params.count: expected number"). */
int schema_validate(struct json_object *schema, struct json_object *value, char **error);
