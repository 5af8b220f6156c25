/* SPDX-License-Identifier: MIT */
#include "dlopen-archive.h"

#include <errno.h>
#include <pthread.h>

DLSYM_DEFINE(archive_entry_filetype);
DLSYM_DEFINE(archive_entry_free);
DLSYM_DEFINE(archive_entry_hardlink);
DLSYM_DEFINE(archive_entry_is_encrypted);
DLSYM_DEFINE(archive_entry_new);
DLSYM_DEFINE(archive_entry_pathname);
DLSYM_DEFINE(archive_entry_perm);
DLSYM_DEFINE(archive_entry_set_filetype);
DLSYM_DEFINE(archive_entry_set_gid);
DLSYM_DEFINE(archive_entry_set_gname);
DLSYM_DEFINE(archive_entry_set_mtime);
DLSYM_DEFINE(archive_entry_set_pathname);
DLSYM_DEFINE(archive_entry_set_perm);
DLSYM_DEFINE(archive_entry_set_size);
DLSYM_DEFINE(archive_entry_set_uid);
DLSYM_DEFINE(archive_entry_set_uname);
DLSYM_DEFINE(archive_entry_size);
DLSYM_DEFINE(archive_entry_size_is_set);
DLSYM_DEFINE(archive_entry_symlink);
DLSYM_DEFINE(archive_error_string);
DLSYM_DEFINE(archive_read_data_block);
DLSYM_DEFINE(archive_read_free);
DLSYM_DEFINE(archive_read_new);
DLSYM_DEFINE(archive_read_next_header);
DLSYM_DEFINE(archive_read_open_fd);
DLSYM_DEFINE(archive_read_support_filter_gzip);
DLSYM_DEFINE(archive_read_support_format_tar);
DLSYM_DEFINE(archive_read_support_format_zip_seekable);
DLSYM_DEFINE(archive_write_add_filter_gzip);
DLSYM_DEFINE(archive_write_close);
DLSYM_DEFINE(archive_write_data);
DLSYM_DEFINE(archive_write_free);
DLSYM_DEFINE(archive_write_header);
DLSYM_DEFINE(archive_write_new);
DLSYM_DEFINE(archive_write_open_fd);
DLSYM_DEFINE(archive_write_set_format_pax_restricted);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int result = -EOPNOTSUPP;

static void load(void) {
        static const DlSym syms[] = {
                DLSYM_ARG(archive_entry_filetype),
                DLSYM_ARG(archive_entry_free),
                DLSYM_ARG(archive_entry_hardlink),
                DLSYM_ARG(archive_entry_is_encrypted),
                DLSYM_ARG(archive_entry_new),
                DLSYM_ARG(archive_entry_pathname),
                DLSYM_ARG(archive_entry_perm),
                DLSYM_ARG(archive_entry_set_filetype),
                DLSYM_ARG(archive_entry_set_gid),
                DLSYM_ARG(archive_entry_set_gname),
                DLSYM_ARG(archive_entry_set_mtime),
                DLSYM_ARG(archive_entry_set_pathname),
                DLSYM_ARG(archive_entry_set_perm),
                DLSYM_ARG(archive_entry_set_size),
                DLSYM_ARG(archive_entry_set_uid),
                DLSYM_ARG(archive_entry_set_uname),
                DLSYM_ARG(archive_entry_size),
                DLSYM_ARG(archive_entry_size_is_set),
                DLSYM_ARG(archive_entry_symlink),
                DLSYM_ARG(archive_error_string),
                DLSYM_ARG(archive_read_data_block),
                DLSYM_ARG(archive_read_free),
                DLSYM_ARG(archive_read_new),
                DLSYM_ARG(archive_read_next_header),
                DLSYM_ARG(archive_read_open_fd),
                DLSYM_ARG(archive_read_support_filter_gzip),
                DLSYM_ARG(archive_read_support_format_tar),
                DLSYM_ARG(archive_read_support_format_zip_seekable),
                DLSYM_ARG(archive_write_add_filter_gzip),
                DLSYM_ARG(archive_write_close),
                DLSYM_ARG(archive_write_data),
                DLSYM_ARG(archive_write_free),
                DLSYM_ARG(archive_write_header),
                DLSYM_ARG(archive_write_new),
                DLSYM_ARG(archive_write_open_fd),
                DLSYM_ARG(archive_write_set_format_pax_restricted),
        };
        result = dlopen_many_sym("libarchive.so.13", syms, sizeof syms / sizeof syms[0]);
}

int dlopen_libarchive(void) {
        (void) pthread_once(&once, load);
        return result;
}
