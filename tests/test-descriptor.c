/* SPDX-License-Identifier: MIT */
/*
 * Descriptor checks (src/core/descriptor.c): every refusal names the field
 * an author has to fix, so that "invalid plugin" is never the whole story.
 */
#include <dlfcn.h>
#include <glib.h>

#include "descriptor.h"
#include "test-util.h"

static int handler(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return 0;
}

static void run(dc_plugin_ctx *ctx) {
}

static void assert_mentions(const Verdict *v, const char *field) {
        g_assert_cmpint(v->reason, ==, REASON_DESCRIPTOR_INVALID);
        g_assert_nonnull(v->message);
        if (!strstr(v->message, field))
                g_error("\"%s\" does not name %s", v->message, field);
}

/* descriptor_read() on the symbol of a built plugin: what the loader and the worker do. */
static void test_read(void) {
        static const struct {
                const char *variant, *field;
        } cases[] = {
                { "null-init", "'init' is NULL" },
                { "null-cleanup", "'cleanup' is NULL" },
                { "bad-magic", "'magic'" },
                { "sdk-truncated", "'struct_size'" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *so = tu_test_plugin(cases[i].variant);
                void *dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
                g_assert_nonnull(dl);
                const void *sym = dlsym(dl, DC_PLUGIN_DESCRIPTOR_SYMBOL);
                g_assert_nonnull(sym);
                struct dc_plugin_descriptor d;
                Verdict v = {};
                g_assert_cmpint(descriptor_read(sym, &d, &v), ==, -EBADMSG);
                assert_mentions(&v, cases[i].field);
                verdict_clear(&v);
                dlclose(dl);
        }
}

static void test_metadata(void) {
        char long_name[130];
        memset(long_name, 'n', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = 0;
        const struct dc_plugin_descriptor ok = { .id = "p", .name = "P", .version = "1.0.0" };
        static const char *const fields[] = { "'id' is NULL",     "'id' is empty",  "'name' is NULL",
                                              "'name' is empty",  "'name'",         "'version'",
                                              "'description'",    "'author'",       "'toolchain'" };
        struct dc_plugin_descriptor cases[G_N_ELEMENTS(fields)];
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                cases[i] = ok;
        cases[0].id = NULL;
        cases[1].id = "";
        cases[2].name = NULL;
        cases[3].name = "";
        cases[4].name = long_name;
        cases[5].version = "1.0\xff";
        cases[6].description = "line\nbreak";
        cases[7].author = "\x1b[2J";
        cases[8].toolchain = "\xc3";
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                Verdict v = {};
                g_assert_cmpint(descriptor_check_metadata(&cases[i], "p", NULL, &v), ==, -EBADMSG);
                assert_mentions(&v, fields[i]);
                verdict_clear(&v);
        }
        /* The manifest names a version the descriptor does not have. */
        struct dc_plugin_descriptor no_version = ok;
        no_version.version = NULL;
        Verdict v = {};
        g_assert_cmpint(descriptor_check_metadata(&no_version, "p", "1.0.0", &v), ==, -EBADMSG);
        g_assert_cmpint(v.reason, ==, REASON_ID_MISMATCH);
        g_assert_nonnull(strstr(v.message, "'version' is NULL"));
        verdict_clear(&v);
        g_assert_cmpint(descriptor_check_metadata(&ok, "p", "1.0.0", &v), ==, 0);
}

/* descriptor_check_tables() on one descriptor; the verdict's message. */
static char *check_tables(const struct dc_plugin_descriptor *d) {
        Plugin *p = g_new0(Plugin, 1);
        Verdict v = {};
        p->n_ref = 1;
        p->desc = *d;
        int r = descriptor_check_tables(p, &v);
        plugin_unref(p);
        if (r >= 0)
                return NULL;
        g_assert_cmpint(v.reason, ==, REASON_DESCRIPTOR_INVALID);
        char *m = g_strdup(v.message);
        verdict_clear(&v);
        return m;
}

static void test_tables(void) {
        static const dc_plugin_function f_no_name[] = { { .handler = handler } };
        static const dc_plugin_function f_bad_name[] = { { .name = "1st", .handler = handler } };
        static const dc_plugin_function f_no_handler[] = { { .name = "get" } };
        static const dc_plugin_function f_bad_description[] = { { .name = "get", .description = "\xff", .handler = handler } };
        static const dc_plugin_event e_no_name[] = { { .description = "x" } };
        static const dc_plugin_event e_bad_description[] = { { .name = "changed", .description = "a\tb" } };
        static const dc_plugin_routine r_no_name[] = { { .interval_ms = 10, .run = run } };
        static const dc_plugin_routine r_no_run[] = { { .name = "tick", .interval_ms = 10 } };
        static const dc_plugin_routine r_no_interval[] = { { .name = "tick", .run = run } };
        const struct {
                struct dc_plugin_descriptor d;
                const char *expect;
        } cases[] = {
                { { .functions = f_no_name, .n_functions = 1 }, "function #0: 'name' is NULL" },
                { { .functions = f_bad_name, .n_functions = 1 }, "function #0: 'name' is not a valid name" },
                { { .functions = f_no_handler, .n_functions = 1 }, "function \"get\": 'handler' is NULL" },
                { { .functions = f_bad_description, .n_functions = 1 }, "function \"get\": 'description'" },
                { { .events = e_no_name, .n_events = 1 }, "event #0: 'name' is NULL" },
                { { .events = e_bad_description, .n_events = 1 }, "event \"changed\": 'description'" },
                { { .routines = r_no_name, .n_routines = 1 }, "routine #0: 'name' is NULL" },
                { { .routines = r_no_run, .n_routines = 1 }, "routine \"tick\": 'run' is NULL" },
                { { .routines = r_no_interval, .n_routines = 1 }, "routine \"tick\": 'interval_ms' is 0" },
                { { .n_functions = 2 }, "'functions' is NULL but its count is not 0" },
                { { .n_routines = 1 }, "'routines' is NULL but its count is not 0" },
                { { .functions = f_no_handler, .n_functions = 5000 }, "'n_functions' is 5000, at most 1024" },
                { { .function_size = 8 }, "'function_size' is 8" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *m = check_tables(&cases[i].d);
                if (!m || !strstr(m, cases[i].expect))
                        g_error("case %zu: \"%s\" does not say \"%s\"", i, m ? m : "(accepted)", cases[i].expect);
        }
        /* No functions at all is a valid (if useless) plugin. */
        const struct dc_plugin_descriptor empty = {};
        g_assert_null(check_tables(&empty));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/descriptor/read", test_read);
        g_test_add_func("/descriptor/metadata", test_metadata);
        g_test_add_func("/descriptor/tables", test_tables);
        return g_test_run();
}
