/* SPDX-License-Identifier: MIT */
/* The configuration table (src/core/config.c): parsing, and what a reload
 * applies at once versus leaves for a restart. */
#include <glib.h>

#include "config.h"
#include "strv.h"

static void test_parse(void) {
        HostConfig c;
        g_assert_cmpint(host_config_init(&c), ==, 0);
        g_assert_cmpint(host_config_set(&c, "CallTimeoutSec", "20"), ==, 0);
        g_assert_cmpuint(c.call_timeout_usec, ==, 20u * 1000000u);
        g_assert_cmpint(host_config_set(&c, "CallTimeoutSec", "0"), ==, -EINVAL);
        g_assert_cmpint(host_config_set(&c, "MaxArchiveSize", "2M"), ==, 0);
        g_assert_cmpuint(c.max_archive_size, ==, 2u * 1024u * 1024u);
        g_assert_cmpint(host_config_set(&c, "NoSuchKey", "1"), ==, -ENOKEY);
        g_assert_cmpint(host_config_set(&c, "MeshOperationsPerMinute", "7"), ==, 0); /* the older name */
        g_assert_cmpuint(c.ops_per_minute, ==, 7);
        host_config_done(&c);
}

static void test_apply(void) {
        HostConfig live, fresh;
        g_auto(GStrv) changed = NULL, restart = NULL;

        g_assert_cmpint(host_config_init(&live), ==, 0);
        g_assert_cmpint(host_config_init(&fresh), ==, 0);
        /* the same: nothing to do */
        g_assert_cmpint(host_config_apply(&live, &fresh, &changed, &restart), ==, 0);
        g_assert_cmpuint(strv_length(changed) + strv_length(restart), ==, 0);
        g_clear_pointer(&changed, g_strfreev);
        g_clear_pointer(&restart, g_strfreev);

        char *old_sigs = live.signatures_file;
        g_assert_cmpint(host_config_set(&fresh, "SignaturesFile", "/etc/x.json"), ==, 0);
        g_assert_cmpint(host_config_set(&fresh, "RequireSignatures", "yes"), ==, 0);
        g_assert_cmpint(host_config_set(&fresh, "OperationsPerMinute", "9"), ==, 0);
        g_assert_cmpint(host_config_set(&fresh, "InstallURLAllowlist", "a.example b.example"), ==, 0);
        g_assert_cmpint(host_config_set(&fresh, "Workers", "2"), ==, 0);
        g_assert_cmpint(host_config_set(&fresh, "StateDirectory", "/run/elsewhere"), ==, 0);
        g_assert_cmpint(host_config_set(&fresh, "MeshURLs", "nats://x:4222"), ==, 0);
        g_assert_cmpint(host_config_set(&fresh, "AllowUnverifiedMeshInstalls", "yes"), ==, 0);
        g_assert_cmpint(host_config_apply(&live, &fresh, &changed, &restart), ==, 0);

        const char *want_changed[] = { "SignaturesFile", "RequireSignatures", "OperationsPerMinute",
                                       "InstallURLAllowlist", "AllowUnverifiedMeshInstalls", NULL };
        const char *want_restart[] = { "StateDirectory", "StoreDirectory", "Workers", "MeshURLs", NULL };
        g_assert_true(g_strv_equal((const char *const *) changed, want_changed));
        g_assert_true(g_strv_equal((const char *const *) restart, want_restart));
        /* applied: moved into live; the old string stays valid (retired) */
        g_assert_cmpstr(live.signatures_file, ==, "/etc/x.json");
        g_assert_true(live.require_signatures);
        g_assert_cmpuint(live.ops_per_minute, ==, 9);
        g_assert_cmpstr(live.install_url_allowlist[1], ==, "b.example");
        g_assert_true(live.mesh.allow_unverified_installs);
        g_assert_nonnull(old_sigs);
        g_assert_cmpuint(live.n_retired, >=, 1);
        /* left for a restart: live unchanged */
        g_assert_cmpuint(live.workers, ==, 4);
        g_assert_cmpstr(live.state_dir, !=, "/run/elsewhere");
        g_assert_true(strv_isempty(live.mesh.urls));
        host_config_done(&fresh);
        host_config_done(&live);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/config/parse", test_parse);
        g_test_add_func("/config/apply", test_apply);
        return g_test_run();
}
