/* SPDX-License-Identifier: MIT */
/*
 * The operation layer: every host operation a front end offers is defined
 * here once: its request, its validation, the limits that hold for every
 * caller (rate limit, loaded-plugin cap), and its outcome with a reason
 * code from the one list in reason.h.  Front ends keep only their names,
 * their authorization (polkit, mesh subjects) and their encoding
 * (docs/architecture.md).  Loop thread, except ops_invoke_direct().
 */
#pragma once

#include "artifact.h"
#include "host.h"
#include "install.h"

typedef struct Ops Ops;

typedef enum OpKind {
        OP_INVOKE,
        OP_LOAD,
        OP_UNLOAD,
        OP_RELOAD,
        OP_RESCAN,
        OP_INSTALL,
        OP_REMOVE,
        OP_PUBLISH,
        OP_RELOAD_CONFIG, /* configuration, pins and keys read again */
        OP_ISOLATE,       /* move a plugin into a worker or back (the mesh's sidecar RPCs) */
        _OP_MAX,
} OpKind;

const char *op_kind_to_string(OpKind k);

typedef struct OpCaller {
        const char *front_end; /* "bus", "mesh": the journal's DC_FRONT_END */
        const char *id;        /* who, for the journal: a bus name and uid, a mesh peer */
        const char *share;     /* whose rate-limit bucket: "uid:1000", "mesh" */
        bool remote;           /* any tenant credential, not a local admin (the mesh) */
} OpCaller;

typedef struct OpRequest {
        OpKind kind;
        OpCaller caller;
        const char *plugin_id;
        /* OP_INVOKE */
        const char *function;
        const char *params_json; /* NULL or "" = {} */
        uint64_t timeout_usec;   /* 0: CallTimeoutSec= */
        /* OP_INSTALL (plugin_id, caller and load are taken from here) */
        InstallRequest install;
        bool load;
        /* OP_ISOLATE */
        bool isolate;
        /* OP_PUBLISH */
        const char *version;
        const char *bundle_b64;
        /* The caller already took its rate-limit token with ops_admit(). */
        bool admitted;
} OpRequest;

typedef struct OpResult {
        OpKind kind;
        int error;           /* 0 or a negative errno */
        Reason reason;       /* REASON_NONE exactly when error == 0 */
        const char *message; /* why, for people (NULL on success) */
        const char *plugin_id;
        const char *result_json;          /* OP_INVOKE */
        bool unchanged;                   /* OP_RELOAD, OP_ISOLATE: nothing needed doing */
        const InstallResult *install;     /* OP_INSTALL, also on failure */
        const ArtifactRecord *artifact;   /* OP_PUBLISH */
        char *const *unloaded;            /* OP_RELOAD_CONFIG: loaded plugins the new policy refuses */
        char *const *changed;             /* OP_RELOAD_CONFIG: settings now in effect */
        char *const *restart;             /* OP_RELOAD_CONFIG: changed settings that need a restart */
} OpResult;

typedef void (*op_done_fn)(const OpResult *res, void *userdata);

int ops_new(Host *h, const HostConfig *c, Ops **ret);
/* Answers nothing more: ops still running complete silently. */
Ops *ops_free(Ops *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ops *, ops_free);

/* OP_RELOAD_CONFIG reads the configuration again with read() into fresh
 * (zeroed; read() initialises it as at start) and applies it to live, the configuration
 * every part of the daemon reads (the one ops_new() was given). */
typedef int (*ops_config_reader)(HostConfig *fresh, void *userdata);
void ops_set_config_source(Ops *o, HostConfig *live, ops_config_reader read, void *userdata);

/* Run one operation.  done is called exactly once, possibly before this
 * returns, on the loop thread. */
void ops_run(Ops *o, const OpRequest *req, op_done_fn done, void *userdata);

/* The shared limits alone, for work a front end does before ops_run() (a
 * mesh download): 0, or the refusal with *reason and *message (static).
 * Takes a token of the caller's rate limit. */
int ops_admit(Ops *o, OpKind kind, const OpCaller *caller, Reason *reason, const char **message);

/* At shutdown, before the front ends go: every operation still running is
 * answered now with REASON_SHUTTING_DOWN; its later completion is dropped. */
void ops_shutdown(Ops *o);
unsigned ops_n_running(Ops *o);

/*
 * Any thread: a call of a non-blocking function of a thread-safe plugin,
 * run on the calling thread.  -EAGAIN: not eligible here (use ops_run on
 * the loop).  Otherwise as OP_INVOKE's result: 0 with *result (caller
 * frees), or < 0 with *reason and *message (caller frees).
 */
int ops_invoke_direct(Ops *o, const char *plugin_id, const char *function, struct json_object *params,
                      const char *params_text, char **result, Reason *reason, char **message);

/* The trust policy verifies code (pins, or signatures required): what a
 * remote caller may install or load. */
bool ops_policy_verifies_code(const Policy *p);

/* The reason for a core error of an operation (verdict first, then errno). */
Reason op_reason_for(int error, const Verdict *v);
