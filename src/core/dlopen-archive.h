/* SPDX-License-Identifier: MIT */
/* libarchive.so.13, opened on first use (dlopen-util.h). */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "dlopen-util.h"

DLSYM_PROTOTYPE(archive_entry_filetype);
DLSYM_PROTOTYPE(archive_entry_free);
DLSYM_PROTOTYPE(archive_entry_hardlink);
DLSYM_PROTOTYPE(archive_entry_is_encrypted);
DLSYM_PROTOTYPE(archive_entry_new);
DLSYM_PROTOTYPE(archive_entry_pathname);
DLSYM_PROTOTYPE(archive_entry_perm);
DLSYM_PROTOTYPE(archive_entry_set_filetype);
DLSYM_PROTOTYPE(archive_entry_set_gid);
DLSYM_PROTOTYPE(archive_entry_set_gname);
DLSYM_PROTOTYPE(archive_entry_set_mtime);
DLSYM_PROTOTYPE(archive_entry_set_pathname);
DLSYM_PROTOTYPE(archive_entry_set_perm);
DLSYM_PROTOTYPE(archive_entry_set_size);
DLSYM_PROTOTYPE(archive_entry_set_uid);
DLSYM_PROTOTYPE(archive_entry_set_uname);
DLSYM_PROTOTYPE(archive_entry_size);
DLSYM_PROTOTYPE(archive_entry_size_is_set);
DLSYM_PROTOTYPE(archive_entry_symlink);
DLSYM_PROTOTYPE(archive_error_string);
DLSYM_PROTOTYPE(archive_read_data_block);
DLSYM_PROTOTYPE(archive_read_free);
DLSYM_PROTOTYPE(archive_read_new);
DLSYM_PROTOTYPE(archive_read_next_header);
DLSYM_PROTOTYPE(archive_read_open_fd);
DLSYM_PROTOTYPE(archive_read_support_filter_gzip);
DLSYM_PROTOTYPE(archive_read_support_format_tar);
DLSYM_PROTOTYPE(archive_read_support_format_zip_seekable);
DLSYM_PROTOTYPE(archive_write_add_filter_gzip);
DLSYM_PROTOTYPE(archive_write_close);
DLSYM_PROTOTYPE(archive_write_data);
DLSYM_PROTOTYPE(archive_write_free);
DLSYM_PROTOTYPE(archive_write_header);
DLSYM_PROTOTYPE(archive_write_new);
DLSYM_PROTOTYPE(archive_write_open_fd);
DLSYM_PROTOTYPE(archive_write_set_format_pax_restricted);

/* Any thread; 0 or -EOPNOTSUPP (logged) when libarchive.so.13 cannot be loaded. */
int dlopen_libarchive(void);
