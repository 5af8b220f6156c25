/* SPDX-License-Identifier: MIT */
/* Anti-rollback: the version order and the floor kept per plugin id. */
#include <glib.h>

#include "test-util.h"
#include "version-floor.h"

static void test_compare(void) {
        static const struct {
                const char *a, *b;
                int sign;
        } cases[] = {
                { "1.0.0", "1.0.0", 0 },      { "1.0.0", "1.0.1", -1 },   { "1.10.0", "1.9.0", 1 },
                { "2", "10", -1 },            { "1.2", "1.2.0", -1 },     { "1.2.0-rc1", "1.2.0", -1 },
                { "1.2.0-rc.2", "1.2.0-rc.10", -1 }, { "1.2.0-beta", "1.2.0-alpha", 1 }, { "1.2.0+b1", "1.2.0+b2", 0 },
                { "0010", "10", 0 },          { "1.0.0", "1.0.0-x", 1 },  { "99999999999999999999", "1", 1 },
                { "a.b", "a.c", -1 },         { "1.x", "1.2", 1 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                int c = version_compare(cases[i].a, cases[i].b), r = version_compare(cases[i].b, cases[i].a);
                g_assert_cmpint((c > 0) - (c < 0), ==, cases[i].sign);
                g_assert_cmpint((r > 0) - (r < 0), ==, -cases[i].sign);
        }
}

static void test_floor(void) {
        g_autofree char *dir = tu_tmpdir();
        char *v = NULL;
        g_assert_cmpint(version_floor_get(dir, "p", &v), ==, -ENOENT);
        g_assert_cmpint(version_floor_raise(dir, "p", "1.2.0"), ==, 0);
        g_assert_cmpint(version_floor_raise(dir, "p", "1.1.9"), ==, 0); /* never lowered */
        g_assert_cmpint(version_floor_get(dir, "p", &v), ==, 0);
        g_assert_cmpstr(v, ==, "1.2.0");
        g_clear_pointer(&v, free);
        g_assert_cmpint(version_floor_raise(dir, "p", "1.10.0"), ==, 0);
        g_assert_cmpint(version_floor_get(dir, "p", &v), ==, 0);
        g_assert_cmpstr(v, ==, "1.10.0");
        g_clear_pointer(&v, free);
        g_assert_cmpint(version_floor_raise(dir, "../x", "1"), ==, -EINVAL);
        g_assert_cmpint(version_floor_get(NULL, "p", &v), ==, -EINVAL);
        tu_rm_rf(dir);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        tu_init();
        g_test_add_func("/version-floor/compare", test_compare);
        g_test_add_func("/version-floor/floor", test_floor);
        return g_test_run();
}
