/* SPDX-License-Identifier: MIT */
#include "test-util.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <time.h>

#include "digest.h"
#include "fs-check.h"
#include "image.h"
#include "strv.h"

bool tu_require_root(const char *why) {
        if (geteuid() == 0)
                return true;
        g_autofree char *msg = g_strdup_printf("needs root: %s", why);
        g_test_skip(msg);
        return false;
}

/* Where scratch directories go: root uses /run; anyone else the build
 * directory (meson sets DC_TEST_SCRATCH), whose ancestors must pass the
 * loader's checks with the test's own uid trusted (TrustedUID=). */
static const char *scratch_base(void) {
        static char *base;
        if (base)
                return base;
        const char *e = g_getenv("DC_TEST_TMPDIR");
        if (e)
                base = g_strdup(e);
        else if (geteuid() == 0)
                base = g_strdup("/run/dc-plugin-host-tests");
        else if ((e = g_getenv("DC_TEST_SCRATCH")))
                base = g_strdup(e);
        else
                base = g_build_filename(g_get_user_runtime_dir(), "dc-plugin-host-tests", NULL);
        if (mkdir(base, 0755) < 0 && errno != EEXIST)
                return NULL;
        (void) chmod(base, 0755);
        return base;
}

void tu_block_sigchld(void) {
        /* Without pidfd_open() (valgrind), worker processes are watched by
         * sd-event's SIGCHLD source, which needs SIGCHLD blocked before any
         * thread exists.  Only for tests that spawn no GLib subprocesses:
         * GLib's child watch then needs that signal. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
}

void tu_init(void) {
        const char *base = scratch_base();
        _cleanup_free_ char *inner = NULL;
        OwnerRule rule = { .kind = ROOT_READONLY, .self_uid = geteuid(), .trusted_uid = geteuid() };
        int fd = base ? root_open_checked(base, &rule, &inner) : -errno;
        if (fd >= 0) {
                close(fd);
                return;
        }
        /* The loader rightly refuses plugins below, e.g., a world-writable /tmp. */
        printf("1..0 # SKIP no usable scratch directory for plugin roots (%s): %s; build outside world-writable "
               "directories or set DC_TEST_TMPDIR\n",
               base ? base : "none", inner ? inner : strerror(-fd));
        exit(0);
}

char *tu_tmpdir(void) {
        const char *base = scratch_base();
        char *tmpl;

        g_assert_nonnull(base);
        tmpl = g_strdup_printf("%s/t.XXXXXX", base);
        g_assert_nonnull(mkdtemp(tmpl));
        g_assert_cmpint(chmod(tmpl, 0755), ==, 0);
        return tmpl;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag == FTW_DP || flag == FTW_D)
                chmod(path, 0700), rmdir(path);
        else
                unlink(path);
        return 0;
}

