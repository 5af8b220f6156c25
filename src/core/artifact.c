/* SPDX-License-Identifier: MIT */
#include "artifact.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "base64.h"
#include "digest.h"
#include "extract.h"
#include "install.h"
#include "fs-check.h"
#include "image.h"
#include "json-util.h"
#include "log.h"
#include "manifest.h"
#include "pack.h"
#include "plugin-id.h"
#include "rm-rf.h"
#include "store.h"
#include "worker-pool.h"

#define RECORD_FILE "artifact.json"
#define RECORD_MAX  (64u * 1024u)

void artifact_record_done(ArtifactRecord *r) {
        free(r->plugin_id);
        free(r->filename);
        free(r->digest);
        free(r->version);
        free(r->created_at);
        free(r->path);
        *r = (ArtifactRecord){};
}

bool artifact_version_is_valid(const char *v) {
        size_t n = v ? strlen(v) : 0;
        if (n == 0 || n > 64 || strstr(v, ".."))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = v[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '+' && c != '-')))
                        return false;
        }
        return true;
}

bool artifact_filename_is_valid(const char *f) {
        if (!f || !endswith(f, ".tgz"))
                return false;
        _cleanup_free_ char *version = strndup(f, strlen(f) - 4);
        return version && artifact_version_is_valid(version);
}

struct json_object *artifact_record_to_json(const ArtifactRecord *r) {
        struct json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "plugin_id", json_object_new_string(r->plugin_id));
        json_object_object_add(o, "filename", json_object_new_string(r->filename));
        json_object_object_add(o, "digest", json_object_new_string(r->digest));
        json_object_object_add(o, "size", json_object_new_int64((int64_t) r->size));
        json_object_object_add(o, "version", r->version ? json_object_new_string(r->version) : NULL);
        json_object_object_add(o, "created_at", r->created_at ? json_object_new_string(r->created_at) : NULL);
        return o;
}

