/* SPDX-License-Identifier: MIT */
#include "schema.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>

#include "json-util.h"
#include "macro.h"

static const char *const known_keywords[] = {
        "type", "properties", "required", "additionalProperties", "items", "enum", "minimum", "maximum",
        "minLength", "maxLength", "minItems", "maxItems", "description", "default", "title", "examples", "$schema",
};
static const char *const known_types[] = { "object", "string", "number", "integer", "boolean", "array", "null" };

_printf_(2, 3) static int set_error(char **error, const char *fmt, ...) {
        va_list ap;

        free(*error);
        va_start(ap, fmt);
        if (vasprintf(error, fmt, ap) < 0)
                *error = NULL;
        va_end(ap);
        return -EINVAL;
}

/* Compiled schemas are shared by threads (direct calls, events), and json-c
 * serialises an object into a buffer inside it: error texts quote a copy
 * made under a lock. */
static char *quote(struct json_object *x) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&lock);
        char *t = strdup(json_to_string_compact(x));
        pthread_mutex_unlock(&lock);
        return t;
}

/* "<path>: <before><x><after>" */
static int fail_quoting(char **error, const char *path, const char *before, struct json_object *x, const char *after) {
        _cleanup_free_ char *t = quote(x);
        return set_error(error, "%s: %s%s%s", path, before, t ? t : "?", after);
}

static bool is_known(const char *s, const char *const *table, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(s, table[i]))
                        return true;
        return false;
}

static int check_schema(struct json_object *s, const char *path, int depth, char **error) {
        char sub[256];

        if (depth > 16)
                return set_error(error, "%s: schema nested too deeply", path);
        if (!json_object_is_type(s, json_type_object))
                return set_error(error, "%s: schema must be an object", path);
        json_object_object_foreach(s, key, val) {
                if (!is_known(key, known_keywords, ELEMENTSOF(known_keywords)))
                        return set_error(error, "%s: unsupported schema keyword \"%s\"", path, key);
                if (streq(key, "type")) {
                        if (json_object_is_type(val, json_type_string)) {
                                if (!is_known(json_object_get_string(val), known_types, ELEMENTSOF(known_types)))
                                        return set_error(error, "%s: unknown type \"%s\"", path, json_object_get_string(val));
                        } else if (json_object_is_type(val, json_type_array)) {
                                for (size_t i = 0; i < json_object_array_length(val); i++) {
                                        struct json_object *t = json_object_array_get_idx(val, i);
                                        if (!json_object_is_type(t, json_type_string) ||
                                            !is_known(json_object_get_string(t), known_types, ELEMENTSOF(known_types)))
                                                return set_error(error, "%s: invalid \"type\" list", path);
                                }
                        } else
                                return set_error(error, "%s: \"type\" must be a string or a list", path);
                } else if (streq(key, "properties")) {
                        if (!json_object_is_type(val, json_type_object))
                                return set_error(error, "%s: \"properties\" must be an object", path);
                        json_object_object_foreach(val, pname, pschema) {
                                snprintf(sub, sizeof sub, "%s.%s", path, pname);
                                int r = check_schema(pschema, sub, depth + 1, error);
                                if (r < 0)
                                        return r;
                        }
                } else if (streq(key, "items")) {
                        snprintf(sub, sizeof sub, "%s[]", path);
                        int r = check_schema(val, sub, depth + 1, error);
                        if (r < 0)
                                return r;
                } else if (streq(key, "required")) {
                        if (!json_object_is_type(val, json_type_array))
                                return set_error(error, "%s: \"required\" must be a list", path);
                        for (size_t i = 0; i < json_object_array_length(val); i++)
                                if (!json_object_is_type(json_object_array_get_idx(val, i), json_type_string))
                                        return set_error(error, "%s: \"required\" must list strings", path);
                } else if (streq(key, "additionalProperties")) {
                        if (!json_object_is_type(val, json_type_boolean))
                                return set_error(error, "%s: \"additionalProperties\" must be a boolean", path);
                } else if (streq(key, "enum")) {
                        if (!json_object_is_type(val, json_type_array) || json_object_array_length(val) == 0)
                                return set_error(error, "%s: \"enum\" must be a non-empty list", path);
                } else if (streq(key, "minimum") || streq(key, "maximum")) {
                        if ((!json_object_is_type(val, json_type_int) && !json_object_is_type(val, json_type_double)) ||
                            (json_object_is_type(val, json_type_double) && !isfinite(json_object_get_double(val))))
                                return set_error(error, "%s: \"%s\" must be a finite number", path, key);
                } else if (strncmp(key, "min", 3) == 0 || strncmp(key, "max", 3) == 0) {
                        if (!json_object_is_type(val, json_type_int) || json_object_get_int64(val) < 0)
                                return set_error(error, "%s: \"%s\" must be a non-negative integer", path, key);
                }
        }
        return 0;
}

