/* SPDX-License-Identifier: MIT */
/* The one pattern for plugin ids, used by every path that takes an id. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PLUGIN_ID_MAX 64

/* ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$: rejects "", ".", "..", "/" and "x.so". */
bool plugin_id_is_valid(const char *id);
/* ^[A-Za-z_][A-Za-z0-9_]{0,63}$ for function, event and routine names. */
bool plugin_symbol_name_is_valid(const char *name);
/* Well-formed UTF-8 without control characters, at most max bytes. */
bool utf8_is_valid_text(const char *s, size_t max);
