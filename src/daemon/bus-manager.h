/* SPDX-License-Identifier: MIT */
/*
 * The D-Bus front end: org.deviceconnect.PluginHost1.Manager at
 * /org/deviceconnect/PluginHost1, one org.deviceconnect.PluginHost1.Plugin
 * object per plugin, ObjectManager and LogControl1.  Translates calls into
 * host operations; no plugin logic lives here.
 */
#pragma once

#include <systemd/sd-bus.h>

#include "host.h"
#include "ops.h"

typedef struct BusManager BusManager;

typedef enum ManagerState {
        MANAGER_STATE_UNKNOWN = 0,
        MANAGER_STATE_STARTING = 1,
        MANAGER_STATE_RUNNING = 2,
        MANAGER_STATE_STOPPING = 3,
} ManagerState;

typedef struct BusSettings {
        unsigned max_pending_authorizations;
        unsigned max_pending_authorizations_per_caller;
        uint64_t max_pending_authorization_bytes;
        uint64_t polkit_timeout_usec;
} BusSettings;

/* Register objects on an already connected bus (does not request the name). */
int bus_manager_new(sd_bus *bus, Host *host, Ops *ops, const BusSettings *settings, BusManager **ret);
BusManager *bus_manager_free(BusManager *m);
/* Take org.deviceconnect.PluginHost; a clear error when the policy refuses it. */
int bus_manager_request_name(BusManager *m);
void bus_manager_set_state(BusManager *m, ManagerState state);

/* bus-introspect.c: the introspection XML of one of our interfaces. */
int bus_introspect_interface(const char *interface, char **ret);
