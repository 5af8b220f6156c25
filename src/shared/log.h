/* SPDX-License-Identifier: MIT */
/*
 * One logging API for the whole daemon.  Back ends: the journal (structured
 * fields, MESSAGE_ID) when stderr is connected to it or when asked, readable
 * lines on stderr otherwise, and a capture hook for tests.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_CONSOLE,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_NULL,
        _LOG_TARGET_MAX,
} LogTarget;

typedef struct LogField {
        const char *key;   /* [A-Z0-9_]+, no leading '_' */
        const char *value; /* NULL: field omitted */
} LogField;

#define LF(k, v) ((LogField){ (k), (v) })
#define LOG_FIELDS(...) ((const LogField[]){ __VA_ARGS__, { NULL, NULL } })
#define LOG_NO_FIELDS ((const LogField[]){ { NULL, NULL } })

typedef void (*log_capture_fn)(int level, const char *message_id, const LogField *fields,
                               const char *message, void *userdata);

void log_set_target(LogTarget t);
LogTarget log_get_target(void);     /* the effective target (AUTO resolved) */
int log_target_from_string(const char *s);
const char *log_target_to_string(LogTarget t);
void log_set_max_level(int level);
int log_get_max_level(void);
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);
/* Everything logged so far is written (before _exit()); waits at most 2 s. */
void log_flush(void);
/* The daemon: from now on journal and console output is written by a thread
 * of its own through a bounded queue (dropped and counted when full), so that
 * logging never blocks the event loop or a plugin's thread.  Stop flushes. */
int log_writer_start(void);
void log_writer_stop(void);
void log_set_capture(log_capture_fn fn, void *userdata);

/* Returns -abs(error) when error != 0, else 0, so callers can `return log_...`. */
int log_struct_internal(int level, int error, const char *message_id, const LogField *fields,
                        const char *format, ...) _printf_(5, 6);

#define log_struct(level, error, msgid, fields, ...) \
        log_struct_internal(level, error, msgid, fields, __VA_ARGS__)
#define log_full_errno(level, error, ...) log_struct_internal(level, error, NULL, LOG_NO_FIELDS, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_oom() log_full_errno(LOG_ERR, ENOMEM, "Out of memory.")

/* At most `burst` messages per `interval_usec` per call site (any thread);
 * *suppressed: how many were dropped since the last one that passed. */
typedef struct LogRatelimit {
        uint64_t begin_usec;
        unsigned count, suppressed;
} LogRatelimit;
bool log_ratelimit_test(LogRatelimit *rl, unsigned burst, uint64_t interval_usec, unsigned *suppressed);

#define log_ratelimit_full(level, ...)                                                                        \
        do {                                                                                                  \
                static LogRatelimit _rl;                                                                      \
                unsigned _suppressed;                                                                         \
                if (log_ratelimit_test(&_rl, 10, 10 * 1000000ull, &_suppressed)) {                            \
                        if (_suppressed > 0)                                                                  \
                                log_full_errno(level, 0, "(%u similar messages suppressed)", _suppressed);   \
                        log_full_errno(level, 0, __VA_ARGS__);                                                \
                }                                                                                             \
        } while (0)
#define log_ratelimit_warning(...) log_ratelimit_full(LOG_WARNING, __VA_ARGS__)
