/* SPDX-License-Identifier: MIT */
/*
 * A plugin generation's life: the one load path (verify without running
 * code, decide where it runs, start it in process or in a worker, register
 * it), periodic routines, and the drain that ends it (no new calls, wait
 * for running ones, cleanup() or the worker's stop).  Starting and
 * stopping never wait on the loop: init() and cleanup() run on threads of
 * their own (inprocess.c) or in the worker (isolated.c).  Loop thread.
 */
#pragma once

#include "host-internal.h"
#include "plugin-instance.h"

/* A start finished: 0 and the record LOADED, or < 0 with *v. */
typedef void (*lifecycle_done_fn)(Host *h, const char *id, int error, const Verdict *v, void *userdata);

/* The one load path for the entry `name` below root number root_idx.
 * < 0: refused before anything ran (*v), done is not called; 0: started,
 * done follows exactly once (done may be NULL). */
int lifecycle_load_entry(Host *h, size_t root_idx, int rootfd, const char *name, PluginLayout layout, Verdict *v,
                         lifecycle_done_fn done, void *userdata);
/* Verify the entry again and, if its bytes changed (or force: where it runs
 * may change), start the new generation; the old one serves until the new
 * one is ready, then drains.  1: the same bytes, nothing to do (done is not
 * called); otherwise as above. */
int lifecycle_reload_entry(Host *h, PluginRecord *r, size_t root_idx, int rootfd, const char *name,
                           PluginLayout layout, bool force, Verdict *v, lifecycle_done_fn done, void *userdata);
/* Does the current policy still allow the running code of r?  1 yes, 0 no
 * (*v says why), < 0 error.  Nothing is started or stopped. */
int lifecycle_recheck_entry(Host *h, PluginRecord *r, size_t root_idx, int rootfd, const char *name,
                            PluginLayout layout, Verdict *v);
/* Stop routines and dispatch; cb once the last call returned and cleanup() ran
 * (or its time was up). */
void lifecycle_begin_drain(Plugin *p, host_done_cb cb, void *userdata);
/* Whenever a call of p finished: completes a drain waiting for it. */
void lifecycle_drain_check(Plugin *p);
/* direct-call.c's "drained" callback (any thread). */
void lifecycle_direct_drained(Plugin *p, void *userdata);
