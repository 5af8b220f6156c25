/* SPDX-License-Identifier: MIT */
#include "store.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "log.h"
#include "plugin-id.h"
#include "rm-rf.h"

int store_open(const char *path, const OwnerRule *rule, bool create, Verdict *v) {
        _cleanup_free_ char *inner = NULL;
        int fd = root_open_checked(path, rule, &inner);

        if (fd == -ENOENT && create) {
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return errno == EROFS || errno == EACCES || errno == EPERM
                                       ? verdict_set(v, -EROFS, REASON_READ_ONLY, "the plugin store %s is read-only",
                                                     path)
                                       : verdict_set(v, -errno, REASON_NONE, "cannot create the plugin store %s: %m",
                                                     path);
                inner = (free(inner), NULL);
                fd = root_open_checked(path, rule, &inner);
        }
        if (fd == -EPERM && inner)
                return verdict_set(v, -EPERM, REASON_INSECURE_DIRECTORY, "plugin store has insecure permissions: %s",
                                   inner);
        if (fd < 0)
                return verdict_set(v, fd, REASON_NONE, "cannot open the plugin store %s: %s", path, strerror(-fd));
        return fd;
}

int store_open_staging(int store_fd, const char *store_path, Verdict *v) {
        struct stat st;

        if (mkdirat(store_fd, STORE_STAGING_DIR, 0700) < 0 && errno != EEXIST)
                return errno == EROFS || errno == EACCES || errno == EPERM
                               ? verdict_set(v, -EROFS, REASON_READ_ONLY, "the plugin store %s is read-only",
                                             store_path)
                               : verdict_set(v, -errno, REASON_NONE, "cannot create %s/%s: %m", store_path,
                                             STORE_STAGING_DIR);
        int fd = openat(store_fd, STORE_STAGING_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return verdict_set(v, -errno, REASON_NONE, "cannot open %s/%s: %m", store_path, STORE_STAGING_DIR);
        /* Private to the daemon: nobody else may plant entries in it. */
        if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
                safe_close(fd);
                return verdict_set(v, -EPERM, REASON_INSECURE_DIRECTORY,
                                   "%s/%s must be a directory of the daemon's user with mode 0700", store_path,
                                   STORE_STAGING_DIR);
        }
        return fd;
}

int store_make_job_dir(int staging_fd, const char *prefix, char **ret_name) {
        for (int attempt = 0; attempt < 16; attempt++) {
                uint64_t rnd;
                char *name;
                if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                        return -EIO;
                if (asprintf(&name, "%s-%016" PRIx64, prefix, rnd) < 0)
                        return -ENOMEM;
                if (mkdirat(staging_fd, name, 0700) == 0) {
                        int fd = openat(staging_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0) {
                                int e = -errno;
                                (void) unlinkat(staging_fd, name, AT_REMOVEDIR);
                                free(name);
                                return e;
                        }
                        *ret_name = name;
                        return fd;
                }
                int e = errno;
                free(name);
                if (e != EEXIST)
                        return -e;
        }
        return -EEXIST;
}

int store_clean_staging(const char *store_path, const OwnerRule *rule) {
        _cleanup_free_ char *inner = NULL;

        _cleanup_close_ int fd = root_open_checked(store_path, rule, &inner);
        if (fd < 0)
                return fd == -ENOENT ? 0 : fd;
        _cleanup_close_ int sfd = openat(fd, STORE_STAGING_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0)
                return errno == ENOENT ? 0 : -errno;
        int r = rm_rf_children(sfd);
        if (r < 0 && r != -EROFS)
                log_warning("Cannot clean up %s/%s: %s", store_path, STORE_STAGING_DIR, strerror(-r));
        return r;
}

int state_set_disabled(const char *state_dir, const char *id, bool disabled) {
        _cleanup_free_ char *dir = NULL, *path = NULL;

        if (!plugin_id_is_valid(id))
                return -EINVAL;
        if (!state_dir)
                return -EROFS;
        if (asprintf(&dir, "%s/disabled.d", state_dir) < 0 || asprintf(&path, "%s/%s", dir, id) < 0)
                return -ENOMEM;
        if (!disabled)
                return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

bool state_is_disabled(const char *state_dir, const char *id) {
        _cleanup_free_ char *path = NULL;
        if (!state_dir || asprintf(&path, "%s/disabled.d/%s", state_dir, id) < 0)
                return false;
        return access(path, F_OK) == 0;
}