static int open_dir_at(int dirfd, const char *name, bool create) {
        if (create && mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Write data as dirfd/name atomically (temporary file, then rename). */
static int write_atomic(int dirfd, const char *name, int src_fd, const char *text) {
        char tmp[64];
        uint64_t rnd;
        int r = 0;

        if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                return -EIO;
        snprintf(tmp, sizeof tmp, ".tmp-%016" PRIx64, rnd);
        _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (text) {
                size_t n = strlen(text);
                r = write(fd, text, n) == (ssize_t) n ? 0 : -EIO;
        } else {
                uint8_t buf[64 * 1024];
                off_t off = 0;
                for (ssize_t k; r == 0 && (k = pread(src_fd, buf, sizeof buf, off)) != 0; off += k)
                        r = k < 0 || write(fd, buf, (size_t) k) != k ? -EIO : 0;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dirfd, tmp, 0);
        return r;
}

static char *now_isoformat(void) {
        struct timespec ts;
        struct tm tm;
        char buf[64], *ret;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        return asprintf(&ret, "%s.%06ld+00:00", buf, ts.tv_nsec / 1000) < 0 ? NULL : ret;
}

/* Archives in the store and their bytes, skipping name (about to be replaced). */
static int store_usage(int dfd, const char *skip_id, const char *skip_file, uint64_t *ret_bytes, unsigned *ret_files) {
        _cleanup_close_ int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
        if (!d)
                return -errno;
        dup = -1;
        *ret_bytes = 0;
        *ret_files = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.' || !plugin_id_is_valid(de->d_name))
                        continue;
                _cleanup_close_ int pfd = open_dir_at(dirfd(d), de->d_name, false);
                int pdup = pfd >= 0 ? fcntl(pfd, F_DUPFD_CLOEXEC, 3) : -1;
                DIR *pd = pdup >= 0 ? fdopendir(pdup) : NULL;
                if (!pd) {
                        safe_close(pdup);
                        continue;
                }
                for (struct dirent *fe; (fe = readdir(pd));) {
                        struct stat st;
                        if (!artifact_filename_is_valid(fe->d_name) ||
                            (streq(de->d_name, skip_id) && streq(fe->d_name, skip_file)) ||
                            fstatat(pfd, fe->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        *ret_bytes += (uint64_t) st.st_size;
                        (*ret_files)++;
                }
                closedir(pd);
        }
        closedir(d);
        return 0;
}

int artifact_store(const char *artifact_dir, const char *id, const char *version, int fd, const ArtifactQuota *quota,
                   ArtifactRecord *ret, Verdict *v) {
        uint8_t sha[SHA256_DIGEST_SIZE];
        char digest[DIGEST_STRING_MAX], sha12[13];
        _cleanup_close_ int dfd = -1, pfd = -1;
        ArtifactRecord rec = {};
        struct stat st;
        int r;

        if (!plugin_id_is_valid(id))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid plugin id");
        if (version && !artifact_version_is_valid(version))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid version: %s", version);
        if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        r = sha256_fd(fd, sha);
        if (r < 0)
                return verdict_set(v, r, REASON_READ_FAILED, "cannot read the archive: %s", strerror(-r));
        digest_format(sha, digest);
        memcpy(sha12, digest + 7, 12);
        sha12[12] = 0;

        dfd = open(artifact_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0 && errno == ENOENT && mkdir(artifact_dir, 0755) == 0)
                dfd = open(artifact_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return verdict_set(v, errno == EROFS ? -EROFS : -errno, errno == EROFS ? REASON_READ_ONLY : REASON_NONE,
                                   "cannot open the artifact directory %s: %m", artifact_dir);
        pfd = open_dir_at(dfd, id, true);
        if (pfd < 0)
                return verdict_set(v, pfd, REASON_NONE, "cannot create %s/%s: %s", artifact_dir, id, strerror(-pfd));

        /* Another archive under this name: the same bytes are a no-op,
         * other bytes replace it only when allowed. */
        _cleanup_free_ char *name = NULL;
        if (asprintf(&name, "%s.tgz", version ? version : sha12) < 0)
                return -ENOMEM;
        _cleanup_close_ int old = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (old >= 0) {
                uint8_t old_sha[SHA256_DIGEST_SIZE];
                struct stat ost;
                if (fstat(old, &ost) < 0 || !S_ISREG(ost.st_mode) || sha256_fd(old, old_sha) < 0 ||
                    (!digest_equal(old_sha, sha) && !quota->may_replace))
                        return verdict_set(v, -EEXIST, REASON_ALREADY_EXISTS,
                                           "artifact %s/%s exists with other content: publish a new version", id, name);
        }
        uint64_t used = 0;
        unsigned files = 0;
        r = store_usage(dfd, id, name, &used, &files);
        if (r < 0)
                return verdict_set(v, r, REASON_READ_FAILED, "cannot read the artifact directory: %s", strerror(-r));
        if (used + (uint64_t) st.st_size > quota->max_bytes || files + 1 > quota->max_files)
                return verdict_set(v, -ENOSPC, REASON_LIMIT_EXCEEDED,
                                   "the artifact store is full: %u archives, %" PRIu64 " bytes (at most %u, %" PRIu64 ")",
                                   files, used, quota->max_files, quota->max_bytes);

        rec.plugin_id = strdup(id);
        rec.version = version ? strdup(version) : NULL;
        rec.digest = strdup(digest);
        rec.size = (uint64_t) st.st_size;
        rec.created_at = now_isoformat();
        if (!rec.plugin_id || (version && !rec.version) || !rec.digest || !rec.created_at ||
            asprintf(&rec.filename, "%s.tgz", version ? version : sha12) < 0 ||
            asprintf(&rec.path, "%s/%s/%s", artifact_dir, id, rec.filename) < 0) {
                artifact_record_done(&rec);
                return -ENOMEM;
        }
        r = write_atomic(pfd, rec.filename, fd, NULL);
        if (r >= 0) {
                _cleanup_json_ struct json_object *o = artifact_record_to_json(&rec);
                const char *text =
                        o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                      JSON_C_TO_STRING_NOSLASHESCAPE)
                          : NULL;
                r = text ? write_atomic(pfd, RECORD_FILE, -1, text) : -ENOMEM;
        }
        if (r < 0) {
                artifact_record_done(&rec);
                return verdict_set(v, r, r == -EROFS ? REASON_READ_ONLY : REASON_NONE, "cannot write the artifact: %s",
                                   strerror(-r));
        }
        *ret = rec;
        return 0;
}


/* Read <id>/artifact.json; the file name it names must be valid and present. */
static int read_record(const char *artifact_dir, int dfd, const char *id, ArtifactRecord *ret) {
        _cleanup_close_ int pfd = open_dir_at(dfd, id, false);
        _cleanup_free_ char *text = NULL;
        struct json_object *o = NULL, *x;
        ArtifactRecord rec = {};
        struct stat st;
        size_t len;
        int r;

        if (pfd < 0)
                return pfd;
        _cleanup_close_ int fd = openat(pfd, RECORD_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = read_fd_full(fd, RECORD_MAX, &text, &len);
        if (r < 0)
                return r;
        if (json_parse_strict(text, len, &o, NULL) < 0 || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        rec.plugin_id = strdup(id);
        rec.filename = json_dup_string(o, "filename");
        rec.digest = json_dup_string(o, "digest");
        rec.version = json_dup_string(o, "version");
        rec.created_at = json_dup_string(o, "created_at");
        if (json_object_object_get_ex(o, "size", &x))
                rec.size = (uint64_t) json_object_get_int64(x);
        json_object_put(o);
        r = 0;
        if (!rec.plugin_id || !rec.filename || !rec.digest)
                r = -EBADMSG;
        else if (!artifact_filename_is_valid(rec.filename)) /* one we would have written */
                r = -EBADMSG;
        else if (fstatat(pfd, rec.filename, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                r = -ENOENT;
        else if (asprintf(&rec.path, "%s/%s/%s", artifact_dir, id, rec.filename) < 0)
                r = -ENOMEM;
        if (r < 0) {
                artifact_record_done(&rec);
                return r;
        }
        *ret = rec;
        return 0;
}

int artifact_list(const char *artifact_dir, ArtifactRecord **ret, size_t *ret_n) {
        _cleanup_close_ int dfd = open(artifact_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ArtifactRecord *l = NULL;
        size_t n = 0;

        *ret = NULL;
        *ret_n = 0;
        if (dfd < 0)
                return errno == ENOENT ? 0 : -errno;
        struct dirent **names = NULL;
        int k = scandirat(dfd, ".", &names, NULL, alphasort);
        if (k < 0)
                return -errno;
        for (int i = 0; i < k; i++) {
                ArtifactRecord rec;
                if (plugin_id_is_valid(names[i]->d_name) &&
                    read_record(artifact_dir, dfd, names[i]->d_name, &rec) >= 0) {
                        ArtifactRecord *nl = realloc(l, (n + 1) * sizeof *l);
                        if (!nl) {
                                artifact_record_done(&rec);
                                break;
                        }
                        l = nl;
                        l[n++] = rec;
                }
                free(names[i]);
        }
        free(names);
        *ret = l;
        *ret_n = n;
        return 0;
}

int artifact_find(const char *artifact_dir, const char *id, const char *version, ArtifactRecord *ret, Verdict *v) {
        _cleanup_close_ int dfd = -1;
        ArtifactRecord rec = {};
        int r;

        if (!plugin_id_is_valid(id))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid plugin id");
        if (version && !artifact_version_is_valid(version))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid version: %s", version);
        dfd = open(artifact_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = dfd < 0 ? -ENOENT : read_record(artifact_dir, dfd, id, &rec);
        if (r >= 0 && version && !streq_ptr(rec.version, version)) {
                /* an older publish of that version: describe it from the file */
                _cleanup_close_ int fd = -1;
                struct stat st;
                uint8_t sha[SHA256_DIGEST_SIZE];
                char digest[DIGEST_STRING_MAX];
                artifact_record_done(&rec);
                rec.plugin_id = strdup(id);
                rec.version = strdup(version);
                if (!rec.plugin_id || !rec.version || asprintf(&rec.filename, "%s.tgz", version) < 0 ||
                    asprintf(&rec.path, "%s/%s/%s", artifact_dir, id, rec.filename) < 0)
                        r = -ENOMEM;
                else if ((fd = open(rec.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 ||
                         !S_ISREG(st.st_mode))
                        r = -ENOENT;
                else if ((r = sha256_fd(fd, sha)) >= 0) {
                        digest_format(sha, digest);
                        rec.size = (uint64_t) st.st_size;
                        r = (rec.digest = strdup(digest)) ? 0 : -ENOMEM;
                }
        }
        if (r < 0) {
                artifact_record_done(&rec);
                return r == -ENOMEM ? r : verdict_set(v, -ENOENT, REASON_NOT_FOUND, "artifact not found for %s", id);
        }
        *ret = rec;
        return 0;
}

char *host_artifact_dir(Host *h) {
        const HostConfig *c = host_config(h);
        char *p = NULL;
        if (c->artifact_dir)
                return strdup(c->artifact_dir);
        return asprintf(&p, "%s/artifacts", c->state_dir ? c->state_dir : ".") < 0 ? NULL : p;
}

/* ---- the publish operation -------------------------------------------------- */

typedef struct PublishJob {
        Job job; /* first */
        Host *host;
        host_publish_cb cb;
        void *userdata;
        char *id, *version, *bundle_b64, *artifact_dir, *root, *store;
        char loaded_digest[DIGEST_STRING_MAX]; /* what was verified and runs */
        OwnerRule rule, store_rule;
        ArchiveLimits limits;
        ArtifactQuota quota;
        int error;
        Verdict verdict;
        ArtifactRecord rec;
} PublishJob;

static void publish_job_free(PublishJob *j) {
        free(j->id);
        free(j->version);
        free(j->bundle_b64);
        free(j->artifact_dir);
        free(j->root);
        free(j->store);
        verdict_clear(&j->verdict);
        artifact_record_done(&j->rec);
        free(j);
}

/* A bundle is published under the id its manifest names, never another
 * plugin's: extracted (under the install caps) into staging to read it. */
static int check_bundle_id(PublishJob *j, int memfd, uint64_t size) {
        Verdict *v = &j->verdict;
        _cleanup_close_ int store_fd = -1, staging_fd = -1, job_fd = -1, pfd = -1;
        _cleanup_free_ char *job = NULL, *top = NULL, *mid = NULL;
        uint8_t head[4] = {};
        int r;

        if (!j->store)
                return verdict_set(v, -EROFS, REASON_READ_ONLY, "no plugin store to check the bundle in");
        store_fd = store_open(j->store, &j->store_rule, true, v);
        if (store_fd < 0)
                return store_fd;
        staging_fd = store_open_staging(store_fd, j->store, v);
        if (staging_fd < 0)
                return staging_fd;
        job_fd = store_make_job_dir(staging_fd, "publish", &job);
        if (job_fd < 0)
                return verdict_set(v, job_fd, REASON_NONE, "cannot create a staging directory: %s", strerror(-job_fd));
        if (pread(memfd, head, sizeof head, 0) < 0)
                r = -errno;
        else
                r = archive_extract(memfd, size, package_format_detect(PACKAGE_FORMAT_AUTO, NULL, head, sizeof head),
                                    job_fd, &j->limits, v);
        if (r >= 0)
                r = install_find_plugin_dir(job_fd, &top, v);
        if (r >= 0) {
                pfd = top ? openat(job_fd, top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                          : fcntl(job_fd, F_DUPFD_CLOEXEC, 3);
                mid = pfd >= 0 ? manifest_read_string(pfd, &j->store_rule, "id") : NULL;
                if (!mid)
                        r = verdict_set(v, -EBADMSG, REASON_MANIFEST_INVALID, "the bundle's manifest.json names no id");
                else if (!streq(mid, j->id))
                        r = verdict_set(v, -EPERM, REASON_ID_MISMATCH,
                                        "the bundle's manifest names plugin '%s', not '%s'", mid, j->id);
        }
        job_fd = safe_close(job_fd);
        (void) rm_rf_at(staging_fd, job);
        return r;
}

static int publish(PublishJob *j) {
        Verdict *v = &j->verdict;
        _cleanup_close_ int memfd = memfd_create("dc-plugin-artifact", MFD_CLOEXEC);
        _cleanup_free_ char *mver = NULL;
        int r;

        if (memfd < 0)
                return -errno;
        if (j->bundle_b64) {
                size_t len = strlen(j->bundle_b64);
                _cleanup_free_ uint8_t *buf = NULL;
                long n = base64_decode_alloc(j->bundle_b64, len, &buf);
                if (n == -ENOMEM)
                        return -ENOMEM;
                if (n < 0)
                        return verdict_set(v, -EBADMSG, REASON_ARCHIVE_INVALID, "invalid base64 bundle");
                if (write(memfd, buf, (size_t) n) != n)
                        return -EIO;
                r = check_bundle_id(j, memfd, (uint64_t) n);
                if (r < 0)
                        return r;
        } else {
                _cleanup_free_ char *inner = NULL, *so = NULL, *sig = NULL;
                _cleanup_close_ int rootfd = root_open_checked(j->root, &j->rule, &inner);
                if (rootfd < 0)
                        return verdict_set(v, rootfd, REASON_INSECURE_DIRECTORY, "cannot open %s: %s", j->root,
                                           inner ? inner : strerror(-rootfd));
                _cleanup_close_ int pfd = openat(rootfd, j->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (pfd < 0)
                        return verdict_set(v, -errno, REASON_READ_FAILED, "cannot open %s/%s: %m", j->root, j->id);
                if (asprintf(&so, "%s.so", j->id) < 0 || asprintf(&sig, "%s.so.minisig", j->id) < 0)
                        return -ENOMEM;
                /* Exactly the code that was verified and runs: a .so that
                 * changed since the load is not published (pack_files()
                 * compares what it packs). */
                const char *files[] = { "manifest.json", so, sig, NULL };
                r = pack_files(rootfd, j->id, files, so, j->loaded_digest, memfd, v);
                if (r < 0)
                        return r;
                if (!j->version && (mver = manifest_read_string(pfd, &j->rule, "version")) &&
                    !artifact_version_is_valid(mver))
                        mver = (free(mver), NULL); /* unusable as a file name: fall back to the digest */
        }
        return artifact_store(j->artifact_dir, j->id, j->version ? j->version : mver, memfd, &j->quota, &j->rec, v);
}

static void publish_run(Job *job) {
        PublishJob *j = (PublishJob *) job;
        j->error = publish(j);
        if (j->error < 0 && !j->verdict.message)
                (void) verdict_set(&j->verdict, j->error, REASON_NONE, "publish failed: %s", strerror(-j->error));
}

static void publish_complete(Job *job) {
        PublishJob *j = (PublishJob *) job;
        if (!job->ran)
                j->error = verdict_set(&j->verdict, -ESHUTDOWN, REASON_NONE, "the plugin host is shutting down");
        if (j->error >= 0)
                log_struct(LOG_INFO, 0, NULL,
                           LOG_FIELDS(LF("PLUGIN_ID", j->id), LF("DC_OPERATION", "publish"),
                                      LF("DC_ARTIFACT", j->rec.path), LF("DC_ARCHIVE_DIGEST", j->rec.digest)),
                           "Published plugin %s as %s", j->id, j->rec.filename);
        j->cb(j->host, j->error, &j->verdict, j->error >= 0 ? &j->rec : NULL, j->userdata);
        publish_job_free(j);
}

int host_publish_artifact(Host *h, const char *id, const char *version, const char *bundle_b64, host_publish_cb cb,
                          void *userdata, Verdict *v) {
        const HostConfig *c = host_config(h);
        const PluginRecord *rec = NULL;
        PublishJob *j;
        int idx = -1, store = host_store_index(h), r;

        if (!id)
                return verdict_set(v, -EINVAL, REASON_INVALID_ID,
                                   bundle_b64 ? "plugin_id required with bundle_b64"
                                              : "plugin_id or bundle_b64 required");
        if (!plugin_id_is_valid(id))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid plugin id");
        if (version && !artifact_version_is_valid(version))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid version: %s", version);
        if (!bundle_b64) {
                /* Only what passed the trust policy and runs here, never any folder on disk. */
                rec = host_find(h, id);
                if (!rec || !rec->plugin)
                        return verdict_set(v, rec ? -ESRCH : -ENOENT, rec ? REASON_NOT_LOADED : REASON_NOT_FOUND,
                                           "only loaded plugins are published: '%s' is %s", id,
                                           rec ? "not loaded" : "unknown");
                if (rec->layout != LAYOUT_FOLDER)
                        return verdict_set(v, -EOPNOTSUPP, REASON_NOT_SUPPORTED,
                                           "'%s' is a flat plugin (%s.so without a folder): it cannot be published", id, id);
                idx = host_locate_root(h, id);
                if (idx < 0)
                        return verdict_set(v, -ENOENT, REASON_NOT_FOUND, "plugin not found: %s", id);
        }
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->host = h;
        j->cb = cb;
        j->userdata = userdata;
        j->id = strdup(id);
        j->version = version ? strdup(version) : NULL;
        j->bundle_b64 = bundle_b64 ? strdup(bundle_b64) : NULL;
        j->artifact_dir = host_artifact_dir(h);
        j->root = idx >= 0 ? strdup(host_roots(h)[idx]) : NULL;
        j->store = store >= 0 ? strdup(host_roots(h)[store]) : NULL;
        if (rec)
                snprintf(j->loaded_digest, sizeof j->loaded_digest, "%s", rec->digest);
        j->rule = host_owner_rule(h, idx >= 0 && idx == store ? ROOT_STORE : ROOT_READONLY);
        j->store_rule = host_owner_rule(h, ROOT_STORE);
        j->limits = install_archive_limits(c);
        j->quota = (ArtifactQuota){ .max_bytes = c->artifact_max_bytes, .max_files = c->artifact_max_files,
                                    .may_replace = !bundle_b64 };
        if (!j->id || (version && !j->version) || (bundle_b64 && !j->bundle_b64) || !j->artifact_dir ||
            (idx >= 0 && !j->root) || (store >= 0 && !j->store)) {
                publish_job_free(j);
                return -ENOMEM;
        }
        j->job.run = publish_run;
        j->job.complete = publish_complete;
        r = worker_pool_submit(host_pool(h), &j->job);
        if (r < 0) {
                publish_job_free(j);
                return verdict_set(v, r, REASON_NONE, "too many operations queued");
        }
        return 0;
}
