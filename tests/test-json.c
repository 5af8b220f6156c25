/* SPDX-License-Identifier: MIT */
/*
 * json_parse_strict(): the one JSON entry point for untrusted text
 * (requests, manifests, plugin results).  Duplicate member names are
 * refused after decoding escapes, in small and in large objects, and the
 * parser keeps no state between documents.  Names and strings that other
 * JSON readers would see differently (\u0000, lone surrogates) and texts
 * that are not JSON at all (NaN, "1.", raw control characters, encoded
 * surrogates, integers beyond 64 bits) are refused; tests/json-differential.py
 * compares the whole decision with Python's json module.
 */
#include <glib.h>

#include "json-util.h"
#include "macro.h"

static int parse(const char *text, char **dup) {
        _cleanup_json_ struct json_object *o = NULL;
        return json_parse_strict(text, strlen(text), &o, dup);
}

static void assert_dup(const char *text, const char *key) {
        g_autofree char *dup = NULL;
        g_assert_cmpint(parse(text, &dup), ==, -ENOTUNIQ);
        g_assert_cmpstr(dup, ==, key);
}

static void test_duplicates(void) {
        assert_dup("{\"a\":1,\"a\":2}", "a");
        assert_dup("{\"a\":1,\"\\u0061\":2}", "a");
        assert_dup("{\"x\":{\"k\\n\":1,\"k\\u000a\":2}}", "k\n");
        assert_dup("{\"\\/\":1,\"/\":2}", "/");
        /* a surrogate pair and the raw UTF-8 of the same character */
        assert_dup("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", "\xf0\x9f\x98\x80");
        assert_dup("{\"\\u00e9\":1,\"\xc3\xa9\":2}", "\xc3\xa9");
        assert_dup("[{\"b\":[{\"c\":1,\"c\":1}]}]", "c");
        /* not duplicates */
        g_assert_cmpint(parse("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}", NULL), ==, 0);
        g_assert_cmpint(parse("{\"a\":1,\"A\":2,\"a \":3,\"\\u0001\":4,\"\":5}", NULL), ==, 0);
        g_assert_cmpint(parse("{\"ab\":1,\"a\":2,\"abc\":3}", NULL), ==, 0);
}

static void assert_refused(const char *text, size_t len, const char *message) {
        struct json_object *o = NULL;
        JsonError e = {};
        int r = json_parse_strict_ex(text, len, &o, NULL, &e);
        if (r != -EBADMSG)
                g_error("accepted (%d): %.*s", r, (int) len, text);
        g_assert_null(o);
        if (!strstr(e.message, message))
                g_error("expected \"%s\", got \"%s\" for %.*s", message, e.message, (int) len, text);
}
#define REFUSED(lit, message) assert_refused(lit, sizeof(lit) - 1, message)

/* Names json-c would cut at \u0000 or map to U+FFFD: one pin, two readings. */
static void test_ambiguous_strings(void) {
        REFUSED("{\"good\":\"sha256:A\",\"good\\u0000\":\"sha256:B\"}", "\\u0000");
        REFUSED("{\"id\\u0000\":\"counter\"}", "\\u0000");
        REFUSED("{\"\\u0000\":4,\"\":5}", "\\u0000");
        REFUSED("\"a\\u0000b\"", "\\u0000");
        REFUSED("{\"k\\ud800\":1,\"k\\udbff\":2}", "lone surrogate");
        REFUSED("\"\\udc00\"", "lone surrogate");
        REFUSED("\"\\ud800\\u0041\"", "lone surrogate");
        REFUSED("\"\\ud800\"", "lone surrogate");
        REFUSED("\"\\ud800\\u\"", "lone surrogate");
        /* a proper pair is one character */
        _cleanup_json_ struct json_object *o = NULL;
        g_assert_cmpint(json_parse_strict("\"\\ud83d\\ude00\"", 14, &o, NULL), ==, 0);
        g_assert_cmpstr(json_object_get_string(o), ==, "\xf0\x9f\x98\x80");
}

