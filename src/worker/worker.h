/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-worker: one plugin in a process of its own, sandboxed, talking
 * to dc-plugin-hostd over the frames of worker-proto.h (docs/architecture.md,
 * "Plugin processes").  Internal to the worker.
 */
#pragma once

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dc-plugin-host/plugin.h"
#include "plugin-instance.h"

/* What the daemon asks for in WORKER_INIT. */
typedef struct WorkerSettings {
        char *id;
        char *version;     /* the version the descriptor must carry, or NULL */
        char *config_json; /* handed to the plugin */
        unsigned threads;  /* call threads for a thread-safe plugin */
        uint64_t address_space, cpu_sec, nofile, nproc; /* rlimits; 0 = leave */
        char **read_paths, **write_paths;               /* Landlock */
        bool network;
        int image_fd;
} WorkerSettings;

/* Sandbox layers in effect, for WORKER_READY. */
typedef struct SandboxStatus {
        bool no_new_privs, rlimits, seccomp;
        int landlock_abi; /* 0: not available or not applied */
        char *error;      /* the first layer that failed, NULL if none */
} SandboxStatus;

/* worker-sandbox.c: applied once, before any plugin code runs. */
int sandbox_apply(const WorkerSettings *s, SandboxStatus *st);

/* worker-output.c: everything the worker sends goes through one writer
 * thread.  Replies are never dropped; events and log lines are, past a
 * bound, and counted. */
int output_start(int fd);
void output_stop(void); /* flush what is queued (bounded), then stop */
int output_send(uint16_t type, uint16_t flags, int32_t arg, uint64_t id, const void *a, size_t a_len, const void *b,
                size_t b_len, bool droppable);
void worker_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* worker-api.c: the dc_host_api a plugin sees in a worker. */
extern const dc_host_api worker_api;
void worker_api_init(Plugin *p, const char *config_json);

/* One call on its way through the worker; the plugin sees it as an opaque
 * dc_call * (the daemon's struct dc_call is another type). */
typedef struct WorkerCall {
        struct WorkerCall *next;
        uint64_t id;
        const PluginFunction *fn;
        int routine; /* >= 0: a routine run, not a call */
        char *params;
        char *result;
        char *error;
        int cancelled; /* atomic */
} WorkerCall;
