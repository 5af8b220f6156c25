/* SPDX-License-Identifier: MIT */
#include "rm-rf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

/* Deeper than any tree an install can create (archive depth cap 16). */
#define RM_RF_MAX_DEPTH 64

static int children(int dirfd, dev_t dev, unsigned depth);

static int remove_entry(int dirfd, const char *name, dev_t dev, unsigned depth) {
        struct stat st;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        if (st.st_dev != dev)
                return -EXDEV; /* a mount point: not ours to empty */
        if (depth >= RM_RF_MAX_DEPTH)
                return -ELOOP;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = children(fd, dev, depth + 1);
        if (r < 0)
                return r;
        return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

static int children(int dirfd, dev_t dev, unsigned depth) {
        int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (dup < 0)
                return -errno;
        DIR *d = fdopendir(dup);
        if (!d) {
                close(dup);
                return -errno;
        }
        int ret = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                int r = remove_entry(dirfd, de->d_name, dev, depth);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        closedir(d);
        return ret;
}

int rm_rf_at(int dirfd, const char *name) {
        struct stat st;
        if (fstat(dirfd, &st) < 0)
                return -errno;
        return remove_entry(dirfd, name, st.st_dev, 0);
}

int rm_rf_children(int dirfd) {
        struct stat st;
        if (fstat(dirfd, &st) < 0)
                return -errno;
        return children(dirfd, st.st_dev, 0);
}
