/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct MeshCliArgs {
        const char *plugin_id, *digest, *format;
        bool load, replace, allow_downgrade;
        uint64_t timeout_usec;
} MeshCliArgs;

/* Run one hostctl command against the device c->mesh.device_id over the mesh. */
/* 0, or a negative errno after a message. */
int hostctl_mesh(const HostConfig *c, const MeshCliArgs *a, const char *verb, int nargs, char **args);
