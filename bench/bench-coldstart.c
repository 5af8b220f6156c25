/* SPDX-License-Identifier: MIT */
/*
 * Cold start: dc-plugin-hostd from exec to READY=1 with N copies of a plugin
 * (each verified: permissions, manifest, memfd + SHA-256 pin check, ELF
 * pre-flight, dlopen, descriptor, init) against the floor: a bare program
 * that dlopen()s the same N files and exits.  Median of several runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "digest.h"
#include "image.h"

extern char **environ;

static int write_file(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, data, len) != (ssize_t) len)
                return -1;
        fchmod(fd, 0644);
        return close(fd);
}

int main(int argc, char *argv[]) {
        if (argc < 5)
                return fprintf(stderr, "usage: %s HOSTD DLOPEN PLUGIN.so WORKDIR [N] [ROUNDS]\n", argv[0]), 2;
        const char *hostd = argv[1], *dlopen_bin = argv[2], *so = argv[3], *work = argv[4];
        int n = argc > 5 ? atoi(argv[5]) : 100, rounds = argc > 6 ? atoi(argv[6]) : 7;
        char path[4096], root[4096], conf[4096], sock[4096];
        uint64_t ours[32], floor_[32];

        FILE *f = fopen(so, "rbe");
        if (!f)
                return perror(so), 1;
        char *data = malloc(16 << 20);
        size_t len = fread(data, 1, 16 << 20, f);
        fclose(f);
        char *where = memmem(data, len, "bench-XXX", 9);
        if (!where)
                return fprintf(stderr, "placeholder id not found\n"), 1;

        snprintf(root, sizeof root, "%s/plugins", work);
        mkdir(work, 0755);
        chmod(work, 0755);
        mkdir(root, 0755);
        char **files = calloc((size_t) n + 2, sizeof(char *));
        files[0] = (char *) dlopen_bin;
        size_t sig_cap = (size_t) n * 100 + 16, sig_len = 0;
        char *sigs = malloc(sig_cap);
        sig_len += (size_t) snprintf(sigs, sig_cap, "{");
        for (int i = 0; i < n; i++) {
                char id[16];
                uint8_t d[SHA256_DIGEST_SIZE];
                char ds[DIGEST_STRING_MAX];
                snprintf(id, sizeof id, "bench-%03d", i);
                memcpy(where, id, 9);
                snprintf(path, sizeof path, "%s/%s", root, id);
                mkdir(path, 0755);
                snprintf(path, sizeof path, "%s/%s/manifest.json", root, id);
                char manifest[256];
                int ml = snprintf(manifest, sizeof manifest,
                                  "{\"id\":\"%s\",\"version\":\"1.0.0\",\"runtime\":\"c\",\"api_level\":1}", id);
                write_file(path, manifest, (size_t) ml);
                snprintf(path, sizeof path, "%s/%s/%s.so", root, id, id);
                write_file(path, data, len);
                files[i + 1] = strdup(path);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                sha256_fd(fd, d);
                close(fd);
                digest_format(d, ds);
                sig_len += (size_t) snprintf(sigs + sig_len, sig_cap - sig_len, "%s\"%s\":\"%s\"", i ? "," : "", id, ds);
        }
        snprintf(sigs + sig_len, sig_cap - sig_len, "}");
        snprintf(path, sizeof path, "%s/signatures.json", work);
        write_file(path, sigs, strlen(sigs));
        snprintf(conf, sizeof conf, "%s/bench.conf", work);
        /* the state directory exists on a real host (StateDirectory=): the
         * crash marker and the version floor live there */
        char state[4200];
        snprintf(state, sizeof state, "%s/state", work);
        (void) mkdir(state, 0700);
        char conftext[8192];
        int cl = snprintf(conftext, sizeof conftext,
                          "PluginDirectories=%s\nStateDirectory=%s/state\nSignaturesFile=%s\n"
                          "TrustedKeysDirectory=%s/keys\nPluginConfigDirectory=%s/pconf\n",
                          root, work, path, work, work);
        write_file(conf, conftext, (size_t) cl);

        snprintf(sock, sizeof sock, "%s/notify", work);
        for (int r = 0; r < rounds; r++) {
                /* floor */
                pid_t pid;
                int status;
                uint64_t t0 = bench_now_ns();
                if (posix_spawn(&pid, dlopen_bin, NULL, NULL, files, environ) != 0)
                        return perror("spawn"), 1;
                waitpid(pid, &status, 0);
                floor_[r] = bench_now_ns() - t0;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        return fprintf(stderr, "bare dlopen failed\n"), 1;

                /* ours: exec → READY=1 */
                unlink(sock);
                int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
                if (bind(s, (struct sockaddr *) &sa, sizeof sa) < 0)
                        return perror("bind"), 1;
                char env_notify[4200];
                snprintf(env_notify, sizeof env_notify, "NOTIFY_SOCKET=%s", sock);
                char *envp[] = { env_notify, "PATH=/usr/bin:/bin", NULL };
                char *args[] = { (char *) hostd, "--no-bus", "--config", conf, "--log-level=warning", NULL };
                t0 = bench_now_ns();
                if (posix_spawn(&pid, hostd, NULL, NULL, args, envp) != 0)
                        return perror("spawn"), 1;
                char msg[512];
                for (;;) {
                        ssize_t k = recv(s, msg, sizeof msg - 1, 0);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                return perror("recv"), 1;
                        msg[k] = 0;
                        if (strstr(msg, "READY=1"))
                                break;
                }
                ours[r] = bench_now_ns() - t0;
                char expect[64];
                snprintf(expect, sizeof expect, "(%d plugin(s) loaded)", n);
                if (!strstr(msg, expect))
                        return fprintf(stderr, "daemon loaded fewer plugins: %s\n", msg), 1;
                kill(pid, SIGTERM);
                waitpid(pid, &status, 0);
                close(s);
        }
        double o = bench_median(ours, (size_t) rounds) / 1e6, fl = bench_median(floor_, (size_t) rounds) / 1e6;
        printf("{\"bench\":\"coldstart\",\"plugins\":%d,\"rounds\":%d,\"dlopen_only_ms\":%.2f,\"hostd_ready_ms\":%.2f,\"ratio\":%.3f}\n",
               n, rounds, fl, o, o / fl);
        return 0;
}
