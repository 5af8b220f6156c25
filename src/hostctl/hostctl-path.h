/* SPDX-License-Identifier: MIT */
/* A path from the command line as the directory that holds it and its name. */
#pragma once

/*
 * "a/b/" → the canonical "…/a" and "b"; the entry itself is not resolved
 * (a symlink stays one, as the daemon sees it).  ".", ".." and "x/." name a
 * directory by itself: it is resolved first.  A path without a directory
 * is in the current one.  0, or a negative errno.
 */
int hostctl_split_path(const char *path, char **ret_dir, char **ret_name);
