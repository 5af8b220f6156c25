/* SPDX-License-Identifier: MIT */
/*
 * Install sources other than a file descriptor: HTTPS URLs against a local
 * server with a test CA (tests/https-server.py) and, for InstallProxy=, a
 * CONNECT proxy (tests/connect-proxy.py), and base64 bundles (the
 * mesh's bundle_b64).  The core operation is driven directly; the D-Bus and
 * mesh front ends only translate to it.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "artifact.h"
#include "base64.h"
#include "fetch.h"
#include "install.h"
#include "plugin-id.h"
#include "pack.h"
#include "strv.h"
#include "test-util.h"

typedef struct Server {
        GSubprocess *proc;
        int port;
} Server;

typedef struct Fixture {
        TuHost t;
        char *pki;   /* certificates */
        char *www;   /* served files */
        char *log;   /* request log of both servers */
        Server good; /* certificate from the test CA, SAN localhost */
        Server selfsigned;
        char *archive_digest;
        char *archive_b64;
} Fixture;

static void run(const char *cmd) {
        g_autofree char *out = NULL, *err = NULL;
        int status;
        g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status, NULL));
        if (!g_spawn_check_wait_status(status, NULL))
                g_error("%s failed: %s", cmd, err);
}

/* A helper script that prints its port first and exits when stdin closes. */
static void script_start(Server *s, const char *name, const char *const *args) {
        g_autoptr(GError) error = NULL;
        g_autofree char *script = g_build_filename(g_getenv("DC_SOURCE_ROOT"), "tests", name, NULL);
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_ptr_array_add(argv, (char *) "/usr/bin/python3");
        g_ptr_array_add(argv, script);
        for (; *args; args++)
                g_ptr_array_add(argv, (char *) *args);
        g_ptr_array_add(argv, NULL);
        s->proc = g_subprocess_newv((const char *const *) argv->pdata,
                                    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDIN_PIPE, &error);
        g_assert_no_error(error);
        g_autoptr(GDataInputStream) in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(s->proc));
        g_autofree char *line = g_data_input_stream_read_line(in, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(line);
        s->port = atoi(line);
        g_assert_cmpint(s->port, >, 0);
}

static void server_start(Fixture *f, Server *s, const char *cert, const char *key) {
        const char *args[] = { cert, key, f->www, f->log, NULL };
        script_start(s, "https-server.py", args);
}

