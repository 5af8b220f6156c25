/* SPDX-License-Identifier: MIT */
#include "install.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "dc-plugin-host/plugin.h"
#include "fetch.h"
#include "fs-check.h"
#include "image.h"
#include "json-util.h"
#include "pack.h"
#include "log.h"
#include "names.h"
#include "plugin-id.h"
#include "rm-rf.h"
#include "store.h"
#include "version-floor.h"
#include "verify.h"
#include "worker-pool.h"

/* Installs run one at a time: they share the store and staging. */
static const int install_serial_key;

typedef struct InstallJob {
        Job job; /* first */
        Host *host;
        Policy *policy;
        host_install_cb cb;
        void *userdata;

        /* the request (owned copies) */
        InstallSource source;
        int fd;
        char *bundle_b64, *url, *name_hint, *plugin_id, *caller;
        uint8_t digest[SHA256_DIGEST_SIZE];
        bool have_digest;
        PackageFormat format;
        bool load, replace, allow_downgrade;
        char *state_dir; /* the version floors */

        /* what the worker needs from the configuration */
        char *store_path;
        OwnerRule rule;
        ArchiveLimits limits;
        uint64_t max_archive;
        FetchOptions fetch;

        /* results of the staging half */
        int error;
        Verdict verdict;
        int store_fd, staging_fd, job_fd;
        char *job_name;
        char *id, *version;
        char archive_digest[DIGEST_STRING_MAX];

        /* the commit half (loop), across the asynchronous load */
        InstallResult res;
        bool existed, was_loaded;
        char plugin_digest[DIGEST_STRING_MAX]; /* of the verified <id>.so */
} InstallJob;

static void install_job_free(InstallJob *j) {
        if (!j)
                return;
        safe_close(j->fd);
        safe_close(j->store_fd);
        safe_close(j->staging_fd);
        safe_close(j->job_fd);
        policy_unref(j->policy);
        verdict_clear(&j->verdict);
        free(j->bundle_b64);
        free(j->url);
        free(j->name_hint);
        free(j->plugin_id);
        free(j->caller);
        free(j->store_path);
        free(j->state_dir);
        free(j->job_name);
        free(j->id);
        free(j->version);
        free(j);
}

/* ---- the archive bytes -------------------------------------------------------- */

static int read_fd_source(InstallJob *j, int memfd, uint64_t *ret_size, uint8_t sha[SHA256_DIGEST_SIZE], Verdict *v) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        _cleanup_free_ uint8_t *buf = malloc(128 * 1024);
        uint64_t size = 0;
        int r = 0;

        if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(md);
                return -ENOMEM;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t deadline = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000 + j->fetch.timeout_usec;
        for (;;) {
                clock_gettime(CLOCK_MONOTONIC, &ts);
                if ((uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000 > deadline) {
                        r = verdict_set(v, -ETIMEDOUT, REASON_ARCHIVE_INVALID, "timed out reading the archive");
                        break;
                }
                ssize_t n = read(j->fd, buf, 128 * 1024);
                if (n < 0 && errno == EAGAIN) {
                        /* a non-blocking pipe from the caller: wait, within the install budget */
                        struct pollfd p = {.fd = j->fd, .events = POLLIN};
                        int k = poll(&p, 1, (int) (j->fetch.timeout_usec / 1000));
                        if (k == 0) {
                                r = verdict_set(v, -ETIMEDOUT, REASON_ARCHIVE_INVALID, "timed out reading the archive");
                                break;
                        }
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = verdict_set(v, -errno, REASON_ARCHIVE_INVALID, "cannot read the archive: %m");
                        break;
                }
                if (n == 0)
                        break;
                if (size + (uint64_t) n > j->max_archive) {
                        r = verdict_set(v, -EFBIG, REASON_ARCHIVE_TOO_LARGE,
                                        "bundle exceeds max size (%" PRIu64 " bytes)", j->max_archive);
                        break;
                }
                for (ssize_t done = 0; done < n;) {
                        ssize_t k = write(memfd, buf + done, (size_t) (n - done));
                        if (k < 0) {
                                r = -errno;
                                break;
                        }
                        done += k;
                }
                if (r < 0 || EVP_DigestUpdate(md, buf, (size_t) n) != 1) {
                        r = r < 0 ? r : -ENOMEM;
                        break;
                }
                size += (uint64_t) n;
        }
        if (r == 0 && EVP_DigestFinal_ex(md, sha, NULL) != 1)
                r = -ENOMEM;
        EVP_MD_CTX_free(md);
        *ret_size = size;
        return r;
}

