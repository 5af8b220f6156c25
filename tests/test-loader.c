/* SPDX-License-Identifier: MIT */
/*
 * The loader: Charon's test checklist (docs/plugin-security.md) and every
 * hardened check the loader makes, against real plugins built by meson.
 */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "fs-check.h"
#include "image.h"
#include "plugin-instance.h"
#include "test-util.h"
#include "strv.h"
#include "verify.h"

#define ZEROS "sha256:0000000000000000000000000000000000000000000000000000000000000000"

static PluginRecord *find(TuHost *t, const char *id) {
        return host_find(t->host, id);
}

static void assert_state(TuHost *t, const char *id, PluginState state, const char *reason) {
        PluginRecord *r = find(t, id);
        if (!r)
                g_error("no record for %s", id);
        if (r->state != state || !g_str_equal(reason_to_string(r->reason), reason))
                g_error("%s: state %s reason '%s' (%s), expected %s '%s'", id, plugin_state_to_string(r->state),
                        reason_to_string(r->reason), r->message ? r->message : "", plugin_state_to_string(state),
                        reason);
}

static void assert_message(TuHost *t, const char *id, const char *message) {
        PluginRecord *r = find(t, id);
        g_assert_nonnull(r);
        g_assert_cmpstr(r->message, ==, message);
}

/* Install test plugin `variant` as `id` and start a host over the root. */
static void start_with(TuHost *t, const char *variant, const char *id) {
        g_autofree char *so = tu_test_plugin(variant);
        tu_install(t->root, id, so, NULL);
        g_assert_cmpint(tu_host_start(t), ==, 0);
}

static char *plugin_file(TuHost *t, const char *id, const char *name) {
        return g_build_filename(t->root, id, name, NULL);
}

/* ---- Charon 1-5: signature computation ---- */

static void test_compute_signature(void) {
        g_autofree char *dir = tu_tmpdir();
        static const struct {
                const char *name;
                const char *content;
                size_t len;
                const char *digest;
        } cases[] = {
                {"empty", "", 0, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                {"simple", "hello world", 11,
                 "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"},
                {"binary", "\x00\x01\x02\xff\xfe\xfd", 6,
                 "sha256:feb1aba6fea741741b1bbcc974f74fed337b535b8eec7223b6dd15d7108f08e3"},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *p = g_build_filename(dir, cases[i].name, NULL);
                g_assert_true(g_file_set_contents(p, cases[i].content, (gssize) cases[i].len, NULL));
                g_autofree char *d1 = tu_sha256_file(p), *d2 = tu_sha256_file(p), *d3 = tu_sha256_file(p);
                g_assert_true(g_str_has_prefix(d1, "sha256:"));
                g_assert_cmpstr(d1, ==, cases[i].digest);
                g_assert_cmpstr(d1, ==, d2); /* consistency (Charon 3) */
                g_assert_cmpstr(d2, ==, d3);
        }
        /* Charon 4: 1 MiB → "sha256:" + 64 hex. */
        g_autofree char *big = g_build_filename(dir, "big", NULL);
        g_autofree char *data = g_malloc0(1 << 20);
        g_assert_true(g_file_set_contents(big, data, 1 << 20, NULL));
        g_autofree char *d = tu_sha256_file(big);
        g_assert_cmpuint(strlen(d), ==, 7 + 64);
        /* Charon 5: spaces in the path. */
        g_autofree char *spaced_dir = g_build_filename(dir, "my plugins", NULL);
        g_mkdir(spaced_dir, 0755);
        g_autofree char *spaced = g_build_filename(spaced_dir, "my plugin.so", NULL);
        g_assert_true(g_file_set_contents(spaced, "x", 1, NULL));
        g_autofree char *ds = tu_sha256_file(spaced);
        g_assert_true(strlen(ds) > 0);
        /* Charon 2: a missing file is an error. */
        g_assert_cmpint(open("/nonexistent/plugin.so", O_RDONLY), <, 0);
        tu_rm_rf(dir);
}

/* ---- directory rules: matrix (Charon 6, 7, 16-21) ---- */

static void test_directory_matrix(void) {
        if (!tu_require_root("chown() to other users"))
                return;
        static const struct {
                mode_t mode;
                const char *inner; /* NULL = accepted */
        } cases[] = {
                {0755, NULL},
                {0750, NULL},
                {0700, NULL},
                {0777, "directory is world-writable (mode: 777) - this is a security risk"},
                {0757, "directory is world-writable (mode: 757) - this is a security risk"},
                {0773, "directory is world-writable (mode: 773) - this is a security risk"},
                {0772, "directory is world-writable (mode: 772) - this is a security risk"},
                {01777, "directory is world-writable (mode: 777) - this is a security risk"},
                {0775, "directory is group-writable (mode: 775) - this is a security risk"},
                {0770, "directory is group-writable (mode: 770) - this is a security risk"},
        };
        g_autofree char *dir = tu_tmpdir();
        OwnerRule rule = {.kind = ROOT_READONLY, .self_uid = 0, .trusted_uid = UID_INVALID};
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *p = g_strdup_printf("%s/d%zu", dir, i);
                g_autofree char *inner = NULL;
                g_assert_cmpint(mkdir(p, 0700), ==, 0);
                g_assert_cmpint(chmod(p, cases[i].mode), ==, 0); /* defeat the umask */
                int fd = root_open_checked(p, &rule, &inner);
                if (!cases[i].inner) {
                        g_assert_cmpint(fd, >=, 0);
                        close(fd);
                } else {
                        g_assert_cmpint(fd, ==, -EPERM);
                        g_assert_cmpstr(inner, ==, cases[i].inner);
                }
        }
        /* Charon 7: missing → ENOENT (the scan treats it as "nothing to load"). */
        g_autofree char *missing = g_build_filename(dir, "missing", NULL);
        g_assert_cmpint(root_open_checked(missing, &rule, NULL), ==, -ENOENT);
        /* A regular file: "Not a directory". */
        g_autofree char *file = g_build_filename(dir, "file", NULL);
        tu_write_file(file, "x", 0644);
        g_assert_cmpint(root_open_checked(file, &rule, NULL), ==, -ENOTDIR);
        /* A symlinked root is not followed. */
        g_autofree char *link = g_build_filename(dir, "link", NULL);
        g_autofree char *target = g_strdup_printf("%s/d0", dir);
        g_assert_cmpint(symlink(target, link), ==, 0);
        g_assert_cmpint(root_open_checked(link, &rule, NULL), ==, -ENOTDIR);
        tu_rm_rf(dir);
}