void tu_rm_rf(const char *path) {
        if (path)
                nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *built(const char *env, const char *rel) {
        const char *dir = g_getenv(env);
        if (!dir)
                g_error("%s is not set (run the tests through meson)", env);
        return g_build_filename(dir, rel, NULL);
}

char *tu_test_plugin(const char *name) {
        g_autofree char *rel = g_strdup_printf("%s.so", name);
        return built("DC_TEST_PLUGINS_DIR", rel);
}

char *tu_example_plugin(const char *name) {
        g_autofree char *rel = g_strdup_printf("%s/%s.so", name, name);
        return built("DC_EXAMPLES_DIR", rel);
}

char *tu_manifest(const char *id, const char *version) {
        return g_strdup_printf("{\"id\":\"%s\",\"version\":\"%s\",\"description\":\"test\",\"entry_point\":\"%s.so\","
                               "\"runtime\":\"c\",\"api_level\":1}",
                               id, version, id);
}

void tu_write_file(const char *path, const char *content, mode_t mode) {
        g_autoptr(GError) error = NULL;
        unlink(path);
        g_assert_true(g_file_set_contents(path, content, -1, &error));
        g_assert_cmpint(chmod(path, mode), ==, 0);
}

void tu_copy_file(const char *src, const char *dst, mode_t mode) {
        g_autofree char *data = NULL;
        gsize len;
        g_autoptr(GError) error = NULL;
        g_assert_true(g_file_get_contents(src, &data, &len, &error));
        unlink(dst);
        g_assert_true(g_file_set_contents(dst, data, (gssize) len, &error));
        g_assert_cmpint(chmod(dst, mode), ==, 0);
}

void tu_install(const char *root, const char *id, const char *so_path, const char *manifest) {
        g_autofree char *dir = g_build_filename(root, id, NULL);
        g_autofree char *so_name = g_strdup_printf("%s.so", id);
        g_autofree char *so = g_build_filename(dir, so_name, NULL);
        g_autofree char *mf = g_build_filename(dir, "manifest.json", NULL);
        g_autofree char *def = NULL;

        g_mkdir_with_parents(root, 0755);
        g_mkdir_with_parents(dir, 0755);
        g_assert_cmpint(chmod(dir, 0755), ==, 0);
        tu_copy_file(so_path, so, 0644);
        if (!manifest)
                manifest = def = tu_manifest(id, "1.0.0");
        tu_write_file(mf, manifest, 0644);
}

char *tu_sha256_file(const char *path) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char s[DIGEST_STRING_MAX];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(sha256_fd(fd, d), ==, 0);
        close(fd);
        digest_format(d, s);
        return g_strdup(s);
}

/* ---- log capture ---- */

static void entry_free(gpointer p) {
        TuLogEntry *e = p;
        g_free(e->message_id);
        g_free(e->message);
        g_free(e->fields);
        g_free(e);
}

static void capture(int level, const char *message_id, const LogField *fields, const char *message, void *userdata) {
        TuHost *t = userdata;
        TuLogEntry *e = g_new0(TuLogEntry, 1);
        GString *f = g_string_new(NULL);
        for (const LogField *i = fields; i->key; i++)
                if (i->value)
                        g_string_append_printf(f, "%s=%s\n", i->key, i->value);
        e->level = level;
        e->message_id = g_strdup(message_id);
        e->message = g_strdup(message);
        e->fields = g_string_free(f, FALSE);
        g_ptr_array_add(t->log, e);
        if (g_getenv("DC_TEST_VERBOSE"))
                g_printerr("LOG<%d> %s\n", level, message);
}

const TuLogEntry *tu_log_find(TuHost *t, const char *substring) {
        for (guint i = 0; i < t->log->len; i++) {
                TuLogEntry *e = g_ptr_array_index(t->log, i);
                if (strstr(e->message, substring))
                        return e;
        }
        return NULL;
}

bool tu_log_has(TuHost *t, const char *substring) {
        return tu_log_find(t, substring) != NULL;
}

