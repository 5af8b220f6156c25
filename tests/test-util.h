/* SPDX-License-Identifier: MIT */
/* Helpers shared by the g_test suites. */
#pragma once

#include <glib.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "host.h"
#include "log.h"

/* Call after g_test_init(): skips the whole program (TAP "1..0 # SKIP")
 * when no scratch directory can hold plugin roots. */
void tu_init(void);
void tu_block_sigchld(void);
/* A 0755 scratch directory whose ancestors pass the loader's checks (never
 * below /tmp): below /run as root, below the build directory otherwise.
 * Removed by tu_rm_rf(). */
char *tu_tmpdir(void);
void tu_rm_rf(const char *path);
/* Skip the current test unless running as root, saying why it needs it. */
bool tu_require_root(const char *why);

/* Paths of built artefacts (set by meson in the environment). */
char *tu_test_plugin(const char *name);    /* tests/plugins/<name>.so */
char *tu_example_plugin(const char *name); /* examples/<name>/<name>.so */

char *tu_manifest(const char *id, const char *version);
/* <root>/<id>/{manifest.json,<id>.so}; manifest NULL = tu_manifest(id, "1.0.0"). */
void tu_install(const char *root, const char *id, const char *so_path, const char *manifest);
void tu_write_file(const char *path, const char *content, mode_t mode);
void tu_copy_file(const char *src, const char *dst, mode_t mode);
char *tu_sha256_file(const char *path); /* "sha256:<hex>" */

/* A host over one read-only root and a store, with log capture. */
typedef struct TuHost {
        char *tmp;     /* scratch dir */
        char *root;    /* <tmp>/plugins (read-only root) */
        char *state;   /* <tmp>/state */
        char *marker;  /* <tmp>/marker (DC_TEST_MARKER) */
        HostConfig config;
        sd_event *event;
        Host *host;
        GPtrArray *log; /* TuLogEntry* */
} TuHost;

typedef struct TuLogEntry {
        int level;
        char *message_id;
        char *message;
        char *fields; /* "KEY=VALUE\n…" */
} TuLogEntry;

void tu_host_init(TuHost *t);          /* dirs + default config; no Host yet */
/* g_test fixture: tu_host_init() / tu_host_done(). */
void tu_fixture_setup(TuHost *t, gconstpointer data);
void tu_fixture_teardown(TuHost *t, gconstpointer data);
void tu_host_create(TuHost *t);        /* host_new() with the config as it is now */
int tu_host_start(TuHost *t);          /* tu_host_create() if needed, then host_start() */
void tu_host_done(TuHost *t);          /* tu_host_stop(), then host_free() */
/* host_shutdown() and the loop until it finished; false past timeout_ms. */
bool tu_host_stop(TuHost *t, unsigned timeout_ms);
/* host_load()/host_reload() and the loop until the start finished: the outcome. */
int tu_load(TuHost *t, const char *id, Verdict *v);
int tu_reload(TuHost *t, const char *id, bool *unchanged, Verdict *v);
void tu_set_signatures(TuHost *t, const char *json);

/* Log capture (installed by tu_host_init). */
const TuLogEntry *tu_log_find(TuHost *t, const char *substring);
bool tu_log_has(TuHost *t, const char *substring);
const char *tu_log_field(const TuLogEntry *e, const char *key); /* static buffer */
void tu_log_clear(TuHost *t);

/* Marker lines written by the test plugins ("ctor <id>", "init <id>" …). */
bool tu_marker_has(TuHost *t, const char *line);
/* Runs the loop until the marker has line (cleanup() runs on a thread of its own). */
bool tu_marker_wait(TuHost *t, const char *line, unsigned timeout_ms);
void tu_marker_clear(TuHost *t);

/* Run the loop until cond(userdata) or the timeout; returns cond's value. */
bool tu_run_until(sd_event *e, bool (*cond)(void *userdata), void *userdata, unsigned timeout_ms);

typedef struct TuCall {
        bool done;
        int error;
        char *result;
        char *message;
} TuCall;
void tu_call_done(TuCall *c);
/* Synchronous invoke: 0 or the error (sync or async). */
int tu_invoke(TuHost *t, const char *plugin, const char *fn, const char *params, char **result, char **message);
/* Start an invoke; the TuCall fills in later. Returns the synchronous error, if any. */
int tu_invoke_async(TuHost *t, const char *plugin, const char *fn, const char *params, uint64_t timeout_usec,
                    TuCall *call);