static int read_base64_source(InstallJob *j, int memfd, uint64_t *ret_size, uint8_t sha[SHA256_DIGEST_SIZE],
                              Verdict *v) {
        size_t len = strlen(j->bundle_b64);
        size_t pad =
                len >= 1 && j->bundle_b64[len - 1] == '=' ? (len >= 2 && j->bundle_b64[len - 2] == '=' ? 2 : 1) : 0;

        if (len % 4 != 0)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_INVALID, "invalid base64 bundle");
        /* The cap is checked from the encoded length, before decoding. */
        if (base64_decoded_max(len) - pad > j->max_archive)
                return verdict_set(v, -EFBIG, REASON_ARCHIVE_TOO_LARGE, "bundle exceeds max size (%" PRIu64 " bytes)",
                                   j->max_archive);
        _cleanup_free_ uint8_t *buf = NULL;
        long n = base64_decode_alloc(j->bundle_b64, len, &buf);
        if (n == -ENOMEM)
                return -ENOMEM;
        if (n < 0)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_INVALID, "invalid base64 bundle");
        for (long done = 0; done < n;) {
                ssize_t k = write(memfd, buf + done, (size_t) (n - done));
                if (k < 0)
                        return -errno;
                done += k;
        }
        if (EVP_Digest(buf, (size_t) n, sha, NULL, EVP_sha256(), NULL) != 1)
                return -ENOMEM;
        *ret_size = (uint64_t) n;
        return 0;
}

/* ---- the staging half (worker thread) ------------------------------------------ */

/* The plugin folder: the archive root, or its single top-level directory. */
ArchiveLimits install_archive_limits(const HostConfig *c) {
        return (ArchiveLimits){
                .max_extracted = c->max_extracted_size,
                .max_member = c->max_plugin_size,
                .max_members = c->max_archive_members,
                .max_depth = ARCHIVE_DEPTH_MAX,
                .max_ratio = ARCHIVE_RATIO_MAX,
        };
}

int install_find_plugin_dir(int xfd, char **ret_top, Verdict *v) {
        struct stat st;
        _cleanup_free_ char *top = NULL;
        unsigned n = 0;

        if (fstatat(xfd, "manifest.json", &st, AT_SYMLINK_NOFOLLOW) == 0) {
                *ret_top = NULL;
                return 0;
        }
        int dup = fcntl(xfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
        if (!d) {
                safe_close(dup);
                return -errno;
        }
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (n++ == 0)
                        top = strdup(de->d_name);
        }
        closedir(d);
        if (n == 1 && !top)
                return -ENOMEM;
        if (n == 1 && fstatat(xfd, top, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "%s/manifest.json", top) < 0)
                        return -ENOMEM;
                if (fstatat(xfd, m, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        *ret_top = TAKE_PTR(top);
                        return 0;
                }
        }
        return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LAYOUT,
                           "archive must contain manifest.json at root or in a single top-level folder");
}