const char *tu_log_field(const TuLogEntry *e, const char *key) {
        static char buf[1024];
        g_autofree char *pat = g_strdup_printf("%s=", key);
        const char *p = e->fields;
        while (p && *p) {
                if (g_str_has_prefix(p, pat)) {
                        size_t n = strcspn(p + strlen(pat), "\n");
                        snprintf(buf, sizeof buf, "%.*s", (int) n, p + strlen(pat));
                        return buf;
                }
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return NULL;
}

void tu_log_clear(TuHost *t) {
        g_ptr_array_set_size(t->log, 0);
}

/* ---- host ---- */

void tu_host_init(TuHost *t) {
        memset(t, 0, sizeof *t);
        t->tmp = tu_tmpdir();
        t->root = g_build_filename(t->tmp, "plugins", NULL);
        t->state = g_build_filename(t->tmp, "state", NULL);
        t->marker = g_build_filename(t->tmp, "marker", NULL);
        g_assert_cmpint(mkdir(t->root, 0755), ==, 0);
        g_assert_cmpint(mkdir(t->state, 0700), ==, 0);
        g_setenv("DC_TEST_MARKER", t->marker, TRUE);
        t->log = g_ptr_array_new_with_free_func(entry_free);
        log_set_capture(capture, t);
        log_set_target(g_getenv("DC_TEST_VERBOSE") ? LOG_TARGET_CONSOLE : LOG_TARGET_NULL);
        log_set_max_level(LOG_DEBUG);

        g_assert_cmpint(host_config_init(&t->config), ==, 0);
        strv_free(t->config.plugin_dirs);
        t->config.plugin_dirs = strv_split(t->root, "\n");
        g_autofree char *conf = g_build_filename(t->tmp, "etc", NULL);
        g_assert_cmpint(host_config_set(&t->config, "StateDirectory", t->state), ==, 0);
        g_autofree char *sigfile = g_build_filename(conf, "signatures.json", NULL);
        g_autofree char *keys = g_build_filename(conf, "trusted-keys.d", NULL);
        g_autofree char *pconf = g_build_filename(conf, "plugin-config", NULL);
        g_assert_cmpint(host_config_set(&t->config, "SignaturesFile", sigfile), ==, 0);
        g_assert_cmpint(host_config_set(&t->config, "TrustedKeysDirectory", keys), ==, 0);
        g_assert_cmpint(host_config_set(&t->config, "PluginConfigDirectory", pconf), ==, 0);
        t->config.production = false;
        /* The loader's tests run plugins in the test's process unless they
         * ask for workers (test-isolation.c). */
        g_assert_cmpint(host_config_set(&t->config, "DefaultIsolation", "in-process"), ==, 0);
        if (g_getenv("DC_PLUGIN_WORKER"))
                g_assert_cmpint(host_config_set(&t->config, "WorkerBinary", g_getenv("DC_PLUGIN_WORKER")), ==, 0);
        /* Unprivileged: the test's own files stand in for packaged ones. */
        if (geteuid() != 0)
                t->config.trusted_uid = geteuid();
        g_assert_cmpint(sd_event_new(&t->event), >=, 0);
}

void tu_fixture_setup(TuHost *t, gconstpointer data) {
        tu_host_init(t);
}

void tu_fixture_teardown(TuHost *t, gconstpointer data) {
        tu_host_done(t);
}

void tu_set_signatures(TuHost *t, const char *json) {
        g_free(t->config.signatures_env);
        t->config.signatures_env = g_strdup(json);
}

void tu_host_create(TuHost *t) {
        if (!t->host)
                g_assert_cmpint(host_new(t->event, &t->config, &t->host), ==, 0);
}

static bool no_starts(void *userdata) {
        return host_n_starting(userdata) == 0;
}

int tu_host_start(TuHost *t) {
        tu_host_create(t);
        int r = host_start(t->host);
        if (r >= 0)
                g_assert_true(tu_run_until(t->event, no_starts, t->host, 30000));
        return r;
}

typedef struct Loaded {
        bool done;
        int error;
        Verdict *v;
} Loaded;

static void on_loaded(Host *h, const char *id, int error, const Verdict *v, void *userdata) {
        Loaded *l = userdata;
        l->done = true;
        l->error = error;
        if (v && l->v) {
                verdict_clear(l->v);
                l->v->reason = v->reason;
                l->v->message = v->message ? g_strdup(v->message) : NULL;
        }
}

static bool loaded(void *userdata) {
        return ((Loaded *) userdata)->done;
}

int tu_load(TuHost *t, const char *id, Verdict *v) {
        Loaded l = { .v = v };
        int r = host_load(t->host, id, v, on_loaded, &l);
        if (r < 0)
                return r;
        g_assert_true(tu_run_until(t->event, loaded, &l, 30000));
        return l.error;
}

int tu_reload(TuHost *t, const char *id, bool *unchanged, Verdict *v) {
        Loaded l = { .v = v };
        int r = host_reload(t->host, id, v, on_loaded, &l);
        *unchanged = r > 0;
        if (r != 0)
                return r < 0 ? r : 0;
        g_assert_true(tu_run_until(t->event, loaded, &l, 30000));
        return l.error;
}

static void on_stopped(Host *h, int error, void *userdata) {
        *(bool *) userdata = true;
}

static bool flag_set(void *userdata) {
        return *(bool *) userdata;
}

bool tu_host_stop(TuHost *t, unsigned timeout_ms) {
        bool stopped = false;
        if (!t->host)
                return true;
        host_shutdown(t->host, on_stopped, &stopped);
        return tu_run_until(t->event, flag_set, &stopped, timeout_ms);
}

void tu_host_done(TuHost *t) {
        if (t->host)
                g_assert_true(tu_host_stop(t, 30000));
        t->host = host_free(t->host);
        /* Let the loop deliver what is left (nothing should be pending). */
        t->event = sd_event_unref(t->event);
        log_set_capture(NULL, NULL);
        g_free(t->config.signatures_env);
        t->config.signatures_env = NULL;
        host_config_done(&t->config);
        g_ptr_array_unref(t->log);
        if (!g_getenv("DC_TEST_KEEP"))
                tu_rm_rf(t->tmp);
        g_free(t->tmp);
        g_free(t->root);
        g_free(t->state);
        g_free(t->marker);
        memset(t, 0, sizeof *t);
}

bool tu_marker_has(TuHost *t, const char *line) {
        g_autofree char *data = NULL;
        if (!g_file_get_contents(t->marker, &data, NULL, NULL))
                return false;
        g_auto(GStrv) lines = g_strsplit(data, "\n", -1);
        return g_strv_contains((const char *const *) lines, line);
}

void tu_marker_clear(TuHost *t) {
        unlink(t->marker);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

typedef struct MarkerWait {
        TuHost *t;
        const char *line;
} MarkerWait;

static bool marker_there(void *userdata) {
        MarkerWait *m = userdata;
        return tu_marker_has(m->t, m->line);
}

bool tu_marker_wait(TuHost *t, const char *line, unsigned timeout_ms) {
        MarkerWait m = { t, line };
        return tu_run_until(t->event, marker_there, &m, timeout_ms);
}

bool tu_run_until(sd_event *e, bool (*cond)(void *userdata), void *userdata, unsigned timeout_ms) {
        uint64_t deadline = now_ms() + timeout_ms;
        while (!cond(userdata)) {
                uint64_t now = now_ms();
                if (now >= deadline)
                        return false;
                g_assert_cmpint(sd_event_run(e, (deadline - now) * 1000), >=, 0);
        }
        return true;
}

void tu_call_done(TuCall *c) {
        g_free(c->result);
        g_free(c->message);
        memset(c, 0, sizeof *c);
}

static void on_call(Host *h, int error, const char *result, const char *message, void *userdata) {
        TuCall *c = userdata;
        g_assert_false(c->done); /* exactly once */
        c->done = true;
        c->error = error;
        c->result = g_strdup(result);
        c->message = g_strdup(message);
}

int tu_invoke_async(TuHost *t, const char *plugin, const char *fn, const char *params, uint64_t timeout_usec,
                    TuCall *call) {
        char *msg = NULL;
        memset(call, 0, sizeof *call);
        int r = host_invoke(t->host, plugin, fn, params, timeout_usec, on_call, call, &msg);
        if (r < 0) {
                call->done = true;
                call->error = r;
                call->message = g_strdup(msg);
        }
        free(msg);
        return r;
}

static bool call_is_done(void *userdata) {
        return ((TuCall *) userdata)->done;
}

int tu_invoke(TuHost *t, const char *plugin, const char *fn, const char *params, char **result, char **message) {
        TuCall c;
        tu_invoke_async(t, plugin, fn, params, 0, &c);
        g_assert_true(tu_run_until(t->event, call_is_done, &c, 10000));
        int r = c.error;
        if (result)
                *result = g_steal_pointer(&c.result);
        if (message)
                *message = g_steal_pointer(&c.message);
        tu_call_done(&c);
        return r;
}