static void test_not_json(void) {
        REFUSED("NaN", "not a JSON value");
        REFUSED("{\"id\":NaN}", "not a JSON value");
        REFUSED("[Infinity]", "not a JSON value");
        REFUSED("-Infinity", "invalid number");
        REFUSED("1.", "digits must follow '.'");
        REFUSED("1.e5", "digits must follow '.'");
        REFUSED("1e", "exponent");
        REFUSED("01", "trailing characters");
        REFUSED("-", "invalid number");
        REFUSED("+1", "not a JSON value");
        REFUSED(".5", "not a JSON value");
        REFUSED("0x10", "trailing characters");
        REFUSED("\"a\tb\"", "control character");
        REFUSED("\"a\nb\"", "control character");
        REFUSED("\"\x7f\x01\"", "control character");
        REFUSED("\"\xed\xa0\x80\"", "invalid UTF-8");        /* U+D800 encoded */
        REFUSED("\"\xc0\xaf\"", "invalid UTF-8");            /* overlong '/' */
        REFUSED("\"\xf4\x90\x80\x80\"", "invalid UTF-8");    /* beyond U+10FFFF */
        REFUSED("\"\xe2\x82\"", "invalid UTF-8");            /* cut short */
        REFUSED("\"\\x41\"", "invalid escape");
        REFUSED("\"\\u12g4\"", "invalid \\u escape");
        REFUSED("18446744073709551616", "beyond 64 bits");
        REFUSED("-9223372036854775809", "beyond 64 bits");
        REFUSED("[99999999999999999999999]", "beyond 64 bits");
        REFUSED("1e400", "not a finite double");
        REFUSED("-1e400", "not a finite double");
        REFUSED("1e-400", "rounds to zero");
        REFUSED("\xef\xbb\xbf{}", "not a JSON value");       /* BOM */
        REFUSED("{} x", "trailing characters");
        REFUSED("{\"a\":1,}", "member name");
        REFUSED("[1,]", "not a JSON value");
        REFUSED("{\"a\" 1}", "':'");
        REFUSED("{'a':1}", "member name");
        REFUSED("tru", "not a JSON value");
        REFUSED("", "end of input");
        REFUSED("  ", "end of input");
        REFUSED("\"\0\"", "control character");
        REFUSED("{}\0", "trailing characters");
        REFUSED("[1]\x0b", "trailing characters"); /* VT is not JSON whitespace */
}

