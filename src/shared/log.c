/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "escape.h"
#include "names.h"

static LogTarget log_target = LOG_TARGET_AUTO;
static int log_max_level = LOG_INFO;
static log_capture_fn log_capture;
static void *log_capture_userdata;
/* Worker threads log too (plugin log lines): serialise output and the hook. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const target_table[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_CONSOLE] = "console",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_NULL] = "null",
};

static const char *const level_table[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_set_target(LogTarget t) {
        log_target = t;
}

/* systemd sets $JOURNAL_STREAM to "<dev>:<ino>" of the stream it connected. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        struct stat st;
        unsigned long long dev, ino;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

LogTarget log_get_target(void) {
        if (log_target == LOG_TARGET_AUTO)
                return stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
        return log_target;
}

int log_target_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(target_table); i++)
                if (streq(s, target_table[i]))
                        return (int) i;
        return -EINVAL;
}

const char *log_target_to_string(LogTarget t) {
        return t >= 0 && t < _LOG_TARGET_MAX ? target_table[t] : NULL;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_table); i++)
                if (streq(s, level_table[i]))
                        return (int) i;
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        return level >= 0 && (size_t) level < ELEMENTSOF(level_table) ? level_table[level] : NULL;
}

void log_set_capture(log_capture_fn fn, void *userdata) {
        pthread_mutex_lock(&log_lock);
        log_capture = fn;
        log_capture_userdata = userdata;
        pthread_mutex_unlock(&log_lock);
}

static void write_journal(int level, int error, const char *message_id, const LogField *fields,
                          const char *message) {
        /* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, MESSAGE_ID, ERRNO + fields */
        size_t n = 0, k = 0;
        for (const LogField *f = fields; f->key; f++)
                n++;
        struct iovec iov[n + 5];
        char *strs[n + 5];

#define ADD(...)                                                        \
        do {                                                            \
                if (asprintf(&strs[k], __VA_ARGS__) < 0)                \
                        goto finish;                                    \
                iov[k] = (struct iovec){ strs[k], strlen(strs[k]) };    \
                k++;                                                    \
        } while (0)

        ADD("MESSAGE=%s", message);
        ADD("PRIORITY=%d", level);
        ADD("SYSLOG_IDENTIFIER=%s", DC_SYSLOG_IDENTIFIER);
        if (message_id)
                ADD("MESSAGE_ID=%s", message_id);
        if (error)
                ADD("ERRNO=%d", error);
        for (const LogField *f = fields; f->key; f++)
                if (f->value)
                        ADD("%s=%s", f->key, f->value);
#undef ADD
        sd_journal_sendv(iov, (int) k);
finish:
        for (size_t i = 0; i < k; i++)
                free(strs[i]);
}

static void write_console(int level, const LogField *fields, const char *message) {
        /* One line: the message, then the structured fields for context. */
        fputs(message, stderr);
        bool first = true;
        for (const LogField *f = fields; f->key; f++) {
                if (!f->value)
                        continue;
                fprintf(stderr, "%s%s=%s", first ? "  [" : " ", f->key, f->value);
                first = false;
        }
        if (!first)
                fputc(']', stderr);
        (void) level;
        fputc('\n', stderr);
}

/* ---- the writer thread: logging never blocks the caller ------------------------------- */

/* A slow journal or a stderr pipe nobody reads must not stop the event loop
 * or a plugin's thread: entries go through a bounded queue to one writer
 * thread; past LOG_QUEUE_MAX bytes they are dropped, and counted. */
#define LOG_QUEUE_MAX (4u * 1024u * 1024u)

typedef struct LogEntry {
        struct LogEntry *next;
        LogTarget target;
        int level, error;
        char *message_id, *message;
        LogField *fields; /* copies, NULL-terminated */
        size_t bytes;
} LogEntry;

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static LogEntry *queue_head, *queue_tail;
static size_t queue_bytes;
static unsigned long queue_dropped;
static bool writer_running, writer_stop, writer_busy;
static pthread_t writer_thread;