static void test_directory_owner_and_parents(void) {
        if (!tu_require_root("chown() to other users"))
                return;
        g_autofree char *dir = tu_tmpdir();
        g_autofree char *inner = NULL;
        /* Owned by the daemon's own (non-root) uid: refused for a packaged root. */
        g_autofree char *own = g_build_filename(dir, "own", NULL);
        g_assert_cmpint(mkdir(own, 0755), ==, 0);
        g_assert_cmpint(chown(own, 4242, 4242), ==, 0);
        OwnerRule ro = {.kind = ROOT_READONLY, .self_uid = 4242, .trusted_uid = UID_INVALID};
        g_assert_cmpint(root_open_checked(own, &ro, &inner), ==, -EPERM);
        g_assert_cmpstr(inner, ==, "directory is owned by uid 4242, expected root - this is a security risk");
        /* … but right for the daemon's store. */
        OwnerRule store = {.kind = ROOT_STORE, .self_uid = 4242, .trusted_uid = UID_INVALID};
        int fd = root_open_checked(own, &store, NULL);
        g_assert_cmpint(fd, >=, 0);
        close(fd);
        /* A configured trusted uid is accepted for read-only roots. */
        OwnerRule trusted = {.kind = ROOT_READONLY, .self_uid = 0, .trusted_uid = 4242};
        fd = root_open_checked(own, &trusted, NULL);
        g_assert_cmpint(fd, >=, 0);
        close(fd);

        /* A world-writable parent (even sticky) rejects the root below it. */
        g_autofree char *parent = g_build_filename(dir, "shared", NULL);
        g_autofree char *child = g_build_filename(parent, "plugins", NULL);
        g_assert_cmpint(mkdir(parent, 0755), ==, 0);
        g_assert_cmpint(mkdir(child, 0755), ==, 0);
        g_assert_cmpint(chmod(parent, 01777), ==, 0);
        g_clear_pointer(&inner, g_free);
        g_assert_cmpint(root_open_checked(child, &ro, &inner), ==, -EPERM);
        g_autofree char *expect = g_strdup_printf(
                "parent directory %s is insecure (world-writable, mode 1777) - this is a security risk", parent);
        g_assert_cmpstr(inner, ==, expect);
        g_assert_cmpint(chmod(parent, 0775), ==, 0);
        g_clear_pointer(&inner, g_free);
        g_assert_cmpint(root_open_checked(child, &ro, &inner), ==, -EPERM);
        g_assert_nonnull(strstr(inner, "group-writable, mode 0775"));
        tu_rm_rf(dir);
}

/* Charon 21: a world-writable root fails the scan for that root and loads nothing. */
static void test_scan_insecure_root(TuHost *t, gconstpointer data) {
        g_autofree char *so = tu_test_plugin("good");
        tu_install(t->root, "good", so, NULL);
        g_assert_cmpint(chmod(t->root, 0777), ==, 0);
        g_assert_cmpint(tu_host_start(t), ==, 0); /* the daemon carries on */
        const TuLogEntry *e = tu_log_find(t, "Failed to load external plugins");
        g_assert_nonnull(e);
        g_assert_cmpstr(tu_log_field(e, "DC_ERROR"), ==,
                        "plugin directory has insecure permissions: directory is world-writable (mode: 777) - this is "
                        "a security risk");
        g_assert_null(find(t, "good"));
        g_assert_false(tu_marker_has(t, "ctor good"));
        g_assert_true(tu_log_has(t, "Plugin system initialized"));
}

/* Charon 16-20 and the rows about entries. */
static void test_scan_edge_cases(void) {
        TuHost t;
        tu_host_init(&t);
        g_autofree char *so = tu_test_plugin("good");
        g_autofree char *readme = g_build_filename(t.root, "readme.txt", NULL);
        g_autofree char *dll = g_build_filename(t.root, "plugin.dll", NULL);
        g_autofree char *upper = g_build_filename(t.root, "X.SO", NULL);
        g_autofree char *empty = g_build_filename(t.root, "empty", NULL);
        g_autofree char *hidden = g_build_filename(t.root, ".hidden", NULL);
        g_autofree char *link = g_build_filename(t.root, "linked.so", NULL);
        g_autofree char *linkdir = g_build_filename(t.root, "linkdir", NULL);
        tu_write_file(readme, "hello", 0644);
        tu_write_file(dll, "MZ", 0644);
        tu_copy_file(so, upper, 0644);
        g_assert_cmpint(mkdir(empty, 0755), ==, 0);
        g_assert_cmpint(mkdir(hidden, 0755), ==, 0);
        g_assert_cmpint(symlink(so, link), ==, 0);
        tu_install(t.tmp, "target", so, NULL);
        g_autofree char *target = g_build_filename(t.tmp, "target", NULL);
        g_assert_cmpint(symlink(target, linkdir), ==, 0);
        g_assert_cmpint(tu_host_start(&t), ==, 0);

        g_assert_null(find(&t, "readme"));
        g_assert_null(find(&t, "readme.txt"));
        g_assert_null(find(&t, "plugin"));
        g_assert_null(find(&t, "X"));
        g_assert_null(find(&t, ".hidden"));
        assert_state(&t, "empty", PLUGIN_STATE_REJECTED, "manifest-missing");
        assert_state(&t, "linked", PLUGIN_STATE_REJECTED, "not-regular-file");
        assert_message(&t, "linked", "plugin rejected: not a regular file");
        assert_state(&t, "linkdir", PLUGIN_STATE_REJECTED, "not-regular-file");
        g_assert_false(tu_marker_has(&t, "ctor good"));
        g_assert_true(tu_log_has(&t, "Starting 0 external plugins (3 failed)"));
        tu_host_done(&t);

        /* Missing root, empty root path: success, nothing loaded (Charon 17, 18). */
        tu_host_init(&t);
        tu_rm_rf(t.root);
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        g_assert_true(tu_log_has(&t, "Plugin directory does not exist, skipping plugin loading"));
        g_assert_cmpuint(host_n_records(t.host), ==, 0);
        tu_host_done(&t);

        tu_host_init(&t);
        g_free(t.config.plugin_dirs[0]);
        t.config.plugin_dirs[0] = g_strdup("");
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        g_assert_true(tu_log_has(&t, "Plugin directory not configured, skipping plugin loading"));
        tu_host_done(&t);

        /* Root is a regular file: the scan of that root fails with Charon's text. */
        tu_host_init(&t);
        tu_rm_rf(t.root);
        tu_write_file(t.root, "not a dir", 0644);
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        const TuLogEntry *e = tu_log_find(&t, "Failed to load external plugins");
        g_assert_nonnull(e);
        g_assert_cmpstr(tu_log_field(e, "DC_ERROR"), ==, "failed to read plugin directory: Not a directory");
        tu_host_done(&t);
}

/* ---- allowlist (Charon 11-15, ) ---- */

