/* SPDX-License-Identifier: MIT */
/* Signature policy parsing (docs/plugin-security.md, "Signature policy") and the small parsers under it. */
#include <glib.h>

#include "base64.h"
#include "digest.h"
#include "json-util.h"
#include "plugin-id.h"
#include "policy.h"
#include "test-util.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void assert_invalid(const char *text, const char *reason) {
        SignatureMode mode = SIGNATURES_PERMISSIVE;
        Pin *pins = NULL;
        size_t n = 0;
        g_autofree char *why = NULL;

        g_assert_cmpint(signatures_parse(text, &mode, &pins, &n, &why), ==, -EINVAL);
        g_assert_cmpstr(why, ==, reason);
        g_assert_null(pins);
        g_assert_cmpuint(n, ==, 0);
}

/* every malformed form fails closed with its own reason. */
static void test_malformed(void) {
        assert_invalid("{invalid}", "not valid JSON: expected a member name (a string) at byte 1");
        assert_invalid("{invalid json", "not valid JSON: expected a member name (a string) at byte 1");
        /* Names other JSON readers see differently (json-c cut this one at
         * the NUL: one pin, "good" = the second digest). */
        assert_invalid("{\"good\":\"sha256:" HEX64 "\",\"good\\u0000\":\"sha256:" HEX64 "\"}",
                       "not valid JSON: string contains \\u0000 at byte 87");
        assert_invalid("{\"good\\ud800\":\"sha256:" HEX64 "\"}", "not valid JSON: string contains a lone surrogate at byte 6");
        assert_invalid("null", "top-level value is null, expected an object");
        assert_invalid("[]", "top-level value is array, expected an object");
        assert_invalid("\"x\"", "top-level value is string, expected an object");
        assert_invalid("1", "top-level value is number, expected an object");
        assert_invalid("true", "top-level value is boolean, expected an object");
        assert_invalid("{\"a\":1}", "value for \"a\" is not a string");
        assert_invalid("{\"a\":null}", "value for \"a\" is not a string");
        assert_invalid("{\"plugin\":\"md5:deadbeef\"}", "value for \"plugin\" must be sha256:<64 hex digits>");
        assert_invalid("{\"plugin\":\"abc123\"}", "value for \"plugin\" must be sha256:<64 hex digits>");
        assert_invalid("{\"plugin\":\"sha256:abc123\"}", "value for \"plugin\" must be sha256:<64 hex digits>");
        /* 63 and 65 hex digits are refused at parse time. */
        assert_invalid("{\"p\":\"sha256:" HEX64 "0\"}", "value for \"p\" must be sha256:<64 hex digits>");
        assert_invalid("{\"p\":\"sha256:" "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
                       "value for \"p\" must be sha256:<64 hex digits>");
        assert_invalid("{\"p\":\"sha256:" "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
                       "value for \"p\" must be sha256:<64 hex digits>");
        assert_invalid("{\"../x\":\"sha256:" HEX64 "\"}", "invalid plugin name \"../x\"");
        assert_invalid("{\"\":\"sha256:" HEX64 "\"}", "invalid plugin name \"\"");
        assert_invalid("{\"plugin-a.so\":\"sha256:" HEX64 "\"}",
                       "invalid plugin name \"plugin-a.so\" (keys are plugin names without .so)");
        assert_invalid("{\"a\":\"sha256:" HEX64 "\",\"a\":\"sha256:" HEX64 "\"}", "duplicate key \"a\"");
        /* Escapes do not hide a duplicate. */
        assert_invalid("{\"a\":\"sha256:" HEX64 "\",\"\\u0061\":\"sha256:" HEX64 "\"}", "duplicate key \"a\"");
        /* Mixed valid + invalid: the whole policy is invalid (Charon: permissive). */
        assert_invalid("{\"good\":\"sha256:" HEX64 "\",\"bad\":\"abc123\"}", "value for \"bad\" must be sha256:<64 hex digits>");
        assert_invalid("{} trailing", "not valid JSON: trailing characters after the value at byte 3");
        assert_invalid("{\"a\":\"sha256:" HEX64 "\",}", "not valid JSON: expected a member name (a string) at byte 79");
}

