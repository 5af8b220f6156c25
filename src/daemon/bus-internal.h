/* SPDX-License-Identifier: MIT */
/*
 * What the D-Bus front end's files share: the BusManager and the request
 * plumbing.  One object type per file (as logind and bolt do):
 * bus-manager.c (Manager), bus-plugin.c (Plugin objects), bus-log-control.c
 * (LogControl1); bus-request.c authorizes and runs their requests through
 * the operation layer (src/core/ops.h).
 */
#pragma once

#include <systemd/sd-bus.h>

#include "bus-manager.h"
#include "bus-polkit.h"
#include "ops.h"

struct BusManager {
        sd_bus *bus;
        Host *host;
        Ops *ops;
        PolkitQueue *polkit;
        ManagerState state;
        sd_bus_slot *slots[8];
        size_t n_slots;
        unsigned n_requests;   /* BusRequests alive: each holds one incoming message */
        unsigned max_requests; /* so that their fds can never exhaust RLIMIT_NOFILE */
};

/* ---- bus-request.c ---- */

typedef struct BusRequest BusRequest;
/* The success reply of one method (the error reply is the same for all). */
typedef int (*bus_reply_fn)(BusRequest *r, const OpResult *res);

struct BusRequest {
        BusManager *m;
        sd_bus_message *msg; /* the call; its strings back op's pointers */
        OpRequest op;
        bus_reply_fn reply;  /* NULL: an empty reply */
        int fd;              /* InstallPlugin: our copy of the archive fd */
        char *owned_id;      /* when the id does not come from msg's arguments */
        char caller_id[96];
        char share[32];
};

/* A request for msg (counted against the fd budget): LimitsExceeded past it. */
int bus_request_new(BusManager *m, sd_bus_message *msg, OpKind kind, const char *plugin_id, BusRequest **ret,
                    sd_bus_error *error);
void bus_request_free(BusRequest *r);
/* A copy of id as the request's plugin id (Plugin objects: the path names it). */
int bus_request_set_id(BusRequest *r, const char *id);
/* Authorize (polkit, asynchronously), run, reply exactly once; takes r.
 * Returns what an sd-bus method handler returns. */
int bus_request_submit(BusRequest *r, sd_bus_error *error);
/* The named D-Bus error for a failed operation. */
int bus_error_from_result(sd_bus_error *error, const OpResult *res);

int bus_check_flags(uint64_t flags, sd_bus_error *error);
/* Reads the method's only argument, "t" flags, which must be 0. */
int bus_read_flags(sd_bus_message *msg, sd_bus_error *error);
int bus_check_id(const char *id, sd_bus_error *error);
int bus_check_params_size(const char *params, sd_bus_error *error);

/* ---- bus-plugin.c ---- */

extern const sd_bus_vtable bus_plugin_vtable[];
/* /org/deviceconnect/PluginHost1/plugins/<escaped id> (caller frees). */
char *bus_plugin_path(const char *id);
int bus_plugin_register(BusManager *m);
void bus_plugin_unregister(BusManager *m);

/* ---- bus-log-control.c ---- */

extern const sd_bus_vtable bus_log_control_vtable[];
int bus_log_control_register(BusManager *m);

/* ---- bus-manager.c ---- */

extern const sd_bus_vtable bus_manager_vtable[];