static void entry_free(LogEntry *e) {
        for (LogField *f = e->fields; f && f->key; f++) {
                free((char *) f->key);
                free((char *) f->value);
        }
        free(e->fields);
        free(e->message_id);
        free(e->message);
        free(e);
}

static void write_entry(LogTarget target, int level, int error, const char *message_id, const LogField *fields,
                        const char *message);

static void *writer_main(void *arg) {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        pthread_mutex_lock(&queue_lock);
        for (;;) {
                while (!queue_head && !writer_stop)
                        pthread_cond_wait(&queue_cond, &queue_lock);
                if (!queue_head)
                        break;
                LogEntry *e = queue_head;
                queue_head = e->next;
                if (!queue_head)
                        queue_tail = NULL;
                queue_bytes -= e->bytes;
                unsigned long dropped = queue_bytes == 0 ? queue_dropped : 0;
                queue_dropped -= dropped;
                writer_busy = true;
                pthread_mutex_unlock(&queue_lock);

                write_entry(e->target, e->level, e->error, e->message_id, e->fields, e->message);
                if (dropped > 0) {
                        char line[160];
                        snprintf(line, sizeof line,
                                 "%lu log message(s) dropped: they came faster than the log could take them", dropped);
                        write_entry(e->target, LOG_WARNING, 0, NULL, LOG_NO_FIELDS, line);
                }
                entry_free(e);

                pthread_mutex_lock(&queue_lock);
                writer_busy = false;
                pthread_cond_broadcast(&queue_cond);
        }
        pthread_mutex_unlock(&queue_lock);
        return NULL;
}

int log_writer_start(void) {
        pthread_mutex_lock(&queue_lock);
        int r = writer_running ? 0 : -pthread_create(&writer_thread, NULL, writer_main, NULL);
        if (r == 0)
                writer_running = true;
        pthread_mutex_unlock(&queue_lock);
        return r;
}

void log_writer_stop(void) {
        log_flush();
        pthread_mutex_lock(&queue_lock);
        bool running = writer_running;
        writer_stop = true;
        pthread_cond_broadcast(&queue_cond);
        pthread_mutex_unlock(&queue_lock);
        if (running)
                pthread_join(writer_thread, NULL);
        pthread_mutex_lock(&queue_lock);
        writer_running = writer_stop = false;
        pthread_mutex_unlock(&queue_lock);
}

/* false: not queued (no writer); the caller writes itself. */
static bool enqueue(LogTarget target, int level, int error, const char *message_id, const LogField *fields,
                    char **message) {
        pthread_mutex_lock(&queue_lock);
        bool running = writer_running && !writer_stop;
        pthread_mutex_unlock(&queue_lock);
        if (!running)
                return false;

        size_t n = 0, bytes = sizeof(LogEntry) + strlen(*message);
        for (const LogField *f = fields; f->key; f++, n++)
                bytes += strlen(f->key) + (f->value ? strlen(f->value) : 0) + sizeof(LogField);
        pthread_mutex_lock(&queue_lock);
        if (queue_bytes + bytes > LOG_QUEUE_MAX) {
                queue_dropped++;
                pthread_mutex_unlock(&queue_lock);
                return true;
        }
        pthread_mutex_unlock(&queue_lock);

        LogEntry *e = calloc(1, sizeof *e);
        if (!e)
                return true; /* dropped */
        *e = (LogEntry){ .target = target, .level = level, .error = error, .bytes = bytes };
        e->message = TAKE_PTR(*message);
        e->message_id = message_id ? strdup(message_id) : NULL;
        e->fields = calloc(n + 1, sizeof(LogField));
        bool ok = e->message && (!message_id || e->message_id) && e->fields;
        for (size_t i = 0; ok && i < n; i++) {
                e->fields[i].key = strdup(fields[i].key);
                e->fields[i].value = fields[i].value ? strdup(fields[i].value) : NULL;
                ok = e->fields[i].key && (!fields[i].value || e->fields[i].value);
        }
        if (!ok) {
                entry_free(e);
                return true;
        }
        pthread_mutex_lock(&queue_lock);
        if (queue_tail)
                queue_tail->next = e;
        else
                queue_head = e;
        queue_tail = e;
        queue_bytes += bytes;
        pthread_cond_signal(&queue_cond);
        pthread_mutex_unlock(&queue_lock);
        return true;
}

