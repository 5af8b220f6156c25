/* SPDX-License-Identifier: MIT */
/*
 * Giving memory back after hostile input: a large message parses into many
 * small allocations that glibc keeps in its heaps after they are freed.
 * After such a message the heaps are trimmed, at most once a second; a trim
 * that the rate limit skipped runs from a one-shot timer a second later, so
 * the last message of a burst is followed by a trim too.
 */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#define MEMORY_TRIM_THRESHOLD (256u * 1024u)

/* Deferred trims run on this loop; without it a skipped trim is dropped. */
int memory_trim_attach(sd_event *e);
void memory_trim_detach(void);

/* Loop thread only: `bytes` of input were just handled and freed. */
void memory_trim_after(size_t bytes);
