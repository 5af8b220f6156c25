/* SPDX-License-Identifier: MIT */
/*
 * minisign (0.11) public keys and signatures, verified with OpenSSL 3:
 * Ed25519 over BLAKE2b-512(file) ("ED", the prehashed default), then the
 * global signature over signature || trusted comment.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MINISIGN_KEY_ID_SIZE 8
#define MINISIGN_PK_SIZE 32
#define MINISIGN_SIG_SIZE 64
#define MINISIGN_BLAKE2B_SIZE 64
#define MINISIGN_MAX_FILE 4096

typedef struct MinisignKey {
        uint8_t key_id[MINISIGN_KEY_ID_SIZE];
        uint8_t pk[MINISIGN_PK_SIZE];
} MinisignKey;

typedef struct MinisignSignature {
        uint8_t algorithm[2]; /* "ED" (prehashed) or "Ed" (legacy) */
        uint8_t key_id[MINISIGN_KEY_ID_SIZE];
        uint8_t signature[MINISIGN_SIG_SIZE];
        char *trusted_comment; /* without the "trusted comment: " prefix */
        uint8_t global_signature[MINISIGN_SIG_SIZE];
} MinisignSignature;

/* Parse a public key file ("untrusted comment: ..." line + base64 line). -EBADMSG if malformed. */
int minisign_key_parse(const char *text, size_t len, MinisignKey *ret);
/* Parse a .minisig file (4 lines).  -EBADMSG if malformed. */
int minisign_signature_parse(const char *text, size_t len, MinisignSignature *ret);
void minisign_signature_done(MinisignSignature *s);
/* minisign's key id display: 16 upper-case hex digits of the little-endian u64. */
void minisign_key_id_format(const uint8_t id[MINISIGN_KEY_ID_SIZE], char out[17]);
/*
 * Verify a prehashed ("ED") signature given BLAKE2b-512 of the file, and the
 * global signature over the trusted comment.  0 if both verify, -EBADMSG if
 * not, -EPROTONOSUPPORT for the legacy "Ed" algorithm (refused by design).
 */
int minisign_verify(const MinisignSignature *s, const MinisignKey *k, const uint8_t blake2b[MINISIGN_BLAKE2B_SIZE]);
