/* SPDX-License-Identifier: MIT */
/*
 * Removing trees the daemon created itself (staging, replaced plugins).
 * Never follows a symlink and never leaves the file system it started on,
 * so a hostile tree cannot redirect the removal.
 */
#pragma once

/* Remove `name` below dirfd (file or directory tree).  0 if absent. */
int rm_rf_at(int dirfd, const char *name);
/* Remove everything inside the directory dirfd, keeping it. */
int rm_rf_children(int dirfd);
