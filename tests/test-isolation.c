/* SPDX-License-Identifier: MIT */
/*
 * Plugins in worker processes (src/core/isolated.c, src/worker/): the same
 * calls, events and routines as in process, and containment: a plugin that
 * crashes, hangs or misbehaves never takes the host down.
 */
#include <signal.h>
#include <sys/wait.h>

#include "host-internal.h"
#include "test-util.h"

static void install_example(TuHost *t, const char *name) {
        g_autofree char *so = tu_example_plugin(name);
        g_autofree char *dirname = g_path_get_dirname(so);
        g_autofree char *mf = g_build_filename(dirname, "manifest.json", NULL);
        g_autofree char *manifest = NULL;
        g_assert_true(g_file_get_contents(mf, &manifest, NULL, NULL));
        tu_install(t->root, name, so, manifest);
}

static void isolated_setup(TuHost *t, gconstpointer data) {
        tu_host_init(t);
        g_assert_cmpint(host_config_set(&t->config, "DefaultIsolation", "process"), ==, 0);
}

static void test_calls(TuHost *t, gconstpointer data) {
        install_example(t, "hello-world");
        g_assert_cmpint(tu_host_start(t), ==, 0);
        PluginRecord *r = host_find(t->host, "hello-world");
        g_assert_nonnull(r);
        g_assert_cmpint(r->state, ==, PLUGIN_STATE_LOADED);
        g_assert_cmpstr(r->isolation, ==, "process");
        g_autofree char *res = NULL, *msg = NULL;
        g_assert_cmpint(tu_invoke(t, "hello-world", "hello_world", "{\"name\":\"worker\"}", &res, NULL), ==, 0);
        g_assert_cmpstr(res, ==, "{\"message\":\"Hello, worker!\"}");
        g_assert_cmpint(tu_invoke(t, "hello-world", "echo", "{\"x\":[1,2]}", NULL, NULL), ==, 0);
        g_assert_cmpint(tu_invoke(t, "hello-world", "nope", "{}", NULL, &msg), ==, HOST_ERR_NO_SUCH_FUNCTION);
}

int main(int argc, char *argv[]) {
        tu_block_sigchld();
        tu_init();
        g_test_init(&argc, &argv, NULL);
        g_test_add("/isolation/calls", TuHost, NULL, isolated_setup, test_calls, tu_fixture_teardown);
        return g_test_run();
}
