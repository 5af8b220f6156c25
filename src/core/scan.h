/* SPDX-License-Identifier: MIT */
/*
 * The plugin roots: read-only directories first, then the install store.
 * Scanning classifies every entry (folder, flat "<id>.so", or something
 * that is not a plugin), loads what passes through the one load path, and
 * remembers candidates shadowed by an earlier root.  Loop thread.
 */
#pragma once

#include "host-internal.h"

/* Canonicalise the configured roots once (the state dir may be a symlink
 * under DynamicUser=); everything below is opened with O_NOFOLLOW. */
int roots_init(Host *h);
void roots_done(Host *h);

/* Every root, in order; forget candidates that vanished from disk. */
int scan_all(Host *h);

/* The root and entry holding id (first root wins, as in a scan): the
 * folder "<id>" or the flat "<id>.so".  -ENOENT if none; another error with
 * *error when a root is unusable. */
int scan_locate(Host *h, const char *id, size_t *ret_idx, int *ret_fd, PluginLayout *ret_layout, char **ret_name,
                char **error);
