/* SPDX-License-Identifier: MIT */
/*
 * json_parse_strict() on a ~300-byte JSON-RPC request (the mesh's hot path):
 * `bench-json [N]` parses it N times (default 1e6) and prints ns per parse.
 * Not a test; run by hand (SECURITY.md, "Strict JSON").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json-util.h"

static const char request[] =
        "{\"jsonrpc\":\"2.0\",\"id\":\"7f3c2a1e-9b4d-4e8a-b2c1-5d6e7f8a9b0c\",\"method\":\"invoke\","
        "\"params\":{\"plugin\":\"sensor\",\"function\":\"read_temperature\",\"params\":{\"channel\":3,"
        "\"unit\":\"celsius\",\"samples\":16,\"smoothing\":0.25,\"labels\":[\"kitchen\",\"north\"],"
        "\"calibrate\":false},\"_dc_meta\":{\"source_device\":\"plugin-host-2\",\"tenant\":\"default\","
        "\"trace\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}}}";

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[]) {
        long n = argc > 1 ? atol(argv[1]) : 1000000;
        size_t len = strlen(request);

        double t0 = now();
        for (long i = 0; i < n; i++) {
                struct json_object *o = NULL;
                if (json_parse_strict(request, len, &o, NULL) < 0 || !o) {
                        fprintf(stderr, "parse failed\n");
                        return 1;
                }
                json_object_put(o);
        }
        double t = now() - t0;
        printf("%zu-byte request: %ld parses in %.2f s, %.0f ns per parse\n", len, n, t, t / (double) n * 1e9);
        return 0;
}
