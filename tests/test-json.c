/* SPDX-License-Identifier: MIT */
/*
 * json_parse_strict(): the one JSON entry point for untrusted text
 * (requests, manifests, plugin results).  Duplicate member names are
 * refused after decoding escapes, in small and in large objects, and the
 * per-thread parser is clean after every kind of failure.
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
        g_assert_cmpint(parse("{\"a\":1,\"A\":2,\"a \":3,\"\\u0000\":4,\"\":5}", NULL), ==, 0);
        g_assert_cmpint(parse("{\"ab\":1,\"a\":2,\"abc\":3}", NULL), ==, 0);
}

/* Objects past the pairwise limit are checked by sorting (no quadratic cost). */
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
        return g_test_run();
}
