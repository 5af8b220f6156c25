/* SPDX-License-Identifier: MIT */
/*
 * verify and hash: the daemon's own checks, here, without running plugin
 * code and without the daemon.  In place, a plugin is checked in its
 * directory as dc-plugin-hostd would check it there (the directory and its
 * parents, owners and modes, then the content); --content-only checks what
 * an install would check of a plugin folder, .so or archive from anywhere:
 * a private copy made as `install` packs and extracts it, then the
 * manifest, digest pin, signature and ELF pre-flight of the trust policy.
 */
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "build-config.h"
#include "dc-plugin-host/plugin.h"
#include "digest.h"
#include "extract.h"
#include "host.h"
#include "hostctl-output.h"
#include "hostctl-path.h"
#include "hostctl-verbs.h"
#include "image.h"
#include "install.h"
#include "json-util.h"
#include "log.h"
#include "manifest.h"
#include "names.h"
#include "pack.h"
#include "rm-rf.h"
#include "strv.h"

int verb_hash(Hostctl *c, char **args, int n) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char s[DIGEST_STRING_MAX];
        _cleanup_close_ int fd = open(args[0], O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", args[0]);
        int r = sha256_fd(fd, d);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", args[0]);
        digest_format(d, s);
        if (output_json_enabled()) {
                _cleanup_json_ struct json_object *o = json_object_new_object();
                if (!o)
                        return log_oom();
                json_object_object_add(o, "path", json_object_new_string(args[0]));
                json_object_object_add(o, "digest", json_object_new_string(s));
                return output_json(o);
        }
        puts(s);
        return 0;
}

/* ---- what verify reads and as whom ------------------------------------------------ */

typedef struct VerifyEnv {
        HostConfig config;
        const char *file; /* the configuration file */
        bool found;       /* it exists */
        char *as_user;    /* whose owner rules apply, for people */
        sd_event *event;
        Host *host;
} VerifyEnv;

static void verify_env_done(VerifyEnv *e) {
        host_free(e->host);
        sd_event_unref(e->event);
        host_config_done(&e->config);
        free(e->as_user);
}

/* As the daemon: --config=, else $DC_PLUGIN_HOST_CONFIG, else the system file;
 * run as root, the owner rules of the service user (the daemon runs as it). */
static int verify_env_init(const HostctlArgs *a, VerifyEnv *e) {
        const char *env = getenv(DC_ENV_CONFIG);
        struct passwd *pw;
        int r;

        e->file = a->config ? a->config : !isempty(env) ? env : PKG_CONF_DIR "/dc-plugin-host.conf";
        if (host_config_init(&e->config) < 0)
                return log_oom();
        r = host_config_load_file(&e->config, e->file);
        if (r == -ENOENT && (a->config || !isempty(env)))
                return log_error_errno(r, "Configuration file %s does not exist.", e->file);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read the configuration %s: %m", e->file);
        e->found = r >= 0;
        if (host_config_load_env(&e->config) < 0)
                return log_oom();
        if (geteuid() == 0 && (pw = getpwnam(DC_SERVICE_USER)))
                e->config.self_uid = pw->pw_uid;
        pw = getpwuid(e->config.self_uid);
        if (asprintf(&e->as_user, "uid %u%s%s%s", (unsigned) e->config.self_uid, pw ? " (" : "", pw ? pw->pw_name : "",
                     pw ? ")" : "") < 0)
                return log_oom();
        return 0;
}

/* The host that reads the roots of e->config and builds the trust policy. */
static int verify_env_host(VerifyEnv *e) {
        int r;
        log_set_max_level(LOG_ERR); /* the verdict says what the loader would log */
        r = sd_event_new(&e->event);
        if (r >= 0)
                r = host_new(e->event, &e->config, &e->host);
        if (r >= 0)
                r = host_reload_policy(e->host);
        return r < 0 ? log_error_errno(r, "Failed to set up the checks: %m") : 0;
}

