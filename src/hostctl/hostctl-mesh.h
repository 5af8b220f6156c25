/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct Mesh Mesh;

typedef struct MeshCliArgs {
        const char *plugin_id, *digest, *format;
        bool load, replace;
        uint64_t timeout_usec;
        bool json;
        /* rollout */
        const char *from, *to; /* source device; targets, comma-separated */
        bool all, keep_going, dry_run;
        unsigned parallel;
} MeshCliArgs;

/* Run one hostctl command against the device c->mesh.device_id over the mesh. */
int hostctl_mesh(const HostConfig *c, const MeshCliArgs *a, const char *verb, int nargs, char **args,
                 int (*open_archive)(const char *path));

/* hostctl-mesh-show.c: a reply shown like the local command's output (or
 * JSON); a failure is logged once.  0, or < 0 when the RPC failed. */
int hostctl_mesh_print(const char *verb, char **args, struct json_object *reply, const MeshCliArgs *a, const char *device,
                       const char *tenant);

/* hostctl-fleet.c: hosts, and the params of an install from a URL (a
 * dc-mesh:// URL's digest asked from its publisher). */
int hostctl_fleet_hosts(Mesh *m, const MeshCliArgs *a);
int hostctl_fleet_url_params(Mesh *m, const MeshCliArgs *a, const char *url, struct json_object **ret);
bool hostctl_mesh_is_url(const char *s);

/* The fleet options (hostctl.c's ARG_FROM … ARG_DRY_RUN, in order). */
int hostctl_fleet_option(MeshCliArgs *a, int which, const char *value);
/* --config=FILE (or the default file) for the mesh settings. */
int hostctl_mesh_config_file(HostConfig *c, const char *path);

/* hostctl-rollout.c */
int hostctl_rollout(Mesh *m, const MeshCliArgs *a, const char *spec);