/* Charon 8, 9, 10, 28 and main_test: the three modes. */
static void test_modes(void) {
        SignatureMode mode;
        Pin *pins = NULL;
        size_t n = 99;
        char *why = NULL;

        g_assert_cmpint(signatures_parse(NULL, &mode, &pins, &n, &why), ==, 0);
        g_assert_cmpint(mode, ==, SIGNATURES_PERMISSIVE);
        g_assert_cmpint(signatures_parse("", &mode, &pins, &n, &why), ==, 0);
        g_assert_cmpint(mode, ==, SIGNATURES_PERMISSIVE);
        g_assert_null(pins);

        g_assert_cmpint(signatures_parse("{}", &mode, &pins, &n, &why), ==, 0);
        g_assert_cmpint(mode, ==, SIGNATURES_STRICT_EMPTY);
        g_assert_cmpuint(n, ==, 0);
        pins_free(pins, n);

        /* Upper-case hex is accepted and compared as bytes. */
        g_assert_cmpint(signatures_parse("{\"cloudflare\":\"sha256:" HEX64 "\",\"powerdns\":\"sha256:"
                                         "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\"}",
                                         &mode, &pins, &n, &why),
                        ==, 0);
        g_assert_cmpint(mode, ==, SIGNATURES_ALLOWLIST);
        g_assert_cmpuint(n, ==, 2);
        g_assert_true(digest_equal(pins[0].digest, pins[1].digest));
        char out[DIGEST_STRING_MAX];
        digest_format(pins[1].digest, out);
        g_assert_cmpstr(out, ==, "sha256:" HEX64); /* rendered lower-case */
        pins_free(pins, n);
        g_assert_null(why);
}

/* The policy logs Charon's exact mode lines. */
static void test_mode_log_lines(void) {
        static const struct {
                const char *json;
                const char *line;
                SignatureMode mode;
        } cases[] = {
                { NULL, "Plugin signature verification: PERMISSIVE mode (DC_PLUGIN_SIGNATURES not set)", SIGNATURES_PERMISSIVE },
                { "{}", "Plugin signature verification: STRICT mode (empty allowlist — no external plugins permitted)",
                  SIGNATURES_STRICT_EMPTY },
                { "{\"a\":\"sha256:" HEX64 "\",\"b\":\"sha256:" HEX64 "\"}",
                  "Plugin signature verification: STRICT mode (2 plugin(s) in allowlist)", SIGNATURES_ALLOWLIST },
                { "null", "invalid DC_PLUGIN_SIGNATURES: top-level value is null, expected an object — all external plugins blocked",
                  SIGNATURES_INVALID },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                TuHost t;
                tu_host_init(&t);
                PolicySettings s = { .signatures = cases[i].json, .self_uid = 0 };
                Policy *p = NULL;
                g_assert_cmpint(policy_new(&s, &p), ==, 0);
                g_assert_cmpint(p->mode, ==, cases[i].mode);
                const TuLogEntry *e = tu_log_find(&t, cases[i].line);
                g_assert_nonnull(e);
                g_assert_cmpstr(e->message, ==, cases[i].line);
                g_assert_cmpstr(e->message_id, ==, "91af0ebb8b514ceaaeb1279cd4515d1a");
                g_assert_cmpint(e->level, ==, cases[i].mode == SIGNATURES_INVALID ? LOG_ERR : LOG_INFO);
                policy_unref(p);
                tu_host_done(&t);
        }
}

/* Production builds refuse permissive mode unless explicitly allowed. */
static void test_production(void) {
        Policy *p = NULL;
        PolicySettings s = { .signatures = NULL, .production = true };
        g_assert_cmpint(policy_new(&s, &p), ==, 0);
        g_assert_cmpint(p->mode, ==, SIGNATURES_STRICT_EMPTY);
        policy_unref(p);
        s.allow_unverified = true;
        g_assert_cmpint(policy_new(&s, &p), ==, 0);
        g_assert_cmpint(p->mode, ==, SIGNATURES_PERMISSIVE);
        policy_unref(p);
}

