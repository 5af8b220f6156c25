/* SPDX-License-Identifier: MIT */
/*
 * D-Bus round trips to a running dc-plugin-hostd, each against the floor
 * measured in the same run: sd-bus Peer.Ping to the same daemon (answered
 * inside sd-bus, no daemon code).  Sequential and with 16 concurrent
 * clients, in ROUNDS alternating rounds (medians), so drift in the machine's
 * state favours neither side; plus Describe latency while a 2 s plugin call
 * is running.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bench-util.h"

#define NAME "org.deviceconnect.PluginHost"
#define PATH "/org/deviceconnect/PluginHost1"
#define MGR "org.deviceconnect.PluginHost1.Manager"
#define ROUNDS 5

typedef enum { PING, INVOKE, INVOKE_A, INVOKE_B } Kind;

/* isolation mode: the same function of two plugins (in process, in a worker) */
static const char *plugin_a, *plugin_b;

static int one(sd_bus *bus, Kind k) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *plugin = k == INVOKE_A ? plugin_a : k == INVOKE_B ? plugin_b : "hello-world";
        int r = k == PING ? sd_bus_call_method(bus, NAME, PATH, "org.freedesktop.DBus.Peer", "Ping", &e, &reply, NULL)
                          : sd_bus_call_method(bus, NAME, PATH, MGR, "Invoke", &e, &reply, "sss", plugin, "echo",
                                               "{\"n\":1}");
        if (r < 0)
                fprintf(stderr, "call failed: %s\n", e.message ? e.message : strerror(-r));
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        return r;
}

typedef struct Worker {
        Kind kind;
        int n;
        int failed;
} Worker;

static void *worker(void *arg) {
        Worker *w = arg;
        sd_bus *bus = NULL;
        if (sd_bus_open_system(&bus) < 0) {
                w->failed = 1;
                return NULL;
        }
        for (int i = 0; i < w->n; i++)
                if (one(bus, w->kind) < 0)
                        w->failed = 1;
        sd_bus_flush_close_unref(bus);
        return NULL;
}

static double rate(Kind k, int clients, int total) {
        pthread_t t[64];
        Worker w[64];
        uint64_t t0 = bench_now_ns();
        for (int i = 0; i < clients; i++) {
                w[i] = (Worker){ .kind = k, .n = total / clients };
                pthread_create(&t[i], NULL, worker, &w[i]);
        }
        for (int i = 0; i < clients; i++) {
                pthread_join(t[i], NULL);
                if (w[i].failed)
                        return -1;
        }
        return (double) (total / clients * clients) / ((bench_now_ns() - t0) / 1e9);
}

static int on_slow_reply(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        *(int *) userdata = sd_bus_message_is_method_error(m, NULL) ? -1 : 1;
        return 0;
}

/* The worker of plugin b: its start time (spawn → init done) and private memory. */
static int worker_stats(sd_bus *bus, double *start_ms, long *private_kb) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *text;
        char pat[160];
        int r = sd_bus_call_method(bus, NAME, PATH, MGR, "Describe", &e, &reply, NULL);
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return r;
        /* no JSON library here: the worker object of b follows its id */
        snprintf(pat, sizeof pat, "\"id\":\"%s\"", plugin_b);
        const char *p = strstr(text, pat), *w = p ? strstr(p, "\"worker\":{") : NULL;
        const char *pid_s = w ? strstr(w, "\"pid\":") : NULL, *st = w ? strstr(w, "\"start_ms\":") : NULL;
        if (!pid_s || !st) {
                sd_bus_message_unref(reply);
                return -ENOENT;
        }
        int pid = atoi(pid_s + 6);
        *start_ms = atof(st + 11);
        sd_bus_message_unref(reply);
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
        FILE *f = fopen(path, "re");
        *private_kb = 0;
        while (f && fgets(line, sizeof line, f)) {
                long v;
                if (sscanf(line, "Private_Clean: %ld", &v) == 1 || sscanf(line, "Private_Dirty: %ld", &v) == 1)
                        *private_kb += v;
        }
        if (f)
                fclose(f);
        return 0;
}

static int reload(sd_bus *bus, const char *plugin) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, NAME, PATH, MGR, "UnloadPlugin", &e, NULL, "st", plugin, (uint64_t) 0);
        if (r >= 0)
                r = sd_bus_call_method(bus, NAME, PATH, MGR, "LoadPlugin", &e, NULL, "st", plugin, (uint64_t) 0);
        if (r < 0)
                fprintf(stderr, "reload %s: %s\n", plugin, e.message ? e.message : strerror(-r));
        sd_bus_error_free(&e);
        return r;
}

