/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put);
#define _cleanup_json_ _cleanup_(json_object_putp)

/*
 * Parse exactly one JSON value from text[0..len): strict RFC 8259 syntax,
 * valid UTF-8, no trailing bytes except whitespace, no NUL bytes, and no
 * duplicate member names in any object (json-c silently keeps the last one).
 * Returns 0, -EBADMSG for invalid JSON, or -ENOTUNIQ for a duplicate key
 * (then *dup_key, if given, receives the decoded name).
 */
int json_parse_strict(const char *text, size_t len, struct json_object **ret, char **dup_key);

/* "object", "array", "string", "number", "boolean" or "null". */
const char *json_type_to_json_name(struct json_object *o);

/* o[key] when o is an object and that member a string, else NULL (owned by o). */
const char *json_get_string(struct json_object *o, const char *key);
/* The same, copied (NULL when absent). */
char *json_dup_string(struct json_object *o, const char *key);

/* Serialise compactly (no spaces, slashes unescaped); owned by o. */
const char *json_to_string_compact(struct json_object *o);

/*
 * Typed members of a possibly hostile object: 0 and *ret; -ENOENT when o is
 * not an object or has no such member; -EBADMSG when the member has another
 * type (JSON null included).  *ret is owned by o.
 */
int json_member_string(struct json_object *o, const char *key, const char **ret);
int json_member_bool(struct json_object *o, const char *key, bool *ret);
int json_member_int64(struct json_object *o, const char *key, int64_t *ret);
int json_member_object(struct json_object *o, const char *key, struct json_object **ret);
