/* SPDX-License-Identifier: MIT */
#include "pack.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "digest.h"
#include "dlopen-archive.h"
#include "extract.h"
#include "macro.h"
#include "strv.h"

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int add_entry(struct archive *a, const char *path, const struct stat *st, Verdict *v) {
        struct archive_entry *e = sym_archive_entry_new();
        if (!e)
                return -ENOMEM;
        sym_archive_entry_set_pathname(e, path);
        sym_archive_entry_set_filetype(e, S_ISDIR(st->st_mode) ? AE_IFDIR : AE_IFREG);
        sym_archive_entry_set_perm(e, S_ISDIR(st->st_mode) || (st->st_mode & 0111) ? 0755 : 0644);
        sym_archive_entry_set_size(e, S_ISDIR(st->st_mode) ? 0 : st->st_size);
        sym_archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
        sym_archive_entry_set_uid(e, 0);
        sym_archive_entry_set_gid(e, 0);
        sym_archive_entry_set_uname(e, "root");
        sym_archive_entry_set_gname(e, "root");
        int r = sym_archive_write_header(a, e);
        sym_archive_entry_free(e);
        if (r != ARCHIVE_OK)
                return verdict_set(v, -EIO, REASON_READ_FAILED, "cannot pack %s: %s", path, sym_archive_error_string(a));
        return 0;
}

