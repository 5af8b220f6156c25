/* SPDX-License-Identifier: MIT */
#include "digest.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hex_decode_exact(const char *s, size_t len, uint8_t *out, size_t n_bytes) {
        if (len != n_bytes * 2)
                return -EINVAL;
        for (size_t i = 0; i < n_bytes; i++) {
                int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}

int digest_parse_prefixed(const char *s, uint8_t out[SHA256_DIGEST_SIZE]) {
        if (!s || strncmp(s, "sha256:", 7) != 0)
                return -EINVAL;
        return hex_decode_exact(s + 7, strlen(s + 7), out, SHA256_DIGEST_SIZE);
}

int digest_parse_loose(const char *s, uint8_t out[SHA256_DIGEST_SIZE]) {
        size_t len;

        if (!s)
                return -EINVAL;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
        if (strncasecmp(s, "sha256:", 7) == 0)
                s += 7;
        len = strlen(s);
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
                len--;
        return hex_decode_exact(s, len, out, SHA256_DIGEST_SIZE);
}

void digest_format(const uint8_t d[SHA256_DIGEST_SIZE], char out[DIGEST_STRING_MAX]) {
        static const char hex[] = "0123456789abcdef";
        memcpy(out, "sha256:", 7);
        for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++) {
                out[7 + 2 * i] = hex[d[i] >> 4];
                out[7 + 2 * i + 1] = hex[d[i] & 15];
        }
        out[DIGEST_STRING_MAX - 1] = 0;
}

bool digest_equal(const uint8_t a[SHA256_DIGEST_SIZE], const uint8_t b[SHA256_DIGEST_SIZE]) {
        return CRYPTO_memcmp(a, b, SHA256_DIGEST_SIZE) == 0;
}
