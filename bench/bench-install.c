/* SPDX-License-Identifier: MIT */
/*
 * Install of a ~10 MiB .tar.gz of many small files (a real plugin plus
 * data files) through the daemon's install operation (copy into a memfd
 * while hashing, strict extraction into staging, trust-policy verification,
 * sync, rename into the store, registry refresh) against the floor:
 * `bsdtar -xf` of the same archive into an empty directory on the same
 * tmpfs, in the same run.  Rounds alternate; medians are reported.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "install.h"
#include "log.h"
#include "pack.h"
#include "rm-rf.h"
#include "strv.h"

extern char **environ;

static int copy_file(const char *src, const char *dst) {
        char buf[65536];
        int in = open(src, O_RDONLY | O_CLOEXEC), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ssize_t n;
        if (in < 0 || out < 0)
                return -1;
        while ((n = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t) n) != n)
                        return -1;
        close(in);
        return close(out);
}

typedef struct Done {
        bool done;
        int error;
} Done;

static void on_install(Host *h, int error, const Verdict *v, const InstallResult *res, void *userdata) {
        Done *d = userdata;
        d->done = true;
        d->error = error;
        if (error < 0)
                fprintf(stderr, "install failed: %s\n", v->message);
}

static void on_remove(Host *h, int error, void *userdata) {
        Done *d = userdata;
        d->done = true;
        d->error = error;
}

static void run_until(sd_event *e, Done *d) {
        while (!d->done)
                sd_event_run(e, UINT64_MAX);
}

int main(int argc, char *argv[]) {
        if (argc < 3)
                return fprintf(stderr, "usage: %s WORKDIR EXAMPLE_DIR [FILES] [ROUNDS]\n", argv[0]), 2;
        const char *work = argv[1], *example = argv[2];
        int n_files = argc > 3 ? atoi(argv[3]) : 2500, rounds = argc > 4 ? atoi(argv[4]) : 9;
        char path[4096], src[4096], archive[4096];
        uint64_t ours[64], floor_[64];
        int r;

        if (rounds > 64)
                rounds = 64;
        log_set_target(LOG_TARGET_NULL);
        mkdir(work, 0755);
        snprintf(src, sizeof src, "%s/src", work);
        mkdir(src, 0755);
        snprintf(path, sizeof path, "%s/hello-world", src);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/hello-world/hello-world.so", src);
        char from[4096];
        snprintf(from, sizeof from, "%s/hello-world.so", example);
        if (copy_file(from, path) < 0)
                return perror(from), 1;
        snprintf(path, sizeof path, "%s/hello-world/manifest.json", src);
        snprintf(from, sizeof from, "%s/manifest.json", example);
        if (copy_file(from, path) < 0)
                return perror(from), 1;
        /* 4 KiB of random bytes per file (incompressible): ~10 MiB of archive */
        uint8_t blob[4096];
        for (int i = 0; i < n_files; i++) {
                if (i % 100 == 0) {
                        snprintf(path, sizeof path, "%s/hello-world/d%03d", src, i / 100);
                        mkdir(path, 0755);
                }
                snprintf(path, sizeof path, "%s/hello-world/d%03d/f%05d.bin", src, i / 100, i);
                if (getrandom(blob, sizeof blob, 0) != sizeof blob)
                        return 1;
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || write(fd, blob, sizeof blob) != sizeof blob)
                        return perror(path), 1;
                close(fd);
        }
        snprintf(archive, sizeof archive, "%s/plugin.tgz", work);
        int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int afd = open(archive, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        Verdict v = {};
        if (sfd < 0 || afd < 0 || pack_directory(sfd, "hello-world", afd, &v) < 0)
                return fprintf(stderr, "pack: %s\n", v.message), 1;
        close(sfd);
        close(afd);
        struct stat st;
        stat(archive, &st);

        HostConfig c;
        sd_event *e = NULL;
        Host *h = NULL;
        char state[4096];
        snprintf(state, sizeof state, "%s/state", work);
        mkdir(state, 0700);
        if (host_config_init(&c) < 0 || host_config_set(&c, "StateDirectory", state) < 0)
                return 1;
        strv_free(c.plugin_dirs);
        c.plugin_dirs = calloc(1, sizeof(char *));
        c.signatures_file = (free(c.signatures_file), NULL);
        c.production = false;
        c.max_extracted_size = 1ull << 30;
        c.max_archive_size = 64ull << 20;
        if (sd_event_new(&e) < 0 || host_new(e, &c, &h) < 0 || host_start(h) < 0)
                return fprintf(stderr, "host start failed\n"), 1;

        for (int i = 0; i < rounds; i++) {
                /* floor: bsdtar into a fresh directory on the same tmpfs */
                char dir[4096];
                snprintf(dir, sizeof dir, "%s/bsdtar-%d", work, i);
                mkdir(dir, 0755);
                char *args[] = {"bsdtar", "-xf", archive, "-C", dir, NULL};
                pid_t pid;
                uint64_t t0 = bench_now_ns();
                if (posix_spawnp(&pid, "bsdtar", NULL, NULL, args, environ) != 0)
                        return perror("bsdtar"), 1;
                int status;
                waitpid(pid, &status, 0);
                floor_[i] = bench_now_ns() - t0;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        return fprintf(stderr, "bsdtar failed\n"), 1;
                int wfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                rm_rf_at(wfd, dir + strlen(work) + 1);
                close(wfd);

                /* ours: the daemon's install operation */
                Done d = {};
                InstallRequest req = {
                        .source = INSTALL_SOURCE_FD, .fd = open(archive, O_RDONLY | O_CLOEXEC), .load = false};
                t0 = bench_now_ns();
                r = host_install(h, &req, on_install, &d, &v);
                if (r < 0)
                        return fprintf(stderr, "install: %s\n", v.message), 1;
                run_until(e, &d);
                ours[i] = bench_now_ns() - t0;
                if (d.error < 0)
                        return 1;
                Done rd = {};
                if (host_remove(h, "hello-world", on_remove, &rd, &v) < 0)
                        return fprintf(stderr, "remove: %s\n", v.message), 1;
                run_until(e, &rd);
        }
        uint64_t mo = bench_median(ours, (size_t) rounds), mf = bench_median(floor_, (size_t) rounds);
        printf("{\"bench\":\"install\",\"archive_bytes\":%lld,\"members\":%d,\"rounds\":%d,"
               "\"bsdtar_ms\":%.2f,\"install_ms\":%.2f,\"ratio_to_bsdtar\":%.3f}\n",
               (long long) st.st_size, n_files + 3 + n_files / 100, rounds, mf / 1e6, mo / 1e6,
               (double) mo / (double) mf);
        host_free(h);
        sd_event_unref(e);
        host_config_done(&c);
        return 0;
}
