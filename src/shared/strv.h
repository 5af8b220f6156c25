/* SPDX-License-Identifier: MIT */
/* NULL-terminated string arrays. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
bool strv_contains(char *const *l, const char *s);
static inline bool strv_isempty(char *const *l) {
        return !l || !l[0];
}
/* Remove every copy of s (in place); returns l. */
char **strv_remove(char **l, const char *s);
int strv_extend(char ***l, const char *s);
int strv_consume(char ***l, char *s);
/* Split on any of the separator characters, dropping empty words. */
char **strv_split(const char *s, const char *separators);
char **strv_copy(char *const *l);
/* "a, b" for separator ", "; "" for an empty or NULL list.  NULL only without memory. */
char *strv_join(char *const *l, const char *separator);
