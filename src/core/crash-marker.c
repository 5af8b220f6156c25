/* SPDX-License-Identifier: MIT */
#include "crash-marker.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "plugin-id.h"
#include "strv.h"

#define SLOTS 256u

typedef struct Slot {
        char id[PLUGIN_ID_MAX + 1];
        char what[64];
        uint8_t used; /* written last on enter, first on leave */
        uint8_t pad[7];
} Slot;

static Slot *slots; /* SLOTS of them, MAP_SHARED */
static unsigned next_slot; /* atomic */
static _Thread_local int my_slot = -1;

int crash_marker_open(const char *state_dir, char ***crashed) {
        _cleanup_free_ char *path = NULL;
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

        assert(!slots);
        if (!l)
                return -ENOMEM;
        if (!state_dir) {
                *crashed = TAKE_PTR(l);
                return 0;
        }
        if (asprintf(&path, "%s/in-process-marker", state_dir) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, SLOTS * sizeof(Slot)) < 0)
                return -errno;
        void *m = mmap(NULL, SLOTS * sizeof(Slot), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
                return -errno;
        slots = m;
        for (unsigned i = 0; i < SLOTS; i++) {
                Slot *s = &slots[i];
                if (!s->used)
                        continue;
                s->id[PLUGIN_ID_MAX] = 0;
                if (plugin_id_is_valid(s->id) && !strv_contains(l, s->id) && strv_extend(&l, s->id) < 0)
                        return -ENOMEM;
        }
        memset(slots, 0, SLOTS * sizeof(Slot));
        *crashed = TAKE_PTR(l);
        return 0;
}

void crash_marker_close(void) {
        if (!slots)
                return;
        memset(slots, 0, SLOTS * sizeof(Slot));
        munmap(slots, SLOTS * sizeof(Slot));
        slots = NULL;
}

void crash_marker_enter(const char *plugin_id, const char *what) {
        Slot *s;
        if (!slots)
                return;
        if (my_slot < 0) {
                unsigned n = __atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED);
                my_slot = (int) MIN(n, SLOTS - 1); /* past SLOTS threads share the last slot: best effort */
        }
        s = &slots[my_slot];
        snprintf(s->id, sizeof s->id, "%s", plugin_id);
        snprintf(s->what, sizeof s->what, "%s", what ? what : "");
        __atomic_store_n(&s->used, 1, __ATOMIC_RELEASE);
}

void crash_marker_leave(void) {
        if (slots && my_slot >= 0)
                __atomic_store_n(&slots[my_slot].used, 0, __ATOMIC_RELEASE);
}
