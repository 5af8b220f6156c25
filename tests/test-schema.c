/* SPDX-License-Identifier: MIT */
/*
 * schema_validate(): numbers compare exactly across int64, uint64 and double
 * (2^53+1 is above a maximum of 2^53; 1.0 is the enum value 1), non-finite
 * numbers never pass a bound, and lengths count every code point.
 */
#include <math.h>

#include "json-util.h"
#include "schema.h"
#include "test-util.h"

static int validate(const char *schema_text, const char *value_text) {
        _cleanup_json_ struct json_object *schema = NULL, *value = NULL;
        g_autofree char *error = NULL;
        if (schema_compile(schema_text, &schema, &error) < 0)
                g_error("schema: %s", error);
        g_assert_cmpint(json_parse_strict(value_text, strlen(value_text), &value, NULL), ==, 0);
        int r = schema_validate(schema, value, &error);
        g_assert_true((r == 0) == (error == NULL));
        return r;
}

#define P(props) "{\"type\":\"object\",\"properties\":{" props "}}"

static void test_integer_bounds(void) {
        const char *max53 = P("\"n\":{\"type\":\"integer\",\"maximum\":9007199254740992}");
        g_assert_cmpint(validate(max53, "{\"n\":9007199254740992}"), ==, 0);
        g_assert_cmpint(validate(max53, "{\"n\":9007199254740993}"), ==, -EINVAL); /* equal as doubles */
        g_assert_cmpint(validate(max53, "{\"n\":18446744073709551615}"), ==, -EINVAL);
        const char *min = P("\"n\":{\"minimum\":-9223372036854775807}");
        g_assert_cmpint(validate(min, "{\"n\":-9223372036854775807}"), ==, 0);
        g_assert_cmpint(validate(min, "{\"n\":-9223372036854775808}"), ==, -EINVAL);
        const char *umax = P("\"n\":{\"maximum\":18446744073709551614}");
        g_assert_cmpint(validate(umax, "{\"n\":18446744073709551614}"), ==, 0);
        g_assert_cmpint(validate(umax, "{\"n\":18446744073709551615}"), ==, -EINVAL);
        g_assert_cmpint(validate(umax, "{\"n\":1.8446744073709552e19}"), ==, -EINVAL);
        /* mixed: an integer bound against doubles and the reverse */
        const char *half = P("\"n\":{\"minimum\":0.5,\"maximum\":2}");
        g_assert_cmpint(validate(half, "{\"n\":0}"), ==, -EINVAL);
        g_assert_cmpint(validate(half, "{\"n\":1}"), ==, 0);
        g_assert_cmpint(validate(half, "{\"n\":2.0}"), ==, 0);
        g_assert_cmpint(validate(half, "{\"n\":2.000000001}"), ==, -EINVAL);
        g_assert_cmpint(validate(half, "{\"n\":0.49999999999}"), ==, -EINVAL);
}

/* JSON text cannot carry NaN any more; a value built in C can (events). */
static void test_non_finite(void) {
        _cleanup_json_ struct json_object *schema = NULL;
        g_autofree char *error = NULL;
        g_assert_cmpint(schema_compile(P("\"n\":{\"minimum\":0,\"maximum\":10}"), &schema, &error), ==, 0);
        double bad[] = { NAN, INFINITY, -INFINITY };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                _cleanup_json_ struct json_object *v = json_object_new_object();
                json_object_object_add(v, "n", json_object_new_double(bad[i]));
                g_assert_cmpint(schema_validate(schema, v, &error), ==, -EINVAL);
                g_clear_pointer(&error, g_free);
        }
}

static void test_enum(void) {
        const char *e = P("\"n\":{\"enum\":[1,\"a\",[2,{\"k\":3}]]}");
        g_assert_cmpint(validate(e, "{\"n\":1}"), ==, 0);
        g_assert_cmpint(validate(e, "{\"n\":1.0}"), ==, 0);
        g_assert_cmpint(validate(e, "{\"n\":1e0}"), ==, 0);
        g_assert_cmpint(validate(e, "{\"n\":[2.0,{\"k\":3.0}]}"), ==, 0);
        g_assert_cmpint(validate(e, "{\"n\":1.5}"), ==, -EINVAL);
        g_assert_cmpint(validate(e, "{\"n\":\"1\"}"), ==, -EINVAL);
        g_assert_cmpint(validate(e, "{\"n\":true}"), ==, -EINVAL);
}

static void test_lengths(void) {
        const char *len = P("\"s\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}");
        g_assert_cmpint(validate(len, "{\"s\":\"\xc3\xa9\xf0\x9f\x98\x80\"}"), ==, 0); /* two code points */
        g_assert_cmpint(validate(len, "{\"s\":\"\\u00e9\"}"), ==, -EINVAL);
        g_assert_cmpint(validate(len, "{\"s\":\"abcd\"}"), ==, -EINVAL);
        /* a string with a NUL (only C can build one now) is counted whole */
        _cleanup_json_ struct json_object *schema = NULL, *v = json_object_new_object();
        g_autofree char *error = NULL;
        g_assert_cmpint(schema_compile(len, &schema, &error), ==, 0);
        json_object_object_add(v, "s", json_object_new_string_len("abc\0de", 6));
        g_assert_cmpint(schema_validate(schema, v, &error), ==, -EINVAL);
}

static void test_bad_schemas(void) {
        _cleanup_json_ struct json_object *s = NULL;
        g_autofree char *error = NULL;
        g_assert_cmpint(schema_compile(P("\"n\":{\"maximum\":\"10\"}"), &s, &error), ==, -EINVAL);
        g_assert_nonnull(strstr(error, "must be a finite number"));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/schema/integer-bounds", test_integer_bounds);
        g_test_add_func("/schema/non-finite", test_non_finite);
        g_test_add_func("/schema/enum", test_enum);
        g_test_add_func("/schema/lengths", test_lengths);
        g_test_add_func("/schema/bad-schemas", test_bad_schemas);
        return g_test_run();
}