int schema_compile(const char *text, struct json_object **ret, char **error) {
        _cleanup_json_ struct json_object *s = NULL;
        _cleanup_free_ char *dup = NULL;
        struct json_object *t;
        int r;

        if (isempty(text))
                text = "{\"type\":\"object\",\"properties\":{}}";
        JsonError e = {};
        r = json_parse_strict_ex(text, strlen(text), &s, &dup, &e);
        if (r == -ENOTUNIQ)
                return set_error(error, "params: duplicate key \"%s\" in schema", dup);
        if (r == -ENOMEM)
                return set_error(error, "params: out of memory");
        if (r < 0)
                return set_error(error, "params: schema is not valid JSON: %s at byte %zu", e.message, e.offset);
        if (!s)
                return set_error(error, "params: schema is null");
        r = check_schema(s, "params", 0, error);
        if (r < 0)
                return r;
        /* The params of a call are always an object. */
        if (!json_object_object_get_ex(s, "type", &t) || !json_object_is_type(t, json_type_string) ||
            !streq(json_object_get_string(t), "object"))
                return set_error(error, "params: the schema's \"type\" must be \"object\"");
        *ret = TAKE_PTR(s);
        return 0;
}

/*
 * Numbers compare exactly, whatever their representation: json-c keeps
 * int64, uint64 (above INT64_MAX) and double apart, and a double compare
 * would let 2^53+1 pass a maximum of 2^53 or call 1.0 and 1 different.
 */
typedef struct Number {
        enum { NUM_INT, NUM_UINT, NUM_DOUBLE } kind;
        int64_t i;
        uint64_t u;
        double d;
} Number;

static bool number_get(struct json_object *o, Number *n) {
        if (json_object_is_type(o, json_type_int)) {
                *n = (Number){ .kind = NUM_INT, .i = json_object_get_int64(o) };
                if (n->i == INT64_MAX && json_object_get_uint64(o) > (uint64_t) INT64_MAX)
                        *n = (Number){ .kind = NUM_UINT, .u = json_object_get_uint64(o) };
                return true;
        }
        if (json_object_is_type(o, json_type_double)) {
                *n = (Number){ .kind = NUM_DOUBLE, .d = json_object_get_double(o) };
                return true;
        }
        return false;
}

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

/* An integer against a finite double: compare with the double's integer part,
 * then its fraction. */
static int cmp_int_double(bool is_unsigned, int64_t i, uint64_t u, double d) {
        if (d >= 0x1p64)
                return -1;
        if (is_unsigned && d < 0x1p63)
                return 1;
        if (!is_unsigned && d >= 0x1p63)
                return -1;
        if (!is_unsigned && d < -0x1p63)
                return 1;
        double t = trunc(d);
        int c = is_unsigned ? CMP(u, (uint64_t) t) : CMP(i, (int64_t) t);
        return c ? c : CMP(t, d); /* t < d: the integer is smaller */
}

/* -1, 0, 1; or 2 when either is not a finite number. */
static int number_cmp(const Number *a, const Number *b) {
        if ((a->kind == NUM_DOUBLE && !isfinite(a->d)) || (b->kind == NUM_DOUBLE && !isfinite(b->d)))
                return 2;
        if (a->kind == NUM_DOUBLE && b->kind == NUM_DOUBLE)
                return CMP(a->d, b->d);
        if (a->kind == NUM_DOUBLE)
                return -number_cmp(b, a);
        if (b->kind == NUM_DOUBLE)
                return cmp_int_double(a->kind == NUM_UINT, a->i, a->u, b->d);
        if (a->kind != b->kind)
                return a->kind == NUM_UINT ? 1 : -1;
        return a->kind == NUM_UINT ? CMP(a->u, b->u) : CMP(a->i, b->i);
}

/* JSON equality for "enum": numbers by value (1.0 is 1), members in any order. */
static bool json_equal(struct json_object *a, struct json_object *b) {
        Number x, y;
        if (number_get(a, &x) && number_get(b, &y))
                return number_cmp(&x, &y) == 0;
        if (json_object_get_type(a) != json_object_get_type(b))
                return false;
        switch (json_object_get_type(a)) {
        case json_type_array: {
                size_t n = json_object_array_length(a);
                if (n != json_object_array_length(b))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if (!json_equal(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i)))
                                return false;
                return true;
        }
        case json_type_object: {
                if (json_object_object_length(a) != json_object_object_length(b))
                        return false;
                json_object_object_foreach(a, key, val) {
                        struct json_object *other;
                        if (!json_object_object_get_ex(b, key, &other) || !json_equal(val, other))
                                return false;
                }
                return true;
        }
        default:
                return json_object_equal(a, b); /* null, boolean, string */
        }
}

static bool type_matches(const char *type, struct json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_null:
                return streq(type, "null");
        case json_type_boolean:
                return streq(type, "boolean");
        case json_type_int:
                return streq(type, "integer") || streq(type, "number");
        case json_type_double: {
                double d = json_object_get_double(v);
                if (!isfinite(d))
                        return false;
                return streq(type, "number") || (streq(type, "integer") && d == floor(d));
        }
        case json_type_string:
                return streq(type, "string");
        case json_type_array:
                return streq(type, "array");
        case json_type_object:
                return streq(type, "object");
        }
        return false;
}

