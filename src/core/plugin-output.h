/* SPDX-License-Identifier: MIT */
/*
 * What plugins produce besides replies: events and log lines, from an
 * in-process plugin (dc_host_api) or an isolated one (its worker).  Checked
 * (declared event, strict JSON object, schema; escaped text), limited per
 * plugin (a rate and a bound on events waiting for the loop), and counted
 * when dropped, with one summary line now and then.  Any thread.
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "plugin-text.h"

typedef struct Plugin Plugin;
typedef struct PluginOutput PluginOutput;

/* One per plugin generation; events on their way to the loop hold a
 * reference (atomic), so the plugin may go first. */
PluginOutput *plugin_output_new(const char *plugin_id, const HostConfig *config);
PluginOutput *plugin_output_ref(PluginOutput *o);
PluginOutput *plugin_output_unref(PluginOutput *o);

/* 0; -EINVAL for an undeclared event or a payload that is not a JSON object
 * matching the schema; -ENOBUFS when dropped by the limits. */
int plugin_output_event(Plugin *p, const char *name, const char *payload_json);
void plugin_output_log(Plugin *p, int priority, const char *message);
