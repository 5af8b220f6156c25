/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Strict RFC 4648 base64: padding required, no whitespace, no trailing bits.
 * Returns the decoded length or -EINVAL; out must hold base64_decoded_max(len). */
#define base64_decoded_max(len) (((len) / 4) * 3)
long base64_decode_strict(const char *in, size_t len, uint8_t *out);
/* The same into a new buffer (*ret, freed by the caller): the length,
 * -EINVAL or -ENOMEM. */
long base64_decode_alloc(const char *in, size_t len, uint8_t **ret);

/* Standard base64 with padding; out must hold base64_encoded_size(len). */
#define base64_encoded_size(len) ((((len) + 2) / 3) * 4 + 1)
size_t base64_encode(const uint8_t *in, size_t len, char *out);