static void test_plugin_id(void) {
        const char *good[] = { "a", "A", "0", "hello-world", "demo_cam", "x1-2_3",
                               "a123456789012345678901234567890123456789012345678901234567890123" };
        const char *bad[] = { "", ".", "..", "/", "a/b", "-x", "_x", "x.so", "a b", "é",
                              "a1234567890123456789012345678901234567890123456789012345678901234" };
        for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
                g_assert_true(plugin_id_is_valid(good[i]));
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                g_assert_false(plugin_id_is_valid(bad[i]));
        g_assert_false(plugin_id_is_valid(NULL));
        g_assert_true(plugin_symbol_name_is_valid("hello_world"));
        g_assert_true(plugin_symbol_name_is_valid("_x"));
        g_assert_false(plugin_symbol_name_is_valid("1x"));
        g_assert_false(plugin_symbol_name_is_valid("a.b"));
        g_assert_false(plugin_symbol_name_is_valid("get-status"));
        g_assert_true(utf8_is_valid_text("Grüße", 64));
        g_assert_false(utf8_is_valid_text("\xc0\xaf", 64));  /* overlong */
        g_assert_false(utf8_is_valid_text("\xed\xa0\x80", 64)); /* surrogate */
        g_assert_false(utf8_is_valid_text("a\nb", 64));
        g_assert_false(utf8_is_valid_text("abcdef", 5));
}

static void test_json_strict(void) {
        struct json_object *o = NULL;
        g_autofree char *dup = NULL;
        g_assert_cmpint(json_parse_strict("{\"a\":{\"b\":1,\"b\":2}}", 19, &o, &dup), ==, -ENOTUNIQ);
        g_assert_cmpstr(dup, ==, "b");
        g_assert_cmpint(json_parse_strict("{'a':1}", 7, &o, NULL), ==, -EBADMSG);
        g_assert_cmpint(json_parse_strict("", 0, &o, NULL), ==, -EBADMSG);
        g_assert_cmpint(json_parse_strict("{\"a\":1}\0x", 9, &o, NULL), ==, -EBADMSG);
        g_assert_cmpint(json_parse_strict("\"\xff\"", 3, &o, NULL), ==, -EBADMSG);
        g_assert_cmpint(json_parse_strict("  42  ", 6, &o, NULL), ==, 0);
        g_assert_cmpint(json_object_get_int(o), ==, 42);
        json_object_put(o);
        g_assert_cmpint(json_parse_strict("[1,[2,{\"x\":[]}]]", 16, &o, NULL), ==, 0);
        json_object_put(o);
}

static void test_base64(void) {
        uint8_t out[16];
        g_assert_cmpint(base64_decode_strict("aGVsbG8=", 8, out), ==, 5);
        g_assert_cmpmem(out, 5, "hello", 5);
        g_assert_cmpint(base64_decode_strict("aGVsbG8", 7, out), ==, -EINVAL);   /* no padding */
        g_assert_cmpint(base64_decode_strict("aGVsbG9=", 8, out), ==, -EINVAL);  /* non-canonical */
        g_assert_cmpint(base64_decode_strict("aGV sbG8=", 9, out), ==, -EINVAL); /* whitespace */
        g_assert_cmpint(base64_decode_strict("a=GV", 4, out), ==, -EINVAL);
        g_assert_cmpint(base64_decode_strict("", 0, out), ==, 0);
}

static void test_digest(void) {
        uint8_t d[SHA256_DIGEST_SIZE];
        g_assert_cmpint(digest_parse_prefixed("sha256:" HEX64, d), ==, 0);
        g_assert_cmpint(digest_parse_prefixed("SHA256:" HEX64, d), ==, -EINVAL);
        g_assert_cmpint(digest_parse_prefixed(HEX64, d), ==, -EINVAL);
        g_assert_cmpint(digest_parse_prefixed(NULL, d), ==, -EINVAL);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        tu_init();
        g_test_add_func("/policy/malformed-fails-closed", test_malformed);
        g_test_add_func("/policy/modes", test_modes);
        g_test_add_func("/policy/mode-log-lines", test_mode_log_lines);
        g_test_add_func("/policy/production-refuses-permissive", test_production);
        g_test_add_func("/parsers/plugin-id", test_plugin_id);
        g_test_add_func("/parsers/json-strict", test_json_strict);
        g_test_add_func("/parsers/base64", test_base64);
        g_test_add_func("/parsers/digest", test_digest);
        return g_test_run();
}