static void test_allowlist(void) {
        TuHost t;
        g_autofree char *so = tu_test_plugin("good");
        g_autofree char *digest = tu_sha256_file(so);

        /* 11: not listed → refused before anything is opened or hashed. */
        tu_host_init(&t);
        tu_set_signatures(&t, "{\"known-provider\":\"" ZEROS "\"}");
        start_with(&t, "good", "good");
        assert_state(&t, "good", PLUGIN_STATE_REJECTED, "not-in-allowlist");
        assert_message(&t, "good", "plugin not in allowlist: good");
        g_assert_cmpstr(find(&t, "good")->digest, ==, ""); /* never hashed */
        g_assert_false(tu_marker_has(&t, "ctor good"));
        const TuLogEntry *e = tu_log_find(&t, "Failed to load plugin good");
        g_assert_nonnull(e);
        g_assert_cmpint(e->level, ==, LOG_WARNING);
        g_assert_cmpstr(e->message_id, ==, "c4e7099a3e674d55a7fdb039e8a02ef6");
        g_assert_cmpstr(tu_log_field(e, "DC_REASON"), ==, "not-in-allowlist");
        tu_host_done(&t);

        /* 12: pin of zeros → mismatch, both digests in fields. */
        tu_host_init(&t);
        tu_set_signatures(&t, "{\"good\":\"" ZEROS "\"}");
        start_with(&t, "good", "good");
        assert_state(&t, "good", PLUGIN_STATE_REJECTED, "digest-mismatch");
        g_autofree char *msg =
                g_strdup_printf("plugin signature does not match allowlist: expected %s, got %s", ZEROS, digest);
        assert_message(&t, "good", msg);
        e = tu_log_find(&t, "Failed to load plugin good");
        g_assert_cmpstr(tu_log_field(e, "EXPECTED_DIGEST"), ==, ZEROS);
        g_assert_cmpstr(tu_log_field(e, "ACTUAL_DIGEST"), ==, digest);
        g_assert_false(tu_marker_has(&t, "ctor good"));
        tu_host_done(&t);

        /* 13 + upper-case pin: matches and loads for real. */
        tu_host_init(&t);
        g_autofree char *upper = g_ascii_strup(digest + 7, -1);
        g_autofree char *json = g_strdup_printf("{\"good\":\"sha256:%s\"}", upper);
        tu_set_signatures(&t, json);
        start_with(&t, "good", "good");
        assert_state(&t, "good", PLUGIN_STATE_LOADED, "");
        g_assert_cmpstr(find(&t, "good")->digest, ==, digest);
        g_assert_true(tu_marker_has(&t, "init good"));

        /* 15: tamper, then reload → mismatch; the live generation keeps serving. */
        g_autofree char *file = plugin_file(&t, "good", "good.so");
        tu_write_file(file, "TAMPERED CONTENT", 0644);
        bool unchanged;
        Verdict v = {};
        g_assert_cmpint(tu_reload(&t, "good", &unchanged, &v), ==, -EPERM);
        g_assert_cmpint(v.reason, ==, REASON_DIGEST_MISMATCH);
        verdict_clear(&v);
        assert_state(&t, "good", PLUGIN_STATE_LOADED, "digest-mismatch");
        g_autofree char *res = NULL;
        g_assert_cmpint(tu_invoke(&t, "good", "probe", "{}", &res, NULL), ==, 0);
        tu_host_done(&t);

        /* 14: permissive → loads. */
        tu_host_init(&t);
        start_with(&t, "good", "good");
        assert_state(&t, "good", PLUGIN_STATE_LOADED, "");
        tu_host_done(&t);

        /* Strict empty {} blocks everything. */
        tu_host_init(&t);
        tu_set_signatures(&t, "{}");
        start_with(&t, "good", "good");
        assert_state(&t, "good", PLUGIN_STATE_REJECTED, "not-in-allowlist");
        tu_host_done(&t);
}

/* A malformed policy blocks every plugin, the daemon keeps running. */
static void test_policy_invalid(TuHost *t, gconstpointer data) {
        tu_set_signatures(t, "{\"good\":\"abc123\"}");
        start_with(t, "good", "good");
        assert_state(t, "good", PLUGIN_STATE_REJECTED, "policy-invalid");
        g_assert_true(tu_log_has(t, "invalid DC_PLUGIN_SIGNATURES: value for \"good\" must be sha256:<64 hex digits> — "
                                    "all external plugins blocked"));
        g_assert_true(tu_log_has(t, "Plugin system initialized"));
}

/* The signatures file wins over the environment and must be root-owned. */
static void test_signatures_file(void) {
        if (!tu_require_root("a root-owned signatures file"))
                return;
        TuHost t;
        tu_host_init(&t);
        tu_set_signatures(&t, ""); /* env: permissive */
        g_autofree char *etc = g_build_filename(t.tmp, "etc", NULL);
        g_mkdir(etc, 0755);
        tu_write_file(t.config.signatures_file, "{}", 0644);
        start_with(&t, "good", "good");
        assert_state(&t, "good", PLUGIN_STATE_REJECTED, "not-in-allowlist");
        g_assert_true(tu_log_has(&t, "DC_PLUGIN_SIGNATURES is ignored"));
        tu_host_done(&t);

        tu_host_init(&t);
        g_free(etc);
        etc = g_build_filename(t.tmp, "etc", NULL);
        g_mkdir(etc, 0755);
        tu_write_file(t.config.signatures_file, "{}", 0666); /* world-writable: unusable */
        start_with(&t, "good", "good");
        assert_state(&t, "good", PLUGIN_STATE_REJECTED, "policy-invalid");
        tu_host_done(&t);
}

/* One policy for every load path: Load, Reload and Rescan refuse too. */
static void test_every_path_uses_policy(TuHost *t, gconstpointer data) {
        Verdict v = {};
        bool unchanged;
        tu_set_signatures(t, "{}");
        g_assert_cmpint(tu_host_start(t), ==, 0);
        g_autofree char *so = tu_test_plugin("good");
        tu_install(t->root, "good", so, NULL);
        g_assert_cmpint(host_rescan(t->host), ==, 0);
        assert_state(t, "good", PLUGIN_STATE_REJECTED, "not-in-allowlist");
        g_assert_cmpint(tu_load(t, "good", &v), ==, -EPERM);
        g_assert_cmpint(v.reason, ==, REASON_NOT_IN_ALLOWLIST);
        verdict_clear(&v);
        g_assert_cmpint(tu_reload(t, "good", &unchanged, &v), ==, -EPERM);
        g_assert_cmpint(v.reason, ==, REASON_NOT_IN_ALLOWLIST);
        verdict_clear(&v);
        g_assert_false(tu_marker_has(t, "ctor good"));
}

/* ---- files: symlinks, FIFOs, modes, owners, sizes ---- */

static void test_file_checks(void) {
        if (!tu_require_root("chown() to other users"))
                return;
        static const char *const ids[] = {"sym",   "fifo", "worldw",    "groupw", "suid",
                                          "owner", "big",  "folder775", "mfmode"};
        TuHost t;
        tu_host_init(&t);
        g_autofree char *so = tu_test_plugin("good");
        for (size_t i = 0; i < G_N_ELEMENTS(ids); i++)
                tu_install(t.root, ids[i], so, NULL);
        g_autofree char *p = NULL;
#define SO(id) (g_free(p), p = plugin_file(&t, id, id ".so"))
        SO("sym");
        unlink(p);
        g_assert_cmpint(symlink(so, p), ==, 0);
        SO("fifo");
        unlink(p);
        g_assert_cmpint(mkfifo(p, 0644), ==, 0);
        SO("worldw");
        chmod(p, 0666);
        SO("groupw");
        chmod(p, 0664);
        SO("suid");
        chmod(p, 04755);
        SO("owner");
        g_assert_cmpint(chown(p, 1234, 0), ==, 0);
        g_autofree char *f775 = g_build_filename(t.root, "folder775", NULL);
        chmod(f775, 0775);
        g_autofree char *mf = plugin_file(&t, "mfmode", "manifest.json");
        chmod(mf, 0666);
        t.config.max_plugin_size = 4096;
        tu_install(t.root, "big", so, NULL); /* > 4 KiB */
        g_assert_cmpint(tu_host_start(&t), ==, 0);

        assert_state(&t, "sym", PLUGIN_STATE_REJECTED, "not-regular-file");
        assert_message(&t, "sym", "plugin rejected: not a regular file");
        assert_state(&t, "fifo", PLUGIN_STATE_REJECTED, "not-regular-file");
        assert_state(&t, "worldw", PLUGIN_STATE_REJECTED, "insecure-mode");
        assert_state(&t, "groupw", PLUGIN_STATE_REJECTED, "insecure-mode");
        assert_state(&t, "suid", PLUGIN_STATE_REJECTED, "setuid");
        assert_state(&t, "owner", PLUGIN_STATE_REJECTED, "insecure-owner");
        assert_state(&t, "big", PLUGIN_STATE_REJECTED, "too-large");
        assert_state(&t, "folder775", PLUGIN_STATE_REJECTED, "insecure-mode");
        assert_state(&t, "mfmode", PLUGIN_STATE_REJECTED, "insecure-mode");
        g_assert_false(tu_marker_has(&t, "ctor good"));
        tu_host_done(&t);
#undef SO
}

