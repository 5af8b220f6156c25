/* SPDX-License-Identifier: MIT */
#include "memory-trim.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

static uint64_t last_trim_sec; /* atomic */

void memory_trim_after(size_t bytes) {
        struct timespec ts;
        if (bytes < MEMORY_TRIM_THRESHOLD)
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t) ts.tv_sec, last = __atomic_load_n(&last_trim_sec, __ATOMIC_RELAXED);
        if (now == last || !__atomic_compare_exchange_n(&last_trim_sec, &last, now, false, __ATOMIC_RELAXED,
                                                        __ATOMIC_RELAXED))
                return;
        (void) malloc_trim(0);
}
