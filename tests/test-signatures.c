/* SPDX-License-Identifier: MIT */
/*
 * Ed25519 publisher signatures (docs/plugin-security.md, "Publisher signatures"), against keys and
 * signatures made by Debian's minisign tool.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

#include "minisign.h"
#include "test-util.h"
#include "verify.h"

typedef struct Keys {
        char *dir;      /* scratch for secret keys */
        char *pub1, *key1, *pub2, *key2;
} Keys;

static bool have_minisign(void) {
        g_autofree char *p = g_find_program_in_path("minisign");
        if (!p)
                g_test_skip("minisign is not installed");
        return p != NULL;
}

static void run(const char *const *argv) {
        g_autofree char *out = NULL, *err = NULL;
        int status;
        g_autoptr(GError) error = NULL;
        g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error));
        if (!g_spawn_check_wait_status(status, NULL))
                g_error("%s failed: %s", argv[0], err);
}

static void keys_make(Keys *k) {
        k->dir = tu_tmpdir();
        k->pub1 = g_build_filename(k->dir, "k1.pub", NULL);
        k->key1 = g_build_filename(k->dir, "k1.key", NULL);
        k->pub2 = g_build_filename(k->dir, "k2.pub", NULL);
        k->key2 = g_build_filename(k->dir, "k2.key", NULL);
        run((const char *[]){ "minisign", "-G", "-W", "-p", k->pub1, "-s", k->key1, NULL });
        run((const char *[]){ "minisign", "-G", "-W", "-p", k->pub2, "-s", k->key2, NULL });
}

static void keys_free(Keys *k) {
        tu_rm_rf(k->dir);
        g_free(k->dir);
        g_free(k->pub1);
        g_free(k->key1);
        g_free(k->pub2);
        g_free(k->key2);
}

static char *comment(const char *id, const char *version, const char *api, const char *arch) {
        return g_strdup_printf("dc-plugin-host-v1 id=%s version=%s api_level=%s arch=%s", id, version, api,
                               arch ? arch : host_architecture());
}

/* Sign <root>/<id>/<id>.so with key, trusted comment tc, optional legacy format. */
static void sign(TuHost *t, const char *id, const char *key, const char *tc, bool legacy) {
        g_autofree char *name = g_strdup_printf("%s.so", id);
        g_autofree char *so = g_build_filename(t->root, id, name, NULL);
        g_autofree char *sig = g_strdup_printf("%s.minisig", so);
        if (legacy)
                run((const char *[]){ "minisign", "-S", "-l", "-s", key, "-m", so, "-x", sig, "-t", tc, NULL });
        else
                run((const char *[]){ "minisign", "-S", "-s", key, "-m", so, "-x", sig, "-t", tc, NULL });
        g_assert_cmpint(chmod(sig, 0644), ==, 0);
}

static void trust(TuHost *t, const char *pub) {
        g_autofree char *etc = g_build_filename(t->tmp, "etc", NULL);
        g_mkdir(etc, 0755);
        g_mkdir(t->config.trusted_keys_dir, 0755);
        g_autofree char *base = g_path_get_basename(pub);
        g_autofree char *dst = g_build_filename(t->config.trusted_keys_dir, base, NULL);
        tu_copy_file(pub, dst, 0644);
}

static void install_good(TuHost *t, const char *id) {
        g_autofree char *so = tu_test_plugin(id[0] == 'p' ? "probe-a" : "good");
        tu_install(t->root, id, so, NULL);
}

static void expect(TuHost *t, const char *id, PluginState state, const char *reason) {
        PluginRecord *r = host_find(t->host, id);
        g_assert_nonnull(r);
        if (r->state != state || !g_str_equal(reason_to_string(r->reason), reason))
                g_error("%s: %s '%s' (%s), expected %s '%s'", id, plugin_state_to_string(r->state),
                        reason_to_string(r->reason), r->message ? r->message : "", plugin_state_to_string(state), reason);
}

