/* SPDX-License-Identifier: MIT */
/*
 * The Device Connect mesh front end: this host as a `plugin_host` device on
 * a NATS server (docs/mesh.md).  It translates JSON-RPC requests into the
 * operation layer (ops.h), publishes events, heartbeats and registrations.
 * Everything runs on the event loop thread except non-blocking plugin
 * calls (answered on nats.c's delivery thread), registerDevice requests (a
 * registrar thread) and dc-mesh:// downloads (a thread each).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "host.h"
#include "ops.h"

typedef struct Mesh Mesh;

/* True when the configuration names a server or credentials. */
bool mesh_configured(const HostConfig *c);
/* Resolve identity and credentials; connect (retrying in the background
 * when the server is down); subscribe cmd; send the first heartbeat.
 * Requests wait on the event loop until mesh_start(). */
int mesh_new(sd_event *e, Host *h, Ops *ops, const HostConfig *c, Mesh **ret);
/* Once the host has loaded its plugins: follow its changes, register (or
 * start D2D presence) with the plugins in the advertisement. */
int mesh_start(Mesh *m);
/* D2D departure, stop threads, drain and close the connection. */
Mesh *mesh_free(Mesh *m);
const char *mesh_device_id(const Mesh *m);
const char *mesh_tenant(const Mesh *m);

/*
 * Clients (dc-plugin-hostctl --mesh): the same server, credential and
 * identity rules, connected without subscriptions, failing at once when the
 * server is down.  config->mesh.device_id names the target device.
 */
int mesh_client_open(const HostConfig *c, Mesh **ret);
/* One JSON-RPC request to the target device; *ret_reply is the whole reply. */
int mesh_client_request(Mesh *m, const char *method, struct json_object *params, uint64_t timeout_usec,
                        struct json_object **ret_reply);
void mesh_client_close(Mesh *m);