/* ---- manifests ---- */

static void test_manifests(TuHost *t, gconstpointer data) {
        static const struct {
                const char *id;
                const char *manifest;
                const char *reason;
                const char *message;
        } cases[] = {
                {"m-json", "{\"id\":", "manifest-invalid",
                 "plugin rejected: manifest-invalid: manifest.json is not valid JSON"},
                {"m-array", "[]", "manifest-invalid",
                 "plugin rejected: manifest-invalid: manifest.json must hold a JSON object"},
                {"m-python", "{\"id\":\"m-python\",\"class_name\":\"X\",\"entry_point\":\"capability.py\"}",
                 "runtime-unsupported",
                 "plugin rejected: runtime-unsupported: this is a Python plugin (class_name/capability.py); this host "
                 "loads C plugins (runtime \"c\")"},
                {"m-noruntime", "{\"id\":\"m-noruntime\",\"api_level\":1}", "runtime-unsupported",
                 "plugin rejected: runtime-unsupported: manifest has no \"runtime\": \"c\""},
                {"m-rust", "{\"id\":\"m-rust\",\"runtime\":\"rust\",\"api_level\":1}", "runtime-unsupported",
                 "plugin rejected: runtime-unsupported: runtime \"rust\" is not supported, this host loads C plugins "
                 "(runtime \"c\")"},
                {"m-noid", "{\"runtime\":\"c\",\"api_level\":1}", "manifest-invalid",
                 "plugin rejected: manifest-invalid: \"id\" is required"},
                {"m-idmis", "{\"id\":\"other\",\"runtime\":\"c\",\"api_level\":1}", "id-mismatch",
                 "plugin rejected: id-mismatch: manifest id \"other\" differs from the folder name \"m-idmis\""},
                {"m-dot", "{\"id\":\".\",\"runtime\":\"c\",\"api_level\":1}", "invalid-id",
                 "plugin rejected: invalid-id: manifest id \".\" is not a valid plugin id"},
                {"m-entry", "{\"id\":\"m-entry\",\"runtime\":\"c\",\"api_level\":1,\"entry_point\":\"../x.so\"}",
                 "manifest-invalid", "plugin rejected: manifest-invalid: entry_point must be \"m-entry.so\""},
                {"m-noapi", "{\"id\":\"m-noapi\",\"runtime\":\"c\"}", "abi-mismatch",
                 "plugin interface version mismatch: plugin interface none, host requires 1"},
                {"m-api2", "{\"id\":\"m-api2\",\"runtime\":\"c\",\"api_level\":2}", "abi-mismatch",
                 "plugin interface version mismatch: plugin interface 2, host requires 1"},
                {"m-apistr", "{\"id\":\"m-apistr\",\"runtime\":\"c\",\"api_level\":\"1\"}", "manifest-invalid",
                 "plugin rejected: manifest-invalid: \"api_level\" must be an integer"},
                {"m-dup", "{\"id\":\"m-dup\",\"id\":\"m-dup\",\"runtime\":\"c\",\"api_level\":1}", "manifest-invalid",
                 "plugin rejected: manifest-invalid: duplicate key \"id\""},
                {"m-vertype", "{\"id\":\"m-vertype\",\"runtime\":\"c\",\"api_level\":1,\"version\":1}",
                 "manifest-invalid", "plugin rejected: manifest-invalid: \"version\" must be a string"},
        };
        g_autofree char *so = tu_test_plugin("good");
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                tu_install(t->root, cases[i].id, so, cases[i].manifest);
        /* > 64 KiB manifest */
        GString *big = g_string_new("{\"id\":\"m-big\",\"runtime\":\"c\",\"api_level\":1,\"description\":\"");
        for (int i = 0; i < 70000; i++)
                g_string_append_c(big, 'x');
        g_string_append(big, "\"}");
        tu_install(t->root, "m-big", so, big->str);
        g_string_free(big, TRUE);
        g_assert_cmpint(tu_host_start(t), ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                assert_state(t, cases[i].id, PLUGIN_STATE_REJECTED, cases[i].reason);
                assert_message(t, cases[i].id, cases[i].message);
        }
        assert_state(t, "m-big", PLUGIN_STATE_REJECTED, "too-large");
        g_assert_false(tu_marker_has(t, "ctor good"));
}

/* ---- Charon's flat drop-in <dir>/<id>.so ---- */

static void test_flat_layout(TuHost *t, gconstpointer data) {
        g_autofree char *good = tu_test_plugin("good");
        g_autofree char *probe = tu_test_plugin("probe-a");
        g_autofree char *a = g_build_filename(t->root, "good.so", NULL);
        g_autofree char *b = g_build_filename(t->root, "renamed.so", NULL);
        tu_copy_file(good, a, 0644);
        tu_copy_file(probe, b, 0644);
        g_assert_cmpint(tu_host_start(t), ==, 0);
        assert_state(t, "good", PLUGIN_STATE_LOADED, "");
        g_assert_cmpint(find(t, "good")->layout, ==, LAYOUT_FLAT);
        assert_state(t, "renamed", PLUGIN_STATE_REJECTED, "id-mismatch");
}

/* ---- descriptor / ABI ---- */

static void test_descriptors(TuHost *t, gconstpointer data) {
        static const struct {
                const char *variant;
                PluginState state;
                const char *reason;
                const char *message;
        } cases[] = {
                {"bad-magic", PLUGIN_STATE_REJECTED, "descriptor-invalid",
                 "invalid plugin: missing required fields or interface: 'dc_plugin_descriptor' symbol does not "
                 "implement dc_plugin interface: 'magic' is 0xdeadbeef, expected 0x44435047"},
                {"null-init", PLUGIN_STATE_REJECTED, "descriptor-invalid",
                 "invalid plugin: missing required fields or interface: 'dc_plugin_descriptor' symbol does not "
                 "implement dc_plugin interface: 'init' is NULL"},
                {"sdk-truncated", PLUGIN_STATE_REJECTED, "descriptor-invalid",
                 "invalid plugin: missing required fields or interface: 'dc_plugin_descriptor' symbol does not "
                 "implement dc_plugin interface: 'struct_size' is 64, the symbol 144 bytes, ABI 1.0 needs 128"}, /* LP64
                                                                                                                    sizes
                                                                                                                  */
                {"sdk-small-elements", PLUGIN_STATE_REJECTED, "descriptor-invalid",
                 "invalid plugin: missing required fields or interface: 'dc_plugin_descriptor' symbol does not "
                 "implement dc_plugin interface: 'function_size' is 8, the ABI 1.0 element has 40 bytes"},
                {"bad-abi", PLUGIN_STATE_REJECTED, "abi-mismatch",
                 "plugin interface version mismatch: plugin interface 99, host requires 1"},
                {"no-name", PLUGIN_STATE_REJECTED, "descriptor-invalid",
                 "invalid plugin: missing required fields or interface: invalid metadata ('name' is empty)"},
                {"id-other", PLUGIN_STATE_REJECTED, "id-mismatch",
                 "plugin rejected: id-mismatch: descriptor id \"someone-else\" differs from \"id-other\""},
                {"init-fail", PLUGIN_STATE_FAILED, "init-failed",
                 "plugin initialization failed: the test asked me to fail"},
                {"bad-schema", PLUGIN_STATE_REJECTED, "descriptor-invalid",
                 "invalid plugin: function \"broken\": params: unsupported schema keyword \"patternProperties\""},
                {"dup-function", PLUGIN_STATE_REJECTED, "descriptor-invalid",
                 "invalid plugin: function \"probe\" is declared twice"},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *so = tu_test_plugin(cases[i].variant);
                tu_install(t->root, cases[i].variant, so, NULL);
        }
        g_assert_cmpint(tu_host_start(t), ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                assert_state(t, cases[i].variant, cases[i].state, cases[i].reason);
                assert_message(t, cases[i].variant, cases[i].message);
                g_assert_null(find(t, cases[i].variant)->plugin);
        }
        /* init() failed: not registered, and cleanup() of a never-initialised plugin is not called. */
        g_assert_true(tu_marker_has(t, "init init-fail"));
        g_assert_false(tu_marker_has(t, "cleanup init-fail"));
        const TuLogEntry *e = tu_log_find(t, "Failed to load plugin init-fail");
        g_assert_cmpstr(e->message_id, ==, "ecdff17929904072b9de4445ee2dad1a"); /* failed, not rejected */
}

