/* SPDX-License-Identifier: MIT */
#include "extract.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlopen-archive.h"
#include "escape.h"
#include "macro.h"
#include "plugin-id.h"

static const char *const format_table[_PACKAGE_FORMAT_MAX] = {
        [PACKAGE_FORMAT_AUTO] = "auto",
        [PACKAGE_FORMAT_TAR_GZ] = "tar.gz",
        [PACKAGE_FORMAT_ZIP] = "zip",
};

int package_format_from_string(const char *s, PackageFormat *ret) {
        if (isempty(s) || streq(s, "auto"))
                *ret = PACKAGE_FORMAT_AUTO;
        else if (streq(s, "tar.gz") || streq(s, "tgz") || streq(s, "tar"))
                *ret = PACKAGE_FORMAT_TAR_GZ;
        else if (streq(s, "zip"))
                *ret = PACKAGE_FORMAT_ZIP;
        else
                return -EINVAL;
        return 0;
}

const char *package_format_to_string(PackageFormat f) {
        return f >= 0 && f < _PACKAGE_FORMAT_MAX ? format_table[f] : "auto";
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

PackageFormat package_format_detect(PackageFormat declared, const char *name_hint, const uint8_t *head, size_t n) {
        if (declared != PACKAGE_FORMAT_AUTO)
                return declared;
        if (name_hint) {
                /* A URL's query or fragment does not name the file. */
                _cleanup_free_ char *name = strndup(name_hint, strcspn(name_hint, "?#"));
                if (name && has_suffix(name, ".zip"))
                        return PACKAGE_FORMAT_ZIP;
                if (name && (has_suffix(name, ".tar.gz") || has_suffix(name, ".tgz") || has_suffix(name, ".tar")))
                        return PACKAGE_FORMAT_TAR_GZ;
        }
        if (n >= 4 && memcmp(head, "PK\3\4", 4) == 0)
                return PACKAGE_FORMAT_ZIP;
        return PACKAGE_FORMAT_TAR_GZ;
}

/* ---- names ------------------------------------------------------------------ */

/*
 * Normalise a member name into out: strip leading "./" and a trailing "/",
 * refuse absolute paths, "." and ".." components, backslashes, empty
 * components, non-UTF-8 and over-long names.  out = "" means "the archive
 * root itself" (an entry "./"), which is skipped.
 */
static int normalize_name(const char *raw, char out[static ARCHIVE_PATH_MAX + 1], unsigned *depth, Verdict *v) {
        size_t len;

        if (!raw || !*raw)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_BAD_NAME, "archive member without a name");
        len = strlen(raw);
        if (len > ARCHIVE_PATH_MAX)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_BAD_NAME, "member name longer than %u bytes in archive",
                                   ARCHIVE_PATH_MAX);
        if (!utf8_is_valid_text(raw, ARCHIVE_PATH_MAX))
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_BAD_NAME,
                                   "member name is not valid UTF-8 (or has control characters) in archive");
        /* raw passed utf8_is_valid_text(): no control characters left to escape */
        if (raw[0] == '/' || strchr(raw, '\\'))
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_UNSAFE_PATH, "unsafe path in archive: %s", raw);

        const char *p = raw;
        while (p[0] == '.' && p[1] == '/')
                for (p += 2; *p == '/'; p++)
                        ;
        if (streq(p, "."))
                p += 1;

        size_t o = 0;
        *depth = 0;
        while (*p) {
                size_t l = strcspn(p, "/");
                if (l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
                        return verdict_set(v, -EBADMSG, REASON_ARCHIVE_UNSAFE_PATH, "unsafe path in archive: %s", raw);
                if (l > ARCHIVE_NAME_MAX)
                        return verdict_set(v, -EBADMSG, REASON_ARCHIVE_BAD_NAME,
                                           "member name component longer than %u bytes in archive", ARCHIVE_NAME_MAX);
                if (o)
                        out[o++] = '/';
                memcpy(out + o, p, l);
                o += l;
                (*depth)++;
                p += l;
                if (*p == '/') {
                        p++;
                        if (!*p)
                                break; /* "dir/" */
                }
        }
        out[o] = 0;
        return 0;
}

/* ---- extraction -------------------------------------------------------------- */

typedef struct Extract {
        struct archive *a;
        int dirfd;
        const ArchiveLimits *limits;
        uint64_t archive_size;
        uint64_t extracted;
        unsigned members;
        void *seen; /* tsearch tree of normalised names */
        char cache_path[ARCHIVE_PATH_MAX + 1];
        int cache_fd; /* O_PATH fd of the parent directory cache_path */
        uint8_t *buf;
} Extract;

static int cmp_names(const void *a, const void *b) {
        return strcmp(a, b);
}

static int conflict(Verdict *v, const char *name) {
        return verdict_set(v, -EBADMSG, REASON_ARCHIVE_DUPLICATE_ENTRY, "conflicting entries in archive: %s", name);
}

