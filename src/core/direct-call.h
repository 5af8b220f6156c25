/* SPDX-License-Identifier: MIT */
/*
 * Calls that skip the worker pool: functions a thread-safe plugin declares
 * DC_FUNCTION_FLAG_NONBLOCKING run on whichever thread received the request
 * (the mesh's delivery thread), saving two thread hand-offs per call.
 *
 * The loop thread publishes a plugin once it is loaded and withdraws it
 * when it starts to drain; a withdrawn plugin's cleanup() waits until its
 * last direct call returned.  Everything else is read-only after load, so
 * one mutex around the lookup and a per-plugin call count are enough.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

typedef struct Plugin Plugin;
typedef struct DirectTable DirectTable;

/* drained(p) runs on the last caller's thread when a withdrawn plugin's
 * last direct call returned (only after withdraw returned true). */
int direct_table_new(void (*drained)(Plugin *p, void *userdata), void *userdata, DirectTable **ret);
DirectTable *direct_table_free(DirectTable *t);

/* Loop thread.  No-op unless p is thread-safe and has a non-blocking
 * function; replaces an older generation with the same id. */
int direct_table_publish(DirectTable *t, Plugin *p);
/* Loop thread.  True if direct calls are still running: drained(p)
 * follows exactly once. */
bool direct_table_withdraw(DirectTable *t, Plugin *p);
/* Any thread: direct calls of p still running. */
bool direct_table_busy(DirectTable *t, Plugin *p);

/* Any thread.  -EAGAIN: not eligible here (unknown, not loaded, blocking,
 * demoted...): use host_invoke() on the loop, which gives the usual
 * answers.  Otherwise as host_invoke()'s callback: 0 with *result, or
 * HOST_ERR_INVALID_PARAMS / HOST_ERR_HANDLER_FAILED with *error_message
 * (either pointer may be NULL). */
int direct_table_call(DirectTable *t, const char *plugin_id, const char *function, struct json_object *params,
                      const char *params_text, char **result, char **error_message);
