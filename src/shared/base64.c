/* SPDX-License-Identifier: MIT */
#include "base64.h"

#include <errno.h>
#include <stdlib.h>

static int b64val(unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

long base64_decode_strict(const char *in, size_t len, uint8_t *out) {
        size_t o = 0;

        if (len % 4 != 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i += 4) {
                int v[4], pad = 0;
                for (int j = 0; j < 4; j++) {
                        unsigned char c = (unsigned char) in[i + j];
                        if (c == '=' && i + 4 == len && j >= 2) {
                                v[j] = 0;
                                pad++;
                        } else if (pad > 0 || (v[j] = b64val(c)) < 0)
                                return -EINVAL;
                }
                uint32_t n = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 | (uint32_t) v[2] << 6 | (uint32_t) v[3];
                /* Non-canonical encodings (bits set under the padding) are refused. */
                if ((pad == 1 && (n & 0xff)) || (pad == 2 && (n & 0xffff)))
                        return -EINVAL;
                out[o++] = (uint8_t) (n >> 16);
                if (pad < 2)
                        out[o++] = (uint8_t) (n >> 8);
                if (pad < 1)
                        out[o++] = (uint8_t) n;
        }
        return (long) o;
}

long base64_decode_alloc(const char *in, size_t len, uint8_t **ret) {
        uint8_t *buf = malloc(base64_decoded_max(len) + 1);
        long n;

        if (!buf)
                return -ENOMEM;
        n = base64_decode_strict(in, len, buf);
        if (n < 0) {
                free(buf);
                return n;
        }
        *ret = buf;
        return n;
}

size_t base64_encode(const uint8_t *in, size_t len, char *out) {
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0, i = 0;
        for (; i + 3 <= len; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
                out[o++] = tab[v >> 18];
                out[o++] = tab[(v >> 12) & 63];
                out[o++] = tab[(v >> 6) & 63];
                out[o++] = tab[v & 63];
        }
        if (i < len) {
                uint32_t v = (uint32_t) in[i] << 16 | (i + 1 < len ? (uint32_t) in[i + 1] << 8 : 0);
                out[o++] = tab[v >> 18];
                out[o++] = tab[(v >> 12) & 63];
                out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
                out[o++] = '=';
        }
        out[o] = 0;
        return o;
}
