/* SPDX-License-Identifier: MIT */
/*
 * The Host object, shared by the core's files (as systemd's Manager is):
 * they read and update its fields directly; each file owns one
 * responsibility and calls only downwards:
 *
 *   host.c → scan.c → lifecycle.c → loader.c, direct-call.c, registry.c
 *   invoke.c → call.c, lifecycle.c (drain)      describe.c → registry.c
 *   install.c, publish.c → host.c, store.c      (docs/architecture.md)
 */
#pragma once

#include "direct-call.h"
#include "host.h"
#include "loop-mailbox.h"
#include "plugin-instance.h"
#include "registry.h"
#include "worker-pool.h"

struct Host {
        sd_event *event;
        const HostConfig *config;
        Policy *policy;
        WorkerPool *pool;
        DirectTable *direct;
        LoopMailbox *mailbox; /* plugin events and finished direct calls */
        Registry registry;
        char **roots; /* canonical: read-only roots, then the store */
        RootKind *root_kinds;
        size_t n_roots;
        CtxList ctxs; /* every plugin context ever handed out */
        unsigned n_plugin_threads; /* inprocess.c: init()/cleanup() threads not yet back */
        unsigned n_generations;    /* plugin instances started and not yet drained */
        unsigned n_starting;       /* starts in progress */
        unsigned n_inprocess_loads; /* each keeps its code mapped: MaxInProcessLoads= */
        char **crashed_in_process; /* ids the daemon died in during its previous run */
        char **sidecars;           /* ids moved into workers at runtime (deploy_sidecar) */
        bool owns_crash_marker;
        bool shutting_down;
        host_done_cb shutdown_cb;
        void *shutdown_userdata;
        unsigned n_stuck_threads;  /* of those, past their time */
        bool dry_run; /* --check and refresh: verify, never run plugin code */
};

static inline OwnerRule host_rule_for(const Host *h, RootKind kind) {
        return (OwnerRule){ .kind = kind, .self_uid = h->policy->self_uid, .trusted_uid = h->policy->trusted_uid };
}