/* The SDK evolution rule (plugin.h, "Versioning"): one plugin source built
 * against the frozen 1.0 header, the current one and a future minor with a
 * field appended to every struct loads, and its tables read right. */
static void test_sdk_compat(TuHost *t, gconstpointer data) {
        static const struct {
                const char *variant;
                unsigned minor;
        } cases[] = {{"sdk-1-0", 0}, {"sdk-current", DC_PLUGIN_ABI_MINOR}, {"sdk-future", 9}};
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *so = tu_test_plugin(cases[i].variant);
                tu_install(t->root, cases[i].variant, so, NULL);
        }
        g_assert_cmpint(tu_host_start(t), ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                const PluginRecord *r = find(t, cases[i].variant);
                assert_state(t, cases[i].variant, PLUGIN_STATE_LOADED, "");
                g_assert_cmpuint(plugin_n_functions(r), ==, 3);
                g_assert_cmpstr(plugin_function_name(r, 2), ==, "third");
                g_assert_cmpstr(plugin_function_description(r, 1), ==, "Another function");
                g_assert_cmpuint(plugin_n_events(r), ==, 2);
                g_assert_cmpstr(plugin_event_name(r, 1), ==, "second_event");
                g_assert_cmpuint(plugin_n_routines(r), ==, 2);
                g_assert_cmpstr(plugin_routine_name(r, 1), ==, "tick_b");
                g_assert_cmpuint(r->plugin->routines[1].def.interval_ms, ==, 7200000);
                g_autofree char *result = NULL, *expect = g_strdup_printf("{\"abi_minor\":%u}", cases[i].minor);
                g_assert_cmpint(tu_invoke(t, cases[i].variant, "answer", "{}", &result, NULL), ==, 0);
                g_assert_cmpstr(result, ==, expect);
                g_clear_pointer(&result, g_free);
                g_assert_cmpint(tu_invoke(t, cases[i].variant, "third", "{}", &result, NULL), ==, 0);
                g_assert_cmpstr(result, ==, "\"second\"");
        }
}

/* ---- ELF pre-flight: rejected before a single instruction runs ---- */

static void patch_byte(const char *path, off_t off, uint8_t value) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(pwrite(fd, &value, 1, off), ==, 1);
        close(fd);
}

static void test_elf(void) {
        TuHost t;
        tu_host_init(&t);
        static const struct {
                const char *variant, *reason;
        } built[] = {
                {"execstack", "elf-execstack"},
                {"rpath", "elf-rpath"},
                {"runpath", "elf-rpath"},
                {"needs-crypto", "elf-needed-not-allowed"},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(built); i++) {
                g_autofree char *so = tu_test_plugin(built[i].variant);
                tu_install(t.root, built[i].variant, so, NULL);
        }
        g_autofree char *good = tu_test_plugin("good");
        tu_install(t.root, "textfile", good, NULL);
        g_autofree char *tf = plugin_file(&t, "textfile", "textfile.so");
        tu_write_file(tf, "#!/bin/sh\necho not elf\n", 0644);
        tu_install(t.root, "exe", "/bin/true", NULL);
        tu_install(t.root, "machine", good, NULL);
        g_autofree char *mach = plugin_file(&t, "machine", "machine.so");
        patch_byte(mach, 18, 0x28); /* e_machine = EM_ARM */
        patch_byte(mach, 19, 0x00);
        tu_install(t.root, "class32", good, NULL);
        g_autofree char *c32 = plugin_file(&t, "class32", "class32.so");
        patch_byte(c32, 4, 1); /* ELFCLASS32 */
        tu_install(t.root, "truncated", good, NULL);
        g_autofree char *tr = plugin_file(&t, "truncated", "truncated.so");
        g_assert_cmpint(truncate(tr, 100), ==, 0);
        tu_install(t.root, "emptyfile", good, NULL);
        g_autofree char *ef = plugin_file(&t, "emptyfile", "emptyfile.so");
        g_assert_cmpint(truncate(ef, 0), ==, 0);
        g_assert_cmpint(tu_host_start(&t), ==, 0);

        for (size_t i = 0; i < G_N_ELEMENTS(built); i++)
                assert_state(&t, built[i].variant, PLUGIN_STATE_REJECTED, built[i].reason);
        assert_message(&t, "needs-crypto",
                       "plugin rejected: elf-needed-not-allowed: links against libcrypto.so.3, which is not allowed");
        assert_state(&t, "textfile", PLUGIN_STATE_REJECTED, "elf-invalid");
        assert_state(&t, "exe", PLUGIN_STATE_REJECTED, "elf-interp");
        assert_state(&t, "machine", PLUGIN_STATE_REJECTED, "elf-wrong-machine");
        assert_state(&t, "class32", PLUGIN_STATE_REJECTED, "elf-invalid");
        assert_state(&t, "truncated", PLUGIN_STATE_REJECTED, "elf-invalid");
        assert_state(&t, "emptyfile", PLUGIN_STATE_REJECTED, "elf-invalid");
        /* None of them ran a constructor. */
        g_autofree char *marker = NULL;
        g_assert_false(g_file_get_contents(t.marker, &marker, NULL, NULL) && strstr(marker, "ctor"));
        tu_host_done(&t);

        /* Strict ELF mode refuses constructors (every gcc-linked .so has DT_INIT). */
        tu_host_init(&t);
        t.config.strict_elf = true;
        start_with(&t, "good", "good");
        assert_state(&t, "good", PLUGIN_STATE_REJECTED, "elf-constructor");
        g_assert_false(tu_marker_has(&t, "ctor good"));
        tu_host_done(&t);

        /* Configured extra libraries are accepted. */
        tu_host_init(&t);
        g_assert_cmpint(host_config_set(&t.config, "AllowedLibraries", "libcrypto.so.3"), ==, 0);
        start_with(&t, "needs-crypto", "needs-crypto");
        assert_state(&t, "needs-crypto", PLUGIN_STATE_LOADED, "");
        tu_host_done(&t);
}

