/* SPDX-License-Identifier: MIT */
/*
 * The strict JSON parser (json-util.h): one pass that validates RFC 8259
 * text under the project's rules (SECURITY.md, "Strict JSON") and builds
 * json-c objects from what it has already validated.  json-c's tokener is
 * not used: it accepts NaN, Infinity, "1." and raw control characters,
 * clamps large integers, cuts names at \u0000, and keeps state between
 * documents.  This parser keeps none: the result is a pure function of the
 * input bytes, and any number of threads may call it at once.
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "json-util.h"

#define SCRATCH_STACK 512

typedef struct Parser {
        const uint8_t *p, *end, *start;
        char *buf; /* decoded strings, numbers: stack or heap */
        size_t buf_size;
        char *heap;
        char *dup; /* first duplicate member name (decoded) */
        const char *error;
        size_t error_offset;
} Parser;

static int fail(Parser *ps, const uint8_t *at, const char *message) {
        if (!ps->error) {
                ps->error = message;
                ps->error_offset = (size_t) (at - ps->start);
        }
        return -EBADMSG;
}

static void skip_ws(Parser *ps) {
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
                ps->p++;
}

/* Scratch space for n bytes plus a NUL.  Decoding never grows the text, so
 * one heap buffer of the input's length serves the whole document. */
static char *scratch(Parser *ps, size_t n) {
        if (n < ps->buf_size)
                return ps->buf;
        if (!ps->heap) {
                ps->heap = malloc((size_t) (ps->end - ps->start) + 1);
                if (!ps->heap)
                        return NULL;
        }
        ps->buf = ps->heap;
        ps->buf_size = (size_t) (ps->end - ps->start) + 1;
        return ps->buf;
}

static int hex_digit(uint8_t c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c |= 0x20;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* \uXXXX at p (on the backslash): the code unit, or -1. */
static long hex4(const uint8_t *p, const uint8_t *end) {
        long v = 0;
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                return -1;
        for (int i = 2; i < 6; i++) {
                int d = hex_digit(p[i]);
                if (d < 0)
                        return -1;
                v = v * 16 + d;
        }
        return v;
}

/* Length of the well-formed UTF-8 sequence at p (Unicode Table 3-7: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_sequence(const uint8_t *p, const uint8_t *end) {
        uint8_t c = p[0], lo = 0x80, hi = 0xbf;
        size_t n;

        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                if (c == 0xe0)
                        lo = 0xa0;
                else if (c == 0xed)
                        hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                if (c == 0xf0)
                        lo = 0x90;
                else if (c == 0xf4)
                        hi = 0x8f;
        } else
                return 0;
        if ((size_t) (end - p) < n || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        return n;
}

static size_t put_utf8(char *out, uint32_t cp) {
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

/* The string literal at ps->p (on its opening quote).  *ret, *ret_len: the
 * decoded bytes, NUL-terminated, valid until the next call. */
static int parse_string(Parser *ps, const char **ret, size_t *ret_len) {
        const uint8_t *begin = ++ps->p, *q = begin;
        char *out = NULL;
        size_t o = 0;

        for (;;) {
                if (q >= ps->end)
                        return fail(ps, q, "unterminated string");
                uint8_t c = *q;
                if (c == '"')
                        break;
                if (c < 0x20)
                        return fail(ps, q, "control character in a string (must be escaped)");
                if (c >= 0x80) {
                        size_t n = utf8_sequence(q, ps->end);
                        if (n == 0)
                                return fail(ps, q, "invalid UTF-8 in a string");
                        if (out)
                                memcpy(out + o, q, n), o += n;
                        q += n;
                        continue;
                }
                if (c != '\\') {
                        if (out)
                                out[o++] = (char) c;
                        q++;
                        continue;
                }
                if (!out) {
                        /* First escape: decode from here on into scratch space. */
                        out = scratch(ps, (size_t) (ps->end - begin));
                        if (!out)
                                return -ENOMEM;
                        o = (size_t) (q - begin);
                        memcpy(out, begin, o);
                }
                if (q + 1 >= ps->end)
                        return fail(ps, q, "unterminated string");
                switch (q[1]) {
                case '"': out[o++] = '"'; break;
                case '\\': out[o++] = '\\'; break;
                case '/': out[o++] = '/'; break;
                case 'b': out[o++] = '\b'; break;
                case 'f': out[o++] = '\f'; break;
                case 'n': out[o++] = '\n'; break;
                case 'r': out[o++] = '\r'; break;
                case 't': out[o++] = '\t'; break;
                case 'u': {
                        long cp = hex4(q, ps->end);
                        if (cp < 0)
                                return fail(ps, q, "invalid \\u escape");
                        if (cp == 0)
                                return fail(ps, q, "string contains \\u0000");
                        if (cp >= 0xdc00 && cp <= 0xdfff)
                                return fail(ps, q, "string contains a lone surrogate");
                        if (cp >= 0xd800 && cp <= 0xdbff) {
                                long lo = hex4(q + 6, ps->end);
                                if (lo < 0xdc00 || lo > 0xdfff)
                                        return fail(ps, q, "string contains a lone surrogate");
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                q += 6;
                        }
                        o += put_utf8(out + o, (uint32_t) cp);
                        q += 6;
                        continue;
                }
                default:
                        return fail(ps, q, "invalid escape in a string");
                }
                q += 2;
        }
        ps->p = q + 1;
        if (out) {
                out[o] = 0;
                *ret = out;
                *ret_len = o;
                return 0;
        }
        /* No escapes: a NUL-terminated copy only when asked for one. */
        *ret = (const char *) begin;
        *ret_len = (size_t) (q - begin);
        return 1;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void) {
        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t) 0);
}

