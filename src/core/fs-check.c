/* SPDX-License-Identifier: MIT */
#include "fs-check.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>

#include "macro.h"

bool owner_rule_allows(const OwnerRule *rule, uid_t uid) {
        if (rule->kind == ROOT_STORE)
                return uid == 0 || uid == rule->self_uid;
        /* Code the daemon could rewrite itself is not "packaged": refuse the
         * daemon's own uid unless the daemon is root anyway, or the admin
         * named it TrustedUID= (a developer running the daemon as themself). */
        if (uid == rule->self_uid && uid != 0 && uid != rule->trusted_uid)
                return false;
        return uid == 0 || (rule->trusted_uid != UID_INVALID && uid == rule->trusted_uid);
}

void owner_rule_describe(const OwnerRule *rule, char *buf, size_t size) {
        if (rule->kind == ROOT_STORE && rule->self_uid != 0)
                snprintf(buf, size, "uid %u (the daemon) or root", (unsigned) rule->self_uid);
        else if (rule->kind == ROOT_READONLY && rule->trusted_uid != UID_INVALID && rule->trusted_uid != 0)
                snprintf(buf, size, "root or uid %u", (unsigned) rule->trusted_uid);
        else
                snprintf(buf, size, "root");
}

/* Ancestors: root-owned (or the rule's owners), never group/world-writable,
 * and a sticky /tmp-style directory does not excuse it. */
static int check_ancestor(const char *path, const OwnerRule *rule, char **inner) {
        struct stat st;
        char reason[96];

        if (stat(path, &st) < 0)
                return -errno;
        if (st.st_mode & S_IWOTH)
                snprintf(reason, sizeof reason, "world-writable, mode %04o", (unsigned) (st.st_mode & 07777));
        else if (st.st_mode & S_IWGRP)
                snprintf(reason, sizeof reason, "group-writable, mode %04o", (unsigned) (st.st_mode & 07777));
        else if (st.st_uid != 0 && !owner_rule_allows(rule, st.st_uid))
                snprintf(reason, sizeof reason, "owned by uid %u", (unsigned) st.st_uid);
        else
                return 0;
        if (asprintf(inner, "parent directory %s is insecure (%s) - this is a security risk", path, reason) < 0)
                return -ENOMEM;
        return -EPERM;
}

static int check_root_stat(const struct stat *st, const OwnerRule *rule, char **inner) {
        unsigned perms = (unsigned) (st->st_mode & 0777);
        char owners[64];
        int r;

        if (st->st_mode & S_IWOTH)
                r = asprintf(inner, "directory is world-writable (mode: %03o) - this is a security risk", perms);
        else if (st->st_mode & S_IWGRP)
                r = asprintf(inner, "directory is group-writable (mode: %03o) - this is a security risk", perms);
        else if (!owner_rule_allows(rule, st->st_uid)) {
                owner_rule_describe(rule, owners, sizeof owners);
                r = asprintf(inner, "directory is owned by uid %u, expected %s - this is a security risk",
                             (unsigned) st->st_uid, owners);
        } else
                return 0;
        return r < 0 ? -ENOMEM : -EPERM;
}

int root_open_checked(const char *path, const OwnerRule *rule, char **inner) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *copy = NULL;
        struct stat st;
        int r;

        if (!path || path[0] != '/')
                return -EINVAL;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP ? -ENOTDIR : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        r = check_root_stat(&st, rule, inner);
        if (r < 0)
                return r;

        /* Walk up to "/": every ancestor must be as trustworthy as the root. */
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        for (;;) {
                char *slash = strrchr(copy, '/');
                if (!slash)
                        break;
                if (slash == copy) {
                        if (copy[1] == 0)
                                break;
                        copy[1] = 0;
                } else
                        *slash = 0;
                r = check_ancestor(copy, rule, inner);
                if (r < 0)
                        return r;
        }
        return TAKE_FD(fd);
}

int check_plugin_dir_stat(const struct stat *st, const OwnerRule *rule, Verdict *v) {
        char owners[64];

        if (!S_ISDIR(st->st_mode))
                return verdict_set(v, -EPERM, REASON_NOT_REGULAR_FILE, "plugin rejected: not a regular file");
        if (!owner_rule_allows(rule, st->st_uid)) {
                owner_rule_describe(rule, owners, sizeof owners);
                return verdict_set(v, -EPERM, REASON_INSECURE_OWNER,
                                   "plugin rejected: insecure-owner: plugin folder is owned by uid %u, expected %s",
                                   (unsigned) st->st_uid, owners);
        }
        if (st->st_mode & 022)
                return verdict_set(v, -EPERM, REASON_INSECURE_MODE,
                                   "plugin rejected: insecure-mode: plugin folder is group- or world-writable (mode: %03o)",
                                   (unsigned) (st->st_mode & 0777));
        return 0;
}

int check_plugin_file_stat(const struct stat *st, const OwnerRule *rule, uint64_t max_size, const char *what,
                           Verdict *v) {
        char owners[64];

        if (!S_ISREG(st->st_mode))
                return verdict_set(v, -EPERM, REASON_NOT_REGULAR_FILE, "plugin rejected: not a regular file");
        if (!owner_rule_allows(rule, st->st_uid)) {
                owner_rule_describe(rule, owners, sizeof owners);
                return verdict_set(v, -EPERM, REASON_INSECURE_OWNER,
                                   "plugin rejected: insecure-owner: %s is owned by uid %u, expected %s", what,
                                   (unsigned) st->st_uid, owners);
        }
        if (st->st_mode & 022)
                return verdict_set(v, -EPERM, REASON_INSECURE_MODE,
                                   "plugin rejected: insecure-mode: %s is group- or world-writable (mode: %03o)", what,
                                   (unsigned) (st->st_mode & 0777));
        if (st->st_mode & (S_ISUID | S_ISGID))
                return verdict_set(v, -EPERM, REASON_SETUID, "plugin rejected: setuid: %s has the setuid or setgid bit",
                                   what);
        if ((uint64_t) st->st_size > max_size)
                return verdict_set(v, -EFBIG, REASON_TOO_LARGE,
                                   "plugin rejected: too-large: %s is larger than %" PRIu64 " bytes", what, max_size);
        return 0;
}

int openat_plugin_file(int dirfd, const char *name, const OwnerRule *rule, uint64_t max_size, const char *what,
                       struct stat *ret_st, Verdict *v) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        /* O_NONBLOCK: a FIFO planted here must not block the open. */
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT)
                        return -ENOENT;
                if (errno == ELOOP || errno == ENXIO)
                        return verdict_set(v, -EPERM, REASON_NOT_REGULAR_FILE, "plugin rejected: not a regular file");
                return verdict_set(v, -errno, REASON_READ_FAILED, "failed to open %s: %s", what, strerror(errno));
        }
        if (fstat(fd, &st) < 0)
                return verdict_set(v, -errno, REASON_READ_FAILED, "failed to stat %s: %s", what, strerror(errno));
        r = check_plugin_file_stat(&st, rule, max_size, what, v);
        if (r < 0)
                return r;
        /* Regular file confirmed: switch back to blocking reads. */
        if (fcntl(fd, F_SETFL, 0) < 0)
                return verdict_set(v, -errno, REASON_READ_FAILED, "failed to open %s: %s", what, strerror(errno));
        if (ret_st)
                *ret_st = st;
        return TAKE_FD(fd);
}

int read_fd_full(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = malloc(max + 1);
        size_t n = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, max + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = n;
        return 0;
}
