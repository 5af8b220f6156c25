/* SPDX-License-Identifier: MIT */
#include "memory-trim.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

#define TRIM_INTERVAL_USEC (1000u * 1000u)

static sd_event *trim_event;
static sd_event_source *trim_timer;
static uint64_t last_trim_usec;
static bool trim_pending;

static uint64_t now_usec(void) {
        uint64_t t = 0;
        if (!trim_event || sd_event_now(trim_event, CLOCK_MONOTONIC, &t) < 0)
                return 0;
        return t;
}

static void trim_now(uint64_t now) {
        last_trim_usec = now;
        trim_pending = false;
        (void) malloc_trim(0);
}

static int on_trim_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) userdata;
        if (trim_pending)
                trim_now(usec);
        return 0;
}

int memory_trim_attach(sd_event *e) {
        assert(e);
        assert(!trim_event);
        int r = sd_event_add_time(e, &trim_timer, CLOCK_MONOTONIC, 0, TRIM_INTERVAL_USEC / 10, on_trim_timer,
                                  NULL);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(trim_timer, SD_EVENT_OFF);
        if (r < 0) {
                trim_timer = sd_event_source_unref(trim_timer);
                return r;
        }
        (void) sd_event_source_set_description(trim_timer, "memory-trim");
        trim_event = sd_event_ref(e);
        return 0;
}

void memory_trim_detach(void) {
        trim_timer = sd_event_source_disable_unref(trim_timer);
        trim_event = sd_event_unref(trim_event);
        trim_pending = false;
}

void memory_trim_after(size_t bytes) {
        if (bytes < MEMORY_TRIM_THRESHOLD)
                return;
        uint64_t now = now_usec();
        if (now == 0 || now - last_trim_usec >= TRIM_INTERVAL_USEC || last_trim_usec == 0) {
                trim_now(now);
                return;
        }
        if (trim_pending || !trim_timer)
                return;
        trim_pending = true;
        if (sd_event_source_set_time(trim_timer, last_trim_usec + TRIM_INTERVAL_USEC) < 0 ||
            sd_event_source_set_enabled(trim_timer, SD_EVENT_ONESHOT) < 0)
                trim_pending = false;
}