/*
 * Numbers: integers (no fraction, no exponent) must fit int64 or uint64
 * exactly; anything else is a double, rounded to nearest as strtod does, and
 * refused if it overflows or if a non-zero literal rounds to zero.  The
 * original text is kept for doubles, so re-serialising echoes it unchanged.
 */
static int parse_number(Parser *ps, struct json_object **ret) {
        const uint8_t *s = ps->p, *q = s;
        bool negative = false, is_int = true, nonzero = false;
        uint64_t mag = 0;
        bool overflow = false;

        if (*q == '-')
                negative = true, q++;
        if (q >= ps->end || *q < '0' || *q > '9')
                return fail(ps, q, "invalid number");
        if (*q == '0')
                q++;
        else
                for (; q < ps->end && *q >= '0' && *q <= '9'; q++) {
                        unsigned d = (unsigned) (*q - '0');
                        nonzero = true;
                        if (mag > (UINT64_MAX - d) / 10)
                                overflow = true;
                        else
                                mag = mag * 10 + d;
                }
        if (q < ps->end && *q == '.') {
                is_int = false;
                q++;
                if (q >= ps->end || *q < '0' || *q > '9')
                        return fail(ps, q, "invalid number (digits must follow '.')");
                for (; q < ps->end && *q >= '0' && *q <= '9'; q++)
                        nonzero |= *q != '0';
        }
        if (q < ps->end && (*q == 'e' || *q == 'E')) {
                is_int = false;
                q++;
                if (q < ps->end && (*q == '+' || *q == '-'))
                        q++;
                if (q >= ps->end || *q < '0' || *q > '9')
                        return fail(ps, q, "invalid number (digits must follow the exponent)");
                while (q < ps->end && *q >= '0' && *q <= '9')
                        q++;
        }
        ps->p = q;

        if (is_int) {
                if (overflow || (negative && mag > (uint64_t) INT64_MAX + 1))
                        return fail(ps, s, "integer out of range (beyond 64 bits)");
                if (negative)
                        *ret = json_object_new_int64(mag == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) mag);
                else if (mag <= INT64_MAX)
                        *ret = json_object_new_int64((int64_t) mag);
                else
                        *ret = json_object_new_uint64(mag);
                return *ret ? 0 : -ENOMEM;
        }

        size_t n = (size_t) (q - s);
        char *text = scratch(ps, n);
        if (!text)
                return -ENOMEM;
        memcpy(text, s, n);
        text[n] = 0;
        (void) pthread_once(&c_locale_once, c_locale_init);
        double d = c_locale ? strtod_l(text, NULL, c_locale) : strtod(text, NULL);
        if (!isfinite(d))
                return fail(ps, s, "number out of range (not a finite double)");
        if (d == 0 && nonzero)
                return fail(ps, s, "number out of range (a non-zero value rounds to zero)");
        *ret = json_object_new_double_s(d, text);
        return *ret ? 0 : -ENOMEM;
}

