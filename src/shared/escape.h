/* SPDX-License-Identifier: MIT */
/* Strings from peers, callers and plugins, made safe for logs and replies. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * A copy of s with C0 control characters, DEL and invalid UTF-8 bytes
 * written as \xNN (a backslash as \\), cut at max_bytes of input with "..."
 * appended.  NULL s gives "(null)".  Returns NULL only without memory.
 */
char *escape_untrusted(const char *s, size_t max_bytes);

/*
 * For the log sink: NULL if s needs nothing (no control character, DEL or
 * invalid UTF-8 byte), else a copy with those written as \xNN.  Backslashes
 * stay, so text already passed through escape_untrusted() is unchanged.
 * *oom is set when the copy could not be made.
 */
char *escape_controls(const char *s, bool *oom);
