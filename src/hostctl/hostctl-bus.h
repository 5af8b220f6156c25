/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl on the bus: the connection (local, or -H over ssh),
 * calls with their timeout and the terminal polkit agent, and one place
 * that turns a failed call into a message and an exit status.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "hostctl.h"

/* 0, or an exit status after a message. */
int hostctl_bus_open(const HostctlArgs *a, sd_bus **ret);

/* A call of method on the Manager object, arguments appended by the caller. */
int hostctl_bus_message(Hostctl *c, const char *method, sd_bus_message **ret);

/*
 * Send m and wait for its reply (--timeout=, else default_usec).  authorize:
 * polkit checks the method, so a terminal agent may be started first.  0
 * with *reply (may be NULL), or an exit status after "<what>: <why>".
 */
int hostctl_bus_call(Hostctl *c, sd_bus_message *m, bool authorize, uint64_t default_usec, const char *what,
                     sd_bus_message **reply);
/* The same for a method with simple arguments (types as sd_bus_message_append()). */
int hostctl_bus_call_method(Hostctl *c, const char *method, bool authorize, const char *what, sd_bus_message **reply,
                            const char *types, ...);

/* Log "<what>: <why>" for a failed call; the exit status. */
int hostctl_bus_error(const Hostctl *c, const char *what, const sd_bus_error *e, int r, uint64_t timeout_usec);

/* Manager.Describe, parsed. */
int hostctl_describe(Hostctl *c, struct json_object **ret);
/* plugins[] of a Describe document: the one of id, or NULL. */
struct json_object *hostctl_describe_find(struct json_object *describe, const char *member, const char *id);

/* The plugin object's state after an operation: id, state, last_error,
 * digest (as in Describe), or NULL when the host does not know it. */
int hostctl_plugin_json(Hostctl *c, const char *id, struct json_object **ret);
