/* SPDX-License-Identifier: MIT */
/*
 * The mesh front end against its floor, same client (nats.c), same run:
 *   - hello-world.echo over JSON-RPC vs a raw nats.c echo responder
 *     (sequential, and 50 requests in flight);
 *   - daemon CPU time per request;
 *   - get_status latency while a 2 s plugin call runs;
 *   - load_plugin reply time with a registry attached;
 *   - start → first wire message; RSS with 1 and 100 plugins.
 * Usage: bench-mesh HOSTD WORKDIR EXAMPLES_DIR BENCH_PLUGIN.so [CALLS]
 * (nats-server on PATH; WORKDIR root-owned, not below /tmp).
 */
#include <fcntl.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

extern char **environ;

static int port;
static char subj_cmd[256];

static void die(const char *what) {
        fprintf(stderr, "bench-mesh: %s (%s)\n", what, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
        exit(1);
}

static void write_file(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, data, len) != (ssize_t) len)
                die(path);
        fchmod(fd, 0644);
        close(fd);
}

static char *read_all(const char *path, size_t *len) {
        FILE *f = fopen(path, "rbe");
        if (!f)
                die(path);
        char *d = malloc(64 << 20);
        *len = fread(d, 1, 64 << 20, f);
        fclose(f);
        return d;
}

static pid_t spawn_args(char *const args[]) {
        pid_t pid;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        if (posix_spawnp(&pid, args[0], &fa, NULL, args, environ) != 0)
                die(args[0]);
        posix_spawn_file_actions_destroy(&fa);
        return pid;
}

static void stop(pid_t pid) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
}

/* examples/<name>/{<name>.so,manifest.json} into root/<name>/. */
static void copy_example(const char *examples, const char *name, const char *root) {
        char path[4200], from[4200];
        snprintf(path, sizeof path, "%s/%s", root, name);
        mkdir(path, 0755);
        for (int i = 0; i < 2; i++) {
                char f[300];
                size_t len;
                snprintf(f, sizeof f, i ? "manifest.json" : "%s.so", name);
                snprintf(from, sizeof from, "%s/%s/%s", examples, name, f);
                char *d = read_all(from, &len);
                snprintf(path, sizeof path, "%s/%s/%s", root, name, f);
                write_file(path, d, len);
                free(d);
        }
}

/* One example plugin root + n copies of the bench plugin (patched ids). */
static void make_root(const char *work, const char *name, const char *examples, const char *bench_so, int n_bench,
                      const char *extra_conf, char *conf, size_t conf_size) {
        char root[4096], path[4200];
        snprintf(root, sizeof root, "%s/%s", work, name);
        mkdir(root, 0755);
        copy_example(examples, "hello-world", root);
        if (n_bench > 0) {
                size_t len;
                char *d = read_all(bench_so, &len);
                char *where = memmem(d, len, "bench-XXX", 9);
                if (!where)
                        die("placeholder");
                for (int i = 0; i < n_bench; i++) {
                        char id[16], m[256];
                        snprintf(id, sizeof id, "bench-%03d", i);
                        memcpy(where, id, 9);
                        snprintf(path, sizeof path, "%s/%s", root, id);
                        mkdir(path, 0755);
                        snprintf(path, sizeof path, "%s/%s/%s.so", root, id, id);
                        write_file(path, d, len);
                        snprintf(path, sizeof path, "%s/%s/manifest.json", root, id);
                        int ml = snprintf(m, sizeof m, "{\"id\":\"%s\",\"version\":\"1.0.0\",\"runtime\":\"c\",\"api_level\":1}", id);
                        write_file(path, m, (size_t) ml);
                }
                free(d);
        }
        snprintf(path, sizeof path, "%s/%s-state", work, name);
        mkdir(path, 0700);
        snprintf(conf, conf_size, "%s/%s.conf", work, name);
        char text[8192];
        int tl = snprintf(text, sizeof text,
                          "PluginDirectories=%s\nStateDirectory=%s\nSignaturesFile=%s/none\nTrustedKeysDirectory=%s/none\n"
                          "MeshURLs=nats://127.0.0.1:%d\nTenant=bench\nDeviceId=bench-host\nWorkers=4\n%s",
                          root, path, work, work, port, extra_conf);
        write_file(conf, text, (size_t) tl);
}

