/* SPDX-License-Identifier: MIT */
/*
 * A bounded pool of worker threads.  Jobs run off the event loop; their
 * completion callbacks run back on the loop thread (eventfd), so all
 * bookkeeping stays single-threaded.  Jobs sharing a non-NULL serial_key
 * never run at the same time (plugins that are not thread-safe).
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "loop-mailbox.h"

typedef struct WorkerPool WorkerPool;
typedef struct Job Job;

struct Job {
        Job *next;                /* the pool's queue */
        MailboxItem done;         /* back to the loop once finished */
        const void *serial_key;   /* jobs of the same key run one at a time */
        const void *owner;        /* the plugin: it may hold at most half the threads */
        void (*run)(Job *j);      /* worker thread; skipped if cancelled before it started */
        void (*complete)(Job *j); /* loop thread, exactly once */
        int cancelled;            /* atomic; set by job_cancel() */
        bool ran;                 /* run() was called */
        unsigned slot;            /* the pool's, while running */
};

int worker_pool_new(sd_event *e, unsigned n_threads, unsigned max_queued, WorkerPool **ret);
/* Stop the threads after their current job; complete every job left
 * (queued ones as cancelled).  Waits for running handlers to return. */
WorkerPool *worker_pool_free(WorkerPool *p);
/* -EBUSY when max_queued jobs are already waiting. */
int worker_pool_submit(WorkerPool *p, Job *j);
void job_cancel(Job *j);
/* The caller stopped waiting for j: a queued job leaves the queue now (and
 * completes as cancelled); a running one keeps its thread, and the pool
 * starts another one (up to four times its size) so that a handler that
 * never returns cannot starve the others. */
void worker_pool_abandon(WorkerPool *p, Job *j);
bool job_is_cancelled(Job *j);
unsigned worker_pool_queued(WorkerPool *p);