static void server_stop(Server *s) {
        if (!s->proc)
                return;
        g_subprocess_force_exit(s->proc);
        g_subprocess_wait(s->proc, NULL, NULL);
        g_clear_object(&s->proc);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        memset(f, 0, sizeof *f);
        tu_host_init(&f->t);
        f->pki = g_build_filename(f->t.tmp, "pki", NULL);
        f->www = g_build_filename(f->t.tmp, "www", NULL);
        f->log = g_build_filename(f->t.tmp, "requests.log", NULL);
        g_assert_cmpint(mkdir(f->pki, 0700), ==, 0);
        g_assert_cmpint(mkdir(f->www, 0755), ==, 0);
        tu_write_file(f->log, "", 0644);

        /* A CA, a server certificate it signed, and a self-signed one. */
        g_autofree char *ext = g_build_filename(f->pki, "san.ext", NULL);
        tu_write_file(ext, "subjectAltName=DNS:localhost\n", 0644);
        g_autofree char *cmd = g_strdup_printf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                                               "-nodes -days 2 -subj /CN=dc-test-ca "
                                               "-keyout %1$s/ca.key -out %1$s/ca.pem",
                                               f->pki);
        run(cmd);
        g_free(cmd);
        cmd = g_strdup_printf("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
                              "-keyout %1$s/srv.key -out %1$s/srv.csr",
                              f->pki);
        run(cmd);
        g_free(cmd);
        cmd = g_strdup_printf("openssl x509 -req -in %1$s/srv.csr -CA %1$s/ca.pem -CAkey %1$s/ca.key -CAcreateserial "
                              "-days 2 -extfile %1$s/san.ext -out %1$s/srv.pem",
                              f->pki);
        run(cmd);
        g_free(cmd);
        cmd = g_strdup_printf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                              "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout %1$s/self.key "
                              "-out %1$s/self.pem",
                              f->pki);
        run(cmd);

        /* The served plugin: probe-a packed like an artifact. */
        g_autofree char *src = g_build_filename(f->t.tmp, "src", NULL);
        g_assert_cmpint(mkdir(src, 0755), ==, 0);
        g_autofree char *so = tu_test_plugin("probe-a");
        tu_install(src, "probe", so, NULL);
        g_autofree char *tgz = g_build_filename(f->www, "probe.tgz", NULL);
        int dfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int out = open(tgz, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        Verdict v = {};
        g_assert_cmpint(pack_directory(dfd, "probe", out, &v), ==, 0);
        close(dfd);
        close(out);
        f->archive_digest = tu_sha256_file(tgz);
        gchar *bytes;
        gsize n;
        g_assert_true(g_file_get_contents(tgz, &bytes, &n, NULL));
        f->archive_b64 = g_base64_encode((const guchar *) bytes, n);
        g_free(bytes);

        g_autofree char *cert = g_build_filename(f->pki, "srv.pem", NULL);
        g_autofree char *key = g_build_filename(f->pki, "srv.key", NULL);
        server_start(f, &f->good, cert, key);
        g_free(cert);
        g_free(key);
        cert = g_build_filename(f->pki, "self.pem", NULL);
        key = g_build_filename(f->pki, "self.key", NULL);
        server_start(f, &f->selfsigned, cert, key);

        f->t.config.install_ca_file = g_build_filename(f->pki, "ca.pem", NULL);
        f->t.config.install_url_allowlist = strv_split("localhost", " ");
        f->t.config.max_archive_size = 1024 * 1024;
        f->t.config.install_timeout_usec = 2 * 1000000;
        g_assert_cmpint(tu_host_start(&f->t), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        if (!f->t.tmp)
                return;
        server_stop(&f->good);
        server_stop(&f->selfsigned);
        g_free(f->t.config.install_ca_file);
        f->t.config.install_ca_file = NULL;
        char *tmp = g_strdup(f->t.tmp);
        tu_host_done(&f->t);
        tu_rm_rf(tmp);
        g_free(tmp);
        g_free(f->pki);
        g_free(f->www);
        g_free(f->log);
        g_free(f->archive_digest);
        g_free(f->archive_b64);
}

typedef struct Outcome {
        bool done;
        int error;
        Reason reason;
        char *message;
        bool loaded;
} Outcome;

static void on_done(Host *h, int error, const Verdict *v, const InstallResult *res, void *userdata) {
        Outcome *o = userdata;
        o->done = true;
        o->error = error;
        o->reason = error < 0 ? v->reason : REASON_NONE;
        o->message = g_strdup(error < 0 ? v->message : NULL);
        o->loaded = res->loaded;
}

static bool outcome_done(void *userdata) {
        return ((Outcome *) userdata)->done;
}

/* Run one install to the end; returns the error, fills *o. */
static int install(Fixture *f, InstallRequest *req, Outcome *o) {
        Verdict v = {};
        memset(o, 0, sizeof *o);
        req->load = true;
        int r = host_install(f->t.host, req, on_done, o, &v);
        if (r < 0) {
                o->error = r;
                o->reason = v.reason;
                o->message = TAKE_PTR(v.message);
                return r;
        }
        g_assert_true(tu_run_until(f->t.event, outcome_done, o, 20000));
        return o->error;
}

static int url_install(Fixture *f, const char *url, const char *digest, Outcome *o) {
        InstallRequest req = {.source = INSTALL_SOURCE_URL, .url = url, .digest = digest, .fd = -1};
        return install(f, &req, o);
}

static bool requested(Fixture *f, const char *path) {
        g_autofree char *text = NULL;
        g_assert_true(g_file_get_contents(f->log, &text, NULL, NULL));
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        return g_strv_contains((const char *const *) lines, path);
}

static bool store_has_probe(Fixture *f) {
        g_autofree char *p = g_build_filename(f->t.state, "plugins", "probe", NULL);
        return g_file_test(p, G_FILE_TEST_EXISTS);
}

static void staging_is_empty(Fixture *f) {
        g_autofree char *p = g_build_filename(f->t.state, "plugins", ".staging", NULL);
        GDir *d = g_dir_open(p, 0, NULL);
        if (d) {
                g_assert_null(g_dir_read_name(d));
                g_dir_close(d);
        }
}

static void expect_refused(Fixture *f, Outcome *o, Reason reason, const char *text) {
        g_assert_cmpint(o->error, <, 0);
        g_assert_cmpstr(reason_to_string(o->reason), ==, reason_to_string(reason));
        if (!strstr(o->message, text))
                g_error("expected \"%s\" in \"%s\"", text, o->message);
        g_assert_false(store_has_probe(f));
        staging_is_empty(f);
        g_free(o->message);
}

static void test_https_success(Fixture *f, gconstpointer data) {
        Outcome o;
        g_autofree char *url = g_strdup_printf("https://localhost:%d/probe.tgz", f->good.port);
        g_assert_cmpint(url_install(f, url, f->archive_digest, &o), ==, 0);
        g_assert_true(o.loaded);
        g_autofree char *result = NULL;
        g_assert_cmpint(tu_invoke(&f->t, "probe", "probe", "{}", &result, NULL), ==, 0);
        g_assert_cmpstr(result, ==, "{\"build\":\"A\"}");
        /* through an allowed redirect, too (replacing the same bytes) */
        g_autofree char *redir = g_strdup_printf("https://localhost:%d/redirect?to=/probe.tgz", f->good.port);
        InstallRequest req = {.source = INSTALL_SOURCE_URL, .url = redir, .replace = true, .fd = -1};
        g_assert_cmpint(install(f, &req, &o), ==, 0);
        g_assert_true(requested(f, "/redirect?to=/probe.tgz"));
}

static void test_https_refusals(Fixture *f, gconstpointer data) {
        Outcome o;
        g_autofree char *url = NULL;

        /* certificate not from a trusted CA */
        url = g_strdup_printf("https://localhost:%d/probe.tgz", f->selfsigned.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_DOWNLOAD_FAILED, "download failed:");
        g_free(url);

        /* plain http is refused before any connection */
        url = g_strdup_printf("http://localhost:%d/probe.tgz", f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_URL_INSECURE, "URL scheme 'http' is not allowed (https only)");
        g_free(url);

        /* host outside the allowlist (same server, other name) */
        url = g_strdup_printf("https://127.0.0.1:%d/direct.tgz", f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_URL_NOT_ALLOWED, "URL host '127.0.0.1' is not in DC_PLUGIN_INSTALL_URL_ALLOWLIST");
        g_assert_false(requested(f, "/direct.tgz"));
        g_free(url);

        /* an allowed host redirecting to a disallowed one: the second hop never happens */
        url = g_strdup_printf("https://localhost:%d/redirect?to=https://127.0.0.1:%d/second.tgz", f->good.port,
                              f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_URL_NOT_ALLOWED, "URL host '127.0.0.1' is not in DC_PLUGIN_INSTALL_URL_ALLOWLIST");
        g_assert_false(requested(f, "/second.tgz"));
        g_free(url);

        /* a redirect downgrading to http */
        url = g_strdup_printf("https://localhost:%d/redirect?to=http://localhost:%d/third.tgz", f->good.port,
                              f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_URL_INSECURE, "https only");
        g_assert_false(requested(f, "/third.tgz"));
        g_free(url);

        /* the size cap, mid-stream without Content-Length and up front with it */
        url = g_strdup_printf("https://localhost:%d/big", f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_ARCHIVE_TOO_LARGE, "artifact exceeds max size (1048576 bytes)");
        g_free(url);
        url = g_strdup_printf("https://localhost:%d/big-length", f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_ARCHIVE_TOO_LARGE, "artifact exceeds max size (1048576 bytes)");
        g_free(url);

        /* a server that trickles: the total timeout (2 s here) */
        gint64 t0 = g_get_monotonic_time();
        url = g_strdup_printf("https://localhost:%d/slow", f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_DOWNLOAD_FAILED, "timed out");
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
        g_free(url);

        url = g_strdup_printf("https://localhost:%d/loop", f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_DOWNLOAD_FAILED, "too many redirects (more than 5)");
        g_free(url);

        url = g_strdup_printf("https://localhost:%d/missing", f->good.port);
        url_install(f, url, NULL, &o);
        expect_refused(f, &o, REASON_DOWNLOAD_FAILED, "download failed: HTTP 404");
        g_free(url);

        url = g_strdup_printf("https://localhost:%d/probe.tgz", f->good.port);
        url_install(f, url, "sha256:0000000000000000000000000000000000000000000000000000000000000000", &o);
        expect_refused(f, &o, REASON_DIGEST_MISMATCH, "digest mismatch");
        url_install(f, url, "abc", &o);
        expect_refused(f, &o, REASON_DIGEST_INVALID, "invalid digest");

        url_install(f, "not a url", NULL, &o);
        expect_refused(f, &o, REASON_URL_INVALID, "invalid URL: not a url");
}

/* ---- fetch_url() itself: addresses, connection errors, proxy, escaping ---- */

static FetchOptions fetch_options(Fixture *f, char *const *allowlist) {
        return (FetchOptions){
                .allowlist = allowlist,
                .ca_file = f->t.config.install_ca_file,
                .max_redirects = FETCH_MAX_REDIRECTS,
                .max_bytes = 1024 * 1024,
                .timeout_usec = 10 * G_USEC_PER_SEC,
                .connect_timeout_usec = 3 * G_USEC_PER_SEC, /* TLS included: valgrind is slow */
        };
}

static int fetch(const FetchOptions *o, const char *url, Verdict *v) {
        int fd = memfd_create("test-fetch", MFD_CLOEXEC);
        uint64_t size = 0;
        uint8_t sha[SHA256_DIGEST_SIZE];
        g_assert_cmpint(fd, >=, 0);
        int r = fetch_url(url, o, fd, &size, sha, v);
        close(fd);
        g_assert_true(r < 0 || size > 0);
        return r;
}

static void expect_fetch_refused(int r, Verdict *v, Reason reason, const char *text) {
        g_assert_cmpint(r, <, 0);
        g_assert_cmpstr(reason_to_string(v->reason), ==, reason_to_string(reason));
        if (!strstr(v->message, text))
                g_error("expected \"%s\" in \"%s\"", text, v->message);
        verdict_clear(v);
}

static char *const localhost_only[] = { (char *) "localhost", NULL };

/* With the default empty allowlist a peer could make the daemon connect to
 * its own loopback and private ports (#13). */
static void test_fetch_private_addresses(Fixture *f, gconstpointer data) {
        FetchOptions any = fetch_options(f, NULL), listed = fetch_options(f, localhost_only);
        Verdict v = {};
        const char *hosts[] = { "localhost", "127.0.0.1", "[::1]", "127.9.9.9", "[::ffff:127.0.0.1]" };
        for (size_t i = 0; i < G_N_ELEMENTS(hosts); i++) {
                g_autofree char *url = g_strdup_printf("https://%s:%d/ssrf-%zu", hosts[i], f->good.port, i);
                g_autofree char *path = g_strdup_printf("/ssrf-%zu", i);
                expect_fetch_refused(fetch(&any, url, &v), &v, REASON_URL_NOT_ALLOWED,
                                     "resolves to a loopback, private or otherwise non-public address");
                g_assert_false(requested(f, path));
        }
        /* named in the allowlist: its own address is fine */
        g_autofree char *ok = g_strdup_printf("https://localhost:%d/probe.tgz", f->good.port);
        g_assert_cmpint(fetch(&listed, ok, &v), ==, 0);
        /* a subdomain matches the allowlist by name, but only the exact name
         * may use a private address: checked again on the redirect hop */
        g_autofree char *hop = g_strdup_printf("https://localhost:%d/redirect?to=https://sub.localhost:%d/ssrf-hop",
                                               f->good.port, f->good.port);
        expect_fetch_refused(fetch(&listed, hop, &v), &v, REASON_URL_NOT_ALLOWED, "URL host 'sub.localhost' resolves to");
        g_assert_false(requested(f, "/ssrf-hop"));
}

static void test_address_classes(void) {
        static const struct {
                const char *addr;
                bool public;
        } cases[] = {
                { "93.184.216.34", true }, { "8.8.8.8", true }, { "2606:4700::1111", true },
                { "127.0.0.1", false }, { "127.255.0.1", false }, { "10.1.2.3", false }, { "172.16.0.1", false },
                { "172.31.255.255", false }, { "172.32.0.1", true }, { "192.168.1.1", false }, { "100.64.0.1", false },
                { "100.128.0.1", true }, { "169.254.169.254", false }, { "0.0.0.0", false }, { "224.0.0.1", false },
                { "255.255.255.255", false }, { "198.18.0.1", false }, { "192.0.2.1", false },
                { "::", false }, { "::1", false }, { "::ffff:10.0.0.1", false }, { "::ffff:8.8.8.8", true },
                { "::127.0.0.1", false }, { "fc00::1", false }, { "fd12:3456::1", false }, { "fe80::1", false },
                { "fec0::1", false }, { "ff02::1", false }, { "2001:db8::1", false }, { "64:ff9b::a00:1", false },
                { "64:ff9b::808:808", true }, { "2002:c0a8:101::1", false }, { "2002:808:808::1", true },
                { "100::1", false },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                struct sockaddr_storage ss = {};
                socklen_t len;
                if (strchr(cases[i].addr, ':')) {
                        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
                        in6->sin6_family = AF_INET6;
                        g_assert_cmpint(inet_pton(AF_INET6, cases[i].addr, &in6->sin6_addr), ==, 1);
                        len = sizeof *in6;
                } else {
                        struct sockaddr_in *in = (struct sockaddr_in *) &ss;
                        in->sin_family = AF_INET;
                        g_assert_cmpint(inet_pton(AF_INET, cases[i].addr, &in->sin_addr), ==, 1);
                        len = sizeof *in;
                }
                if (fetch_address_is_public((struct sockaddr *) &ss, len) != cases[i].public)
                        g_error("%s: expected %s", cases[i].addr, cases[i].public ? "public" : "not public");
        }
}

/* A closed port, a port that never answers, and a server with the wrong
 * certificate read the same: a peer learns nothing about ports. */
static void test_fetch_connect_errors(Fixture *f, gconstpointer data) {
        char *const list[] = { (char *) "localhost", NULL };
        FetchOptions o = fetch_options(f, list);
        Verdict v = {};
        int closed_port, silent_port;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;

        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(bind(s, (struct sockaddr *) &a, sizeof a), ==, 0);
        g_assert_cmpint(getsockname(s, (struct sockaddr *) &a, &len), ==, 0);
        closed_port = ntohs(a.sin_port);
        close(s);
        int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        a.sin_port = 0;
        g_assert_cmpint(bind(silent, (struct sockaddr *) &a, sizeof a), ==, 0);
        g_assert_cmpint(listen(silent, 8), ==, 0); /* connects, never speaks TLS */
        len = sizeof a;
        g_assert_cmpint(getsockname(silent, (struct sockaddr *) &a, &len), ==, 0);
        silent_port = ntohs(a.sin_port);

        int ports[] = { closed_port, silent_port, f->selfsigned.port };
        for (size_t i = 0; i < G_N_ELEMENTS(ports); i++) {
                g_autofree char *url = g_strdup_printf("https://localhost:%d/x.tgz", ports[i]);
                int r = fetch(&o, url, &v);
                g_assert_cmpint(r, ==, -EIO);
                g_assert_cmpstr(reason_to_string(v.reason), ==, reason_to_string(REASON_DOWNLOAD_FAILED));
                g_assert_cmpstr(v.message, ==, "download failed: cannot connect to the server");
                verdict_clear(&v);
        }
        close(silent);
}

static const char *const proxy_variables[] = { "https_proxy", "HTTPS_PROXY", "http_proxy", "ALL_PROXY", "all_proxy" };

/* libcurl reads https_proxy/ALL_PROXY from the environment unless told
 * otherwise: only InstallProxy= may choose a proxy (#17). */
static void test_fetch_proxy(Fixture *f, gconstpointer data) {
        Verdict v = {};
        g_autofree char *url = g_strdup_printf("https://localhost:%d/probe.tgz", f->good.port);
        for (size_t i = 0; i < G_N_ELEMENTS(proxy_variables); i++)
                g_setenv(proxy_variables[i], "http://127.0.0.1:9", TRUE); /* nothing listens there */
        FetchOptions o = fetch_options(f, localhost_only);
        g_assert_cmpint(fetch(&o, url, &v), ==, 0);

        g_autofree char *log = g_build_filename(f->t.tmp, "proxy.log", NULL);
        tu_write_file(log, "", 0644);
        Server proxy = {};
        const char *args[] = { log, NULL };
        script_start(&proxy, "connect-proxy.py", args);
        g_autofree char *proxy_url = g_strdup_printf("http://127.0.0.1:%d", proxy.port);
        o = fetch_options(f, NULL);
        o.proxy = proxy_url; /* the proxy, chosen by the administrator, decides what it reaches */
        g_assert_cmpint(fetch(&o, url, &v), ==, 0);
        server_stop(&proxy);
        g_autofree char *text = NULL;
        g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
        g_autofree char *line = g_strdup_printf("CONNECT localhost:%d\n", f->good.port);
        g_assert_cmpstr(text, ==, line);
        for (size_t i = 0; i < G_N_ELEMENTS(proxy_variables); i++)
                g_unsetenv(proxy_variables[i]);

        HostConfig c;
        g_assert_cmpint(host_config_init(&c), ==, 0);
        g_assert_null(c.install_proxy); /* default: none */
        g_assert_cmpint(host_config_set(&c, "InstallProxy", "http://proxy.example:3128"), ==, 0);
        g_assert_cmpstr(c.install_proxy, ==, "http://proxy.example:3128");
        host_config_done(&c);
}

/* A Location header with ESC and BEL reaches messages and logs escaped (#16). */
static void test_fetch_escapes(Fixture *f, gconstpointer data) {
        FetchOptions o = fetch_options(f, localhost_only);
        Verdict v = {};
        g_autofree char *url = g_strdup_printf("https://localhost:%d/redirect?to=gopher://evil%%1b[2J%%07.example/x",
                                               f->good.port);
        g_assert_cmpint(fetch(&o, url, &v), <, 0);
        g_assert_true(v.reason == REASON_URL_INSECURE || v.reason == REASON_URL_INVALID);
        if (!strstr(v.message, "evil\\x1b[2J\\x07.example") || !utf8_is_valid_text(v.message, 4096))
                g_error("not escaped: %s", v.message);
        verdict_clear(&v);
}

static void test_bundles(Fixture *f, gconstpointer data) {
        Outcome o;
        InstallRequest req = {.source = INSTALL_SOURCE_BASE64, .fd = -1};

        req.bundle_b64 = "not base64!";
        install(f, &req, &o);
        expect_refused(f, &o, REASON_ARCHIVE_INVALID, "invalid base64 bundle");
        req.bundle_b64 = "QUJD=";
        install(f, &req, &o);
        expect_refused(f, &o, REASON_ARCHIVE_INVALID, "invalid base64 bundle");

        /* the cap is checked from the encoded length, before decoding: one byte over */
        size_t over = f->t.config.max_archive_size + 1;
        g_autofree guchar *zeros = g_malloc0(over);
        g_autofree char *big = g_base64_encode(zeros, over);
        req.bundle_b64 = big;
        install(f, &req, &o);
        expect_refused(f, &o, REASON_ARCHIVE_TOO_LARGE, "bundle exceeds max size (1048576 bytes)");

        /* digest required by configuration */
        f->t.config.install_require_digest = true;
        req.bundle_b64 = f->archive_b64;
        install(f, &req, &o);
        expect_refused(f, &o, REASON_DIGEST_REQUIRED,
                       "digest is required (set DC_PLUGIN_INSTALL_REQUIRE_DIGEST=1 or pass digest=)");
        /* bare hex, upper case, with whitespace: accepted */
        g_autofree char *hex = g_ascii_strup(f->archive_digest + 7, -1);
        g_autofree char *loose = g_strdup_printf("  %s\n", hex);
        req.digest = loose;
        g_assert_cmpint(install(f, &req, &o), ==, 0);
        g_assert_true(o.loaded);
        f->t.config.install_require_digest = false;

        /* invalid ids are refused before any work */
        req.plugin_id = "..";
        req.replace = true;
        install(f, &req, &o);
        g_assert_cmpint(o.error, ==, -EINVAL);
        g_assert_cmpint(o.reason, ==, REASON_INVALID_ID);
        g_free(o.message);
}

static void test_manifest_dispatch(void) {
        static const struct {
                const char *json;
                int error;
                const char *text;
                InstallSource source;
        } cases[] = {
                {"{\"id\":\"x\",\"bundle_b64\":\"QUJD\",\"url\":\"https://a/b.tgz\"}", 0, NULL, INSTALL_SOURCE_BASE64},
                {"{\"type\":\"python\",\"url\":\"https://a/b.zip\",\"format\":\"weird\"}", 0, NULL, INSTALL_SOURCE_URL},
                {"{\"type\":\"docker\",\"id\":\"x\",\"image\":\"i\"}", -EOPNOTSUPP,
                 "Docker manifests are not supported: this host runs C plugins and isolates them in sandboxed worker processes (deploy_sidecar)", 0},
                {"{\"type\":\"wasm\"}", -EOPNOTSUPP, "unsupported manifest type: wasm", 0},
                {"{\"id\":\"x\"}", -EINVAL, "python manifest requires bundle_b64 or url", 0},
                {"{\"url\":7}", -EINVAL, "manifest url must be a string", 0},
                {"[]", -EINVAL, "manifest must be an object", 0},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                struct json_object *m = json_tokener_parse(cases[i].json);
                InstallRequest req = {};
                Verdict v = {};
                g_assert_nonnull(m);
                g_assert_cmpint(install_request_from_manifest(m, &req, &v), ==, cases[i].error);
                if (cases[i].error == 0) {
                        g_assert_cmpint(req.source, ==, cases[i].source);
                        g_assert_cmpint(req.format, ==, PACKAGE_FORMAT_AUTO);
                        g_assert_cmpint(req.fd, ==, -1);
                } else
                        g_assert_cmpstr(v.message, ==, cases[i].text);
                verdict_clear(&v);
                json_object_put(m);
        }
}

static void test_artifact_store(void) {
        g_autofree char *tmp = tu_tmpdir();
        g_autofree char *dir = g_build_filename(tmp, "artifacts", NULL);
        ArtifactRecord rec = {}, found = {};
        ArtifactQuota quota = { .max_bytes = 1024 * 1024, .max_files = 100, .may_replace = true };
        Verdict v = {};
        int fd = memfd_create("a", MFD_CLOEXEC);
        g_assert_cmpint(write(fd, "archive-bytes", 13), ==, 13);

        /* traversal in id or version: refused before any path is built */
        g_assert_cmpint(artifact_store(dir, "../x", NULL, fd, &quota, &rec, &v), ==, -EINVAL);
        verdict_clear(&v);
        g_assert_cmpint(artifact_store(dir, "probe", "../../x", fd, &quota, &rec, &v), ==, -EINVAL);
        g_assert_cmpstr(v.message, ==, "invalid version: ../../x");
        verdict_clear(&v);
        g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));

        /* without a version: the first 12 hex digits of the digest */
        g_assert_cmpint(artifact_store(dir, "probe", NULL, fd, &quota, &rec, &v), ==, 0);
        g_assert_cmpint(strlen(rec.filename), ==, 16);
        g_assert_true(g_str_has_prefix(rec.digest, "sha256:"));
        g_assert_true(strncmp(rec.filename, rec.digest + 7, 12) == 0);
        g_assert_cmpint(rec.size, ==, 13);
        g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}\\+00:00$",
                                           rec.created_at, 0, 0));
        artifact_record_done(&rec);
        g_assert_cmpint(artifact_store(dir, "probe", "1.2.0", fd, &quota, &rec, &v), ==, 0);
        g_assert_cmpstr(rec.filename, ==, "1.2.0.tgz");

        /* artifact.json: 2-space indentation, the latest publish */
        g_autofree char *record = g_build_filename(dir, "probe", "artifact.json", NULL);
        g_autofree char *text = NULL;
        g_assert_true(g_file_get_contents(record, &text, NULL, NULL));
        g_assert_true(g_str_has_prefix(text, "{\n  \"plugin_id\": \"probe\",\n  \"filename\": \"1.2.0.tgz\""));

        g_assert_cmpint(artifact_find(dir, "probe", NULL, &found, &v), ==, 0);
        g_assert_cmpstr(found.version, ==, "1.2.0");
        g_assert_cmpstr(found.digest, ==, rec.digest);
        artifact_record_done(&found);
        g_assert_cmpint(artifact_find(dir, "probe", "1.2.0", &found, &v), ==, 0);
        artifact_record_done(&found);
        g_assert_cmpint(artifact_find(dir, "probe", "9.9", &found, &v), ==, -ENOENT);
        g_assert_cmpstr(v.message, ==, "artifact not found for probe");
        verdict_clear(&v);
        g_assert_cmpint(artifact_find(dir, "nothing", NULL, &found, &v), ==, -ENOENT);
        verdict_clear(&v);

        ArtifactRecord *l;
        size_t n;
        g_assert_cmpint(artifact_list(dir, &l, &n), ==, 0);
        g_assert_cmpint(n, ==, 1);
        g_assert_cmpstr(l[0].filename, ==, "1.2.0.tgz");
        artifact_record_done(&l[0]);
        free(l);
        artifact_record_done(&rec);
        close(fd);
        tu_rm_rf(tmp);
}

