/* SPDX-License-Identifier: MIT */
/*
 * One dc-plugin-worker process, seen from the daemon: spawned with nothing
 * but its sockets, handed the sealed image, then calls, routines and a stop
 * go out and replies, events and log lines come in.  Every frame from the
 * worker is checked; a worker that breaks the protocol is killed.  Loop
 * thread only.  What to do when a worker dies is the caller's business
 * (isolated.c).  The callbacks may kill or stop the worker; only `exited`
 * (or code outside the callbacks) may free it.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

typedef struct WorkerProcess WorkerProcess;

/* How a worker ended. */
typedef struct WorkerExit {
        int code;          /* CLD_EXITED, CLD_KILLED, CLD_DUMPED */
        int status;        /* exit status or signal */
        const char *cause; /* set when the daemon ended it: "timeout", "protocol", "stopped" … */
} WorkerExit;

typedef struct WorkerCallbacks {
        /* WORKER_READY: the description and sandbox report, or an error and its reason code. */
        void (*ready)(WorkerProcess *w, struct json_object *ready, void *userdata);
        void (*event)(WorkerProcess *w, const char *name, const char *payload, void *userdata);
        void (*log)(WorkerProcess *w, int priority, const char *line, void *userdata);
        void (*routine_done)(WorkerProcess *w, unsigned index, void *userdata);
        /* A system call the sandbox refused. */
        void (*denied)(WorkerProcess *w, int syscall_nr, void *userdata);
        /* The process is gone (expected or not): every pending call has been
         * answered already.  The WorkerProcess may be freed from here. */
        void (*exited)(WorkerProcess *w, const WorkerExit *how, void *userdata);
} WorkerCallbacks;

/* error: 0 or HOST_ERR_*; result or message (NUL-terminated, owned by the worker process object). */
typedef void (*worker_reply_fn)(int error, int handler_r, const char *result, const char *message, void *userdata);

int worker_process_spawn(sd_event *e, const char *binary, const char *id, int image_fd, const char *init_json,
                         const WorkerCallbacks *cb, void *userdata, WorkerProcess **ret);
/* Kills the process if it still runs; pending calls are answered with
 * HOST_ERR_CRASHED first.  No callbacks after this. */
WorkerProcess *worker_process_free(WorkerProcess *w);

/* A call; reply exactly once (possibly with HOST_ERR_TIMEOUT: the worker is
 * then given a moment to return, and killed if it does not). */
int worker_process_call(WorkerProcess *w, const char *function, const char *params, uint64_t timeout_usec,
                        worker_reply_fn cb, void *userdata);
int worker_process_routine(WorkerProcess *w, unsigned index);
/* cleanup() and exit; killed after timeout_usec. */
int worker_process_stop(WorkerProcess *w, uint64_t timeout_usec);
/* SIGKILL now; cause says why (for WorkerExit). */
void worker_process_kill(WorkerProcess *w, const char *cause);

pid_t worker_process_pid(const WorkerProcess *w);
unsigned worker_process_pending(const WorkerProcess *w);
bool worker_process_alive(const WorkerProcess *w);
/* From spawning to its WORKER_READY (mapping, constructors, init()); 0 before. */
uint64_t worker_process_start_usec(const WorkerProcess *w);
