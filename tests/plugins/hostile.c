/* SPDX-License-Identifier: MIT */
/*
 * A hostile (but signed and trusted) plugin for the containment tests
 * (tests/test-isolation.py): each function misbehaves in one way.  Built as
 * "hostile" and, with -DHOSTILE_INIT_HANG, as "hostile-init-hang".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dc-plugin-host/plugin.h"

#ifndef HOSTILE_ID
#define HOSTILE_ID "hostile"
#endif

static const dc_host_api *host;

static int reply_errno(dc_call *call, const char *what, int r) {
        char buf[128];
        snprintf(buf, sizeof buf, "{\"%s\":%d}", what, r < 0 ? -errno : r);
        return host->reply(call, buf);
}

static int f_segv(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        *(volatile int *) 8 = 1;
        return 0;
}

static int f_abort(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        abort();
}

static int f_exit(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        exit(0);
}

static int f_spin(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        for (volatile unsigned long i = 0;; i++)
                ;
        return 0;
}

static int f_sleep(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        for (;;)
                pause();
        return 0;
}

static int f_hog(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        size_t total = 0;
        for (;;) {
                char *p = malloc(16 << 20);
                if (!p)
                        break;
                memset(p, 1, 16 << 20);
                total += 16 << 20;
                if (total > (size_t) 8 << 30)
                        break; /* never more than 8 GiB, sandbox or not */
        }
        char buf[64];
        snprintf(buf, sizeof buf, "{\"allocated_mib\":%zu}", total >> 20);
        return host->reply(call, buf);
}

static void *idle_thread(void *arg) {
        for (;;)
                pause();
        return NULL;
}

static int f_threads(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int n = 0;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        for (; n < 4096; n++) {
                pthread_t t;
                if (pthread_create(&t, &attr, idle_thread, NULL) != 0)
                        break;
                pthread_detach(t);
        }
        char buf[64];
        snprintf(buf, sizeof buf, "{\"threads\":%d}", n);
        return host->reply(call, buf);
}

static int f_fork(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        pid_t pid = fork();
        if (pid == 0)
                _exit(0);
        return reply_errno(call, "fork", pid < 0 ? -1 : 0);
}

static int f_exec(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        char *const argv[] = { "/bin/true", NULL };
        return reply_errno(call, "execve", execve("/bin/true", argv, NULL));
}

static int f_shadow(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
                close(fd);
        return reply_errno(call, "open", fd < 0 ? -1 : 0);
}

static int f_connect(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
                close(fd);
        return reply_errno(call, "socket", fd < 0 ? -1 : 0);
}

static int f_write(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int inside = open("inside.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int e_inside = inside < 0 ? -errno : 0;
        if (inside >= 0)
                close(inside);
        int outside = open("/var/tmp/dc-hostile-outside", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int e_outside = outside < 0 ? -errno : 0;
        if (outside >= 0) {
                close(outside);
                unlink("/var/tmp/dc-hostile-outside");
        }
        char buf[64];
        snprintf(buf, sizeof buf, "{\"inside\":%d,\"outside\":%d}", e_inside, e_outside);
        return host->reply(call, buf);
}

static int f_scribble(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        /* over the allocator's structures around a block, as a plugin that
         * writes past its buffers into the host's would */
        volatile unsigned char *p = malloc(64);
        for (int i = -64; i < 256; i++)
                p[i] = 0xa5;
        free((void *) p);
        free(malloc(64));
        return 0;
}

static int f_events(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        int n = 0, dropped = 0;
        for (; n < 50000; n++)
                if (host->emit_event(ctx, "spam", "{\"n\":1}") < 0)
                        dropped++;
        char buf[64];
        snprintf(buf, sizeof buf, "{\"emitted\":%d,\"refused\":%d}", n, dropped);
        return host->reply(call, buf);
}

static int f_logs(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        for (int n = 0; n < 50000; n++)
                host->log(ctx, DC_LOG_WARNING, "a log line the plugin writes in a loop, over and over again");
        return host->reply(call, "{}");
}

static int f_ok(dc_plugin_ctx *ctx, dc_call *call, const char *params) {
        return host->reply(call, "{\"ok\":true}");
}

static int init(dc_plugin_ctx *ctx, const dc_host_api *api, const char **error) {
        host = api;
#ifdef HOSTILE_INIT_HANG
        for (;;)
                pause();
#endif
        return 0;
}

static int cleanup(dc_plugin_ctx *ctx) {
        return 0;
}

static const dc_plugin_function functions[] = {
        { .name = "segv", .handler = f_segv },       { .name = "abort", .handler = f_abort },
        { .name = "exit", .handler = f_exit },       { .name = "spin", .handler = f_spin },
        { .name = "sleep", .handler = f_sleep },     { .name = "hog", .handler = f_hog },
        { .name = "threads", .handler = f_threads }, { .name = "fork", .handler = f_fork },
        { .name = "exec", .handler = f_exec },       { .name = "shadow", .handler = f_shadow },
        { .name = "connect", .handler = f_connect }, { .name = "write", .handler = f_write },
        { .name = "scribble", .handler = f_scribble }, { .name = "events", .handler = f_events },
        { .name = "logs", .handler = f_logs },       { .name = "ok", .handler = f_ok },
};

static const dc_plugin_event events[] = {
        { .name = "spam", .payload_schema = "{\"type\":\"object\"}" },
};

DC_PLUGIN_DEFINE({
        DC_PLUGIN_HEADER,
        .flags = DC_PLUGIN_FLAG_THREAD_SAFE,
        .id = HOSTILE_ID,
        .name = "Hostile test plugin",
        .version = "1.0.0",
        .functions = functions,
        .n_functions = DC_PLUGIN_N_ELEMENTS(functions),
        .events = events,
        .n_events = DC_PLUGIN_N_ELEMENTS(events),
        .init = init,
        .cleanup = cleanup,
});