static pid_t start_hostd(const char *hostd, const char *conf) {
        char *args[] = { (char *) hostd, "--no-bus", "--config", (char *) conf, "--log-level=warning", NULL };
        return spawn_args(args);
}

static natsConnection *client(void) {
        natsConnection *nc;
        natsOptions *o;
        char url[64];
        snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
        natsOptions_Create(&o);
        natsOptions_SetURL(o, url);
        natsOptions_SetSendAsap(o, true);
        for (int i = 0; i < 500; i++) {
                if (natsConnection_Connect(&nc, o) == NATS_OK) {
                        natsOptions_Destroy(o);
                        return nc;
                }
                usleep(10000); /* the server is starting: poll, bounded */
        }
        die("connect");
        return NULL;
}

static void wait_for_responder(natsConnection *nc, const char *subject, const char *payload) {
        for (int i = 0; i < 1000; i++) {
                natsMsg *m = NULL;
                if (natsConnection_RequestString(&m, nc, subject, payload, 200) == NATS_OK) {
                        natsMsg_Destroy(m);
                        return;
                }
                usleep(5000);
        }
        die(subject);
}

static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
        natsMsg_Destroy(msg);
}

/* The floor: a raw nats.c responder in a fresh process of its own (this
 * binary re-executed: a forked child would lack nats.c's threads, such as
 * the one that frees delivered messages, and look cheaper than it is). */
_Noreturn static void raw_responder_main(void) {
        natsConnection *nc = client();
        natsSubscription *sub;
        natsConnection_Subscribe(&sub, nc, "bench.raw.echo", on_echo, NULL);
        natsConnection_Flush(nc);
        for (;;)
                pause();
}

static volatile uint64_t first_wire_ns;
static void on_first(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        if (!first_wire_ns)
                first_wire_ns = bench_now_ns();
        natsMsg_Destroy(msg);
}

/* The floor of start-up: a fresh nats.c process connects and publishes once. */
_Noreturn static void raw_first_main(void) {
        natsConnection *nc = client();
        natsConnection_PublishString(nc, "device-connect.bench.bench-host.event.raw", "{}");
        natsConnection_Flush(nc);
        exit(0);
}

static pid_t start_helper(const char *self, const char *mode) {
        char portarg[16];
        snprintf(portarg, sizeof portarg, "%d", port);
        char *args[] = { (char *) self, (char *) mode, portarg, NULL };
        return spawn_args(args);
}

/* Median of 11: time from spawning to the first message on the device's subjects. */
static double start_to_first_ms(const char *hostd, const char *conf, pid_t *last) {
        uint64_t starts[11];
        pid_t h = 0;
        for (int i = 0; i < 11; i++) {
                first_wire_ns = 0;
                uint64_t t0 = bench_now_ns();
                h = hostd ? start_hostd(hostd, conf) : start_helper("/proc/self/exe", "--raw-first");
                while (!first_wire_ns)
                        usleep(100);
                starts[i] = first_wire_ns - t0;
                if (i < 10 || !last)
                        stop(h);
        }
        if (last)
                *last = h;
        return bench_median(starts, 11) / 1e6;
}

static double seq_rate(natsConnection *nc, const char *subject, const char *payload, int n) {
        uint64_t t0 = bench_now_ns();
        for (int i = 0; i < n; i++) {
                natsMsg *m = NULL;
                if (natsConnection_RequestString(&m, nc, subject, payload, 5000) != NATS_OK)
                        die("request");
                natsMsg_Destroy(m);
        }
        return n / ((bench_now_ns() - t0) / 1e9);
}

/* n requests keeping `window` in flight, replies on one inbox subscription. */
typedef struct Window {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        int done, inflight;
} Window;

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        Window *w = closure;
        pthread_mutex_lock(&w->mu);
        w->done++;
        w->inflight--;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->mu);
        natsMsg_Destroy(msg);
}