/* The directory that holds `path` (created as needed), as an fd we do not own. */
static int parent_dir(Extract *x, const char *path, const char **ret_base, Verdict *v) {
        const char *slash = strrchr(path, '/');
        size_t plen;

        if (!slash) {
                *ret_base = path;
                return x->dirfd;
        }
        *ret_base = slash + 1;
        plen = (size_t) (slash - path);
        if (x->cache_fd >= 0 && strlen(x->cache_path) == plen && strncmp(x->cache_path, path, plen) == 0)
                return x->cache_fd;

        char comp[ARCHIVE_NAME_MAX + 1];
        int cur = -1;
        const char *p = path;
        while (p < slash) {
                size_t l = strcspn(p, "/");
                memcpy(comp, p, l);
                comp[l] = 0;
                int base = cur >= 0 ? cur : x->dirfd;
                if (mkdirat(base, comp, 0755) < 0 && errno != EEXIST) {
                        int e = -errno;
                        safe_close(cur);
                        return verdict_set(v, e, REASON_ARCHIVE_INVALID, "cannot create directory: %s", strerror(-e));
                }
                int fd = openat(base, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                safe_close(cur);
                if (fd < 0)
                        return errno == ENOTDIR || errno == ELOOP
                                       ? conflict(v, path)
                                       : verdict_set(v, -errno, REASON_ARCHIVE_INVALID, "cannot open directory: %m");
                cur = fd;
                p += l + 1;
        }
        safe_close(x->cache_fd);
        x->cache_fd = cur;
        memcpy(x->cache_path, path, plen);
        x->cache_path[plen] = 0;
        return cur;
}

/* libarchive's text may quote the archive: escaped before it reaches a log. */
static int invalid(Extract *x, Verdict *v, const char *what) {
        const char *e = sym_archive_error_string(x->a);
        _cleanup_free_ char *safe = escape_untrusted(e ? e : "unknown error", 512);
        return verdict_set(v, -EBADMSG, REASON_ARCHIVE_INVALID, "%s: %s", what, safe ? safe : "?");
}

/*
 * Charge n more bytes of one member against the caps.  Sizes are logical:
 * a sparse member (GNU tar --sparse, pax GNU.sparse.*) is charged for its
 * holes too, since it becomes a file of its full length and a plugin reads
 * it that way; otherwise an 8 KB archive declares terabytes of holes.
 */
static int charge(Extract *x, uint64_t n, Verdict *v) {
        const ArchiveLimits *l = x->limits;
        uint64_t total;

        if (__builtin_add_overflow(x->extracted, n, &total))
                total = UINT64_MAX;
        /* A bomb is named as one before the total cap speaks. */
        if (total > 1024 * 1024 && total / (x->archive_size ? x->archive_size : 1) > l->max_ratio)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LIMIT_EXCEEDED,
                                   "archive compression ratio exceeds %u:1 (decompression bomb?)", l->max_ratio);
        if (total > l->max_extracted)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LIMIT_EXCEEDED,
                                   "archive expands beyond the limit (%" PRIu64 " bytes)", l->max_extracted);
        x->extracted = total;
        return 0;
}

static int extract_file(Extract *x, struct archive_entry *e, const char *name, Verdict *v) {
        const ArchiveLimits *l = x->limits;
        const char *base;
        int parent, r;

        /* The declared (logical) size is charged before anything is written. */
        uint64_t charged = 0;
        if (sym_archive_entry_size_is_set(e)) {
                la_int64_t size = sym_archive_entry_size(e);
                if (size < 0 || (uint64_t) size > l->max_member)
                        return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LIMIT_EXCEEDED,
                                           "archive member %s exceeds the size limit (%" PRIu64 " bytes)", name,
                                           l->max_member);
                r = charge(x, (uint64_t) size, v);
                if (r < 0)
                        return r;
                charged = (uint64_t) size;
        }
        parent = parent_dir(x, name, &base, v);
        if (parent < 0)
                return parent;
        mode_t mode = (sym_archive_entry_perm(e) & 0111) ? 0755 : 0644;
        _cleanup_close_ int fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return errno == EEXIST ? conflict(v, name)
                                       : verdict_set(v, -errno, REASON_ARCHIVE_INVALID, "cannot create %s: %m", name);

        for (;;) {
                const void *buf;
                size_t n;
                la_int64_t off;

                r = sym_archive_read_data_block(x->a, &buf, &n, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK)
                        return invalid(x, v, "corrupt archive");
                if (off < 0 || (uint64_t) off > l->max_member || n > l->max_member - (uint64_t) off)
                        return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LIMIT_EXCEEDED,
                                           "archive member %s exceeds the size limit (%" PRIu64 " bytes)", name,
                                           l->max_member);
                /* Past what was charged (no declared size, or more data
                 * than declared): charge the new high-water mark, holes included. */
                uint64_t end = (uint64_t) off + n;
                if (end > charged) {
                        r = charge(x, end - charged, v);
                        if (r < 0)
                                return r;
                        charged = end;
                }
                for (size_t done = 0; done < n;) {
                        ssize_t k = pwrite(fd, (const uint8_t *) buf + done, n - done, off + (off_t) done);
                        if (k < 0)
                                return verdict_set(v, -errno, REASON_ARCHIVE_INVALID, "cannot write %s: %m", name);
                        done += (size_t) k;
                }
        }
        /* Sparse members end in a hole: give the file its full (charged) length. */
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size < charged && ftruncate(fd, (off_t) charged) < 0)
                return verdict_set(v, -errno, REASON_ARCHIVE_INVALID, "cannot write %s: %m", name);
        return 0;
}