static struct json_object *policy_json(const VerifyEnv *e) {
        const Policy *p = host_policy(e->host);
        struct json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "mode", json_object_new_string(signature_mode_to_string(p->mode)));
        json_object_object_add(o, "invalid_reason", p->invalid_reason ? json_object_new_string(p->invalid_reason) : NULL);
        json_object_object_add(o, "pins", json_object_new_int((int) p->n_pins));
        json_object_object_add(o, "pins_from", p->source ? json_object_new_string(p->source) : NULL);
        json_object_object_add(o, "trusted_keys", json_object_new_int((int) p->n_keys));
        json_object_object_add(o, "trusted_keys_from",
                               e->config.trusted_keys_dir ? json_object_new_string(e->config.trusted_keys_dir) : NULL);
        json_object_object_add(o, "require_signatures", json_object_new_boolean(p->require_signatures));
        json_object_object_add(o, "strict_elf", json_object_new_boolean(p->strict_elf));
        return o;
}

/* The context of the verdict: which configuration, which policy, where. */
static int add_context(struct json_object *o, const VerifyEnv *e, const char *directory, const char *kind) {
        struct json_object *conf = json_object_new_object(), *checked = json_object_new_object(), *pol = policy_json(e);
        if (!conf || !checked || !pol) {
                json_object_put(conf);
                json_object_put(checked);
                json_object_put(pol);
                return -ENOMEM;
        }
        json_object_object_add(conf, "file", json_object_new_string(e->file));
        json_object_object_add(conf, "found", json_object_new_boolean(e->found));
        json_object_object_add(o, "configuration", conf);
        json_object_object_add(o, "policy", pol);
        json_object_object_add(checked, "mode", json_object_new_string(directory ? "in-place" : "content-only"));
        json_object_object_add(checked, "directory", directory ? json_object_new_string(directory) : NULL);
        json_object_object_add(checked, "kind", kind ? json_object_new_string(kind) : NULL);
        json_object_object_add(checked, "uid", json_object_new_int64((int64_t) e->config.self_uid));
        json_object_object_add(o, "checked", checked);
        return 0;
}

static void print_context(const VerifyEnv *e, const char *directory, const char *kind, bool configured) {
        const Policy *p = host_policy(e->host);
        if (!output_legend())
                return;
        printf("Configuration: %s%s\n", e->file, e->found ? "" : " (not found: built-in defaults)");
        printf("       Policy: %s%s", signature_mode_to_string(p->mode), p->require_signatures ? ", signatures required" : "");
        if (p->mode == SIGNATURES_INVALID)
                printf(" (%s): every plugin is refused\n", p->invalid_reason ? p->invalid_reason : "malformed");
        else if (p->mode == SIGNATURES_PERMISSIVE)
                printf(" (no pins: %s is absent and %s unset)", e->config.signatures_file ? e->config.signatures_file : "no file",
                       DC_ENV_SIGNATURES);
        else
                printf(", %zu pin(s) from %s", p->n_pins, p->source ? p->source : DC_ENV_SIGNATURES);
        if (p->mode != SIGNATURES_INVALID)
                printf(", %zu trusted key(s) from %s\n", p->n_keys, e->config.trusted_keys_dir ? e->config.trusted_keys_dir : "-");
        if (directory)
                printf("    Directory: %s (%s%s; owner rules of %s)\n", directory, kind,
                       configured ? "" : ", not a configured plugin directory", e->as_user);
        else
                printf("    Directory: none: --content-only checks the content, not its location, owners or modes\n");
}

typedef struct Where {
        const char *directory; /* NULL: --content-only */
        const char *kind;
        bool configured;
} Where;

static int print_verdict(const VerifyEnv *e, const Where *w, struct json_object *o, const char *id, bool ok,
                         const char *reason, const char *message, const char *digest) {
        output_begin();
        if (output_json_enabled())
                return output_json(o);
        print_context(e, w->directory, w->kind, w->configured);
        printf("%s: %s%s%s\n", id, ok ? "ok" : reason, ok || isempty(message) ? "" : " — ", ok || !message ? "" : message);
        if (!isempty(digest))
                printf("digest: %s\n", digest);
        return 0;
}

/* ---- in place ------------------------------------------------------------------- */

static bool same_dir(const char *a, const char *b) {
        _cleanup_free_ char *ca = a ? realpath(a, NULL) : NULL;
        return ca && streq(ca, b);
}

