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
/* One JSON-RPC request to the target device; *ret_reply is the whole reply.
 * A failure to get one is logged.  Admin RPCs go to the admin subject when
 * the host refuses them on cmd. */
int mesh_client_request(Mesh *m, const char *method, struct json_object *params, uint64_t timeout_usec,
                        struct json_object **ret_reply);

/* An admin RPC (installs, loads, removals, publishes): when the host
 * answers "admin-only" on …<device>.cmd, ask again on …<device>.admin. */
#define MESH_CALL_ADMIN 1u
/*
 * Any thread: one JSON-RPC request to device (NULL: the configured one).
 * 0 with *ret_reply (the whole reply object), or -EHOSTUNREACH (nobody
 * listens), -ETIMEDOUT, -EIO, -EBADMSG with *ret_error (caller frees; not
 * logged).
 */
int mesh_client_call(Mesh *m, const char *device, const char *method, struct json_object *params, unsigned flags,
                     uint64_t timeout_usec, struct json_object **ret_reply, char **ret_error);
const char *mesh_client_tenant(const Mesh *m);
void mesh_client_close(Mesh *m);

/*
 * The plugin hosts of the tenant (docs/mesh.md, "Fleet operations"): the
 * registry's discovery/listDevices (device_type plugin_host, paged), D2D
 * presence answering a probe, and heartbeats seen meanwhile (when neither
 * registry nor presence answers, for one heartbeat period); then get_status
 * of each, all at once.  *ret is a JSON array sorted by device_id of
 * {"device_id", "sources": [...], "answered", "version", "loaded_count",
 * "loaded_plugins", "last_seen" (epoch seconds or null), "error"}.
 * timeout_usec bounds the get_status round (at most 2 s of it).
 */
int mesh_client_discover(Mesh *m, uint64_t timeout_usec, struct json_object **ret);