/* Code points of a string of n bytes (the parser guarantees UTF-8 and no NUL;
 * counting to n rather than to a NUL keeps that from mattering here). */
static size_t utf8_length(const char *s, size_t n) {
        size_t cps = 0;
        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        cps++;
        return cps;
}

static int validate(struct json_object *s, struct json_object *v, const char *path, char **error) {
        struct json_object *x;
        char sub[256];

        if (json_object_object_get_ex(s, "type", &x)) {
                bool ok = false;
                if (json_object_is_type(x, json_type_string))
                        ok = type_matches(json_object_get_string(x), v);
                else
                        for (size_t i = 0; i < json_object_array_length(x) && !ok; i++)
                                ok = type_matches(json_object_get_string(json_object_array_get_idx(x, i)), v);
                if (!ok && json_object_is_type(x, json_type_string))
                        return set_error(error, "%s: expected %s", path, json_object_get_string(x));
                if (!ok)
                        return fail_quoting(error, path, "expected ", x, "");
        }
        if (json_object_object_get_ex(s, "enum", &x)) {
                bool ok = false;
                for (size_t i = 0; i < json_object_array_length(x) && !ok; i++)
                        ok = json_equal(json_object_array_get_idx(x, i), v);
                if (!ok)
                        return fail_quoting(error, path, "must be one of ", x, "");
        }
        Number num, bound;
        if (number_get(v, &num)) {
                if (num.kind == NUM_DOUBLE && !isfinite(num.d))
                        return set_error(error, "%s: not a finite number", path);
                /* number_cmp() gives 2 for anything not comparable: refused */
                if (json_object_object_get_ex(s, "minimum", &x) && number_get(x, &bound) &&
                    (number_cmp(&num, &bound) == -1 || number_cmp(&num, &bound) == 2))
                        return fail_quoting(error, path, "must be >= ", x, "");
                if (json_object_object_get_ex(s, "maximum", &x) && number_get(x, &bound) && number_cmp(&num, &bound) >= 1)
                        return fail_quoting(error, path, "must be <= ", x, "");
        }
        if (json_object_is_type(v, json_type_string)) {
                size_t n = utf8_length(json_object_get_string(v), (size_t) json_object_get_string_len(v));
                if (json_object_object_get_ex(s, "minLength", &x) && n < (size_t) json_object_get_int64(x))
                        return fail_quoting(error, path, "shorter than ", x, " characters");
                if (json_object_object_get_ex(s, "maxLength", &x) && n > (size_t) json_object_get_int64(x))
                        return fail_quoting(error, path, "longer than ", x, " characters");
        }
        if (json_object_is_type(v, json_type_array)) {
                size_t n = json_object_array_length(v);
                if (json_object_object_get_ex(s, "minItems", &x) && n < (size_t) json_object_get_int64(x))
                        return fail_quoting(error, path, "fewer than ", x, " items");
                if (json_object_object_get_ex(s, "maxItems", &x) && n > (size_t) json_object_get_int64(x))
                        return fail_quoting(error, path, "more than ", x, " items");
                if (json_object_object_get_ex(s, "items", &x))
                        for (size_t i = 0; i < n; i++) {
                                snprintf(sub, sizeof sub, "%s[%zu]", path, i);
                                int r = validate(x, json_object_array_get_idx(v, i), sub, error);
                                if (r < 0)
                                        return r;
                        }
        }
        if (json_object_is_type(v, json_type_object)) {
                struct json_object *props = NULL, *req, *addl;
                json_object_object_get_ex(s, "properties", &props);
                if (json_object_object_get_ex(s, "required", &req))
                        for (size_t i = 0; i < json_object_array_length(req); i++) {
                                const char *k = json_object_get_string(json_object_array_get_idx(req, i));
                                if (!json_object_object_get_ex(v, k, NULL))
                                        return set_error(error, "%s: missing required key \"%s\"", path, k);
                        }
                /* Unknown keys are refused unless additionalProperties is true. */
                bool allow_extra = json_object_object_get_ex(s, "additionalProperties", &addl) &&
                                   json_object_get_boolean(addl);
                json_object_object_foreach(v, key, val) {
                        struct json_object *ps;
                        if (props && json_object_object_get_ex(props, key, &ps)) {
                                snprintf(sub, sizeof sub, "%s.%s", path, key);
                                int r = validate(ps, val, sub, error);
                                if (r < 0)
                                        return r;
                        } else if (!allow_extra)
                                return set_error(error, "%s: unknown key \"%s\"", path, key);
                }
        }
        return 0;
}

int schema_validate(struct json_object *schema, struct json_object *value, char **error) {
        return validate(schema, value, "params", error);
}