static int extract_entry(Extract *x, struct archive_entry *e, Verdict *v) {
        const ArchiveLimits *l = x->limits;
        char name[ARCHIVE_PATH_MAX + 1];
        unsigned depth = 0;
        int r;

        if (++x->members > l->max_members)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LIMIT_EXCEEDED, "archive has more than %u members",
                                   l->max_members);
        r = normalize_name(sym_archive_entry_pathname(e), name, &depth, v);
        if (r < 0)
                return r;
        if (depth > l->max_depth)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LIMIT_EXCEEDED,
                                   "archive member %s is nested deeper than %u levels", name, l->max_depth);
        if (sym_archive_entry_hardlink(e))
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LINK, "hard link in archive: %s", name);
        mode_t type = sym_archive_entry_filetype(e);
        if (type == AE_IFLNK || sym_archive_entry_symlink(e))
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_LINK, "symbolic link in archive: %s", name);
        if (type != AE_IFREG && type != AE_IFDIR)
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_SPECIAL_FILE, "device, FIFO or socket in archive: %s",
                                   name);
        if (sym_archive_entry_is_encrypted(e))
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_INVALID, "encrypted member in archive: %s", name);
        if (!*name)
                return 0; /* "./" */

        char *key = strdup(name);
        if (!key)
                return -ENOMEM;
        char **found = tsearch(key, &x->seen, cmp_names);
        if (!found) {
                free(key);
                return -ENOMEM;
        }
        if (*found != key) {
                free(key);
                return verdict_set(v, -EBADMSG, REASON_ARCHIVE_DUPLICATE_ENTRY, "duplicate entry in archive: %s", name);
        }

        if (type == AE_IFREG)
                return extract_file(x, e, name, v);

        const char *base;
        int parent = parent_dir(x, name, &base, v);
        if (parent < 0)
                return parent;
        if (mkdirat(parent, base, 0755) < 0) {
                struct stat st;
                if (errno != EEXIST)
                        return verdict_set(v, -errno, REASON_ARCHIVE_INVALID, "cannot create directory %s: %m", name);
                /* Created implicitly by an earlier member: fine; a file: conflict. */
                if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                        return conflict(v, name);
        }
        return 0;
}

static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void) {
        utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
}

int archive_extract(int fd, uint64_t size, PackageFormat format, int dirfd, const ArchiveLimits *limits, Verdict *v) {
        Extract x = {.dirfd = dirfd, .limits = limits, .archive_size = size, .cache_fd = -1};
        struct archive_entry *e;
        locale_t old = (locale_t) 0;
        int r;

        assert(format != PACKAGE_FORMAT_AUTO);
        r = dlopen_libarchive();
        if (r < 0)
                return verdict_set(v, r, REASON_ARCHIVE_INVALID, "cannot read archives: libarchive is not available");
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        /* Member names are UTF-8: let libarchive convert to UTF-8, not to the
         * daemon's C locale (this thread only). */
        pthread_once(&utf8_once, utf8_locale_init);
        if (utf8_locale)
                old = uselocale(utf8_locale);

        x.a = sym_archive_read_new();
        if (!x.a) {
                r = -ENOMEM;
                goto finish;
        }
        if (format == PACKAGE_FORMAT_ZIP)
                /* The central directory is authoritative (no stream tricks). */
                r = sym_archive_read_support_format_zip_seekable(x.a);
        else {
                r = sym_archive_read_support_filter_gzip(x.a);
                if (r == ARCHIVE_OK)
                        r = sym_archive_read_support_format_tar(x.a);
        }
        if (r != ARCHIVE_OK) {
                r = -ENOMEM;
                goto finish;
        }
        if (sym_archive_read_open_fd(x.a, fd, 128 * 1024) != ARCHIVE_OK) {
                r = invalid(&x, v,
                            format == PACKAGE_FORMAT_ZIP ? "not a valid zip archive" : "not a valid tar archive");
                goto finish;
        }
        for (;;) {
                r = sym_archive_read_next_header(x.a, &e);
                if (r == ARCHIVE_EOF) {
                        r = 0;
                        break;
                }
                if (r != ARCHIVE_OK) {
                        r = invalid(&x, v, "corrupt archive");
                        break;
                }
                r = extract_entry(&x, e, v);
                if (r < 0)
                        break;
        }
        if (r == 0 && x.members == 0)
                r = verdict_set(v, -EBADMSG, REASON_ARCHIVE_INVALID, "archive is empty");
finish:
        if (x.a)
                sym_archive_read_free(x.a);
        tdestroy(x.seen, free);
        safe_close(x.cache_fd);
        if (old)
                uselocale(old);
        return r;
}
