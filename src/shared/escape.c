/* SPDX-License-Identifier: MIT */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
        size_t len;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return len;
}

static char *escape(const char *s, size_t n, size_t max_bytes, bool keep_backslash) {
        bool cut = n > max_bytes;
        if (cut)
                n = max_bytes;
        char *out = malloc(n * 4 + 4), *o = out; /* every byte may become \xNN */
        if (!out)
                return NULL;
        const unsigned char *p = (const unsigned char *) s;
        for (size_t i = 0; i < n;) {
                size_t l = utf8_seq(p + i, n - i);
                if (l == 1 && p[i] >= 0x20 && p[i] != 0x7f && (p[i] != '\\' || keep_backslash))
                        *o++ = (char) p[i++];
                else if (l == 1 && p[i] == '\\') {
                        *o++ = '\\';
                        *o++ = '\\';
                        i++;
                } else if (l > 1) {
                        memcpy(o, p + i, l);
                        o += l;
                        i += l;
                } else {
                        o += sprintf(o, "\\x%02x", p[i]);
                        i++;
                }
        }
        if (cut)
                o = memcpy(o, "...", 3) + 3;
        *o = 0;
        return out;
}

char *escape_untrusted(const char *s, size_t max_bytes) {
        if (!s)
                return strdup("(null)");
        return escape(s, strlen(s), max_bytes, false);
}

char *escape_controls(const char *s, bool *oom) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s), i = 0;

        *oom = false;
        while (i < n) {
                size_t l = utf8_seq(p + i, n - i);
                if (l == 0 || (l == 1 && (p[i] < 0x20 || p[i] == 0x7f)))
                        break;
                i += l;
        }
        if (i == n)
                return NULL;
        char *out = escape(s, n, n, true);
        *oom = !out;
        return out;
}