static int pack_dir(struct archive *a, int dirfd, const char *prefix, unsigned depth, Verdict *v) {
        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));
        _cleanup_free_ uint8_t *buf = NULL;
        int dup, r;

        if (depth > ARCHIVE_DEPTH_MAX)
                return verdict_set(v, -ELOOP, REASON_ARCHIVE_LIMIT_EXCEEDED, "%s is nested too deeply", prefix);
        dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
        if (!d || !names) {
                safe_close(dup);
                return -ENOMEM;
        }
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && strv_extend(&names, de->d_name) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
        closedir(d);
        qsort(names, strv_length(names), sizeof(char *), cmp_str);

        for (char **n = names; *n; n++) {
                _cleanup_free_ char *path = NULL;
                struct stat st;
                if (asprintf(&path, "%s/%s", prefix, *n) < 0)
                        return -ENOMEM;
                if (fstatat(dirfd, *n, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return verdict_set(v, -errno, REASON_READ_FAILED, "cannot read %s: %m", path);
                if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                        return verdict_set(v, -EBADMSG,
                                           S_ISLNK(st.st_mode) ? REASON_ARCHIVE_LINK : REASON_ARCHIVE_SPECIAL_FILE,
                                           "%s is not a regular file or directory", path);
                int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
                _cleanup_close_ int fd = openat(dirfd, *n, flags);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return verdict_set(v, -errno, REASON_READ_FAILED, "cannot open %s: %m", path);
                r = add_entry(a, path, &st, v);
                if (r < 0)
                        return r;
                if (S_ISDIR(st.st_mode)) {
                        r = pack_dir(a, fd, path, depth + 1, v);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!buf && !(buf = malloc(128 * 1024)))
                        return -ENOMEM;
                /* Exactly the size announced in the header, even if the file changes. */
                for (off_t left = st.st_size; left > 0;) {
                        ssize_t k = read(fd, buf, (size_t) (left < 128 * 1024 ? left : 128 * 1024));
                        if (k <= 0)
                                return verdict_set(v, k < 0 ? -errno : -EIO, REASON_READ_FAILED, "cannot read %s",
                                                   path);
                        if (sym_archive_write_data(a, buf, (size_t) k) != k)
                                return verdict_set(v, -EIO, REASON_READ_FAILED, "cannot pack %s: %s", path,
                                                   sym_archive_error_string(a));
                        left -= k;
                }
        }
        return 0;
}

/* An open .tar.gz writer on out_fd in *ret, or an error and nothing to free. */
static int writer_start(const char *name, int out_fd, struct archive **ret, Verdict *v) {
        struct archive *a;
        int r = dlopen_libarchive();

        if (r < 0)
                return verdict_set(v, r, REASON_READ_FAILED, "cannot pack %s: libarchive is not available", name);
        a = sym_archive_write_new();
        if (!a)
                return -ENOMEM;
        if (sym_archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
            sym_archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            sym_archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
                r = verdict_set(v, -EIO, REASON_READ_FAILED, "cannot start the archive: %s", sym_archive_error_string(a));
                sym_archive_write_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

int pack_directory(int dirfd, const char *name, int out_fd, Verdict *v) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct archive *a;
        struct stat st;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0)
                return verdict_set(v, -errno, REASON_READ_FAILED, "cannot open %s: %m", name);
        r = writer_start(name, out_fd, &a, v);
        if (r < 0)
                return r;
        r = add_entry(a, name, &st, v);
        if (r >= 0)
                r = pack_dir(a, fd, name, 1, v);
        if (sym_archive_write_close(a) != ARCHIVE_OK && r >= 0)
                r = verdict_set(v, -EIO, REASON_READ_FAILED, "cannot finish the archive: %s", sym_archive_error_string(a));
        sym_archive_write_free(a);
        return r;
}

int pack_files(int dirfd, const char *name, const char *const *files, const char *check_file, const char *check_digest,
               int out_fd, Verdict *v) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ uint8_t *buf = NULL;
        struct archive *a;
        struct stat st;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0)
                return verdict_set(v, -errno, REASON_READ_FAILED, "cannot open %s: %m", name);
        r = writer_start(name, out_fd, &a, v);
        if (r < 0)
                return r;
        r = add_entry(a, name, &st, v);
        for (const char *const *f = files; r >= 0 && *f; f++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int ffd = openat(fd, *f, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (ffd < 0 && errno == ENOENT)
                        continue; /* optional files (the signature) */
                if (asprintf(&path, "%s/%s", name, *f) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (ffd < 0 || fstat(ffd, &st) < 0 || !S_ISREG(st.st_mode)) {
                        r = verdict_set(v, ffd < 0 ? -errno : -EBADMSG, REASON_NOT_REGULAR_FILE,
                                        "cannot pack %s: not a readable regular file", path);
                        break;
                }
                r = add_entry(a, path, &st, v);
                if (r < 0)
                        break;
                if (!buf && !(buf = malloc(128 * 1024))) {
                        r = -ENOMEM;
                        break;
                }
                /* The checked file is hashed as it is packed: the archive holds
                 * exactly the bytes that were compared. */
                _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
                if (check_file && streq(*f, check_file) &&
                    (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)) {
                        r = -ENOMEM;
                        break;
                }
                for (off_t left = st.st_size; r >= 0 && left > 0;) {
                        ssize_t k = read(ffd, buf, (size_t) (left < 128 * 1024 ? left : 128 * 1024));
                        if (k <= 0)
                                r = verdict_set(v, k < 0 ? -errno : -EIO, REASON_READ_FAILED, "cannot read %s", path);
                        else if (sym_archive_write_data(a, buf, (size_t) k) != k)
                                r = verdict_set(v, -EIO, REASON_READ_FAILED, "cannot pack %s: %s", path,
                                                sym_archive_error_string(a));
                        else {
                                if (md && EVP_DigestUpdate(md, buf, (size_t) k) != 1)
                                        r = -ENOMEM;
                                left -= k;
                        }
                }
                if (r >= 0 && md) {
                        uint8_t sha[SHA256_DIGEST_SIZE];
                        char digest[DIGEST_STRING_MAX];
                        if (EVP_DigestFinal_ex(md, sha, NULL) != 1)
                                r = -ENOMEM;
                        else {
                                digest_format(sha, digest);
                                if (!streq(digest, check_digest))
                                        r = verdict_set(v, -ESTALE, REASON_DIGEST_MISMATCH,
                                                        "%s changed on disk since it was loaded: reload it before "
                                                        "publishing", *f);
                        }
                }
        }
        if (sym_archive_write_close(a) != ARCHIVE_OK && r >= 0)
                r = verdict_set(v, -EIO, REASON_READ_FAILED, "cannot finish the archive: %s", sym_archive_error_string(a));
        sym_archive_write_free(a);
        return r;
}
