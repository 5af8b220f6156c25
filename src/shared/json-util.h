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
 * Parse exactly one JSON value from text[0..len): strict RFC 8259 syntax
 * (no NaN/Infinity, no "1.", no raw control characters in strings), valid
 * UTF-8 (no encoded surrogates, no overlong forms), no string or member
 * name containing \u0000 or a lone surrogate escape, integers that fit
 * int64 or uint64 exactly, finite doubles, at most 64 nested containers, no
 * trailing bytes except whitespace, and no duplicate member names in any
 * object (compared decoded; json-c would keep the last).  A pure function of
 * its input, safe from any thread (SECURITY.md, "Strict JSON").
 * Returns 0 (*ret is NULL for JSON null), -EBADMSG for invalid JSON,
 * -ENOTUNIQ for a duplicate name (then *dup_key, if given, receives the
 * decoded name), or -ENOMEM.
 */
int json_parse_strict(const char *text, size_t len, struct json_object **ret, char **dup_key);

typedef struct JsonError {
        const char *message; /* static text, e.g. "string contains \\u0000" */
        size_t offset;       /* byte offset of the problem */
} JsonError;
/* The same, with *error (if given) describing a refusal. */
int json_parse_strict_ex(const char *text, size_t len, struct json_object **ret, char **dup_key, JsonError *error);

/* "object", "array", "string", "number", "boolean" or "null". */
const char *json_type_to_json_name(struct json_object *o);

/* o[key] when o is an object and that member a string, else NULL (owned by o). */
const char *json_get_string(struct json_object *o, const char *key);
/* For display: "" and 0 where the member is missing or of another type. */
const char *json_get_string_or_empty(struct json_object *o, const char *key);
int json_get_int_or_zero(struct json_object *o, const char *key);
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
/* -EBADMSG also for an integer beyond int64 (a uint64 above INT64_MAX). */
int json_member_int64(struct json_object *o, const char *key, int64_t *ret);
int json_member_object(struct json_object *o, const char *key, struct json_object **ret);