static void test_artifact_quota(void);

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        tu_init();
        g_test_add("/sources/https-success", Fixture, NULL, fixture_setup, test_https_success, fixture_teardown);
        g_test_add("/sources/https-refusals", Fixture, NULL, fixture_setup, test_https_refusals, fixture_teardown);
        g_test_add_func("/sources/manifest-dispatch", test_manifest_dispatch);
        g_test_add_func("/sources/artifact-store", test_artifact_store);
        g_test_add_func("/sources/artifact-quota", test_artifact_quota);
        g_test_add("/sources/bundles", Fixture, NULL, fixture_setup, test_bundles, fixture_teardown);
        g_test_add("/sources/fetch-private-addresses", Fixture, NULL, fixture_setup, test_fetch_private_addresses,
                   fixture_teardown);
        g_test_add_func("/sources/address-classes", test_address_classes);
        g_test_add("/sources/fetch-connect-errors", Fixture, NULL, fixture_setup, test_fetch_connect_errors,
                   fixture_teardown);
        g_test_add("/sources/fetch-proxy", Fixture, NULL, fixture_setup, test_fetch_proxy, fixture_teardown);
        g_test_add("/sources/fetch-escapes", Fixture, NULL, fixture_setup, test_fetch_escapes, fixture_teardown);
        return g_test_run();
}