/* Random corruption of a real plugin never crashes the parser (ASan watches). */
static void test_elf_fuzz(void) {
        g_autofree char *so = tu_test_plugin("good");
        g_autofree char *data = NULL;
        gsize len;
        g_assert_true(g_file_get_contents(so, &data, &len, NULL));
        HostConfig defaults;
        g_assert_cmpint(host_config_init(&defaults), ==, 0); /* includes sanitizer runtimes in such builds */
        ElfPolicy ep = {.allowed_needed = defaults.allowed_libraries, .required_symbol = "dc_plugin_descriptor"};
        Verdict v = {};
        /* mmap-like alignment for the parser */
        uint8_t *buf = aligned_alloc(4096, (len + 4095) & ~(gsize) 4095);
        memcpy(buf, data, len);
        g_assert_cmpint(elf_preflight(buf, len, &ep, &v), ==, 0);
        GRand *rand = g_rand_new_with_seed(42);
        for (int i = 0; i < 3000; i++) {
                memcpy(buf, data, len);
                int flips = g_rand_int_range(rand, 1, 8);
                for (int k = 0; k < flips; k++) {
                        /* Bias towards the headers, where the parser looks. */
                        gsize off = g_rand_boolean(rand) ? (gsize) g_rand_int_range(rand, 0, 1024)
                                                         : (gsize) g_rand_int_range(rand, 0, (gint32) len);
                        buf[off] = (uint8_t) g_rand_int(rand);
                }
                gsize cut = g_rand_int_range(rand, 0, 10) == 0 ? (gsize) g_rand_int_range(rand, 0, (gint32) len) : len;
                (void) elf_preflight(buf, cut, &ep, &v);
                verdict_clear(&v);
        }
        g_rand_free(rand);
        free(buf);
        host_config_done(&defaults);
}

/* ---- duplicates: the loser's code is never mapped ---- */

static void test_duplicates(TuHost *t, gconstpointer data) {
        g_autofree char *root2 = g_build_filename(t->tmp, "plugins2", NULL);
        g_mkdir(root2, 0755);
        g_autofree char *a = tu_test_plugin("probe-a");
        g_autofree char *b = tu_test_plugin("probe-b");
        tu_install(t->root, "probe", a, NULL);
        tu_install(root2, "probe", b, NULL);
        g_assert_cmpint(strv_extend(&t->config.plugin_dirs, root2), ==, 0);
        g_assert_cmpint(tu_host_start(t), ==, 0);
        assert_state(t, "probe", PLUGIN_STATE_LOADED, "");
        g_assert_cmpuint(host_n_shadowed(t->host), ==, 1);
        const PluginRecord *s = host_shadowed(t->host, 0);
        g_assert_cmpstr(s->id, ==, "probe");
        g_assert_cmpint(s->reason, ==, REASON_DUPLICATE_ID);
        g_assert_cmpstr(s->message, ==, "failed to register plugin: plugin already registered");
        g_autofree char *res = NULL;
        g_assert_cmpint(tu_invoke(t, "probe", "probe", "{}", &res, NULL), ==, 0);
        g_assert_cmpstr(res, ==, "{\"build\":\"A\"}");
        /* One constructor and one init ran: the duplicate was never mapped. */
        g_autofree char *marker = NULL;
        g_assert_true(g_file_get_contents(t->marker, &marker, NULL, NULL));
        g_assert_cmpstr(marker, ==, "ctor probe\ninit probe\n");
}

/* ---- reload and unload semantics ---- */

static void test_reload(TuHost *t, gconstpointer data) {
        Verdict v = {};
        bool unchanged = false;
        start_with(t, "probe-a", "probe");
        g_autofree char *res = NULL;

        /* Same digest: a no-op, never re-init or cleanup of the live instance. */
        g_assert_cmpint(tu_reload(t, "probe", &unchanged, &v), ==, 0);
        g_assert_true(unchanged);
        g_autofree char *marker = NULL;
        g_assert_true(g_file_get_contents(t->marker, &marker, NULL, NULL));
        g_assert_cmpstr(marker, ==, "ctor probe\ninit probe\n");

        /* New bytes: a new generation; the old one is cleaned up after the new init. */
        g_autofree char *b = tu_test_plugin("probe-b");
        g_autofree char *file = plugin_file(t, "probe", "probe.so");
        tu_copy_file(b, file, 0644);
        g_assert_cmpint(tu_reload(t, "probe", &unchanged, &v), ==, 0);
        g_assert_false(unchanged);
        g_assert_cmpint(tu_invoke(t, "probe", "probe", "{}", &res, NULL), ==, 0);
        g_assert_cmpstr(res, ==, "{\"build\":\"B\"}");
        g_assert_true(tu_marker_wait(t, "cleanup probe", 5000));
        g_clear_pointer(&marker, g_free);
        g_assert_true(g_file_get_contents(t->marker, &marker, NULL, NULL));
        g_assert_cmpstr(marker, ==, "ctor probe\ninit probe\nctor probe\ninit probe\ncleanup probe\n");

        /* A broken update keeps the running generation. */
        tu_write_file(file, "garbage", 0644);
        g_assert_cmpint(tu_reload(t, "probe", &unchanged, &v), <, 0);
        g_assert_cmpint(v.reason, ==, REASON_ELF_INVALID);
        verdict_clear(&v);
        g_clear_pointer(&res, g_free);
        g_assert_cmpint(tu_invoke(t, "probe", "probe", "{}", &res, NULL), ==, 0);
        g_assert_cmpstr(res, ==, "{\"build\":\"B\"}");
        assert_state(t, "probe", PLUGIN_STATE_LOADED, "elf-invalid");
}

static bool unload_done;
static void on_unloaded(Host *h, int error, void *userdata) {
        g_assert_cmpint(error, ==, 0);
        unload_done = true;
}
static bool is_unloaded(void *userdata) {
        return unload_done;
}

static void test_unload(void) {
        TuHost t;
        Verdict v = {};
        tu_host_init(&t);
        start_with(&t, "good", "good");
        /* Charon 23-26: unknown ids are harmless. */
        g_assert_cmpint(host_unload(t.host, "unknown", on_unloaded, NULL), ==, -ENOENT);
        g_assert_null(find(&t, "unknown"));

        unload_done = false;
        g_assert_cmpint(host_unload(t.host, "good", on_unloaded, NULL), ==, 0);
        g_assert_true(tu_run_until(t.event, is_unloaded, NULL, 5000));
        assert_state(&t, "good", PLUGIN_STATE_AVAILABLE, "");
        g_assert_true(tu_marker_has(&t, "cleanup good"));
        g_assert_true(
                tu_log_has(&t, "Unloaded plugin: good (memory not reclaimed - restart required for full unload)"));
        g_assert_cmpint(host_unload(t.host, "good", on_unloaded, NULL), ==, -ESRCH);
        g_assert_cmpint(tu_invoke(&t, "good", "probe", "{}", NULL, NULL), ==, HOST_ERR_NOT_LOADED);

        /* Load again: the same id maps a fresh object and runs. */
        tu_marker_clear(&t);
        g_assert_cmpint(tu_load(&t, "good", &v), ==, 0);
        g_assert_true(tu_marker_has(&t, "init good"));
        g_assert_cmpint(tu_load(&t, "good", &v), ==, -EALREADY);
        g_assert_cmpint(tu_load(&t, "nope", &v), ==, -ENOENT);
        g_assert_cmpint(tu_load(&t, "../x", &v), ==, -EINVAL);
        verdict_clear(&v);
        tu_host_done(&t);

        /* cleanup() reporting an error is a warning. */
        tu_host_init(&t);
        start_with(&t, "cleanup-fail", "cleanup-fail");
        unload_done = false;
        g_assert_cmpint(host_unload(t.host, "cleanup-fail", on_unloaded, NULL), ==, 0);
        g_assert_true(tu_run_until(t.event, is_unloaded, NULL, 5000));
        const TuLogEntry *e = tu_log_find(&t, "Error during plugin cleanup: cleanup-fail");
        g_assert_nonnull(e);
        g_assert_cmpint(e->level, ==, LOG_WARNING);
        tu_host_done(&t);
}

