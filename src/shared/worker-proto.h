/* SPDX-License-Identifier: MIT */
/*
 * The protocol between dc-plugin-hostd and a dc-plugin-worker process
 * (docs/architecture.md, "Plugin processes"): length-prefixed frames on a
 * SOCK_STREAM socketpair.  The plugin ABI already crosses as JSON text, so
 * the frames carry text; each side checks every length it reads, and the
 * daemon treats every byte from a worker as hostile.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The worker's descriptors, set up by the daemon before exec. */
#define WORKER_FD_CONTROL 3 /* SOCK_STREAM: the frames below */
#define WORKER_FD_NOTICE 4  /* SOCK_SEQPACKET: WorkerNotice records from the SIGSYS handler */

typedef enum WorkerFrameType {
        /* daemon → worker */
        WORKER_INIT = 1,    /* JSON settings; the sealed image memfd rides along (SCM_RIGHTS) */
        WORKER_CALL = 2,    /* id: call; payload: "<function>\0<params>" */
        WORKER_CANCEL = 3,  /* id: call; the caller stopped waiting */
        WORKER_ROUTINE = 4, /* id: routine index */
        WORKER_STOP = 5,    /* run cleanup() and exit */
        /* worker → daemon */
        WORKER_READY = 16,        /* JSON: the plugin's description, or {"error":…} */
        WORKER_REPLY = 17,        /* id: call; arg: handler return; flags: REPLY_*; payload: result or message */
        WORKER_EVENT = 18,        /* payload: "<event>\0<payload>" */
        WORKER_LOG = 19,          /* arg: priority; payload: the line */
        WORKER_ROUTINE_DONE = 20, /* id: routine index */
        WORKER_STOPPED = 21,      /* arg: cleanup()'s return */
} WorkerFrameType;

#define WORKER_REPLY_RESULT 1 /* payload is the result JSON (else: an error message, or nothing) */

typedef struct WorkerFrameHeader {
        uint32_t length; /* of the payload */
        uint16_t type;
        uint16_t flags;
        int32_t arg;
        uint32_t reserved;
        uint64_t id;
} WorkerFrameHeader;

/* Payload limits: params (1 MiB) and results (16 MiB) plus framing. */
#define WORKER_MAX_TO_WORKER (2u * 1024u * 1024u)
#define WORKER_MAX_FROM_WORKER (16u * 1024u * 1024u + 4096u)

/* One denied system call, written by the worker's SIGSYS handler. */
typedef struct WorkerNotice {
        int32_t syscall_nr;
        uint32_t arch;
} WorkerNotice;

/* Blocking I/O for the worker (the daemon reads incrementally, see
 * src/core/worker-process.c).  Return 0 or a negative errno; -EPIPE at end of file. */
int worker_write_frame(int fd, uint16_t type, uint16_t flags, int32_t arg, uint64_t id, const void *a, size_t a_len,
                       const void *b, size_t b_len);
/* Reads one frame whose payload is at most max bytes (NUL-terminated copy in
 * *payload, caller frees).  *ret_fd: a descriptor passed with the frame, or -1. */
int worker_read_frame(int fd, size_t max, WorkerFrameHeader *h, char **payload, int *ret_fd);
