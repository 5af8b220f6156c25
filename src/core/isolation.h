/* SPDX-License-Identifier: MIT */
/*
 * Where a plugin runs (docs/plugin-security.md, "Isolation"): the manifest's
 * "isolation" is a request; the administrator decides with
 * DefaultIsolation= and PluginIsolation=.  Code the trust policy does not
 * verify runs in a worker unless the administrator says otherwise, and a
 * plugin the daemon crashed in last time runs in a worker.
 */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "manifest.h"
#include "policy.h"

typedef enum PluginIsolation {
        PLUGIN_ISOLATION_IN_PROCESS,
        PLUGIN_ISOLATION_PROCESS,
        _PLUGIN_ISOLATION_MAX,
} PluginIsolation;

const char *plugin_isolation_to_string(PluginIsolation i); /* "in-process", "process" */

/* The administrator's PluginIsolation= entry for id, or -ENOENT. */
int isolation_override(const HostConfig *c, const char *id, PluginIsolation *ret);

/* m: the plugin's manifest (NULL for the flat layout); crashed: the
 * daemon died inside this plugin's code during the previous run. */
PluginIsolation isolation_decide(const HostConfig *c, const Policy *p, const char *id, const Manifest *m, bool crashed);

/* The worker may open IP sockets: the manifest asks and PluginNetwork= lists the id. */
bool isolation_network_allowed(const HostConfig *c, const char *id, const Manifest *m);