static bool literal(Parser *ps, const char *word, size_t n) {
        if ((size_t) (ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
                return false;
        ps->p += n;
        return true;
}

#define JSON_MAX_DEPTH 64

static int parse_value(Parser *ps, unsigned depth, struct json_object **ret);

static int parse_array(Parser *ps, unsigned depth, struct json_object **ret) {
        struct json_object *a = json_object_new_array();
        int r;

        if (!a)
                return -ENOMEM;
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                *ret = a;
                return 0;
        }
        for (;;) {
                struct json_object *v = NULL;
                r = parse_value(ps, depth, &v);
                if (r < 0)
                        goto fail;
                if (json_object_array_add(a, v) < 0) {
                        json_object_put(v);
                        r = -ENOMEM;
                        goto fail;
                }
                skip_ws(ps);
                if (ps->p >= ps->end) {
                        r = fail(ps, ps->p, "unexpected end of input in an array");
                        goto fail;
                }
                if (*ps->p == ']') {
                        ps->p++;
                        *ret = a;
                        return 0;
                }
                if (*ps->p != ',') {
                        r = fail(ps, ps->p, "expected ',' or ']' in an array");
                        goto fail;
                }
                ps->p++;
        }
fail:
        json_object_put(a);
        return r;
}

static int parse_object(Parser *ps, unsigned depth, struct json_object **ret) {
        struct json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                *ret = o;
                return 0;
        }
        for (;;) {
                const char *key;
                size_t key_len;
                char small[64];
                _cleanup_free_ char *big = NULL;

                if (ps->p >= ps->end || *ps->p != '"') {
                        r = fail(ps, ps->p, "expected a member name (a string)");
                        goto fail;
                }
                r = parse_string(ps, &key, &key_len);
                if (r < 0)
                        goto fail;
                /* The value may reuse the scratch space: keep the name apart. */
                char *k = key_len < sizeof small ? small : (big = malloc(key_len + 1));
                if (!k) {
                        r = -ENOMEM;
                        goto fail;
                }
                memcpy(k, key, key_len);
                k[key_len] = 0;

                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':') {
                        r = fail(ps, ps->p, "expected ':' after a member name");
                        goto fail;
                }
                ps->p++;
                struct json_object *v = NULL;
                r = parse_value(ps, depth, &v);
                if (r < 0)
                        goto fail;
                /* Names compare decoded ("\u0061" is "a"); json-c would keep the last. */
                if (json_object_object_get_ex(o, k, NULL)) {
                        json_object_put(v);
                        if (!ps->dup && !(ps->dup = strdup(k))) {
                                r = -ENOMEM;
                                goto fail;
                        }
                } else if (json_object_object_add_ex(o, k, v, JSON_C_OBJECT_ADD_KEY_IS_NEW) < 0) {
                        json_object_put(v);
                        r = -ENOMEM;
                        goto fail;
                }
                skip_ws(ps);
                if (ps->p >= ps->end) {
                        r = fail(ps, ps->p, "unexpected end of input in an object");
                        goto fail;
                }
                if (*ps->p == '}') {
                        ps->p++;
                        *ret = o;
                        return 0;
                }
                if (*ps->p != ',') {
                        r = fail(ps, ps->p, "expected ',' or '}' in an object");
                        goto fail;
                }
                ps->p++;
                skip_ws(ps);
        }
fail:
        json_object_put(o);
        return r;
}

static int parse_value(Parser *ps, unsigned depth, struct json_object **ret) {
        *ret = NULL;
        skip_ws(ps);
        if (ps->p >= ps->end)
                return fail(ps, ps->p, "unexpected end of input");
        switch (*ps->p) {
        case '{':
        case '[':
                if (depth >= JSON_MAX_DEPTH)
                        return fail(ps, ps->p, "nested too deeply");
                return *ps->p == '{' ? parse_object(ps, depth + 1, ret) : parse_array(ps, depth + 1, ret);
        case '"': {
                const char *s;
                size_t n;
                int r = parse_string(ps, &s, &n);
                if (r < 0)
                        return r;
                *ret = json_object_new_string_len(s, (int) n);
                return *ret ? 0 : -ENOMEM;
        }
        case 't':
                if (!literal(ps, "true", 4))
                        break;
                *ret = json_object_new_boolean(1);
                return *ret ? 0 : -ENOMEM;
        case 'f':
                if (!literal(ps, "false", 5))
                        break;
                *ret = json_object_new_boolean(0);
                return *ret ? 0 : -ENOMEM;
        case 'n':
                if (!literal(ps, "null", 4))
                        break;
                return 0;
        case '-':
        case '0' ... '9':
                return parse_number(ps, ret);
        }
        return fail(ps, ps->p, "unexpected character (not a JSON value)");
}

int json_parse_strict_ex(const char *text, size_t len, struct json_object **ret, char **dup_key, JsonError *error) {
        char stack[SCRATCH_STACK];
        Parser ps = {
                .p = (const uint8_t *) text,
                .start = (const uint8_t *) text,
                .end = (const uint8_t *) text + len,
                .buf = stack,
                .buf_size = sizeof stack,
        };
        struct json_object *o = NULL;
        int r;

        if (!text || len > INT32_MAX) { /* json-c counts string lengths in int */
                if (error)
                        *error = (JsonError){ .message = "no text, or longer than 2 GiB", .offset = 0 };
                return -EBADMSG;
        }
        r = parse_value(&ps, 0, &o);
        if (r >= 0) {
                skip_ws(&ps);
                if (ps.p < ps.end)
                        r = fail(&ps, ps.p, "trailing characters after the value");
        }
        free(ps.heap);
        if (r >= 0 && ps.dup)
                r = -ENOTUNIQ; /* syntax errors win: the whole text was read first */
        if (r < 0) {
                json_object_put(o);
                if (error)
                        *error = (JsonError){
                                .message = r == -ENOTUNIQ ? "duplicate member name"
                                           : ps.error     ? ps.error
                                                          : "out of memory",
                                .offset = ps.error_offset,
                        };
                if (r == -ENOTUNIQ && dup_key)
                        *dup_key = TAKE_PTR(ps.dup);
                free(ps.dup);
                return r;
        }
        *ret = o;
        return 0;
}

int json_parse_strict(const char *text, size_t len, struct json_object **ret, char **dup_key) {
        return json_parse_strict_ex(text, len, ret, dup_key, NULL);
}
