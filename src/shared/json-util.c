/* SPDX-License-Identifier: MIT */
#include "json-util.h"

#include <string.h>

/*
 * Walk already-validated JSON text and detect duplicate member names per
 * object.  Keys are decoded by json-c itself (a string literal is valid
 * JSON), so "\u0061" and "a" compare equal.
 */
typedef struct Scanner {
        const char *p, *end;
        char *dup;
} Scanner;

static void skip_ws(Scanner *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
                s->p++;
}

/* Returns the raw literal length including quotes. */
static size_t string_span(const char *p, const char *end) {
        const char *q = p + 1;
        while (q < end && *q != '"') {
                if (*q == '\\')
                        q++;
                q++;
        }
        return (size_t) (q + 1 - p);
}

static char *decode_key(const char *p, size_t n) {
        _cleanup_free_ char *lit = strndup(p, n);
        if (!lit)
                return NULL;
        struct json_object *o = json_tokener_parse(lit);
        char *r = o && json_object_is_type(o, json_type_string) ? strdup(json_object_get_string(o)) : NULL;
        json_object_put(o);
        return r;
}

static int scan_value(Scanner *s, int depth);

static int scan_object(Scanner *s, int depth) {
        size_t n_keys = 0, cap = 0;
        char **keys = NULL;
        int r = 0;

        s->p++; /* { */
        for (;;) {
                skip_ws(s);
                if (s->p >= s->end)
                        break;
                if (*s->p == '}') {
                        s->p++;
                        break;
                }
                if (*s->p == ',') {
                        s->p++;
                        continue;
                }
                if (*s->p != '"') {
                        r = -EBADMSG;
                        break;
                }
                size_t n = string_span(s->p, s->end);
                char *k = decode_key(s->p, n);
                if (!k) {
                        r = -ENOMEM;
                        break;
                }
                s->p += n;
                for (size_t i = 0; i < n_keys; i++)
                        if (streq(keys[i], k)) {
                                if (!s->dup)
                                        s->dup = strdup(k);
                                r = -ENOTUNIQ;
                        }
                if (n_keys == cap) {
                        cap = cap ? cap * 2 : 8;
                        char **nk = realloc(keys, cap * sizeof(char *));
                        if (!nk) {
                                free(k);
                                r = -ENOMEM;
                                break;
                        }
                        keys = nk;
                }
                keys[n_keys++] = k;
                if (r < 0)
                        break;
                skip_ws(s);
                if (s->p < s->end && *s->p == ':')
                        s->p++;
                r = scan_value(s, depth + 1);
                if (r < 0)
                        break;
        }
        for (size_t i = 0; i < n_keys; i++)
                free(keys[i]);
        free(keys);
        return r;
}

static int scan_value(Scanner *s, int depth) {
        if (depth > 64)
                return -EBADMSG;
        skip_ws(s);
        if (s->p >= s->end)
                return 0;
        if (*s->p == '{')
                return scan_object(s, depth);
        if (*s->p == '[') {
                s->p++;
                for (;;) {
                        skip_ws(s);
                        if (s->p >= s->end)
                                return 0;
                        if (*s->p == ']') {
                                s->p++;
                                return 0;
                        }
                        if (*s->p == ',') {
                                s->p++;
                                continue;
                        }
                        int r = scan_value(s, depth + 1);
                        if (r < 0)
                                return r;
                }
        }
        if (*s->p == '"') {
                s->p += string_span(s->p, s->end);
                return 0;
        }
        /* number, true, false, null */
        while (s->p < s->end && !strchr(",]} \t\r\n", *s->p))
                s->p++;
        return 0;
}

int json_parse_strict(const char *text, size_t len, struct json_object **ret, char **dup_key) {
        struct json_tokener *tok;
        struct json_object *o;
        size_t consumed;

        if (!text || memchr(text, 0, len))
                return -EBADMSG;
        tok = json_tokener_new_ex(64);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        o = json_tokener_parse_ex(tok, text, (int) len);
        if (!o && json_tokener_get_error(tok) == json_tokener_continue && len > 0)
                /* A bare number at the end of input needs a terminator. */
                o = json_tokener_parse_ex(tok, " ", 1), consumed = len;
        else
                consumed = json_tokener_get_parse_end(tok);
        bool ok = json_tokener_get_error(tok) == json_tokener_success;
        json_tokener_free(tok);
        if (!ok || (!o && len == 0)) {
                json_object_put(o);
                return -EBADMSG;
        }
        for (size_t i = consumed; i < len; i++)
                if (!strchr(" \t\r\n", text[i])) {
                        json_object_put(o);
                        return -EBADMSG;
                }
        /* JSON null parses to NULL: valid, but callers see *ret == NULL. */
        Scanner s = { .p = text, .end = text + len };
        int r = scan_value(&s, 0);
        if (r < 0) {
                json_object_put(o);
                if (dup_key)
                        *dup_key = TAKE_PTR(s.dup);
                free(s.dup);
                return r;
        }
        free(s.dup);
        *ret = o;
        return 0;
}

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

char *json_dup_string(struct json_object *o, const char *key) {
        const char *s = json_get_string(o, key);
        return s ? strdup(s) : NULL;
}
