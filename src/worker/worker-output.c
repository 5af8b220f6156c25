/* SPDX-License-Identifier: MIT */
/*
 * Everything a worker sends: one writer thread, so that a plugin thread
 * never blocks on a daemon that reads slowly.  Replies always go out;
 * events and log lines are dropped past OUTPUT_DROPPABLE_MAX bytes queued,
 * and the drops are reported once the queue has room again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "macro.h"
#include "worker-proto.h"
#include "worker.h"

#define OUTPUT_DROPPABLE_MAX (4u * 1024u * 1024u)

typedef struct OutFrame {
        struct OutFrame *next;
        uint16_t type, flags;
        int32_t arg;
        uint64_t id;
        size_t len;
        char data[];
} OutFrame;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static OutFrame *head, *tail;
static size_t queued_bytes;
static unsigned long dropped;
static bool stopping, running;
static int out_fd = -1;
static pthread_t thread;

static void *writer(void *arg) {
        (void) arg;
        pthread_mutex_lock(&lock);
        for (;;) {
                while (!head && !stopping)
                        pthread_cond_wait(&cond, &lock);
                if (!head)
                        break;
                OutFrame *f = head;
                head = f->next;
                if (!head)
                        tail = NULL;
                queued_bytes -= f->len;
                unsigned long lost = queued_bytes < OUTPUT_DROPPABLE_MAX / 2 ? dropped : 0;
                dropped -= lost;
                pthread_cond_broadcast(&cond);
                pthread_mutex_unlock(&lock);

                int r = worker_write_frame(out_fd, f->type, f->flags, f->arg, f->id, f->data, f->len, NULL, 0);
                free(f);
                if (r >= 0 && lost > 0) {
                        char line[128];
                        int n = snprintf(line, sizeof line,
                                         "dropped %lu event(s) and log line(s): the plugin produced them faster than "
                                         "they could be sent",
                                         lost);
                        r = worker_write_frame(out_fd, WORKER_LOG, 0, LOG_WARNING, 0, line, (size_t) n, NULL, 0);
                }
                if (r < 0)
                        _exit(0); /* the daemon is gone: nobody to work for */
                pthread_mutex_lock(&lock);
        }
        pthread_mutex_unlock(&lock);
        return NULL;
}

int output_start(int fd) {
        out_fd = fd;
        int r = -pthread_create(&thread, NULL, writer, NULL);
        running = r == 0;
        return r;
}

void output_stop(void) {
        if (!running)
                return;
        pthread_mutex_lock(&lock);
        stopping = true;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        pthread_join(thread, NULL);
        running = false;
}

int output_send(uint16_t type, uint16_t flags, int32_t arg, uint64_t id, const void *a, size_t a_len, const void *b,
                size_t b_len, bool droppable) {
        if (a_len + b_len > WORKER_MAX_FROM_WORKER)
                return -E2BIG;
        pthread_mutex_lock(&lock);
        if (droppable && queued_bytes + a_len + b_len > OUTPUT_DROPPABLE_MAX) {
                dropped++;
                pthread_mutex_unlock(&lock);
                return -ENOBUFS;
        }
        pthread_mutex_unlock(&lock);

        OutFrame *f = malloc(sizeof *f + a_len + b_len);
        if (!f)
                return -ENOMEM;
        *f = (OutFrame){ .type = type, .flags = flags, .arg = arg, .id = id, .len = a_len + b_len };
        if (a_len)
                memcpy(f->data, a, a_len);
        if (b_len)
                memcpy(f->data + a_len, b, b_len);

        pthread_mutex_lock(&lock);
        if (tail)
                tail->next = f;
        else
                head = f;
        tail = f;
        queued_bytes += f->len;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        return 0;
}

void worker_log(int priority, const char *fmt, ...) {
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        (void) output_send(WORKER_LOG, 0, priority, 0, line, MIN((size_t) n, sizeof line - 1), NULL, 0, true);
}
