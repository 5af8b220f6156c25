/* SPDX-License-Identifier: MIT */
/* A plugin's descriptor, checked, and the JSON a worker describes it with. */
#pragma once

#include <json-c/json.h>

#include "plugin-instance.h"

/* Steps 18 and 22: magic, ABI, sizes; *ret is this host's copy. */
int descriptor_read(const void *sym, struct dc_plugin_descriptor *ret, Verdict *v);
/* Steps 19-20: id, name and text; the id and version the verification expects. */
int descriptor_check_metadata(const struct dc_plugin_descriptor *d, const char *expected_id,
                              const char *expected_version, Verdict *v);
/* Functions, events, routines: names, handlers, schemas, no duplicates. */
int descriptor_check_tables(Plugin *p, Verdict *v);

/* A worker describes the plugin it loaded (descriptor_to_json); the daemon
 * builds its Plugin from that with the same checks (descriptor_from_json),
 * the strings owned by p. */
struct json_object *descriptor_to_json(const Plugin *p);
int descriptor_from_json(Plugin *p, struct json_object *o, const char *expected_id, const char *expected_version,
                         Verdict *v);
