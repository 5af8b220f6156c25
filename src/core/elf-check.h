/* SPDX-License-Identifier: MIT */
/* ELF pre-flight on the sealed bytes, before any plugin code runs
 * (docs/plugin-security.md, "Signature policy", StrictELF=). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

typedef struct ElfPolicy {
        char *const *allowed_needed; /* DT_NEEDED allowlist (NULL-terminated) */
        bool strict;                 /* also refuse DT_INIT / DT_INIT_ARRAY / DT_PREINIT_ARRAY */
        const char *required_symbol; /* must be an exported defined symbol, or NULL */
} ElfPolicy;

/* 0 if the image passes, else a negative errno with *v set (elf-* or descriptor-missing). */
int elf_preflight(const uint8_t *data, size_t size, const ElfPolicy *policy, Verdict *v);
