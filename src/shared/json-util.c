/* SPDX-License-Identifier: MIT */
#include "json-util.h"

#include <pthread.h>
#include <string.h>

/*
 * Walk already-validated JSON text and detect duplicate member names per
 * object.  Keys compare decoded, so "\u0061" and "a" are the same name.
 * This runs on every request: no allocation for keys without escapes.
 */
typedef struct Scanner {
        const char *p, *end;
        char *dup;
} Scanner;

typedef struct Key {
        const char *p; /* decoded bytes */
        size_t n;
        char *owned; /* set when escapes were decoded */
} Key;

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

static unsigned hex4(const char *p) {
        unsigned v = 0;
        for (int i = 0; i < 4; i++) {
                char c = p[i];
                v = v * 16 + (unsigned) (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        return v;
}

static size_t put_utf8(char *out, unsigned cp) {
        if (cp < 0x80)
                return out[0] = (char) cp, 1;
        if (cp < 0x800)
                return out[0] = (char) (0xc0 | cp >> 6), out[1] = (char) (0x80 | (cp & 0x3f)), 2;
        if (cp < 0x10000)
                return out[0] = (char) (0xe0 | cp >> 12), out[1] = (char) (0x80 | ((cp >> 6) & 0x3f)),
                       out[2] = (char) (0x80 | (cp & 0x3f)), 3;
        out[0] = (char) (0xf0 | cp >> 18);
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* lit: a valid JSON string literal of n bytes, quotes included. */
static int key_decode(const char *lit, size_t n, Key *k) {
        const char *in = lit + 1, *end = lit + n - 1;

        *k = (Key){ .p = in, .n = (size_t) (end - in) };
        if (!memchr(in, '\\', k->n))
                return 0;
        char *out = malloc(k->n + 1); /* decoding never grows the text */
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        while (in < end) {
                if (*in != '\\') {
                        out[o++] = *in++;
                        continue;
                }
                char e = in[1];
                in += 2;
                switch (e) {
                case 'b': out[o++] = '\b'; break;
                case 'f': out[o++] = '\f'; break;
                case 'n': out[o++] = '\n'; break;
                case 'r': out[o++] = '\r'; break;
                case 't': out[o++] = '\t'; break;
                case 'u': {
                        unsigned cp = hex4(in);
                        in += 4;
                        if (cp >= 0xd800 && cp < 0xdc00 && end - in >= 6 && in[0] == '\\' && in[1] == 'u') {
                                unsigned lo = hex4(in + 2);
                                if (lo >= 0xdc00 && lo < 0xe000) {
                                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                        in += 6;
                                }
                        }
                        o += put_utf8(out + o, cp);
                        break;
                }
                default: out[o++] = e; break; /* \" \\ \/ */
                }
        }
        k->p = k->owned = out;
        k->n = o;
        return 0;
}

static bool key_equal(const Key *a, const Key *b) {
        return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static int key_cmp(const void *x, const void *y) {
        const Key *a = x, *b = y;
        int c = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);
        return c ? c : (a->n > b->n) - (a->n < b->n);
}

static int report_dup(Scanner *s, const Key *k) {
        if (!s->dup)
                s->dup = strndup(k->p, k->n);
        return -ENOTUNIQ;
}

/* Pairwise for small objects (reports the first repeat), sorted for
 * large ones so a hostile object cannot make this quadratic. */
#define PAIRWISE_KEYS 32

static int scan_value(Scanner *s, int depth);

static int scan_object(Scanner *s, int depth) {
        size_t n_keys = 0, cap = 0;
        Key *keys = NULL;
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
                if (n_keys == cap) {
                        Key *nk = realloc(keys, (cap = cap ? cap * 2 : 8) * sizeof(Key));
                        if (!nk) {
                                r = -ENOMEM;
                                break;
                        }
                        keys = nk;
                }
                size_t n = string_span(s->p, s->end);
                r = key_decode(s->p, n, &keys[n_keys]);
                if (r < 0)
                        break;
                s->p += n;
                n_keys++;
                for (size_t i = 0; n_keys <= PAIRWISE_KEYS && i + 1 < n_keys && r >= 0; i++)
                        if (key_equal(&keys[i], &keys[n_keys - 1]))
                                r = report_dup(s, &keys[i]);
                if (r < 0)
                        break;
                skip_ws(s);
                if (s->p < s->end && *s->p == ':')
                        s->p++;
                r = scan_value(s, depth + 1);
                if (r < 0)
                        break;
        }
        if (r >= 0 && n_keys > PAIRWISE_KEYS) {
                qsort(keys, n_keys, sizeof(Key), key_cmp);
                for (size_t i = 1; i < n_keys && r >= 0; i++)
                        if (key_equal(&keys[i - 1], &keys[i]))
                                r = report_dup(s, &keys[i]);
        }
        for (size_t i = 0; i < n_keys; i++)
                free(keys[i].owned);
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

/* One tokener per thread, reset between documents: a fresh one costs a
 * large allocation on every request. */
static pthread_key_t tokener_key;
static pthread_once_t tokener_once = PTHREAD_ONCE_INIT;
static bool tokener_key_ok;

static void tokener_free(void *t) {
        json_tokener_free(t);
}

static void tokener_key_init(void) {
        tokener_key_ok = pthread_key_create(&tokener_key, tokener_free) == 0;
}

/* *owned: the caller frees it (no per-thread slot). */
static struct json_tokener *tokener_get(bool *owned) {
        struct json_tokener *tok;

        (void) pthread_once(&tokener_once, tokener_key_init);
        tok = tokener_key_ok ? pthread_getspecific(tokener_key) : NULL;
        *owned = false;
        if (tok) {
                json_tokener_reset(tok);
                return tok;
        }
        tok = json_tokener_new_ex(64);
        if (!tok)
                return NULL;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        *owned = !tokener_key_ok || pthread_setspecific(tokener_key, tok) != 0;
        return tok;
}

int json_parse_strict(const char *text, size_t len, struct json_object **ret, char **dup_key) {
        struct json_tokener *tok;
        struct json_object *o;
        size_t consumed;

        if (!text || memchr(text, 0, len))
                return -EBADMSG;
        bool owned;
        tok = tokener_get(&owned);
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, text, (int) len);
        if (!o && json_tokener_get_error(tok) == json_tokener_continue && len > 0)
                /* A bare number at the end of input needs a terminator. */
                o = json_tokener_parse_ex(tok, " ", 1), consumed = len;
        else
                consumed = json_tokener_get_parse_end(tok);
        bool ok = json_tokener_get_error(tok) == json_tokener_success;
        if (owned)
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
        if (r >= 0)
                *ret = json_object_get_int64(x);
        return r;
}

int json_member_object(struct json_object *o, const char *key, struct json_object **ret) {
        return member(o, key, json_type_object, ret);
}