/* The artifact store's quota and the rule that a bundle never replaces an
 * archive with other content (issue: publish_plugin_artifact with bundle_b64). */
static void test_artifact_quota(void) {
        g_autofree char *tmp = tu_tmpdir();
        g_autofree char *dir = g_build_filename(tmp, "artifacts", NULL);
        ArtifactQuota quota = { .max_bytes = 80, .max_files = 3, .may_replace = false };
        ArtifactRecord rec = {};
        Verdict v = {};
        int a = memfd_create("a", MFD_CLOEXEC), b = memfd_create("b", MFD_CLOEXEC);
        g_assert_cmpint(write(a, "0123456789012345678901234567890123456789", 40), ==, 40);
        g_assert_cmpint(write(b, "other bytes", 11), ==, 11);

        g_assert_cmpint(artifact_store(dir, "p", "1.0", a, &quota, &rec, &v), ==, 0);
        artifact_record_done(&rec);
        /* the same bytes again: fine; other bytes under the same name: refused */
        g_assert_cmpint(artifact_store(dir, "p", "1.0", a, &quota, &rec, &v), ==, 0);
        artifact_record_done(&rec);
        g_assert_cmpint(artifact_store(dir, "p", "1.0", b, &quota, &rec, &v), ==, -EEXIST);
        g_assert_cmpint(v.reason, ==, REASON_ALREADY_EXISTS);
        verdict_clear(&v);
        quota.may_replace = true;
        g_assert_cmpint(artifact_store(dir, "p", "1.0", b, &quota, &rec, &v), ==, 0);
        artifact_record_done(&rec);
        /* bytes: 11 stored, 40 more fit, another 40 would pass 80 */
        g_assert_cmpint(artifact_store(dir, "q", "1.0", a, &quota, &rec, &v), ==, 0);
        artifact_record_done(&rec);
        g_assert_cmpint(artifact_store(dir, "r", "1.0", a, &quota, &rec, &v), ==, -ENOSPC);
        g_assert_cmpint(v.reason, ==, REASON_LIMIT_EXCEEDED);
        g_assert_nonnull(strstr(v.message, "the artifact store is full"));
        verdict_clear(&v);
        /* files: two stored, the third fits, a fourth does not */
        g_assert_cmpint(artifact_store(dir, "r", "1.0", b, &quota, &rec, &v), ==, 0);
        artifact_record_done(&rec);
        g_assert_cmpint(artifact_store(dir, "s", "1.0", b, &quota, &rec, &v), ==, -ENOSPC);
        verdict_clear(&v);
        close(a);
        close(b);
        tu_rm_rf(tmp);
}
