/* SPDX-License-Identifier: MIT */
/*
 * Giving memory back after hostile input: a large message parses into many
 * small allocations that glibc keeps in its heaps after they are freed.
 * Called after such a message, it trims the heaps, at most once a second.
 */
#pragma once

#include <stddef.h>

#define MEMORY_TRIM_THRESHOLD (256u * 1024u)

/* Any thread: `bytes` of input were just handled and freed. */
void memory_trim_after(size_t bytes);
