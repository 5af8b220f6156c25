/* SPDX-License-Identifier: MIT */
/*
 * Hashing throughput of the loader (copy into a sealed memfd + SHA-256 in
 * one pass) against the floor: OpenSSL EVP SHA-256 over the same bytes in
 * memory, measured in the same run.  Prints one JSON line.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench-util.h"
#include "image.h"

int main(int argc, char *argv[]) {
        const char *dir = argc > 1 ? argv[1] : "/dev/shm";
        size_t size = (argc > 2 ? (size_t) atoi(argv[2]) : 32) * 1024 * 1024;
        int rounds = argc > 3 ? atoi(argv[3]) : 15;
        char path[4096];
        uint64_t floor_ns[64], ours_ns[64];
        unsigned char *buf = malloc(size), md[32];

        if (!buf || rounds < 1 || rounds > 64)
                return 1;
        for (size_t i = 0; i < size; i++)
                buf[i] = (unsigned char) (i * 2654435761u >> 13);
        snprintf(path, sizeof path, "%s/dc-bench-hash.%d", dir, getpid());
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, buf, size) != (ssize_t) size)
                return perror("write"), 1;

        for (int r = 0; r < rounds; r++) {
                /* floor: EVP over the in-memory buffer */
                uint64_t t0 = bench_now_ns();
                EVP_MD_CTX *ctx = EVP_MD_CTX_new();
                EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
                EVP_DigestUpdate(ctx, buf, size);
                EVP_DigestFinal_ex(ctx, md, NULL);
                EVP_MD_CTX_free(ctx);
                floor_ns[r] = bench_now_ns() - t0;

                /* ours: the loader's read → sealed memfd → hash path */
                PluginImage img;
                Verdict v = {};
                lseek(fd, 0, SEEK_SET);
                t0 = bench_now_ns();
                if (plugin_image_load(fd, "bench", size, false, IMAGE_MEMFD_AUTO, true, &img, &v) < 0)
                        return fprintf(stderr, "image: %s\n", v.message), 1;
                ours_ns[r] = bench_now_ns() - t0;
                if (memcmp(img.sha256, md, 32) != 0)
                        return fprintf(stderr, "digest mismatch\n"), 1;
                plugin_image_done(&img);
        }
        unlink(path);
        double f = (double) size / bench_median(floor_ns, (size_t) rounds);
        double o = (double) size / bench_median(ours_ns, (size_t) rounds);
        printf("{\"bench\":\"hash\",\"bytes\":%zu,\"rounds\":%d,\"evp_gb_s\":%.3f,\"loader_gb_s\":%.3f,\"ratio\":%.3f}\n",
               size, rounds, f, o, o / f);
        free(buf);
        close(fd);
        return 0;
}