static void test_numbers(void) {
        struct {
                const char *text;
                json_type type;
                int64_t i;
                uint64_t u;
                double d;
        } ok[] = {
                { "0", json_type_int, 0, 0, 0 },
                { "-0", json_type_int, 0, 0, 0 },
                { "9223372036854775807", json_type_int, INT64_MAX, INT64_MAX, 0 },
                { "-9223372036854775808", json_type_int, INT64_MIN, 0, 0 },
                { "18446744073709551615", json_type_int, INT64_MAX, UINT64_MAX, 0 },
                { "1.0", json_type_double, 0, 0, 1.0 },
                { "1E2", json_type_double, 0, 0, 100.0 },
                { "-2.5e-3", json_type_double, 0, 0, -0.0025 },
                { "0e0", json_type_double, 0, 0, 0.0 },
                { "4.9e-324", json_type_double, 0, 0, 4.9e-324 },
                { "1.7976931348623157e308", json_type_double, 0, 0, 1.7976931348623157e308 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
                _cleanup_json_ struct json_object *o = NULL;
                g_assert_cmpint(json_parse_strict(ok[i].text, strlen(ok[i].text), &o, NULL), ==, 0);
                g_assert_cmpint(json_object_get_type(o), ==, ok[i].type);
                if (ok[i].type == json_type_int) {
                        g_assert_cmpint(json_object_get_int64(o), ==, ok[i].i);
                        if (ok[i].u)
                                g_assert_cmpuint(json_object_get_uint64(o), ==, ok[i].u);
                } else {
                        g_assert_cmpfloat(json_object_get_double(o), ==, ok[i].d);
                        /* the text as written is what goes back out */
                        g_assert_cmpstr(json_to_string_compact(o), ==, ok[i].text);
                }
        }
        /* json_member_int64 refuses what json-c would clamp */
        _cleanup_json_ struct json_object *o = NULL;
        int64_t v;
        g_assert_cmpint(json_parse_strict("{\"a\":9223372036854775808,\"b\":-9223372036854775808}", 50, &o, NULL), ==, 0);
        g_assert_cmpint(json_member_int64(o, "a", &v), ==, -EBADMSG);
        g_assert_cmpint(json_member_int64(o, "b", &v), ==, 0);
        g_assert_cmpint(v, ==, INT64_MIN);
}

/* Depth: 64 nested containers parse, 65 do not (no stack exhaustion at any size). */
static void test_depth(void) {
        GString *s = g_string_new(NULL);
        for (int i = 0; i < 64; i++)
                g_string_append_c(s, i % 2 ? '[' : '{'), i % 2 == 0 ? g_string_append(s, "\"k\":") : NULL;
        g_string_append(s, "1");
        for (int i = 63; i >= 0; i--)
                g_string_append_c(s, i % 2 ? ']' : '}');
        g_assert_cmpint(parse(s->str, NULL), ==, 0);
        g_string_printf(s, "%s", "");
        for (int i = 0; i < 65; i++)
                g_string_append_c(s, '[');
        for (int i = 0; i < 65; i++)
                g_string_append_c(s, ']');
        assert_refused(s->str, s->len, "nested too deeply");
        g_string_truncate(s, 0);
        for (int i = 0; i < 1000000; i++)
                g_string_append_c(s, '[');
        assert_refused(s->str, s->len, "nested too deeply");
        g_string_free(s, TRUE);
}

/* A refused document changes nothing for the next one on the same thread
 * (json-c's tokener kept half a \u escape across its reset). */
static void test_no_state_between_documents(void) {
        static const char *const bad[] = {
                "{\"p\":\"\\ud800\\u\"}", "{\"p\":\"\\ud800", "\"\\u", "\"\\ud83d\\", "{\"a\":\"\\u00", "[1e", "{\"x", "tr",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_assert_cmpint(parse(bad[i], NULL), ==, -EBADMSG);
                _cleanup_json_ struct json_object *o = NULL;
                const char *good = "{\"k\":\"\\u00e9\",\"k2\":\"v\"}";
                g_assert_cmpint(json_parse_strict(good, strlen(good), &o, NULL), ==, 0);
                g_assert_cmpstr(json_to_string_compact(o), ==, "{\"k\":\"\xc3\xa9\",\"k2\":\"v\"}");
                g_assert_cmpint(parse(bad[i], NULL), ==, -EBADMSG);
                /* a lone low surrogate: refused, never joined to the earlier half */
                g_assert_cmpint(parse("{\"a\\udc00\":1,\"a\":2}", NULL), ==, -EBADMSG);
        }
}

/* Large objects: names are found by hashing (no quadratic cost). */
static void test_large_objects(void) {
        GString *s = g_string_new("{");
        for (int i = 0; i < 5000; i++)
                g_string_append_printf(s, "%s\"k%05d\":%d", i ? "," : "", i, i);
        g_string_append(s, "}");
        g_assert_cmpint(parse(s->str, NULL), ==, 0);
        g_string_truncate(s, s->len - 1);
        g_string_append(s, ",\"k\\u00304123\":0}"); /* "k04123" again, escaped */
        assert_dup(s->str, "k04123");
        g_string_free(s, TRUE);
}

/* Every failure leaves the thread's parser ready for the next document. */
static void test_reuse_after_errors(void) {
        static const char *const bad[] = {"{", "{\"a\":}", "[1,]", "\"\xff\"", "1 2", "{\"a\":1}}", "nul", ""};
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_assert_cmpint(parse(bad[i], NULL), ==, -EBADMSG);
                _cleanup_json_ struct json_object *o = NULL;
                g_assert_cmpint(json_parse_strict("{\"ok\":[true,12]}", 16, &o, NULL), ==, 0);
                g_assert_cmpstr(json_to_string_compact(o), ==, "{\"ok\":[true,12]}");
        }
        /* a bare number needs the end of input as its terminator */
        _cleanup_json_ struct json_object *n = NULL;
        g_assert_cmpint(json_parse_strict("42", 2, &n, NULL), ==, 0);
        g_assert_cmpint(json_object_get_int(n), ==, 42);
}

static gpointer parse_many(gpointer userdata) {
        char text[64];
        for (int i = 0; i < 2000; i++) {
                _cleanup_json_ struct json_object *o = NULL;
                int len = snprintf(text, sizeof text, "{\"i\":%d,\"t\":\"%p\"}", i, userdata);
                if (json_parse_strict(text, (size_t) len, &o, NULL) < 0 ||
                    json_object_get_int(json_object_object_get(o, "i")) != i)
                        return GINT_TO_POINTER(1);
                if (parse("{\"d\":1,\"d\":2}", NULL) != -ENOTUNIQ)
                        return GINT_TO_POINTER(1);
        }
        return NULL;
}

/* Threads parse at once, each with its own parser. */
static void test_threads(void) {
        GThread *t[4];
        for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
                t[i] = g_thread_new("parse", parse_many, t + i);
        for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
                g_assert_null(g_thread_join(t[i]));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/json/duplicates", test_duplicates);
        g_test_add_func("/json/large-objects", test_large_objects);
        g_test_add_func("/json/reuse-after-errors", test_reuse_after_errors);
        g_test_add_func("/json/threads", test_threads);
        g_test_add_func("/json/ambiguous-strings", test_ambiguous_strings);
        g_test_add_func("/json/not-json", test_not_json);
        g_test_add_func("/json/numbers", test_numbers);
        g_test_add_func("/json/depth", test_depth);
        g_test_add_func("/json/no-state-between-documents", test_no_state_between_documents);
        return g_test_run();
}
