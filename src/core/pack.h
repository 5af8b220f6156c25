/* SPDX-License-Identifier: MIT */
/*
 * Packing a plugin folder into a gzip tar (the artifact and client-side
 * install format): the folder under its own name, regular files and
 * directories only, modes normalised to 0644/0755, owner root, entries
 * sorted so the same folder packs to the same members.
 */
#pragma once

#include "reason.h"

/* Write `name` (a directory below dirfd) as a .tar.gz to out_fd. */
int pack_directory(int dirfd, const char *name, int out_fd, Verdict *v);
/* Only `files` (names inside the folder `name` below dirfd; a missing one
 * is skipped), in that order: what a published artifact may contain. */
int pack_files(int dirfd, const char *name, const char *const *files, const char *check_file, const char *check_digest,
               int out_fd, Verdict *v);