/* bench-dbus N isolation A B: Invoke of A.echo (in process) against B.echo (in a worker). */
static int isolation_main(int n) {
        sd_bus *bus = NULL;
        if (sd_bus_open_system(&bus) < 0)
                return fprintf(stderr, "no bus\n"), 1;
        for (int i = 0; i < 200; i++)
                if (one(bus, INVOKE_A) < 0 || one(bus, INVOKE_B) < 0)
                        return 1;
        uint64_t a1[ROUNDS], b1[ROUNDS], a16[ROUNDS], b16[ROUNDS];
        for (int i = 0; i < ROUNDS; i++) {
                double v[4] = { rate(INVOKE_A, 1, n / ROUNDS), rate(INVOKE_B, 1, n / ROUNDS), rate(INVOKE_A, 16, n / ROUNDS),
                                rate(INVOKE_B, 16, n / ROUNDS) };
                for (int j = 0; j < 4; j++)
                        if (v[j] < 0)
                                return 1;
                a1[i] = (uint64_t) v[0], b1[i] = (uint64_t) v[1], a16[i] = (uint64_t) v[2], b16[i] = (uint64_t) v[3];
        }
        double ra1 = (double) bench_median(a1, ROUNDS), rb1 = (double) bench_median(b1, ROUNDS);
        double ra16 = (double) bench_median(a16, ROUNDS), rb16 = (double) bench_median(b16, ROUNDS);
        /* worker start and memory over 21 fresh workers */
        uint64_t starts[21], mem[21];
        for (int i = 0; i < 21; i++) {
                double ms;
                long kb;
                if (reload(bus, plugin_b) < 0 || one(bus, INVOKE_B) < 0 || worker_stats(bus, &ms, &kb) < 0)
                        return 1;
                starts[i] = (uint64_t) (ms * 1000);
                mem[i] = (uint64_t) kb;
        }
        printf("{\"bench\":\"dbus-isolation\",\"calls\":%d,\"in_process\":\"%s\",\"isolated\":\"%s\","
               "\"in_process_seq_per_s\":%.0f,\"isolated_seq_per_s\":%.0f,\"ratio_seq\":%.3f,"
               "\"in_process_16_per_s\":%.0f,\"isolated_16_per_s\":%.0f,\"ratio_16\":%.3f,"
               "\"worker_start_ms_median\":%.2f,\"worker_start_ms_max\":%.2f,\"worker_private_kb_median\":%llu}\n",
               n, plugin_a, plugin_b, ra1, rb1, rb1 / ra1, ra16, rb16, rb16 / ra16, bench_median(starts, 21) / 1e3,
               starts[20] / 1e3, (unsigned long long) bench_median(mem, 21));
        sd_bus_flush_close_unref(bus);
        return 0;
}

int main(int argc, char *argv[]) {
        int n = argc > 1 ? atoi(argv[1]) : 10000;
        if (argc == 5 && strcmp(argv[2], "isolation") == 0) {
                plugin_a = argv[3];
                plugin_b = argv[4];
                return isolation_main(n);
        }
        sd_bus *bus = NULL, *slow = NULL;
        uint64_t lat[200];

        if (sd_bus_open_system(&bus) < 0 || sd_bus_open_system(&slow) < 0)
                return fprintf(stderr, "no bus\n"), 1;
        /* warm-up */
        for (int i = 0; i < 200; i++)
                if (one(bus, PING) < 0 || one(bus, INVOKE) < 0)
                        return 1;
        uint64_t r_ping1[ROUNDS], r_inv1[ROUNDS], r_ping16[ROUNDS], r_inv16[ROUNDS];
        for (int i = 0; i < ROUNDS; i++) {
                double v[4] = { rate(PING, 1, n / ROUNDS), rate(INVOKE, 1, n / ROUNDS), rate(PING, 16, n / ROUNDS),
                                rate(INVOKE, 16, n / ROUNDS) };
                for (int j = 0; j < 4; j++)
                        if (v[j] < 0)
                                return 1;
                r_ping1[i] = (uint64_t) v[0], r_inv1[i] = (uint64_t) v[1];
                r_ping16[i] = (uint64_t) v[2], r_inv16[i] = (uint64_t) v[3];
        }
        double ping1 = (double) bench_median(r_ping1, ROUNDS), inv1 = (double) bench_median(r_inv1, ROUNDS);
        double ping16 = (double) bench_median(r_ping16, ROUNDS), inv16 = (double) bench_median(r_inv16, ROUNDS);

        /* Describe while a 2 s call runs on another connection. */
        int slow_done = 0;
        sd_bus_slot *slot = NULL;
        sd_bus_message *call = NULL;
        sd_bus_message_new_method_call(slow, &call, NAME, PATH, MGR, "Invoke");
        sd_bus_message_append(call, "sss", "sensor", "slow", "{\"ms\":2000}");
        sd_bus_call_async(slow, &slot, call, on_slow_reply, &slow_done, 10 * 1000000);
        sd_bus_message_unref(call);
        sd_bus_flush(slow);
        size_t k = 0;
        uint64_t until = bench_now_ns() + 1500000000ull;
        while (k < 200 && bench_now_ns() < until) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                uint64_t t0 = bench_now_ns();
                if (sd_bus_call_method(bus, NAME, PATH, MGR, "Describe", &e, &reply, NULL) < 0)
                        return fprintf(stderr, "Describe failed\n"), 1;
                lat[k++] = bench_now_ns() - t0;
                sd_bus_message_unref(reply);
                sd_bus_error_free(&e);
        }
        while (!slow_done) {
                sd_bus_process(slow, NULL);
                sd_bus_wait(slow, 100000);
        }
        qsort(lat, k, sizeof lat[0], bench_cmp_u64);
        printf("{\"bench\":\"dbus\",\"calls\":%d,\"ping_seq_per_s\":%.0f,\"invoke_seq_per_s\":%.0f,\"ratio_seq\":%.3f,"
               "\"ping_16_per_s\":%.0f,\"invoke_16_per_s\":%.0f,\"ratio_16\":%.3f,"
               "\"describe_during_slow_call_ms\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"slow_call_ok\":%s}\n",
               n, ping1, inv1, inv1 / ping1, ping16, inv16, inv16 / ping16, k, lat[k / 2] / 1e6,
               lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] / 1e6, lat[k - 1] / 1e6, slow_done > 0 ? "true" : "false");
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(bus);
        sd_bus_flush_close_unref(slow);
        return 0;
}
