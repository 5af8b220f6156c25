/* SPDX-License-Identifier: MIT */
/*
 * Which plugin the daemon was running when it died (docs/plugin-security.md,
 * "Supervision"): before every call into an in-process plugin's code the
 * calling thread writes "<id> <what>" into its slot of a small shared file
 * mapping in the state directory, and clears it after.  The page cache
 * keeps the mapping when the process crashes, so the next start can tell
 * which plugin to run in a worker instead.  Cheap: two stores per call.
 */
#pragma once

/* Map <state_dir>/in-process-marker; *crashed lists the "<id>" of slots
 * left set by the previous run (NULL-terminated, caller frees), then all
 * slots are cleared.  Without a state directory, markers are not kept. */
int crash_marker_open(const char *state_dir, char ***crashed);
/* Clean shutdown: unmapped (and cleared). */
void crash_marker_close(void);

/* Any thread: the calling thread is about to run plugin code / is done. */
void crash_marker_enter(const char *plugin_id, const char *what);
void crash_marker_leave(void);
