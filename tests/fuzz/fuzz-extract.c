/* SPDX-License-Identifier: MIT */
/*
 * archive_extract() with small caps, then the on-disk invariants: the
 * target directory is the only thing in the sandbox (nothing written beside
 * it), it holds only regular files and directories with plain 0644/0755
 * modes, every file's logical size and the total are within the caps, and a
 * refused archive has a verdict and is gone after the caller's removal.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "fuzz.h"
#include "rm-rf.h"

static const ArchiveLimits limits = {
        .max_extracted = 1024 * 1024,
        .max_member = 256 * 1024,
        .max_members = 64,
        .max_depth = ARCHIVE_DEPTH_MAX,
        .max_ratio = ARCHIVE_RATIO_MAX,
};

static int sandbox = -1;
static char sandbox_path[] = "/dev/shm/dc-fuzz-extract.XXXXXX";

static void sandbox_remove(void) {
        int fd = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
                (void) rm_rf_at(fd, sandbox_path + strlen("/dev/shm/"));
        close(fd);
}

/* A duplicate shares the directory offset with dfd: start from the top. */
static DIR *opendir_fd(int dfd) {
        DIR *d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
        FUZZ_CHECK(d);
        rewinddir(d);
        return d;
}

static unsigned entries(int dfd) {
        DIR *d = opendir_fd(dfd);
        unsigned n = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void walk(int dfd, unsigned depth, uint64_t *total, unsigned *files) {
        DIR *d = opendir_fd(dfd);
        FUZZ_CHECK(depth <= ARCHIVE_DEPTH_MAX);
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                FUZZ_CHECK(fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
                FUZZ_CHECK(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)); /* no links, devices, FIFOs */
                FUZZ_CHECK(st.st_nlink == 1 || S_ISDIR(st.st_mode));
                if (S_ISDIR(st.st_mode)) {
                        FUZZ_CHECK((st.st_mode & 07777) == 0755);
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        FUZZ_CHECK(sub >= 0);
                        walk(sub, depth + 1, total, files);
                        close(sub);
                        continue;
                }
                FUZZ_CHECK((st.st_mode & 07777) == 0644 || (st.st_mode & 07777) == 0755);
                FUZZ_CHECK((uint64_t) st.st_size <= limits.max_member);
                *total += (uint64_t) st.st_size; /* logical size: holes count */
                (*files)++;
        }
        closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (sandbox < 0) {
                FUZZ_CHECK(mkdtemp(sandbox_path));
                sandbox = open(sandbox_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                FUZZ_CHECK(sandbox >= 0);
                atexit(sandbox_remove);
        }
        int fd = memfd_create("fuzz-archive", MFD_CLOEXEC);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t) size);
        FUZZ_CHECK(mkdirat(sandbox, "x", 0755) == 0);
        int xfd = openat(sandbox, "x", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        FUZZ_CHECK(xfd >= 0);

        Verdict v = {};
        PackageFormat f = package_format_detect(PACKAGE_FORMAT_AUTO, NULL, data, size);
        int r = archive_extract(fd, size, f, xfd, &limits, &v);

        FUZZ_CHECK(entries(sandbox) == 1); /* nothing beside the target */
        uint64_t total = 0;
        unsigned files = 0;
        walk(xfd, 0, &total, &files);
        if (r >= 0) {
                FUZZ_CHECK(total <= limits.max_extracted && files <= limits.max_members);
                FUZZ_CHECK(v.reason == REASON_NONE);
        } else
                FUZZ_CHECK(v.reason != REASON_NONE && v.message);
        verdict_clear(&v);
        close(xfd);
        close(fd);
        FUZZ_CHECK(rm_rf_at(sandbox, "x") >= 0);
        FUZZ_CHECK(entries(sandbox) == 0);
        return 0;
}
