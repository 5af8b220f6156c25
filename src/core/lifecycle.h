/* SPDX-License-Identifier: MIT */
/*
 * A plugin generation's life: the one load path (verify without running
 * code, map, check, init, register), periodic routines, and the drain that
 * ends it (no new calls, wait for running ones, cleanup()).  Loop thread.
 */
#pragma once

#include "host-internal.h"
#include "plugin-instance.h"

/* The one load path for the entry `name` below root number root_idx. */
int lifecycle_load_entry(Host *h, size_t root_idx, int rootfd, const char *name, PluginLayout layout, Verdict *v);
/* Verify the entry again and, if its bytes changed, start the new generation
 * beside the live one (which drains once the new one passed init()). */
int lifecycle_reload_entry(Host *h, PluginRecord *r, size_t root_idx, int rootfd, const char *name,
                           PluginLayout layout, bool *unchanged, Verdict *v);
/* Does the current policy still allow the running code of r?  1 yes, 0 no
 * (*v says why), < 0 error.  Nothing is started or stopped. */
int lifecycle_recheck_entry(Host *h, PluginRecord *r, size_t root_idx, int rootfd, const char *name,
                            PluginLayout layout, Verdict *v);
/* Stop routines and dispatch; cb once the last call returned and cleanup() ran. */
void lifecycle_begin_drain(Plugin *p, host_done_cb cb, void *userdata);
/* Whenever a call of p finished: completes a drain waiting for it. */
void lifecycle_drain_check(Plugin *p);
/* direct-call.c's "drained" callback (any thread). */
void lifecycle_direct_drained(Plugin *p, void *userdata);
