/* SPDX-License-Identifier: MIT */
/* Which layers of the worker sandbox this kernel offers (for Describe and
 * get_status; each worker also reports what it applied). */
#pragma once

#include <json-c/json.h>

#include "config.h"

/* {"landlock_abi": N, "seccomp": bool, "no_new_privs": true, "default_isolation": "…", "worker": path,
 * "worker_available": bool} */
struct json_object *sandbox_probe(const HostConfig *c);
