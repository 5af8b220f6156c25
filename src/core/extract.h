/* SPDX-License-Identifier: MIT */
/*
 * Reading plugin archives (tar, tar.gz, zip) with libarchive under strict
 * rules: only regular files and directories, relative UTF-8 names without
 * "." or ".." components, no links or device nodes, no duplicates, and caps
 * on member count, sizes, depth and compression ratio enforced while
 * streaming (sizes are logical: a sparse member's holes count against
 * every cap).  Files are created by us (O_EXCL|O_NOFOLLOW, 0644/0755:
 * setuid/setgid/sticky bits and ownership are dropped), never by libarchive.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "reason.h"

typedef enum PackageFormat {
        PACKAGE_FORMAT_AUTO,
        PACKAGE_FORMAT_TAR_GZ, /* tar, gzip-compressed or not */
        PACKAGE_FORMAT_ZIP,
        _PACKAGE_FORMAT_MAX,
} PackageFormat;

/* "auto", "tar.gz", "tgz", "tar", "zip"; NULL/"" = auto.  -EINVAL otherwise. */
int package_format_from_string(const char *s, PackageFormat *ret);
const char *package_format_to_string(PackageFormat f);
/* Upstream's rule: declared format, else the name's suffix, else magic bytes
 * ("PK\3\4" = zip), else tar.gz. */
PackageFormat package_format_detect(PackageFormat declared, const char *name_hint, const uint8_t *head, size_t n);

typedef struct ArchiveLimits {
        uint64_t max_extracted; /* sum of all member sizes (logical: holes of sparse members count) */
        uint64_t max_member;    /* one file (logical size) */
        unsigned max_members;   /* entries of any type */
        unsigned max_depth;     /* path components */
        unsigned max_ratio;     /* extracted bytes per archive byte, once past 1 MiB */
} ArchiveLimits;

#define ARCHIVE_NAME_MAX  255u  /* one path component, bytes */
#define ARCHIVE_PATH_MAX  1024u /* whole member name, bytes */
#define ARCHIVE_DEPTH_MAX 16u
#define ARCHIVE_RATIO_MAX 200u

/*
 * Extract the archive in fd (seekable, `size` bytes) into the empty
 * directory dirfd.  On failure sets *v (archive-* reasons) and returns
 * -EBADMSG; what was written below dirfd is the caller's to remove.
 */
int archive_extract(int fd, uint64_t size, PackageFormat format, int dirfd, const ArchiveLimits *limits, Verdict *v);