/* Unload then load different bytes under the same id: each generation runs its own code
 * (the memfd fd is never reused, so glibc cannot hand back the old object). */
static void test_generations_run_own_code(TuHost *t, gconstpointer data) {
        Verdict v = {};
        start_with(t, "probe-a", "probe");
        for (int round = 0; round < 4; round++) {
                const char *variant = round % 2 ? "probe-a" : "probe-b";
                unload_done = false;
                g_assert_cmpint(host_unload(t->host, "probe", on_unloaded, NULL), ==, 0);
                g_assert_true(tu_run_until(t->event, is_unloaded, NULL, 5000));
                g_autofree char *so = tu_test_plugin(variant);
                g_autofree char *file = plugin_file(t, "probe", "probe.so");
                tu_copy_file(so, file, 0644);
                g_assert_cmpint(tu_load(t, "probe", &v), ==, 0);
                g_autofree char *res = NULL;
                g_assert_cmpint(tu_invoke(t, "probe", "probe", "{}", &res, NULL), ==, 0);
                g_assert_cmpstr(res, ==, round % 2 ? "{\"build\":\"A\"}" : "{\"build\":\"B\"}");
        }
}

/* ---- TOCTOU: what was hashed is what runs ---- */

static bool never(const char *id, void *userdata) {
        return false;
}

typedef enum Swap { SWAP_RENAME, SWAP_SYMLINK, SWAP_INPLACE } Swap;

