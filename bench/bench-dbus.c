/* SPDX-License-Identifier: MIT */
/*
 * D-Bus round trips to a running dc-plugin-hostd, each against the floor
 * measured in the same run: sd-bus Peer.Ping to the same daemon (answered
 * inside sd-bus, no daemon code).  Sequential and with 16 concurrent
 * clients, in ROUNDS alternating rounds (medians), so drift in the machine's
 * state favours neither side; plus Describe latency while a 2 s plugin call
 * is running.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bench-util.h"

#define NAME "org.deviceconnect.PluginHost"
#define PATH "/org/deviceconnect/PluginHost1"
#define MGR "org.deviceconnect.PluginHost1.Manager"
#define ROUNDS 5

typedef enum { PING, INVOKE } Kind;

static int one(sd_bus *bus, Kind k) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = k == PING ? sd_bus_call_method(bus, NAME, PATH, "org.freedesktop.DBus.Peer", "Ping", &e, &reply, NULL)
                          : sd_bus_call_method(bus, NAME, PATH, MGR, "Invoke", &e, &reply, "sss", "hello-world", "echo",
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

int main(int argc, char *argv[]) {
        int n = argc > 1 ? atoi(argv[1]) : 10000;
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
