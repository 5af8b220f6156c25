/* SPDX-License-Identifier: MIT */
#include "plugin-id.h"

#include <string.h>

static bool is_alnum(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool plugin_id_is_valid(const char *id) {
        size_t n;

        if (!id || !is_alnum(id[0]))
                return false;
        n = strlen(id);
        if (n > PLUGIN_ID_MAX)
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_alnum(id[i]) && id[i] != '_' && id[i] != '-')
                        return false;
        return true;
}

bool plugin_symbol_name_is_valid(const char *name) {
        size_t n;

        if (!name || !(name[0] == '_' || (is_alnum(name[0]) && !(name[0] >= '0' && name[0] <= '9'))))
                return false;
        n = strlen(name);
        if (n > 64)
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_alnum(name[i]) && name[i] != '_')
                        return false;
        return true;
}

bool utf8_is_valid_text(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = 0;

        if (!s)
                return false;
        while (*p) {
                unsigned c = *p;
                int len;
                unsigned cp;

                if (c < 0x20 || c == 0x7f)
                        return false;
                if (c < 0x80) {
                        len = 1;
                        cp = c;
                } else if ((c & 0xe0) == 0xc0) {
                        len = 2;
                        cp = c & 0x1f;
                } else if ((c & 0xf0) == 0xe0) {
                        len = 3;
                        cp = c & 0x0f;
                } else if ((c & 0xf8) == 0xf0) {
                        len = 4;
                        cp = c & 0x07;
                } else
                        return false;
                for (int i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                /* overlong forms, surrogates, beyond U+10FFFF */
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                        return false;
                p += len;
                n += (size_t) len;
                if (n > max)
                        return false;
        }
        return true;
}
