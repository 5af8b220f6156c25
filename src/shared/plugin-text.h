/* SPDX-License-Identifier: MIT */
/*
 * What a plugin may hand the host through dc_host_api, and how it is
 * checked: one rule whether the plugin runs in the daemon
 * (src/core/host-api.c) or in a worker (src/worker/worker-api.c), and again
 * in the daemon for what a worker sends (src/core/isolated.c).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#define PLUGIN_JSON_MAX     (16u * 1024u * 1024u) /* a call's result or an event's payload */
#define PLUGIN_LOG_LINE_MAX 4096u                 /* a log line or failure message, escaped */

/* Strict JSON of at most PLUGIN_JSON_MAX bytes (an object when
 * object_only): 0 and the value in *ret (may be NULL), or -EINVAL. */
int plugin_json_parse(const char *text, bool object_only, struct json_object **ret);

/* dc_host_api.reply(): a checked copy of result_json replaces *slot. */
int plugin_result_store(char **slot, const char *result_json);