static void test_valid_signature(void) {
        if (!tu_require_root("a root-owned trusted-keys directory") || !have_minisign())
                return;
        Keys k;
        TuHost t;
        keys_make(&k);
        tu_host_init(&t);
        t.config.require_signatures = true;
        install_good(&t, "good");
        g_autofree char *tc = comment("good", "1.0.0", "1", NULL);
        sign(&t, "good", k.key1, tc, false);
        trust(&t, k.pub1);
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        expect(&t, "good", PLUGIN_STATE_LOADED, "");
        const TuLogEntry *e = tu_log_find(&t, "Loaded plugin");
        /* The signer's key id, as minisign prints it. */
        g_autofree char *pubtext = NULL;
        g_assert_true(g_file_get_contents(k.pub1, &pubtext, NULL, NULL));
        /* minisign prints the id with %PRIX64 (no zero padding): compare as numbers. */
        const char *printed = strstr(pubtext, "public key ");
        g_assert_nonnull(printed);
        g_assert_cmpuint(g_ascii_strtoull(printed + 11, NULL, 16), ==,
                         g_ascii_strtoull(tu_log_field(e, "DC_PLUGIN_SIGNER"), NULL, 16));
        g_assert_cmpuint(strlen(tu_log_field(e, "DC_PLUGIN_SIGNER")), ==, 16);
        /* minisign itself agrees the file verifies. */
        g_autofree char *so = g_build_filename(t.root, "good", "good.so", NULL);
        run((const char *[]){ "minisign", "-V", "-q", "-p", k.pub1, "-m", so, NULL });
        tu_host_done(&t);
        keys_free(&k);
}

static void test_bad_signatures(void) {
        if (!tu_require_root("a root-owned trusted-keys directory") || !have_minisign())
                return;
        Keys k;
        TuHost t;
        keys_make(&k);
        tu_host_init(&t);
        t.config.require_signatures = true;
        static const char *const ids[] = { "untrusted", "tampered", "tcomment", "wrongid", "wrongver", "wrongapi",
                                           "wrongarch", "extrakey", "legacy", "empty", "truncated", "missing" };
        for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
                g_autofree char *so = tu_test_plugin("good");
                g_autofree char *mf = tu_manifest(ids[i], "1.0.0");
                tu_install(t.root, ids[i], so, mf);
        }
        g_autofree char *tc = NULL;
