/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-host plugin SDK: the C ABI between dc-plugin-hostd and a plugin.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * `dc_plugin_descriptor`, a const struct dc_plugin_descriptor.  Everything the
 * host needs (identity, functions, events, periodic routines, init/cleanup) is
 * reachable from it; nothing else is looked up.  Parameters, results and event
 * payloads cross the ABI as NUL-terminated UTF-8 JSON text, so plugins may use
 * any JSON library (or none) and the host may change its own freely.
 *
 * Versioning: DC_PLUGIN_ABI_MAJOR is the plugin "api_level".  The host loads
 * only plugins whose abi_major (and manifest api_level) equals its own.
 * DC_PLUGIN_ABI_MINOR grows when fields are appended at the end of a struct;
 * fields are never reordered or removed within a major version.  The host
 * reads a descriptor only up to its struct_size (any size back to 1.0 loads;
 * fields it does not have read as zero) and walks functions[], events[] and
 * routines[] with the element sizes the plugin was built with (since 1.2;
 * older plugins have the 1.0 sizes).  The other way round, dc_host_api's
 * struct_size tells a plugin which services the host it runs in offers:
 * check it before using a member added after the minor you need.
 *
 * Threading: handlers run on the host's worker threads, never on its event
 * loop (DC_FUNCTION_FLAG_NONBLOCKING functions may also run on the thread
 * that received the request).  Unless the descriptor sets
 * DC_PLUGIN_FLAG_THREAD_SAFE, the host runs at most one handler or routine
 * of the plugin at a time.  init() and cleanup() run on the host's main
 * thread with no handler running.
 *
 * Build plugins with -fvisibility=hidden and export only the descriptor with
 * DC_PLUGIN_EXPORT; see docs/plugin-development.md.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DC_PLUGIN_MAGIC 0x44435047u /* "DCPG" */
#define DC_PLUGIN_ABI_MAJOR 1u
#define DC_PLUGIN_ABI_MINOR 2u
#define DC_PLUGIN_DESCRIPTOR_SYMBOL "dc_plugin_descriptor"

#define DC_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The compiler that built the plugin; the host warns when it differs from its own. */
#if defined(__clang__)
#define DC_PLUGIN_TOOLCHAIN "clang " __clang_version__
#elif defined(__GNUC__)
#define DC_PLUGIN_TOOLCHAIN "gcc " __VERSION__
#else
#define DC_PLUGIN_TOOLCHAIN "unknown"
#endif

/* Descriptor flags. */
#define DC_PLUGIN_FLAG_THREAD_SAFE (1u << 0) /* handlers may run concurrently */

/* Function flags. */
#define DC_FUNCTION_FLAG_SLOW (1u << 0) /* informational: may take seconds */
/* Since ABI 1.1.  The handler returns within microseconds and never blocks
 * (no I/O, no sleeping, no waiting on locks held for long).  In a plugin
 * with DC_PLUGIN_FLAG_THREAD_SAFE the host may then run it directly on the
 * thread that received the request instead of handing it to a worker; a
 * call that takes longer than 2 ms loses the privilege for the rest of the
 * plugin's life (logged).  Older hosts ignore the flag. */
#define DC_FUNCTION_FLAG_NONBLOCKING (1u << 1)

/* Log priorities, as syslog(3). */
#define DC_LOG_ERR 3
#define DC_LOG_WARNING 4
#define DC_LOG_NOTICE 5
#define DC_LOG_INFO 6
#define DC_LOG_DEBUG 7

typedef struct dc_plugin_ctx dc_plugin_ctx; /* one per loaded plugin instance */
typedef struct dc_call dc_call;             /* one per function call */
typedef struct dc_host_api dc_host_api;

/*
 * Function handler.  params_json is a JSON object already validated against
 * the function's params_schema.  Report the outcome through the host API:
 * host->reply(call, "<json>") for a result (no reply = JSON null), or
 * host->fail(call, "message") / a negative errno return for an error.
 * Return 0 on success.
 */
typedef int (*dc_plugin_handler)(dc_plugin_ctx *ctx, dc_call *call, const char *params_json);

typedef struct dc_plugin_function {
        const char *name;          /* ^[A-Za-z_][A-Za-z0-9_]{0,63}$ */
        const char *description;   /* one line, UTF-8 */
        const char *params_schema; /* JSON Schema of the params object, or NULL = no params ({} only) */
        uint32_t flags;            /* DC_FUNCTION_FLAG_* */
        dc_plugin_handler handler; /* required */
} dc_plugin_function;

