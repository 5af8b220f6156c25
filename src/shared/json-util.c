/* SPDX-License-Identifier: MIT */
#include "json-util.h"

#include <string.h>

const char *json_type_to_json_name(struct json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "boolean";
        case json_type_double:
        case json_type_int:
                return "number";
        case json_type_object:
                return "object";
        case json_type_array:
                return "array";
        case json_type_string:
                return "string";
        }
        return "unknown";
}

const char *json_to_string_compact(struct json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

const char *json_get_string(struct json_object *o, const char *key) {
        struct json_object *x;
        if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_string))
                return NULL;
        return json_object_get_string(x);
}

const char *json_get_string_or_empty(struct json_object *o, const char *key) {
        const char *s = json_get_string(o, key);
        return s ?: "";
}

int json_get_int_or_zero(struct json_object *o, const char *key) {
        struct json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_int(v) : 0;
}

char *json_dup_string(struct json_object *o, const char *key) {
        const char *s = json_get_string(o, key);
        return s ? strdup(s) : NULL;
}

/* Peer-controlled objects: json-c's get_ex() reports a JSON null member as
 * present with a NULL value, so every read checks the type as well. */
static int member(struct json_object *o, const char *key, json_type type, struct json_object **ret) {
        struct json_object *x;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &x))
                return -ENOENT;
        if (!json_object_is_type(x, type))
                return -EBADMSG;
        *ret = x;
        return 0;
}

int json_member_string(struct json_object *o, const char *key, const char **ret) {
        struct json_object *x;
        int r = member(o, key, json_type_string, &x);
        if (r >= 0)
                *ret = json_object_get_string(x);
        return r;
}

int json_member_bool(struct json_object *o, const char *key, bool *ret) {
        struct json_object *x;
        int r = member(o, key, json_type_boolean, &x);
        if (r >= 0)
                *ret = json_object_get_boolean(x);
        return r;
}

int json_member_int64(struct json_object *o, const char *key, int64_t *ret) {
        struct json_object *x;
        int r = member(o, key, json_type_int, &x);
        if (r < 0)
                return r;
        /* json-c clamps a uint64 above INT64_MAX: refuse it instead. */
        int64_t i = json_object_get_int64(x);
        if (i == INT64_MAX && json_object_get_uint64(x) != (uint64_t) INT64_MAX)
                return -EBADMSG;
        *ret = i;
        return 0;
}

int json_member_object(struct json_object *o, const char *key, struct json_object **ret) {
        return member(o, key, json_type_object, ret);
}