static int stage(InstallJob *j) {
        Verdict *v = &j->verdict;
        _cleanup_close_ int memfd = -1, xfd = -1, pfd = -1;
        _cleanup_free_ char *top = NULL, *mid = NULL, *job_path = NULL;
        uint8_t sha[SHA256_DIGEST_SIZE], head[4] = {};
        uint64_t size = 0;
        int r;

        r = store_open(j->store_path, &j->rule, true, v);
        if (r < 0)
                return r;
        j->store_fd = r;
        r = store_open_staging(j->store_fd, j->store_path, v);
        if (r < 0)
                return r;
        j->staging_fd = r;
        r = store_make_job_dir(j->staging_fd, "install", &j->job_name);
        if (r < 0)
                return verdict_set(v, r, REASON_NONE, "cannot create a staging directory: %s", strerror(-r));
        j->job_fd = r;

        memfd = memfd_create("dc-plugin-install", MFD_CLOEXEC);
        if (memfd < 0)
                return -errno;
        switch (j->source) {
        case INSTALL_SOURCE_FD:
                r = read_fd_source(j, memfd, &size, sha, v);
                break;
        case INSTALL_SOURCE_BASE64:
                r = read_base64_source(j, memfd, &size, sha, v);
                break;
        case INSTALL_SOURCE_URL:
                r = fetch_url(j->url, &j->fetch, memfd, &size, sha, v);
                break;
        case INSTALL_SOURCE_DIRECTORY: {
                /* packed here, on the worker, like any other archive */
                struct stat st;
                r = pack_directory(j->fd, j->name_hint, memfd, v);
                if (r >= 0 && (fstat(memfd, &st) < 0 || lseek(memfd, 0, SEEK_SET) < 0))
                        r = -errno;
                if (r >= 0)
                        r = sha256_fd(memfd, sha);
                size = r >= 0 ? (uint64_t) st.st_size : 0;
                break;
        }
        default:
                assert_not_reached();
        }
        if (r < 0)
                return r;
        digest_format(sha, j->archive_digest);
        if (j->have_digest && !digest_equal(sha, j->digest))
                return verdict_set(v, -EBADMSG, REASON_DIGEST_MISMATCH, "digest mismatch");

        if (pread(memfd, head, sizeof head, 0) < 0)
                return -errno;
        PackageFormat format = package_format_detect(j->format, j->name_hint, head, sizeof head);
        if (mkdirat(j->job_fd, ".x", 0755) < 0)
                return -errno;
        xfd = openat(j->job_fd, ".x", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (xfd < 0)
                return -errno;
        r = archive_extract(memfd, size, format, xfd, &j->limits, v);
        if (r < 0)
                return r;

        r = install_find_plugin_dir(xfd, &top, v);
        if (r < 0)
                return r;
        pfd = top ? openat(xfd, top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : fcntl(xfd, F_DUPFD_CLOEXEC, 3);
        if (pfd < 0)
                return -errno;
        mid = manifest_read_string(pfd, &j->rule, "id"); /* verify reports the rest */
        const char *id = j->plugin_id ? j->plugin_id : mid ? mid : top;
        if (!id)
                return verdict_set(v, -EBADMSG, REASON_MANIFEST_INVALID,
                                   "manifest.json has no \"id\" and no plugin id was given");
        if (!plugin_id_is_valid(id))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid plugin id");
        j->id = strdup(id);
        if (!j->id)
                return -ENOMEM;
        /* Name the folder by the id; the manifest must agree (checked below). */
        if (renameat(top ? xfd : j->job_fd, top ? top : ".x", j->job_fd, j->id) < 0)
                return -errno;

        if (asprintf(&job_path, "%s/%s/%s", j->store_path, STORE_STAGING_DIR, j->job_name) < 0)
                return -ENOMEM;
        VerifyContext ctx = {.policy = j->policy, .rule = j->rule, .host_api_level = DC_PLUGIN_ABI_MAJOR};
        Candidate c;
        candidate_init(&c);
        r = plugin_verify(&ctx, j->job_fd, job_path, j->id, LAYOUT_FOLDER, &c, v);
        if (r >= 0 && c.manifest.version && !(j->version = strdup(c.manifest.version)))
                r = -ENOMEM;
        if (r >= 0)
                snprintf(j->plugin_digest, sizeof j->plugin_digest, "%s", c.digest);
        candidate_done(&c);
        if (r < 0)
                return r;
        /* Anti-rollback: never below what was installed before, unless allowed. */
        _cleanup_free_ char *floor = NULL;
        if (!j->allow_downgrade && j->version && version_floor_get(j->state_dir, j->id, &floor) >= 0 &&
            version_compare(j->version, floor) < 0)
                return verdict_set(v, -EPERM, REASON_ROLLBACK,
                                   "version %s is older than %s, installed before "
                                   "(an admin may allow the downgrade)",
                                   j->version, floor);
        /* On disk before it becomes visible: a power cut after the rename
         * must not leave an empty plugin behind. */
        if (syncfs(j->job_fd) < 0)
                return verdict_set(v, -errno, REASON_NONE, "cannot sync the staged plugin: %m");
        return 0;
}

static void install_run(Job *job) {
        InstallJob *j = (InstallJob *) job;
        j->error = stage(j);
        if (j->error < 0 && !j->verdict.message)
                (void) verdict_set(&j->verdict, j->error, REASON_NONE, "install failed: %s", strerror(-j->error));
}

/* ---- the commit half (event loop) ------------------------------------------------ */

static void log_install_failure(InstallJob *j) {
        /* The trust policy's refusal is a rejection like any other load's;
         * a broken archive or a download problem is an install refusal. */
        Reason reason = j->verdict.reason;
        bool rejected = reason_is_rejection(reason) && !reason_is_install_problem(reason);
        log_struct(LOG_WARNING, j->error, rejected ? DC_MESSAGE_PLUGIN_REJECTED : DC_MESSAGE_INSTALL_REFUSED,
                   LOG_FIELDS(LF("PLUGIN_ID", j->id ? j->id : j->plugin_id), LF("DC_OPERATION", "install"),
                              LF("DC_REASON", reason_to_string(j->verdict.reason)), LF("DC_ERROR", j->verdict.message),
                              LF("DC_ARCHIVE_DIGEST", j->archive_digest[0] ? j->archive_digest : NULL),
                              LF("DC_CALLER", j->caller)),
                   "Plugin install refused: %s", j->verdict.message);
}

static int swap_back(InstallJob *j) {
        return renameat2(j->store_fd, j->id, j->job_fd, j->id, RENAME_EXCHANGE) < 0 ? -errno : 0;
}

/* The load step failed: a fresh install stays ("partial", as upstream); a
 * replacement is all or nothing and the previous version comes back. */
static int load_failed(InstallJob *j, int r, const Verdict *lv) {
        InstallResult *res = &j->res;
        if (!j->existed) {
                res->load_error = r;
                res->load_verdict.reason = lv->reason;
                res->load_verdict.message = lv->message ? strdup(lv->message) : NULL;
                return 0;
        }
        int k = swap_back(j);
        if (k < 0)
                log_struct(LOG_ERR, k, NULL, LOG_FIELDS(LF("PLUGIN_ID", j->id)),
                           "Cannot restore the previous version of %s: %s", j->id, strerror(-k));
        else
                res->replaced = false;
        if (!j->was_loaded)
                (void) host_refresh(j->host, j->id);
        return verdict_set(&j->verdict, r, lv->reason, "the new version failed to load, the previous version was kept: %s",
                           lv->message ? lv->message : strerror(-r));
}

static void install_finish(InstallJob *j, int r);

static void on_loaded(Host *h, const char *id, int error, const Verdict *v, void *userdata) {
        InstallJob *j = userdata;
        int r = 0;
        if (error >= 0)
                j->res.loaded = true;
        else {
                Verdict none = {};
                r = load_failed(j, error, v ? v : &none);
        }
        install_finish(j, r);
}

static int commit(InstallJob *j, InstallResult *res) {
        Host *h = j->host;
        Verdict *v = &j->verdict;
        _cleanup_free_ char *flat = NULL;
        PluginRecord *rec = host_find(h, j->id);
        int store = host_store_index(h), idx = host_locate_root(h, j->id);
        struct stat st;
        bool exists, was_loaded;
        int r;

        if (asprintf(&flat, "%s.so", j->id) < 0 || asprintf(&res->installed_to, "%s/%s", j->store_path, j->id) < 0)
                return -ENOMEM;
        if (rec && rec->draining)
                return verdict_set(v, -EBUSY, REASON_NONE, "an operation on plugin '%s' is in progress", j->id);
        if (idx >= 0 && idx != store)
                return verdict_set(v, -EEXIST, REASON_ALREADY_EXISTS,
                                   "Plugin '%s' already exists at %s/%s (a read-only plugin directory)", j->id,
                                   host_roots(h)[idx], j->id);
        if (fstatat(j->store_fd, flat, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return verdict_set(v, -EEXIST, REASON_ALREADY_EXISTS, "Plugin '%s' already exists at %s/%s", j->id,
                                   j->store_path, flat);
        exists = fstatat(j->store_fd, j->id, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (exists && !j->replace)
                return verdict_set(v, -EEXIST, REASON_ALREADY_EXISTS, "Plugin '%s' already exists at %s", j->id,
                                   res->installed_to);
        if (renameat2(j->job_fd, j->id, j->store_fd, j->id, exists ? RENAME_EXCHANGE : RENAME_NOREPLACE) < 0)
                return errno == EEXIST ? verdict_set(v, -EEXIST, REASON_ALREADY_EXISTS,
                                                     "Plugin '%s' already exists at %s", j->id, res->installed_to)
                                       : verdict_set(v, -errno, REASON_NONE, "cannot move the plugin into place: %m");
        res->replaced = exists;
        if (j->version) {
                r = version_floor_raise(j->state_dir, j->id, j->version);
                if (r < 0)
                        log_struct(LOG_WARNING, r, NULL, LOG_FIELDS(LF("PLUGIN_ID", j->id)),
                                   "Cannot record the version floor of %s: %s", j->id, strerror(-r));
        }

        j->existed = exists;
        j->was_loaded = was_loaded = rec && rec->plugin;
        if (!j->load) {
                /* Installing is not loading: a loaded plugin keeps running
                 * the code it was verified and loaded with until it is
                 * reloaded (as upstream); its record describes that code. */
                if (was_loaded) {
                        res->running = true;
                        res->reload_pending = !streq(rec->digest, j->plugin_digest);
                        return 0;
                }
                r = host_refresh(h, j->id);
                return r < 0 ? verdict_set(v, r, REASON_NONE, "cannot register the plugin: %s", strerror(-r)) : 0;
        }
        Verdict lv = {};
        r = was_loaded ? host_reload(h, j->id, &lv, on_loaded, j) : host_load(h, j->id, &lv, on_loaded, j);
        if (r == 0)
                return 1; /* on_loaded finishes */
        if (r > 0) {
                res->loaded = true;
                /* The same bytes again: nothing changed, but it was a load. */
                host_notify_loaded_again(h, j->id, false);
                return 0;
        }
        r = load_failed(j, r, &lv);
        verdict_clear(&lv);
        return r;
}

static void install_finish(InstallJob *j, int r) {
        InstallResult *res = &j->res;
        j->error = r;
        /* The job directory holds nothing, a failed stage or the old version. */
        if (j->job_name && j->staging_fd >= 0) {
                j->job_fd = safe_close(j->job_fd);
                (void) rm_rf_at(j->staging_fd, j->job_name);
        }
        if (r < 0)
                log_install_failure(j);
        else
                log_struct(LOG_INFO, 0, DC_MESSAGE_PLUGIN_INSTALLED,
                           LOG_FIELDS(LF("PLUGIN_ID", j->id), LF("PLUGIN_VERSION", j->version),
                                      LF("DC_OPERATION", "install"), LF("DC_ARCHIVE_DIGEST", j->archive_digest),
                                      LF("DC_CALLER", j->caller), LF("DC_REPLACED", res->replaced ? "yes" : "no")),
                           "%s plugin %s", res->replaced ? "Replaced" : "Installed", j->id);
        res->plugin_id = j->id;
        res->version = j->version;
        snprintf(res->archive_digest, sizeof res->archive_digest, "%s", j->archive_digest);
        j->cb(j->host, r, &j->verdict, res, j->userdata);
        free(res->installed_to);
        verdict_clear(&res->load_verdict);
        install_job_free(j);
}

static void install_complete(Job *job) {
        InstallJob *j = (InstallJob *) job;
        int r = j->error;

        if (!job->ran)
                r = verdict_set(&j->verdict, -ESHUTDOWN, REASON_NONE, "the plugin host is shutting down");
        if (r >= 0) {
                r = commit(j, &j->res);
                if (r > 0)
                        return; /* loading: on_loaded() finishes */
        }
        install_finish(j, r);
}

/* ---- public operations -------------------------------------------------------------- */

int host_install(Host *h, const InstallRequest *req, host_install_cb cb, void *userdata, Verdict *v) {
        const HostConfig *c = host_config(h);
        InstallJob *j;
        int store, r;

        assert(h && req && cb);
        j = calloc(1, sizeof *j);
        if (!j) {
                if (req->source == INSTALL_SOURCE_FD || req->source == INSTALL_SOURCE_DIRECTORY)
                        safe_close(req->fd);
                return -ENOMEM;
        }
        j->fd = req->source == INSTALL_SOURCE_FD || req->source == INSTALL_SOURCE_DIRECTORY ? req->fd : -1;
        j->store_fd = j->staging_fd = j->job_fd = -1;

        /* Everything that needs no I/O is refused before any work starts. */
        if (req->plugin_id && !plugin_id_is_valid(req->plugin_id)) {
                r = verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid plugin id");
                goto fail;
        }
        if (req->digest) {
                if (digest_parse_loose(req->digest, j->digest) < 0) {
                        r = verdict_set(v, -EBADMSG, REASON_DIGEST_INVALID,
                                        "invalid digest: expected 64 hex digits, optionally prefixed with sha256:");
                        goto fail;
                }
                j->have_digest = true;
        } else if (c->install_require_digest) {
                r = verdict_set(v, -EBADMSG, REASON_DIGEST_REQUIRED,
                                "digest is required (set DC_PLUGIN_INSTALL_REQUIRE_DIGEST=1 or pass digest=)");
                goto fail;
        }
        store = host_store_index(h);
        if (store < 0) {
                r = verdict_set(v, -EROFS, REASON_READ_ONLY, "no plugin store is configured");
                goto fail;
        }
        j->fetch = (FetchOptions){
                .allowlist = c->install_url_allowlist,
                .ca_file = c->install_ca_file,
                .allow_http = c->install_allow_http,
                .proxy = c->install_proxy,
                .max_redirects = FETCH_MAX_REDIRECTS,
                .max_bytes = c->max_archive_size,
                .timeout_usec = c->install_timeout_usec,
                .connect_timeout_usec = 15ull * 1000000,
                .cancelled = &j->job.cancelled,
        };
        if (req->source == INSTALL_SOURCE_URL) {
                r = fetch_check_url(req->url, &j->fetch, NULL, v);
                if (r < 0)
                        goto fail;
        }
        if (req->source == INSTALL_SOURCE_BASE64 && !req->bundle_b64) {
                r = verdict_set(v, -EBADMSG, REASON_ARCHIVE_INVALID, "invalid base64 bundle");
                goto fail;
        }

        j->host = h;
        j->policy = host_policy_ref(h);
        j->cb = cb;
        j->userdata = userdata;
        j->source = req->source;
        j->format = req->format;
        j->load = req->load;
        j->replace = req->replace;
        j->allow_downgrade = req->allow_downgrade;
        j->rule = host_owner_rule(h, ROOT_STORE);
        j->max_archive = c->max_archive_size;
        j->limits = install_archive_limits(c);
        if ((req->bundle_b64 && req->source == INSTALL_SOURCE_BASE64 && !(j->bundle_b64 = strdup(req->bundle_b64))) ||
            (req->url && !(j->url = strdup(req->url))) ||
            ((req->name_hint || req->url) && !(j->name_hint = strdup(req->name_hint ? req->name_hint : req->url))) ||
            (req->plugin_id && !(j->plugin_id = strdup(req->plugin_id))) ||
            (req->caller && !(j->caller = strdup(req->caller))) || !(j->store_path = strdup(host_roots(h)[store])) ||
            (c->state_dir && !(j->state_dir = strdup(c->state_dir)))) {
                r = -ENOMEM;
                goto fail;
        }
        j->job.serial_key = &install_serial_key;
        j->job.run = install_run;
        j->job.complete = install_complete;
        r = worker_pool_submit(host_pool(h), &j->job);
        if (r < 0) {
                r = verdict_set(v, r, REASON_NONE, "too many operations queued");
                goto fail;
        }
        return 0;
fail:
        install_job_free(j);
        return r;
}

static int manifest_string(struct json_object *m, const char *key, const char **ret, Verdict *v) {
        struct json_object *x;
        *ret = NULL;
        if (!json_object_object_get_ex(m, key, &x) || json_object_is_type(x, json_type_null))
                return 0;
        if (!json_object_is_type(x, json_type_string))
                return verdict_set(v, -EINVAL, REASON_MANIFEST_INVALID, "manifest %s must be a string", key);
        *ret = json_object_get_string(x);
        return 0;
}

static int manifest_bool(struct json_object *m, const char *key, bool *ret, Verdict *v) {
        struct json_object *x;
        if (!json_object_object_get_ex(m, key, &x) || json_object_is_type(x, json_type_null))
                return 0;
        if (!json_object_is_type(x, json_type_boolean))
                return verdict_set(v, -EINVAL, REASON_MANIFEST_INVALID, "manifest %s must be a boolean", key);
        *ret = json_object_get_boolean(x);
        return 0;
}

int install_request_from_manifest(struct json_object *m, InstallRequest *req, Verdict *v) {
        const char *type, *format;
        int r;

        if (!json_object_is_type(m, json_type_object))
                return verdict_set(v, -EINVAL, REASON_MANIFEST_INVALID, "manifest must be an object");
        if ((r = manifest_string(m, "type", &type, v)) < 0)
                return r;
        if (type && streq(type, "docker"))
                return verdict_set(v, -EOPNOTSUPP, REASON_RUNTIME_UNSUPPORTED,
                                   "Docker manifests are not supported: this host runs C plugins and isolates them "
                                   "in sandboxed worker processes (deploy_sidecar)");
        /* "python" is upstream's name for an archive's metadata (the plugin
         * itself must still be a C plugin); "c" says what it is. */
        if (type && !streq(type, "python") && !streq(type, "c"))
                return verdict_set(v, -EOPNOTSUPP, REASON_RUNTIME_UNSUPPORTED, "unsupported manifest type: %s", type);
        if ((r = manifest_bool(m, "replace", &req->replace, v)) < 0 ||
            (r = manifest_bool(m, "allow_downgrade", &req->allow_downgrade, v)) < 0)
                return r;
        if ((r = manifest_string(m, "bundle_b64", &req->bundle_b64, v)) < 0 ||
            (r = manifest_string(m, "url", &req->url, v)) < 0 ||
            (r = manifest_string(m, "id", &req->plugin_id, v)) < 0 ||
            (r = manifest_string(m, "digest", &req->digest, v)) < 0 ||
            (r = manifest_string(m, "format", &format, v)) < 0)
                return r;
        if (req->bundle_b64)
                req->source = INSTALL_SOURCE_BASE64; /* preferred over url, as upstream */
        else if (req->url)
                req->source = INSTALL_SOURCE_URL;
        else
                return verdict_set(v, -EINVAL, REASON_MANIFEST_INVALID, "%s manifest requires bundle_b64 or url",
                                   type ? type : "python");
        if (req->source == INSTALL_SOURCE_BASE64)
                req->url = NULL;
        req->fd = -1;
        /* Upstream treats an unknown format as "auto". */
        if (package_format_from_string(format, &req->format) < 0)
                req->format = PACKAGE_FORMAT_AUTO;
        return 0;
}

typedef struct RemoveCtx {
        char *id;
        host_done_cb cb;
        void *userdata;
} RemoveCtx;

static int remove_files(Host *h, const char *id) {
        _cleanup_close_ int store_fd = -1, staging_fd = -1, job_fd = -1;
        _cleanup_free_ char *job = NULL, *flat = NULL;
        OwnerRule rule = host_owner_rule(h, ROOT_STORE);
        int store = host_store_index(h);
        const char *path = host_roots(h)[store];
        const char *name = id;
        struct stat st;
        Verdict v = {};
        int r;

        store_fd = store_open(path, &rule, false, &v);
        if (store_fd >= 0)
                staging_fd = store_open_staging(store_fd, path, &v);
        verdict_clear(&v);
        if (store_fd < 0 || staging_fd < 0)
                return store_fd < 0 ? store_fd : staging_fd;
        if (fstatat(store_fd, id, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (asprintf(&flat, "%s.so", id) < 0)
                        return -ENOMEM;
                name = flat;
        }
        job_fd = store_make_job_dir(staging_fd, "remove", &job);
        if (job_fd < 0)
                return job_fd;
        /* One rename takes it out of the store; the rest is cleanup. */
        r = renameat(store_fd, name, job_fd, name) < 0 ? -errno : 0;
        job_fd = safe_close(job_fd);
        (void) rm_rf_at(staging_fd, job);
        return r;
}

static void remove_now(Host *h, RemoveCtx *ctx, int error) {
        if (error >= 0)
                error = remove_files(h, ctx->id);
        if (error >= 0) {
                (void) host_set_disabled(h, ctx->id, false);
                (void) host_refresh(h, ctx->id);
                log_struct(LOG_INFO, 0, DC_MESSAGE_PLUGIN_REMOVED,
                           LOG_FIELDS(LF("PLUGIN_ID", ctx->id), LF("DC_OPERATION", "remove")), "Removed plugin %s",
                           ctx->id);
        } else
                log_struct(LOG_WARNING, error, NULL, LOG_FIELDS(LF("PLUGIN_ID", ctx->id), LF("DC_OPERATION", "remove")),
                           "Failed to remove plugin %s: %s", ctx->id, strerror(-error));
        ctx->cb(h, error, ctx->userdata);
        free(ctx->id);
        free(ctx);
}

static void remove_after_unload(Host *h, int error, void *userdata) {
        remove_now(h, userdata, error);
}

int host_remove(Host *h, const char *id, host_done_cb cb, void *userdata, Verdict *v) {
        PluginRecord *rec;
        RemoveCtx *ctx;
        int store, idx, r;

        assert(h && cb);
        if (!id || !plugin_id_is_valid(id))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid plugin id");
        store = host_store_index(h);
        idx = host_locate_root(h, id);
        if (idx == -ENOENT)
                return verdict_set(v, -ENOENT, REASON_NOT_FOUND, "No plugin '%s'", id);
        if (idx < 0)
                return verdict_set(v, idx, REASON_NONE, "cannot read the plugin directories: %s", strerror(-idx));
        if (idx != store)
                return verdict_set(v, -EROFS, REASON_READ_ONLY, "Plugin '%s' is in a read-only plugin directory (%s)",
                                   id, host_roots(h)[idx]);
        rec = host_find(h, id);
        if (rec && rec->draining)
                return verdict_set(v, -EBUSY, REASON_NONE, "an operation on plugin '%s' is in progress", id);
        ctx = calloc(1, sizeof *ctx);
        if (!ctx || !(ctx->id = strdup(id))) {
                free(ctx);
                return -ENOMEM;
        }
        ctx->cb = cb;
        ctx->userdata = userdata;
        if (rec && rec->plugin) {
                r = host_unload(h, id, remove_after_unload, ctx);
                if (r < 0) {
                        free(ctx->id);
                        free(ctx);
                }
                return r;
        }
        remove_now(h, ctx, 0);
        return 0;
}
