/* SPDX-License-Identifier: MIT */
/*
 * The two calls into an in-process plugin that used to run on the event
 * loop, now on a thread of their own and bounded in time (docs/plugin-
 * security.md, "Supervision"): mapping and init() (InitTimeoutSec=), and
 * cleanup() (StopTimeoutSec=).  Past its time the thread is left to
 * itself: the plugin is marked failed (or unloaded), the front ends never
 * wait.  Loop thread.
 */
#pragma once

#include "host-internal.h"

/* p: the initialised instance (owned by the callee) or NULL with r < 0 and *v. */
typedef void (*inprocess_started_fn)(Host *h, Plugin *p, int r, const Verdict *v, void *userdata);
typedef void (*inprocess_cleaned_fn)(Host *h, Plugin *p, void *userdata);

/* Takes the candidate's image.  started() exactly once, on the loop. */
int inprocess_start(Host *h, Candidate *c, inprocess_started_fn started, void *userdata);
/* cleanup() of an initialised instance; cleaned() exactly once, on the loop,
 * when it returned or when its time is up. */
int inprocess_cleanup(Host *h, Plugin *p, inprocess_cleaned_fn cleaned, void *userdata);
/* Threads still running plugin code past their time (shutdown cannot wait for them). */
unsigned inprocess_stuck(Host *h);
/* Threads running plugin init() or cleanup(), in time or not: the host
 * cannot be freed while there are any (they post to its loop). */
unsigned inprocess_running(Host *h);