#define SIGN(id, key, ...) (g_free(tc), tc = comment(__VA_ARGS__), sign(&t, id, key, tc, false))
        SIGN("untrusted", k.key2, "untrusted", "1.0.0", "1", NULL);
        SIGN("tampered", k.key1, "tampered", "1.0.0", "1", NULL);
        g_autofree char *tampered = g_build_filename(t.root, "tampered", "tampered.so", NULL);
        FILE *f = fopen(tampered, "ae");
        fputs("x", f);
        fclose(f);
        SIGN("tcomment", k.key1, "tcomment", "1.0.0", "1", NULL);
        g_autofree char *tsig = g_build_filename(t.root, "tcomment", "tcomment.so.minisig", NULL);
        g_autofree char *text = NULL;
        g_assert_true(g_file_get_contents(tsig, &text, NULL, NULL));
        g_autofree char *edited = NULL;
        {
                g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
                g_free(lines[2]);
                lines[2] = g_strdup_printf("trusted comment: dc-plugin-host-v1 id=tcomment version=9.9.9 api_level=1 arch=%s",
                                           host_architecture());
                edited = g_strjoinv("\n", lines);
        }
        tu_write_file(tsig, edited, 0644);
        SIGN("wrongid", k.key1, "someone", "1.0.0", "1", NULL);
        SIGN("wrongver", k.key1, "wrongver", "2.0.0", "1", NULL);
        SIGN("wrongapi", k.key1, "wrongapi", "1.0.0", "7", NULL);
        SIGN("wrongarch", k.key1, "wrongarch", "1.0.0", "1", "sparc");
        g_free(tc);
        tc = g_strdup_printf("dc-plugin-host-v1 id=extrakey version=1.0.0 api_level=1 arch=%s evil=1", host_architecture());
        sign(&t, "extrakey", k.key1, tc, false);
        g_free(tc);
        tc = comment("legacy", "1.0.0", "1", NULL);
        sign(&t, "legacy", k.key1, tc, true);
        g_autofree char *esig = g_build_filename(t.root, "empty", "empty.so.minisig", NULL);
        tu_write_file(esig, "", 0644);
        SIGN("truncated", k.key1, "truncated", "1.0.0", "1", NULL);
        g_autofree char *trsig = g_build_filename(t.root, "truncated", "truncated.so.minisig", NULL);
        g_assert_cmpint(truncate(trsig, 60), ==, 0);
        trust(&t, k.pub1);
        g_assert_cmpint(tu_host_start(&t), ==, 0);

        expect(&t, "untrusted", PLUGIN_STATE_REJECTED, "signature-untrusted-key");
        expect(&t, "tampered", PLUGIN_STATE_REJECTED, "signature-invalid");
        expect(&t, "tcomment", PLUGIN_STATE_REJECTED, "signature-invalid");
        expect(&t, "wrongid", PLUGIN_STATE_REJECTED, "signature-metadata-mismatch");
        expect(&t, "wrongver", PLUGIN_STATE_REJECTED, "signature-metadata-mismatch");
        expect(&t, "wrongapi", PLUGIN_STATE_REJECTED, "signature-metadata-mismatch");
        expect(&t, "wrongarch", PLUGIN_STATE_REJECTED, "signature-metadata-mismatch");
        expect(&t, "extrakey", PLUGIN_STATE_REJECTED, "signature-metadata-mismatch");
        expect(&t, "legacy", PLUGIN_STATE_REJECTED, "signature-invalid");
        g_assert_nonnull(strstr(host_find(t.host, "legacy")->message, "legacy"));
        expect(&t, "empty", PLUGIN_STATE_REJECTED, "signature-invalid");
        expect(&t, "truncated", PLUGIN_STATE_REJECTED, "signature-invalid");
        expect(&t, "missing", PLUGIN_STATE_REJECTED, "signature-missing");
        /* None of them ran code. */
        g_assert_false(tu_marker_has(&t, "ctor good"));
        tu_host_done(&t);
        keys_free(&k);
#undef SIGN
}

/* Without require_signatures an unsigned plugin loads; with it, never. */
static void test_require_switch(void) {
        if (!tu_require_root("a root-owned trusted-keys directory") || !have_minisign())
                return;
        Keys k;
        TuHost t;
        keys_make(&k);
        tu_host_init(&t);
        trust(&t, k.pub1);
        install_good(&t, "good");
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        expect(&t, "good", PLUGIN_STATE_LOADED, "");
        tu_host_done(&t);

        /* Required but no trusted key at all: zero signatures is never success. */
        tu_host_init(&t);
        t.config.require_signatures = true;
        install_good(&t, "good");
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        expect(&t, "good", PLUGIN_STATE_REJECTED, "signature-missing");
        g_assert_true(tu_log_has(&t, "no trusted key is configured"));
        tu_host_done(&t);
        keys_free(&k);
}

/* Pins and signatures together: both must pass. */
static void test_pin_and_signature(void) {
        if (!tu_require_root("a root-owned trusted-keys directory") || !have_minisign())
                return;
        Keys k;
        TuHost t;
        keys_make(&k);
        tu_host_init(&t);
        t.config.require_signatures = true;
        install_good(&t, "good");
        install_good(&t, "probe");
        g_autofree char *tc = comment("good", "1.0.0", "1", NULL);
        sign(&t, "good", k.key1, tc, false);
        /* probe is pinned correctly but unsigned; good is signed but pinned wrong. */
        g_autofree char *probe = g_build_filename(t.root, "probe", "probe.so", NULL);
        g_autofree char *pd = tu_sha256_file(probe);
        g_autofree char *json = g_strdup_printf("{\"probe\":\"%s\",\"good\":\"sha256:%064d\"}", pd, 0);
        tu_set_signatures(&t, json);
        trust(&t, k.pub1);
        g_assert_cmpint(tu_host_start(&t), ==, 0);
        expect(&t, "good", PLUGIN_STATE_REJECTED, "digest-mismatch");
        expect(&t, "probe", PLUGIN_STATE_REJECTED, "signature-missing");
        tu_host_done(&t);
        keys_free(&k);
}