static double window_rate(natsConnection *nc, const char *subject, const char *payload, int n, int window) {
        Window w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        natsSubscription *sub;
        char inbox[64];
        natsInbox *ib;
        natsInbox_Create(&ib);
        snprintf(inbox, sizeof inbox, "%s", (const char *) ib);
        natsInbox_Destroy(ib);
        natsConnection_Subscribe(&sub, nc, inbox, on_reply, &w);
        natsSubscription_SetPendingLimits(sub, -1, -1);
        natsConnection_Flush(nc);
        uint64_t t0 = bench_now_ns();
        int sent = 0;
        pthread_mutex_lock(&w.mu);
        while (w.done < n) {
                while (sent < n && w.inflight < window) {
                        w.inflight++;
                        sent++;
                        pthread_mutex_unlock(&w.mu);
                        natsConnection_PublishRequestString(nc, subject, inbox, payload);
                        pthread_mutex_lock(&w.mu);
                }
                if (w.done < n)
                        pthread_cond_wait(&w.cond, &w.mu);
        }
        pthread_mutex_unlock(&w.mu);
        double rate = n / ((bench_now_ns() - t0) / 1e9);
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
        return rate;
}

/* User and system CPU seconds of a process so far. */
static void cpu_split(pid_t pid, double *user, double *sys) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "re");
        if (!f || !fgets(buf, sizeof buf, f))
                die("stat");
        fclose(f);
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        /* fields 14 and 15 after the comm */
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
        *user = (double) ut / (double) sysconf(_SC_CLK_TCK);
        *sys = (double) st / (double) sysconf(_SC_CLK_TCK);
}

typedef struct CpuUse {
        double user_ms, sys_ms; /* per request */
} CpuUse;

/* Sequential requests to subject, with the responder's CPU time per request. */
static double seq_rate_cpu(natsConnection *nc, pid_t responder, const char *subject, const char *payload, int n,
                           CpuUse *use) {
        double u0, s0, u1, s1;
        cpu_split(responder, &u0, &s0);
        double rate = seq_rate(nc, subject, payload, n);
        cpu_split(responder, &u1, &s1);
        use->user_ms = (u1 - u0) / n * 1000;
        use->sys_ms = (s1 - s0) / n * 1000;
        return rate;
}

static long rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        snprintf(path, sizeof path, "/proc/%d/status", pid);
        FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        if (f)
                fclose(f);
        return kb;
}

static const char *REGISTERED = "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{\"status\":\"registered\","
                                "\"device_registration_id\":\"0b9a4c3e-1f2d-4e5f-9a8b-7c6d5e4f3a2b\"}}";

static void on_registry(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), REGISTERED);
        natsMsg_Destroy(msg);
}


