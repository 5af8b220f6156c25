/* SPDX-License-Identifier: MIT */
/*
 * Plugins that keep crashing are quarantined (docs/plugin-security.md,
 * "Supervision"): <state>/quarantine.d/<id> holds why, survives restarts,
 * and only an administrator's explicit load lifts it.  And the crash
 * history that decides it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define CRASH_HISTORY_MAX 64u

typedef struct CrashHistory {
        uint64_t at[CRASH_HISTORY_MAX]; /* CLOCK_MONOTONIC usec, a ring */
        unsigned n, next;
} CrashHistory;

/* Record a crash at now; true when `limit` crashes fell within `interval`. */
bool crash_history_add(CrashHistory *h, uint64_t now, unsigned limit, uint64_t interval);
/* Crashes within interval before now. */
unsigned crash_history_recent(const CrashHistory *h, uint64_t now, uint64_t interval);

int quarantine_set(const char *state_dir, const char *id, const char *why);
int quarantine_clear(const char *state_dir, const char *id);
/* 0 and *why (caller frees) when quarantined; -ENOENT when not. */
int quarantine_get(const char *state_dir, const char *id, char **why);

/* Plugins the daemon died in (crash-marker.h): <state>/crashed-in-process.d/<id>
 * keeps them in worker processes across restarts until an administrator's
 * explicit load. */
int crashed_in_process_set(const char *state_dir, const char *id);
int crashed_in_process_clear(const char *state_dir, const char *id);
bool crashed_in_process_get(const char *state_dir, const char *id);
