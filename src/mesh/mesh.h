/* SPDX-License-Identifier: MIT */
/*
 * The Device Connect mesh front end: this host as a `plugin_host` device on
 * a NATS server (docs/mesh.md, wire reference).  It translates JSON-RPC
 * requests into the core's host operations, publishes events, heartbeats
 * and registrations.  Everything runs on the event loop thread except the
 * blocking registerDevice requests, which a registrar thread sends.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "host.h"

typedef struct Mesh Mesh;

/* True when the configuration names a server or credentials. */
bool mesh_configured(const HostConfig *c);
/* Resolve identity and credentials; connect (retrying in the background
 * when the server is down); subscribe cmd; start heartbeat and registration. */
int mesh_new(sd_event *e, Host *h, const HostConfig *c, Mesh **ret);
/* D2D departure, stop threads, drain and close the connection. */
Mesh *mesh_free(Mesh *m);
const char *mesh_device_id(const Mesh *m);
const char *mesh_tenant(const Mesh *m);
