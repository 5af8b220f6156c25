/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl --mesh: the commands against a plugin host on the
 * Device Connect mesh, one file per job:
 *   hostctl-mesh.c        the client's settings, commands → host RPCs
 *   hostctl-mesh-show.c   a reply shown like the local command's output
 *   hostctl-fleet.c       hosts, and the parameters of an install from a URL
 *   hostctl-rollout.c     rollout
 * Every output goes through hostctl-output.h (--json=, --no-legend, the pager).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "hostctl.h"

typedef struct Mesh Mesh;

/* The command line as the mesh commands use it. */
typedef struct MeshCliArgs {
        const char *plugin_id, *digest, *format;
        bool load, replace, allow_downgrade;
        uint64_t timeout_usec; /* resolved: --timeout= or HOSTCTL_MESH_TIMEOUT_USEC */
        /* rollout */
        const char *from, *to; /* source device; targets, comma-separated */
        bool all, keep_going, dry_run;
        unsigned parallel; /* 0: the default */
} MeshCliArgs;

/* Run one command against the device of the mesh settings (--config=, the
 * environment, then --device= and the other options).  0, a negative
 * errno after a message, or HOSTCTL_EXIT_USAGE. */
int hostctl_mesh(const HostctlArgs *a, const char *verb, int nargs, char **args);

/* hostctl-mesh-show.c: a reply shown like the local command's output (or
 * as JSON); a failure is said once.  0, or < 0 when the RPC failed. */
int hostctl_mesh_print(const char *verb, char **args, struct json_object *reply, const char *device, const char *tenant);

/* hostctl-fleet.c: hosts, and the params of an install from a URL (a
 * dc-mesh:// URL's digest asked from its publisher). */
int hostctl_fleet_hosts(Mesh *m, const MeshCliArgs *a);
void hostctl_mesh_install_flags(struct json_object *p, const MeshCliArgs *a);
int hostctl_fleet_url_params(Mesh *m, const MeshCliArgs *a, const char *url, struct json_object **ret);

/* hostctl-rollout.c; the command line was checked (hostctl.c). */
int hostctl_rollout(Mesh *m, const MeshCliArgs *a, const char *spec);