int main(int argc, char *argv[]) {
        bool helper = argc == 3 && (strcmp(argv[1], "--raw-responder") == 0 || strcmp(argv[1], "--raw-first") == 0);
        if (argc < 5 && !helper)
                return fprintf(stderr, "usage: %s HOSTD WORKDIR EXAMPLES_DIR BENCH_PLUGIN.so [CALLS]\n", argv[0]), 2;
        const char *hostd = argv[1], *work = argv[2], *examples = argv[3], *bench_so = argv[4];
        char conf1[4096], conf100[4096], portarg[16];

        nats_Open(-1);
        if (helper) {
                port = atoi(argv[2]);
                if (strcmp(argv[1], "--raw-responder") == 0)
                        raw_responder_main();
                raw_first_main();
        }
        int calls = argc > 5 ? atoi(argv[5]) : 5000;
        mkdir(work, 0755);
        chmod(work, 0755);
        port = 20000 + (int) (getpid() % 20000);
        snprintf(portarg, sizeof portarg, "%d", port);
        char *ns_args[] = { "nats-server", "-a", "127.0.0.1", "-p", portarg, NULL };
        pid_t ns = spawn_args(ns_args);
        natsConnection *nc = client();
        snprintf(subj_cmd, sizeof subj_cmd, "device-connect.bench.bench-host.cmd");

        /* a registry is attached for the whole run */
        natsSubscription *reg, *first;
        natsConnection_Subscribe(&reg, nc, "device-connect.bench.registry", on_registry, NULL);
        natsConnection_Subscribe(&first, nc, "device-connect.bench.bench-host.>", on_first, NULL);
        natsConnection_Flush(nc);

        /* The mesh front end's own cost: plugins in process (DefaultIsolation=
         * would put these unverified ones in workers); isolation below. */
        make_root(work, "one", examples, bench_so, 0, "DefaultIsolation=in-process\n", conf1, sizeof conf1);
        make_root(work, "hundred", examples, bench_so, 100, "DefaultIsolation=in-process\n", conf100, sizeof conf100);
        char iso_extra[4400], conf_iso[4200];
        snprintf(iso_extra, sizeof iso_extra,
                 "PluginIsolation=bench-000:in-process bench-001:process\nWorkerBinary=%.*s/worker/dc-plugin-worker\n",
                 (int) (strlen(hostd) - strlen("/daemon/dc-plugin-hostd")), hostd);
        make_root(work, "iso", examples, bench_so, 2, iso_extra, conf_iso, sizeof conf_iso);

        /* start → first wire message, 1 plugin (median of 5), and its floor */
        pid_t h = 0;
        double start_floor_ms = start_to_first_ms(NULL, NULL, NULL);
        double start_ms = start_to_first_ms(hostd, conf1, &h);
        wait_for_responder(nc, subj_cmd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"get_status\"}");
        long rss1 = rss_kb(h);

        pid_t raw = start_helper("/proc/self/exe", "--raw-responder");
        wait_for_responder(nc, "bench.raw.echo", "x");
        long rss_floor = rss_kb(raw);
        const char *echo = "{\"jsonrpc\":\"2.0\",\"id\":\"b-1\",\"method\":\"hello-world.echo\",\"params\":{\"n\":1}}";
        /* warm-up, then interleave floor and ours */
        seq_rate(nc, "bench.raw.echo", echo, 500);
        seq_rate(nc, subj_cmd, echo, 500);
        CpuUse floor_cpu, ours_cpu;
        double floor_seq = seq_rate_cpu(nc, raw, "bench.raw.echo", echo, calls, &floor_cpu);
        double ours_seq = seq_rate_cpu(nc, h, subj_cmd, echo, calls, &ours_cpu);
        double floor_win = window_rate(nc, "bench.raw.echo", echo, calls * 4, 50);
        double ours_win = window_rate(nc, subj_cmd, echo, calls * 4, 50);

        /* get_status while a 2 s plugin call runs: the sensor example has the slow function */
        uint64_t lat[200];
        {
                char root[4200];
                snprintf(root, sizeof root, "%s/one", work);
                copy_example(examples, "sensor", root);
                natsMsg *m = NULL;
                natsConnection_RequestString(&m, nc, subj_cmd,
                                             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"load_plugin\",\"params\":{\"plugin_id\":\"sensor\"}}",
                                             5000);
                natsMsg_Destroy(m);
                char inbox[] = "_INBOX.bench.slow";
                natsConnection_PublishRequestString(nc, subj_cmd, inbox,
                                                    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sensor.slow\",\"params\":{\"ms\":2000}}");
                natsConnection_Flush(nc);
                for (int i = 0; i < 200; i++) {
                        uint64_t t0 = bench_now_ns();
                        if (natsConnection_RequestString(&m, nc, subj_cmd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"get_status\"}",
                                                         5000) != NATS_OK)
                                die("get_status");
                        natsMsg_Destroy(m);
                        lat[i] = bench_now_ns() - t0;
                        usleep(5000); /* spread the samples over the slow call */
                }
        }
        qsort(lat, 200, sizeof lat[0], bench_cmp_u64);

        /* load_plugin reply time with the registry attached (re-registration runs in the background) */
        uint64_t loads[10];
        for (int i = 0; i < 10; i++) {
                natsMsg *m = NULL;
                natsConnection_RequestString(&m, nc, subj_cmd,
                                             "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"unload_plugin\",\"params\":{\"plugin_id\":\"hello-world\"}}",
                                             5000);
                natsMsg_Destroy(m);
                uint64_t t0 = bench_now_ns();
                natsConnection_RequestString(&m, nc, subj_cmd,
                                             "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"load_plugin\",\"params\":{\"plugin_id\":\"hello-world\"}}",
                                             5000);
                loads[i] = bench_now_ns() - t0;
                natsMsg_Destroy(m);
        }
        stop(h);

        /* The same function in process and in a worker process, sequentially,
         * alternating rounds (medians). */
        h = start_hostd(hostd, conf_iso);
        wait_for_responder(nc, subj_cmd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"get_status\"}");
        const char *inp = "{\"jsonrpc\":\"2.0\",\"id\":\"b-2\",\"method\":\"bench-000.echo\",\"params\":{\"n\":1}}",
                   *iso = "{\"jsonrpc\":\"2.0\",\"id\":\"b-3\",\"method\":\"bench-001.echo\",\"params\":{\"n\":1}}";
        seq_rate(nc, subj_cmd, inp, 300);
        seq_rate(nc, subj_cmd, iso, 300);
        uint64_t r_inp[5], r_iso[5];
        for (int i = 0; i < 5; i++) {
                r_inp[i] = (uint64_t) seq_rate(nc, subj_cmd, inp, calls / 5);
                r_iso[i] = (uint64_t) seq_rate(nc, subj_cmd, iso, calls / 5);
        }
        double inp_seq = (double) bench_median(r_inp, 5), iso_seq = (double) bench_median(r_iso, 5);
        stop(h);

        /* RSS with 100 plugins */
        h = start_hostd(hostd, conf100);
        wait_for_responder(nc, subj_cmd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"get_status\"}");
        long rss100 = rss_kb(h);
        stop(h);
        kill(raw, SIGKILL);
        waitpid(raw, NULL, 0);

        printf("{\"bench\":\"mesh\",\"calls\":%d,\"floor_seq_per_s\":%.0f,\"ours_seq_per_s\":%.0f,\"seq_ratio\":%.3f,"
               "\"floor_50_per_s\":%.0f,\"ours_50_per_s\":%.0f,\"ratio_50\":%.3f,\"daemon_cpu_ms_per_request\":%.4f,"
               "\"floor_cpu_ms_per_request\":%.4f,\"cpu_ratio\":%.2f,\"user_sys_ms\":{\"daemon\":[%.4f,%.4f],\"floor\":[%.4f,%.4f]},"
               "\"get_status_during_slow_call_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
               "\"load_plugin_reply_ms_median\":%.3f,\"start_to_first_wire_message_ms_median\":%.2f,"
               "\"start_floor_ms_median\":%.2f,\"rss_mb_1_plugin\":%.1f,\"rss_mb_100_plugins\":%.1f,\"rss_floor_mb\":%.1f,"
               "\"in_process_seq_per_s\":%.0f,\"isolated_seq_per_s\":%.0f,\"isolated_ratio_seq\":%.3f}\n",
               calls, floor_seq, ours_seq, ours_seq / floor_seq, floor_win, ours_win, ours_win / floor_win, ours_cpu.user_ms + ours_cpu.sys_ms,
               floor_cpu.user_ms + floor_cpu.sys_ms, (ours_cpu.user_ms + ours_cpu.sys_ms) / (floor_cpu.user_ms + floor_cpu.sys_ms),
               ours_cpu.user_ms, ours_cpu.sys_ms, floor_cpu.user_ms, floor_cpu.sys_ms,
               lat[100] / 1e6, lat[197] / 1e6, lat[199] / 1e6, bench_median(loads, 10) / 1e6, start_ms, start_floor_ms,
               rss1 / 1024.0, rss100 / 1024.0, rss_floor / 1024.0, inp_seq, iso_seq, iso_seq / inp_seq);
        natsConnection_Destroy(nc);
        stop(ns);
        return 0;
}