typedef struct dc_plugin_event {
        const char *name;           /* same pattern as function names */
        const char *description;
        const char *payload_schema; /* JSON Schema of the payload, or NULL = the payload is {} */
} dc_plugin_event;

typedef struct dc_plugin_routine {
        const char *name;
        uint32_t interval_ms; /* > 0; run first after one interval */
        void (*run)(dc_plugin_ctx *ctx);
} dc_plugin_routine;

/*
 * Services the host offers a plugin.  Valid from init() until cleanup()
 * returns.  All members may be called from any thread.
 */
struct dc_host_api {
        uint32_t struct_size;
        uint32_t abi_major;

        /* Publish event `name` (declared in the descriptor) with a JSON
         * payload (object text or NULL = {}).  Returns 0 or a negative errno
         * (-EINVAL: undeclared event or invalid JSON). */
        int (*emit_event)(dc_plugin_ctx *ctx, const char *name, const char *payload_json);

        /* Log a line attributed to the plugin (priority: DC_LOG_*). */
        void (*log)(dc_plugin_ctx *ctx, int priority, const char *message);

        /* The plugin's configuration as JSON object text ("{}" if none).
         * The string stays valid until cleanup(). */
        const char *(*config)(dc_plugin_ctx *ctx);

        /* Per-instance data pointer for the plugin's own use. */
        void (*set_data)(dc_plugin_ctx *ctx, void *data);
        void *(*get_data)(dc_plugin_ctx *ctx);

        /* Set the call's result (JSON text; copied).  -EINVAL on invalid JSON. */
        int (*reply)(dc_call *call, const char *result_json);
        /* Set the call's error message (copied); the call fails. */
        int (*fail)(dc_call *call, const char *message);
        /* Non-zero once the caller stopped waiting (timeout or shutdown):
         * long handlers should poll it and return early. */
        int (*cancelled)(dc_call *call);
};

/* The descriptor type shares its name with the exported symbol: use the
 * struct tag, `struct dc_plugin_descriptor`. */
struct dc_plugin_descriptor {
        uint32_t magic;       /* DC_PLUGIN_MAGIC */
        uint16_t abi_major;   /* DC_PLUGIN_ABI_MAJOR ("api_level") */
        uint16_t abi_minor;   /* DC_PLUGIN_ABI_MINOR */
        uint32_t struct_size; /* sizeof(dc_plugin_descriptor) */
        uint32_t flags;       /* DC_PLUGIN_FLAG_* */

        const char *id;          /* equals the manifest id and folder name */
        const char *name;        /* human-readable, <= 128 bytes */
        const char *version;     /* equals the manifest version */
        const char *description;
        const char *author;      /* optional */
        const char *toolchain;   /* optional, e.g. "gcc 12.2.0"; informational */

        const dc_plugin_function *functions;
        size_t n_functions;
        const dc_plugin_event *events;
        size_t n_events;
        const dc_plugin_routine *routines;
        size_t n_routines;

        /* Required.  Return 0, or a negative errno to refuse loading
         * (*error may point at a static message). */
        int (*init)(dc_plugin_ctx *ctx, const dc_host_api *host, const char **error);
        /* Required.  Called once on unload or shutdown; a negative return is
         * logged as a warning and otherwise ignored. */
        int (*cleanup)(dc_plugin_ctx *ctx);

        /* Since ABI 1.2 (set by DC_PLUGIN_HEADER): sizeof the elements of
         * functions[], events[] and routines[] as this plugin was built, so
         * that fields appended to those structs later never break it.  0:
         * the ABI 1.0 sizes. */
        uint32_t function_size;
        uint32_t event_size;
        uint32_t routine_size;
};

/* Declare the descriptor: DC_PLUGIN_DEFINE(desc_initializer). */
#define DC_PLUGIN_DEFINE(...) DC_PLUGIN_EXPORT const struct dc_plugin_descriptor dc_plugin_descriptor = __VA_ARGS__

#define DC_PLUGIN_HEADER                                                                          \
        .magic = DC_PLUGIN_MAGIC, .abi_major = DC_PLUGIN_ABI_MAJOR, .abi_minor = DC_PLUGIN_ABI_MINOR, \
        .struct_size = sizeof(struct dc_plugin_descriptor), .toolchain = DC_PLUGIN_TOOLCHAIN,     \
        .function_size = sizeof(dc_plugin_function), .event_size = sizeof(dc_plugin_event),       \
        .routine_size = sizeof(dc_plugin_routine)

#define DC_PLUGIN_N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#ifdef __cplusplus
}
#endif
