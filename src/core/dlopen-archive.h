/* SPDX-License-Identifier: MIT */
/* libarchive.so.13, opened on first use (dlopen-util.h). */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "dlopen-util.h"

/* Every symbol the daemon uses, once: declared here, defined and resolved
 * in dlopen-archive.c. */
#define LIBARCHIVE_SYMBOLS(X)                                                                                          \
        X(archive_entry_filetype)                                                                                      \
        X(archive_entry_free)                                                                                          \
        X(archive_entry_hardlink)                                                                                      \
        X(archive_entry_is_encrypted)                                                                                  \
        X(archive_entry_new)                                                                                           \
        X(archive_entry_pathname)                                                                                      \
        X(archive_entry_perm)                                                                                          \
        X(archive_entry_set_filetype)                                                                                  \
        X(archive_entry_set_gid)                                                                                       \
        X(archive_entry_set_gname)                                                                                     \
        X(archive_entry_set_mtime)                                                                                     \
        X(archive_entry_set_pathname)                                                                                  \
        X(archive_entry_set_perm)                                                                                      \
        X(archive_entry_set_size)                                                                                      \
        X(archive_entry_set_uid)                                                                                       \
        X(archive_entry_set_uname)                                                                                     \
        X(archive_entry_size)                                                                                          \
        X(archive_entry_size_is_set)                                                                                   \
        X(archive_entry_symlink)                                                                                       \
        X(archive_error_string)                                                                                        \
        X(archive_read_data_block)                                                                                     \
        X(archive_read_free)                                                                                           \
        X(archive_read_new)                                                                                            \
        X(archive_read_next_header)                                                                                    \
        X(archive_read_open_fd)                                                                                        \
        X(archive_read_support_filter_gzip)                                                                            \
        X(archive_read_support_format_tar)                                                                             \
        X(archive_read_support_format_zip_seekable)                                                                    \
        X(archive_write_add_filter_gzip)                                                                               \
        X(archive_write_close)                                                                                         \
        X(archive_write_data)                                                                                          \
        X(archive_write_free)                                                                                          \
        X(archive_write_header)                                                                                        \
        X(archive_write_new)                                                                                           \
        X(archive_write_open_fd)                                                                                       \
        X(archive_write_set_format_pax_restricted)

LIBARCHIVE_SYMBOLS(DLSYM_PROTOTYPE_STMT)

/* Any thread; 0 or -EOPNOTSUPP (logged) when libarchive.so.13 cannot be loaded. */
int dlopen_libarchive(void);