/* Key files: a malformed or insecure one is ignored, never trusted. */
static void test_key_files(void) {
        if (!tu_require_root("root-owned key files") || !have_minisign())
                return;
        Keys k;
        TuHost t;
        keys_make(&k);
        tu_host_init(&t);
        trust(&t, k.pub1);
        g_autofree char *junk = g_build_filename(t.config.trusted_keys_dir, "junk.pub", NULL);
        tu_write_file(junk, "untrusted comment: x\nnot base64\n", 0644);
        g_autofree char *loose = g_build_filename(t.config.trusted_keys_dir, "loose.pub", NULL);
        tu_copy_file(k.pub2, loose, 0666);
        tu_host_create(&t);
        g_assert_cmpint(host_reload_policy(t.host), ==, 0);
        g_assert_cmpuint(host_policy(t.host)->n_keys, ==, 1);
        g_assert_true(tu_log_has(&t, "Ignoring trusted key"));
        tu_host_done(&t);

        /* A group-writable key directory trusts nothing. */
        tu_host_init(&t);
        trust(&t, k.pub1);
        g_assert_cmpint(chmod(t.config.trusted_keys_dir, 0775), ==, 0);
        tu_host_create(&t);
        g_assert_cmpint(host_reload_policy(t.host), ==, 0);
        g_assert_cmpuint(host_policy(t.host)->n_keys, ==, 0);
        tu_host_done(&t);
        keys_free(&k);
}

/* The parsers alone, on malformed input. */
static void test_parsers(void) {
        MinisignKey key;
        MinisignSignature sig;
        const char *bad_keys[] = { "", "untrusted comment: x\n", "comment: x\nRWRr1nH/t1BeQkC7lBslcaDVGFLZ98zY+iIlB6cqMpM4bzsbD0aMYUnn\n",
                                   "untrusted comment: x\nRWRr1nH/t1BeQkC7lBslcaDVGFLZ98zY+iIlB6cqMpM4bzsbD0aMYUn\n",
                                   "untrusted comment: x\nRWRr1nH/t1BeQkC7lBslcaDVGFLZ98zY+iIlB6cqMpM4bzsbD0aMYUnn\ntrailing\n" };
        for (size_t i = 0; i < G_N_ELEMENTS(bad_keys); i++)
                g_assert_cmpint(minisign_key_parse(bad_keys[i], strlen(bad_keys[i]), &key), ==, -EBADMSG);
        const char *good_key = "untrusted comment: minisign public key 425E50B7FF71D66B\nRWRr1nH/t1BeQkC7lBslcaDVGFLZ98zY+iIlB6cqMpM4bzsbD0aMYUnn\n";
        g_assert_cmpint(minisign_key_parse(good_key, strlen(good_key), &key), ==, 0);
        char id[17];
        minisign_key_id_format(key.key_id, id);
        g_assert_cmpstr(id, ==, "425E50B7FF71D66B");
        const char *bad_sigs[] = { "", "untrusted comment: x\n", "untrusted comment: x\nAAAA\ntrusted comment: y\nAAAA\n" };
        for (size_t i = 0; i < G_N_ELEMENTS(bad_sigs); i++)
                g_assert_cmpint(minisign_signature_parse(bad_sigs[i], strlen(bad_sigs[i]), &sig), ==, -EBADMSG);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        tu_init();
        g_test_add_func("/signatures/valid", test_valid_signature);
        g_test_add_func("/signatures/rejected", test_bad_signatures);
        g_test_add_func("/signatures/require-switch", test_require_switch);
        g_test_add_func("/signatures/pin-and-signature", test_pin_and_signature);
        g_test_add_func("/signatures/key-files", test_key_files);
        g_test_add_func("/signatures/parsers", test_parsers);
        return g_test_run();
}