/* Output only: a write that blocks (a full pipe) must not hold log_lock,
 * which every logging thread takes for the capture hook. */
static pthread_mutex_t output_lock = PTHREAD_MUTEX_INITIALIZER;

static void write_entry(LogTarget target, int level, int error, const char *message_id, const LogField *fields,
                        const char *message) {
        pthread_mutex_lock(&output_lock);
        if (target == LOG_TARGET_JOURNAL)
                write_journal(level, error, message_id, fields, message);
        else if (target == LOG_TARGET_CONSOLE)
                write_console(level, fields, message);
        pthread_mutex_unlock(&output_lock);
}

int log_struct_internal(int level, int error, const char *message_id, const LogField *fields,
                        const char *format, ...) {
        int saved_errno = errno;
        int r = error == 0 ? 0 : -abs(error);

        if (level > log_max_level && !log_capture)
                return r;

        _cleanup_free_ char *message = NULL;
        va_list ap;
        va_start(ap, format);
        errno = abs(error);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);
        if (!message) {
                errno = saved_errno;
                return r;
        }

        /* The last line of defence for the terminal and the journal: a
         * control character from a peer, a caller or a plugin that no call
         * site escaped is written as \xNN here (SECURITY.md). */
        bool oom;
        char *safe = escape_controls(message, &oom);
        if (oom) {
                errno = saved_errno;
                return r;
        }
        if (safe) {
                free(message);
                message = safe;
        }
        size_t n_fields = 0;
        for (const LogField *f = fields; f->key; f++)
                n_fields++;
        LogField safe_fields[n_fields + 1];
        char *owned[n_fields + 1];
        for (size_t i = 0; i <= n_fields; i++) {
                owned[i] = NULL;
                safe_fields[i] = fields[i];
                if (fields[i].value && (owned[i] = escape_controls(fields[i].value, &oom)))
                        safe_fields[i].value = owned[i];
                if (oom)
                        safe_fields[i].value = "(out of memory)";
        }
        fields = safe_fields;

        pthread_mutex_lock(&log_lock);
        if (log_capture)
                log_capture(level, message_id, fields, message, log_capture_userdata);
        pthread_mutex_unlock(&log_lock);
        LogTarget target = log_get_target();
        if (level <= log_max_level && (target == LOG_TARGET_JOURNAL || target == LOG_TARGET_CONSOLE) &&
            !enqueue(target, level, abs(error), message_id, fields, &message))
                write_entry(target, level, abs(error), message_id, fields, message);
        for (size_t i = 0; i < n_fields; i++)
                free(owned[i]);
        errno = saved_errno;
        return r;
}

static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

bool log_ratelimit_test(LogRatelimit *rl, unsigned burst, uint64_t interval_usec, unsigned *suppressed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
        bool ok;

        pthread_mutex_lock(&ratelimit_lock);
        if (rl->begin_usec == 0 || now - rl->begin_usec >= interval_usec) {
                rl->begin_usec = now;
                rl->count = 0;
        }
        ok = rl->count < burst;
        if (ok) {
                rl->count++;
                *suppressed = rl->suppressed;
                rl->suppressed = 0;
        } else
                rl->suppressed++;
        pthread_mutex_unlock(&ratelimit_lock);
        return ok;
}

void log_flush(void) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 2; /* a consumer that never reads does not hold the exit */
        pthread_mutex_lock(&queue_lock);
        while (writer_running && (queue_head || writer_busy))
                if (pthread_cond_timedwait(&queue_cond, &queue_lock, &deadline) == ETIMEDOUT)
                        break;
        bool stuck = writer_running && (queue_head || writer_busy);
        pthread_mutex_unlock(&queue_lock);
        if (stuck)
                return; /* the writer is blocked: so would fflush() be */
        pthread_mutex_lock(&output_lock);
        fflush(stderr);
        pthread_mutex_unlock(&output_lock);
}
