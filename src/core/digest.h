/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define SHA256_DIGEST_SIZE 32
/* "sha256:" + 64 hex + NUL */
#define DIGEST_STRING_MAX (7 + 64 + 1)

/* Parse "sha256:<64 hex>" (hex in either case).  -EINVAL otherwise. */
int digest_parse_prefixed(const char *s, uint8_t out[SHA256_DIGEST_SIZE]);
/* Parse exactly n_bytes*2 hex digits. */
/* The install form: optional "sha256:" (any case), 64 hex digits of any
 * case, surrounding whitespace ignored, as the Python host does. */
int digest_parse_loose(const char *s, uint8_t out[SHA256_DIGEST_SIZE]);
int hex_decode_exact(const char *s, size_t len, uint8_t *out, size_t n_bytes);
/* Always "sha256:" + lowercase hex. */
void digest_format(const uint8_t d[SHA256_DIGEST_SIZE], char out[DIGEST_STRING_MAX]);
/* Constant-time comparison (CRYPTO_memcmp). */
bool digest_equal(const uint8_t a[SHA256_DIGEST_SIZE], const uint8_t b[SHA256_DIGEST_SIZE]);

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