static void check_swap(Swap how) {
        TuHost t;
        Verdict v = {};
        Candidate c;
        Plugin *p = NULL;
        tu_host_init(&t);
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        g_autofree char *a = tu_test_plugin("probe-a");
        g_autofree char *b = tu_test_plugin("probe-b");
        g_autofree char *digest_a = tu_sha256_file(a);
        tu_install(t.root, "probe", a, NULL);
        g_autofree char *file = plugin_file(&t, "probe", "probe.so");
        int rootfd = open(t.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        g_assert_cmpint(rootfd, >=, 0);
        VerifyContext vc = {.policy = (Policy *) host_policy(t.host),
                            .rule = host_owner_rule(t.host, ROOT_READONLY),
                            .host_api_level = DC_PLUGIN_ABI_MAJOR,
                            .is_disabled = never,
                            .is_registered = never};
        candidate_init(&c);
        g_assert_cmpint(plugin_verify(&vc, rootfd, t.root, "probe", LAYOUT_FOLDER, &c, &v), ==, 0);
        g_assert_cmpstr(c.digest, ==, digest_a);

        /* The attacker swaps the file after the checks, before the load. */
        g_autofree char *tmp = g_build_filename(t.root, "probe", "new.so", NULL);
        switch (how) {
        case SWAP_RENAME:
                tu_copy_file(b, tmp, 0644);
                g_assert_cmpint(rename(tmp, file), ==, 0);
                break;
        case SWAP_SYMLINK:
                g_assert_cmpint(unlink(file), ==, 0);
                g_assert_cmpint(symlink(b, file), ==, 0);
                break;
        case SWAP_INPLACE: {
                g_autofree char *data = NULL;
                gsize len;
                g_assert_true(g_file_get_contents(b, &data, &len, NULL));
                int fd = open(file, O_WRONLY | O_CLOEXEC);
                g_assert_cmpint(fd, >=, 0);
                g_assert_cmpint(pwrite(fd, data, len, 0), ==, (ssize_t) len);
                close(fd);
                break;
        }
        }
        CtxList ctxs = {};
        LoaderContext lc = {.host = t.host, .config = &t.config};
        g_assert_cmpint(plugin_instantiate(&lc, &c, &p, &v), ==, 0);
        g_assert_cmpint(plugin_init(p, &host_api_table, &v), ==, 0);
        g_assert_cmpint(ctx_list_add(&ctxs, p->ctx), ==, 0); /* as the host keeps it */
        /* Call the probe directly: the executed code is the hashed code (A). */
        struct dc_call call = {};
        g_assert_cmpint(plugin_find_function(p, "probe")->def.handler(p->ctx, &call, "{}"), ==, 0);
        g_assert_cmpstr(call.result, ==, "{\"build\":\"A\"}");
        free(call.result);
        p->desc.cleanup(p->ctx);
        plugin_unref(p);
        ctx_list_done(&ctxs);
        candidate_done(&c);
        close(rootfd);
        tu_host_done(&t);
}

static void test_toctou_rename(void) {
        check_swap(SWAP_RENAME);
}
static void test_toctou_symlink(void) {
        check_swap(SWAP_SYMLINK);
}
static void test_toctou_inplace(void) {
        check_swap(SWAP_INPLACE);
}

/* Without an executable memfd, a writable file is refused. */
static void test_memfd_fallback(TuHost *t, gconstpointer data) {
        t->config.image_mode = IMAGE_FORCE_FALLBACK;
        start_with(t, "good", "good");
        assert_state(t, "good", PLUGIN_STATE_REJECTED, "immutable-image-unavailable");
        assert_message(t, "good", "plugin rejected: cannot guarantee immutable image");
        g_assert_false(tu_marker_has(t, "ctor good"));
}

/* ---- persisted disable, per-plugin configuration, --check ---- */

static void test_disabled(TuHost *t, gconstpointer data) {
        Verdict v = {};
        g_autofree char *so = tu_test_plugin("good");
        tu_install(t->root, "good", so, NULL);
        tu_host_create(t);
        g_assert_cmpint(host_set_disabled(t->host, "good", true), ==, 0);
        g_assert_cmpint(tu_host_start(t), ==, 0);
        assert_state(t, "good", PLUGIN_STATE_DISABLED, "disabled");
        g_assert_false(tu_marker_has(t, "ctor good"));
        g_assert_true(tu_log_has(t, "Starting 0 external plugins (0 failed)"));
        /* An explicit Load clears it. */
        g_assert_cmpint(tu_load(t, "good", &v), ==, 0);
        assert_state(t, "good", PLUGIN_STATE_LOADED, "");
        g_autofree char *marker = g_build_filename(t->state, "disabled.d", "good", NULL);
        g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
        g_assert_cmpint(host_set_disabled(t->host, "../../etc", true), ==, -EINVAL);
}

static void test_plugin_config(TuHost *t, gconstpointer data) {
        g_autofree char *etc = g_build_filename(t->tmp, "etc", NULL);
        g_mkdir(etc, 0755);
        g_mkdir(t->config.plugin_config_dir, 0755);
        g_autofree char *cfg = g_build_filename(t->config.plugin_config_dir, "good.json", NULL);
        tu_write_file(cfg, "{ \"threshold\": 5, \"name\": \"x\" }", 0644);
        g_autofree char *so = tu_test_plugin("probe-a");
        tu_install(t->root, "probe", so, NULL);
        g_autofree char *bad = g_build_filename(t->config.plugin_config_dir, "probe.json", NULL);
        tu_write_file(bad, "[1,2", 0644);
        start_with(t, "good", "good");
        g_autofree char *res = NULL;
        g_assert_cmpint(tu_invoke(t, "good", "config", "{}", &res, NULL), ==, 0);
        g_assert_cmpstr(res, ==, "{\"threshold\":5,\"name\":\"x\"}");
        /* A broken configuration is a load failure, not silent defaults. */
        assert_state(t, "probe", PLUGIN_STATE_FAILED, "load-failed");
        g_assert_nonnull(strstr(host_find(t->host, "probe")->message, "is not a readable JSON object"));
        /* A world-writable (or symlinked) configuration is refused too. */
        tu_write_file(bad, "{}", 0666);
        Verdict v = {};
        g_assert_cmpint(tu_load(t, "probe", &v), <, 0);
        g_assert_nonnull(strstr(v.message, "is unsafe"));
        verdict_clear(&v);
        unlink(bad);
        g_assert_cmpint(symlink(cfg, bad), ==, 0);
        g_assert_cmpint(tu_load(t, "probe", &v), <, 0);
        g_assert_nonnull(strstr(v.message, "configuration"));
        verdict_clear(&v);
        unlink(bad);
        tu_write_file(bad, "{\"ok\":true}", 0644);
        g_assert_cmpint(tu_load(t, "probe", &v), ==, 0);
        g_autofree char *res2 = NULL;
        g_assert_cmpint(tu_invoke(t, "probe", "config", "{}", &res2, NULL), ==, 0);
        g_assert_cmpstr(res2, ==, "{\"ok\":true}");
}

static void test_check_runs_no_code(TuHost *t, gconstpointer data) {
        g_autofree char *so = tu_test_plugin("good");
        tu_install(t->root, "good", so, NULL);
        g_autofree char *ex = tu_test_plugin("execstack");
        tu_install(t->root, "execstack", ex, NULL);
        tu_host_create(t);
        g_assert_cmpint(host_check(t->host), ==, 0);
        assert_state(t, "good", PLUGIN_STATE_AVAILABLE, "");
        assert_state(t, "execstack", PLUGIN_STATE_REJECTED, "elf-execstack");
        g_assert_false(tu_marker_has(t, "ctor good"));
        g_assert_false(tu_marker_has(t, "init good"));
        g_assert_true(tu_log_has(t, "Verified 1 external plugins (1 failed)"));
}

/* Lifecycle log lines carry their MESSAGE_ID and fields. */
static void test_log_fields(void) {
        TuHost t;
        tu_host_init(&t);
        start_with(&t, "good", "good");
        const TuLogEntry *e = tu_log_find(&t, "Loaded plugin");
        g_assert_nonnull(e);
        g_assert_cmpstr(e->message, ==, "Loaded plugin good 1.0.0 (in-process)");
        g_assert_cmpstr(tu_log_field(e, "DC_ISOLATION"), ==, "in-process");
        g_assert_cmpstr(e->message_id, ==, "2502ad66dc07494c9d9b442d056a1a5d");
        g_assert_cmpstr(tu_log_field(e, "PLUGIN_ID"), ==, "good");
        g_assert_cmpstr(tu_log_field(e, "PLUGIN_NAME"), ==, "Test plugin good");
        g_assert_cmpstr(tu_log_field(e, "PLUGIN_VERSION"), ==, "1.0.0");
        g_assert_true(g_str_has_prefix(tu_log_field(e, "PLUGIN_DIGEST"), "sha256:"));
        g_assert_true(tu_log_has(&t, "Initializing plugin system..."));
        tu_host_done(&t);

        /* Another toolchain: a warning, never a rejection. */
        tu_host_init(&t);
        start_with(&t, "other-toolchain", "other-toolchain");
        assert_state(&t, "other-toolchain", PLUGIN_STATE_LOADED, "");
        e = tu_log_find(&t, "Plugin other-toolchain built with tcc 0.9.27, host is ");
        g_assert_nonnull(e);
        g_assert_cmpint(e->level, ==, LOG_WARNING);
        g_assert_true(g_str_has_suffix(e->message, " - may cause compatibility issues"));
        g_assert_true(tu_log_has(&t, "Starting 1 external plugins (0 failed)"));
        tu_host_done(&t);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        tu_init();
        g_test_add_func("/loader/compute-signature", test_compute_signature);
        g_test_add_func("/loader/directory-matrix", test_directory_matrix);
        g_test_add_func("/loader/directory-owner-and-parents", test_directory_owner_and_parents);
        g_test_add("/loader/scan-insecure-root", TuHost, NULL, tu_fixture_setup, test_scan_insecure_root,
                   tu_fixture_teardown);
        g_test_add_func("/loader/scan-edge-cases", test_scan_edge_cases);
        g_test_add_func("/loader/allowlist", test_allowlist);
        g_test_add("/loader/policy-invalid", TuHost, NULL, tu_fixture_setup, test_policy_invalid, tu_fixture_teardown);
        g_test_add_func("/loader/signatures-file", test_signatures_file);
        g_test_add("/loader/every-path-uses-policy", TuHost, NULL, tu_fixture_setup, test_every_path_uses_policy,
                   tu_fixture_teardown);
        g_test_add_func("/loader/file-checks", test_file_checks);
        g_test_add("/loader/manifests", TuHost, NULL, tu_fixture_setup, test_manifests, tu_fixture_teardown);
        g_test_add("/loader/flat-layout", TuHost, NULL, tu_fixture_setup, test_flat_layout, tu_fixture_teardown);
        g_test_add("/loader/descriptors", TuHost, NULL, tu_fixture_setup, test_descriptors, tu_fixture_teardown);
        g_test_add("/loader/sdk-compat", TuHost, NULL, tu_fixture_setup, test_sdk_compat, tu_fixture_teardown);
        g_test_add_func("/loader/elf", test_elf);
        g_test_add_func("/loader/elf-fuzz", test_elf_fuzz);
        g_test_add("/loader/duplicates", TuHost, NULL, tu_fixture_setup, test_duplicates, tu_fixture_teardown);
        g_test_add("/loader/reload", TuHost, NULL, tu_fixture_setup, test_reload, tu_fixture_teardown);
        g_test_add_func("/loader/unload", test_unload);
        g_test_add("/loader/generations-run-own-code", TuHost, NULL, tu_fixture_setup, test_generations_run_own_code,
                   tu_fixture_teardown);
        g_test_add_func("/loader/toctou-rename", test_toctou_rename);
        g_test_add_func("/loader/toctou-symlink", test_toctou_symlink);
        g_test_add_func("/loader/toctou-inplace", test_toctou_inplace);
        g_test_add("/loader/memfd-fallback", TuHost, NULL, tu_fixture_setup, test_memfd_fallback, tu_fixture_teardown);
        g_test_add("/loader/disabled", TuHost, NULL, tu_fixture_setup, test_disabled, tu_fixture_teardown);
        g_test_add("/loader/plugin-config", TuHost, NULL, tu_fixture_setup, test_plugin_config, tu_fixture_teardown);
        g_test_add("/loader/check-runs-no-code", TuHost, NULL, tu_fixture_setup, test_check_runs_no_code,
                   tu_fixture_teardown);
        g_test_add_func("/loader/log-fields", test_log_fields);
        return g_test_run();
}