static int verify_in_place(Hostctl *c, const char *path, VerifyEnv *e) {
        _cleanup_free_ char *parent = NULL, *name = NULL, *id = NULL, *inner = NULL;
        _cleanup_json_ struct json_object *o = NULL;
        _cleanup_close_ int dfd = -1;
        struct stat st;
        int r;

        /* The directory canonical, the entry itself as it is (a symlink is refused as the daemon refuses it). */
        r = hostctl_split_path(path, &parent, &name);
        if (r < 0 || (dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
            fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return log_error_errno(r < 0 ? r : errno, "Cannot verify %s: %m", path);
        if (S_ISREG(st.st_mode) && !endswith(name, ".so")) {
                log_error("%s is neither a plugin folder nor an <id>.so file; an archive's content is checked with "
                          "--content-only.", path);
                return HOSTCTL_EXIT_FAILURE;
        }
        id = !S_ISDIR(st.st_mode) && endswith(name, ".so") ? strndup(name, strlen(name) - 3) : strdup(name);
        if (!id)
                return log_oom();

        /* Which kind of root: the store, or read-only (as the daemon would scan it). */
        bool store = same_dir(e->config.store_dir, parent);
        bool configured = store;
        for (char **d = e->config.plugin_dirs; d && *d && !configured; d++)
                configured = same_dir(*d, parent);
        const char *kind = store ? "the install store" : "read-only plugin directory";

        /* The directory first: a refused one is the problem, whatever is in it. */
        OwnerRule rule = { .kind = store ? ROOT_STORE : ROOT_READONLY, .self_uid = e->config.self_uid,
                           .trusted_uid = e->config.trusted_uid };
        _cleanup_close_ int fd = root_open_checked(parent, &rule, &inner);
        if (fd < 0 && fd != -EPERM)
                return log_error_errno(fd, "Cannot open the plugin directory %s: %m", parent);

        strv_free(e->config.plugin_dirs);
        e->config.plugin_dirs = store ? calloc(1, sizeof(char *)) : strv_split(parent, "\n");
        r = free_and_strdup(&e->config.store_dir, store ? parent : NULL);
        if (!e->config.plugin_dirs || r < 0)
                return log_oom();
        r = verify_env_host(e);
        if (r < 0)
                return r;
        Where where = { .directory = parent, .kind = kind, .configured = configured };
        if (fd == -EPERM) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "the plugin directory %s is refused: %s", parent, inner) < 0)
                        return log_oom();
                if (!(o = json_object_new_object()) || add_context(o, e, parent, kind) < 0)
                        return log_oom();
                json_object_object_add(o, "id", json_object_new_string(id));
                json_object_object_add(o, "ok", json_object_new_boolean(false));
                json_object_object_add(o, "reason", json_object_new_string(reason_to_string(REASON_INSECURE_DIRECTORY)));
                json_object_object_add(o, "message", json_object_new_string(msg));
                print_verdict(e, &where, o, id, false, reason_to_string(REASON_INSECURE_DIRECTORY), msg, NULL);
                log_error("The daemon refuses every plugin in %s. To check the plugin's content alone (an author's "
                          "tree), use --content-only.", parent);
                return HOSTCTL_EXIT_REJECTED;
        }

        r = host_check(e->host);
        if (r < 0)
                return log_error_errno(r, "Verification failed: %m");
        PluginRecord *rec = host_find(e->host, id);
        if (!rec) {
                log_error("%s is not a plugin candidate: names starting with '.' are skipped, and a file must be "
                          "<id>.so.", path);
                return HOSTCTL_EXIT_FAILURE;
        }
        const PluginRecord *shadow = NULL;
        for (size_t i = 0; i < host_n_shadowed(e->host); i++)
                if (streq(host_shadowed(e->host, i)->id, id))
                        shadow = host_shadowed(e->host, i);
        bool ok = rec->state == PLUGIN_STATE_AVAILABLE && !shadow;
        const char *reason = shadow ? reason_to_string(shadow->reason) : reason_to_string(rec->reason);
        const char *message = shadow ? shadow->message : rec->message;
        if (!(o = host_record_to_json(e->host, rec)) || add_context(o, e, parent, kind) < 0)
                return log_oom();
        json_object_object_add(o, "ok", json_object_new_boolean(ok));
        print_verdict(e, &where, o, rec->id, ok, ok ? NULL : rec->state == PLUGIN_STATE_DISABLED ? "disabled" : reason, message,
                      rec->digest);
        if (ok)
                return 0;
        return rec->state == PLUGIN_STATE_DISABLED ? HOSTCTL_EXIT_FAILURE : HOSTCTL_EXIT_REJECTED;
}

/* ---- the content alone ---------------------------------------------------------------- */

static int copy_file(int src_dir, const char *src, int dst_dir, const char *dst) {
        _cleanup_close_ int in = openat(src_dir, src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (in < 0)
                return -errno;
        _cleanup_close_ int out = openat(dst_dir, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0)
                return -errno;
        char buf[65536];
        ssize_t k;
        while ((k = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t) k) != k)
                        return -EIO;
        return k < 0 ? -errno : 0;
}

/* A private copy below stage: "<id>.so" (+ .minisig) for a .so, else the plugin
 * folder of the packed folder or the archive, named by its manifest's id. */
static int stage_content(const VerifyEnv *e, const char *path, const char *format_name, const struct stat *st, int stage,
                         char **ret_name, PluginLayout *ret_layout, Verdict *v) {
        _cleanup_free_ char *dir = NULL, *name = NULL, *top = NULL, *mid = NULL;
        _cleanup_close_ int in = -1, xfd = -1, pfd = -1, dfd = -1;
        OwnerRule rule = { .kind = ROOT_READONLY, .self_uid = e->config.self_uid, .trusted_uid = geteuid() };
        int r;

        r = hostctl_split_path(path, &dir, &name);
        if (r < 0)
                return r;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if (S_ISREG(st->st_mode) && endswith(name, ".so")) {
                _cleanup_free_ char *sig = NULL;
                r = copy_file(dfd, name, stage, name);
                if (r < 0)
                        return r;
                if (asprintf(&sig, "%s.minisig", name) < 0)
                        return -ENOMEM;
                r = copy_file(dfd, sig, stage, sig);
                if (r < 0 && r != -ENOENT)
                        return r;
                *ret_layout = LAYOUT_FLAT;
                *ret_name = strdup(name);
                return *ret_name ? 0 : -ENOMEM;
        }
        if (S_ISDIR(st->st_mode)) {
                struct stat mst;
                _cleanup_free_ char *manifest = NULL;
                if (asprintf(&manifest, "%s/manifest.json", name) < 0)
                        return -ENOMEM;
                if (fstatat(dfd, manifest, &mst, 0) < 0 && errno == ENOENT)
                        return verdict_set(v, -ENOENT, REASON_MANIFEST_MISSING,
                                           "plugin rejected: manifest-missing: no manifest.json in %s", path);
                in = memfd_create("dc-plugin-verify", MFD_CLOEXEC);
                if (in < 0)
                        return -errno;
                r = pack_directory(dfd, name, in, v);
                if (r < 0)
                        return r;
        } else if (S_ISREG(st->st_mode)) {
                in = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (in < 0)
                        return -errno;
        } else
                return verdict_set(v, -EPERM, REASON_NOT_REGULAR_FILE, "%s is not a folder, .so or archive", path);
        struct stat ast;
        uint8_t head[4] = {};
        if (fstat(in, &ast) < 0 || pread(in, head, sizeof head, 0) < 0)
                return -errno;
        ArchiveLimits limits = install_archive_limits(&e->config);
        PackageFormat format = PACKAGE_FORMAT_AUTO;
        (void) package_format_from_string(format_name, &format); /* checked with the command line */
        format = package_format_detect(format, S_ISDIR(st->st_mode) ? "x.tar.gz" : name, head, sizeof head);
        if (mkdirat(stage, ".x", 0755) < 0 || (xfd = openat(stage, ".x", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return -errno;
        r = archive_extract(in, (uint64_t) ast.st_size, format, xfd, &limits, v);
        if (r < 0)
                return r;
        r = install_find_plugin_dir(xfd, &top, v);
        if (r < 0)
                return r;
        pfd = top ? openat(xfd, top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : fcntl(xfd, F_DUPFD_CLOEXEC, 3);
        if (pfd < 0)
                return -errno;
        mid = manifest_read_string(pfd, &rule, "id");
        const char *id = mid ? mid : top ? top : S_ISDIR(st->st_mode) ? name : NULL;
        if (!id)
                return verdict_set(v, -EBADMSG, REASON_MANIFEST_INVALID, "manifest.json has no \"id\"");
        if (strchr(id, '/') || streq(id, ".") || streq(id, ".."))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "plugin rejected: invalid-id: \"%s\"", id);
        if (renameat(top ? xfd : stage, top ? top : ".x", stage, id) < 0)
                return -errno;
        *ret_layout = LAYOUT_FOLDER;
        *ret_name = strdup(id);
        return *ret_name ? 0 : -ENOMEM;
}

static int verify_content(Hostctl *c, const char *path, VerifyEnv *e) {
        _cleanup_free_ char *name = NULL;
        _cleanup_json_ struct json_object *o = NULL;
        _cleanup_close_ int stage = -1;
        const char *tmp = getenv("TMPDIR");
        char dir[4096];
        PluginLayout layout = LAYOUT_FOLDER;
        Verdict v = {};
        Candidate cand;
        struct stat st;
        int r;

        if (stat(path, &st) < 0)
                return log_error_errno(errno, "Cannot verify %s: %m", path);
        strv_free(e->config.plugin_dirs);
        e->config.plugin_dirs = calloc(1, sizeof(char *));
        if (!e->config.plugin_dirs || free_and_strdup(&e->config.store_dir, NULL) < 0)
                return log_oom();
        r = verify_env_host(e);
        if (r < 0)
                return r;
        snprintf(dir, sizeof dir, "%s/dc-plugin-verify.XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        if (!mkdtemp(dir) || (stage = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return log_error_errno(errno, "Cannot create a private copy in %s: %m", isempty(tmp) ? "/tmp" : tmp);

        candidate_init(&cand);
        r = stage_content(e, path, c->arg->format, &st, stage, &name, &layout, &v);
        if (r >= 0) {
                _cleanup_(policy_unrefp) Policy *policy = host_policy_ref(e->host);
                VerifyContext ctx = {
                        .policy = policy,
                        /* the copy is ours: its owner and modes are not the author's */
                        .rule = { .kind = ROOT_READONLY, .self_uid = e->config.self_uid, .trusted_uid = geteuid() },
                        .host_api_level = DC_PLUGIN_ABI_MAJOR,
                };
                r = plugin_verify(&ctx, stage, dir, name, layout, &cand, &v);
        }
        (void) rm_rf_children(stage);
        (void) rmdir(dir);
        if (r < 0 && v.reason == REASON_NONE) {
                candidate_done(&cand);
                verdict_clear(&v);
                return log_error_errno(r, "Cannot verify %s: %m", path);
        }

        bool ok = r >= 0;
        const char *id = cand.id ? cand.id : name ? name : path;
        o = json_object_new_object();
        if (!o || add_context(o, e, NULL, NULL) < 0) {
                candidate_done(&cand);
                verdict_clear(&v);
                return log_oom();
        }
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "ok", json_object_new_boolean(ok));
        json_object_object_add(o, "state", json_object_new_string(plugin_state_to_string(ok ? PLUGIN_STATE_AVAILABLE
                                                                                              : PLUGIN_STATE_REJECTED)));
        json_object_object_add(o, "reason", ok ? NULL : json_object_new_string(reason_to_string(v.reason)));
        json_object_object_add(o, "message", v.message ? json_object_new_string(v.message) : NULL);
        json_object_object_add(o, "digest", cand.digest[0] ? json_object_new_string(cand.digest) : NULL);
        json_object_object_add(o, "layout", json_object_new_string(layout == LAYOUT_FLAT ? "flat" : "folder"));
        json_object_object_add(o, "version", cand.manifest.version ? json_object_new_string(cand.manifest.version) : NULL);
        json_object_object_add(o, "signer", cand.signer ? json_object_new_string(cand.signer) : NULL);
        print_verdict(e, &(Where){}, o, id, ok, reason_to_string(v.reason), v.message, cand.digest);
        candidate_done(&cand);
        verdict_clear(&v);
        return ok ? 0 : HOSTCTL_EXIT_REJECTED;
}

int verb_verify(Hostctl *c, char **args, int n) {
        _cleanup_(verify_env_done) VerifyEnv e = {};
        int r = verify_env_init(c->arg, &e);
        if (r < 0)
                return r;
        return c->arg->content_only ? verify_content(c, args[0], &e) : verify_in_place(c, args[0], &e);
}
