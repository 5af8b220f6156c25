/* SPDX-License-Identifier: MIT */
#include "minisign.h"

#include <openssl/evp.h>

#include "base64.h"
#include "macro.h"

/* Split off the next line (LF or CRLF terminated, or the rest). */
static bool next_line(const char **p, const char *end, const char **line, size_t *n) {
        if (*p >= end)
                return false;
        const char *nl = memchr(*p, '\n', (size_t) (end - *p));
        const char *e = nl ? nl : end;
        *line = *p;
        *n = (size_t) (e - *p);
        if (*n > 0 && (*line)[*n - 1] == '\r')
                (*n)--;
        *p = nl ? nl + 1 : end;
        return true;
}

static bool has_prefix(const char *line, size_t n, const char *prefix) {
        size_t k = strlen(prefix);
        return n >= k && memcmp(line, prefix, k) == 0;
}

int minisign_key_parse(const char *text, size_t len, MinisignKey *ret) {
        const char *p = text, *end = text + len, *line;
        size_t n;
        uint8_t buf[64];

        if (len > MINISIGN_MAX_FILE || memchr(text, 0, len))
                return -EBADMSG;
        if (!next_line(&p, end, &line, &n) || !has_prefix(line, n, "untrusted comment: "))
                return -EBADMSG;
        if (!next_line(&p, end, &line, &n) || n > 80)
                return -EBADMSG;
        if (base64_decode_strict(line, n, buf) != 2 + MINISIGN_KEY_ID_SIZE + MINISIGN_PK_SIZE)
                return -EBADMSG;
        if (buf[0] != 'E' || buf[1] != 'd')
                return -EBADMSG;
        /* Only blank lines may follow. */
        while (next_line(&p, end, &line, &n))
                if (n > 0)
                        return -EBADMSG;
        memcpy(ret->key_id, buf + 2, MINISIGN_KEY_ID_SIZE);
        memcpy(ret->pk, buf + 2 + MINISIGN_KEY_ID_SIZE, MINISIGN_PK_SIZE);
        return 0;
}

void minisign_signature_done(MinisignSignature *s) {
        s->trusted_comment = (free(s->trusted_comment), NULL);
}

int minisign_signature_parse(const char *text, size_t len, MinisignSignature *ret) {
        const char *p = text, *end = text + len, *line;
        size_t n;
        uint8_t buf[128];
        MinisignSignature s = {};

        if (len > MINISIGN_MAX_FILE || memchr(text, 0, len))
                return -EBADMSG;
        if (!next_line(&p, end, &line, &n) || !has_prefix(line, n, "untrusted comment: "))
                return -EBADMSG;
        if (!next_line(&p, end, &line, &n) || n > 160 ||
            base64_decode_strict(line, n, buf) != 2 + MINISIGN_KEY_ID_SIZE + MINISIGN_SIG_SIZE)
                return -EBADMSG;
        memcpy(s.algorithm, buf, 2);
        memcpy(s.key_id, buf + 2, MINISIGN_KEY_ID_SIZE);
        memcpy(s.signature, buf + 2 + MINISIGN_KEY_ID_SIZE, MINISIGN_SIG_SIZE);
        if (!next_line(&p, end, &line, &n) || !has_prefix(line, n, "trusted comment: "))
                return -EBADMSG;
        s.trusted_comment = strndup(line + 17, n - 17);
        if (!s.trusted_comment)
                return -ENOMEM;
        if (!next_line(&p, end, &line, &n) || n > 160 ||
            base64_decode_strict(line, n, buf) != MINISIGN_SIG_SIZE) {
                minisign_signature_done(&s);
                return -EBADMSG;
        }
        memcpy(s.global_signature, buf, MINISIGN_SIG_SIZE);
        while (next_line(&p, end, &line, &n))
                if (n > 0) {
                        minisign_signature_done(&s);
                        return -EBADMSG;
                }
        *ret = s;
        return 0;
}

void minisign_key_id_format(const uint8_t id[MINISIGN_KEY_ID_SIZE], char out[17]) {
        static const char hex[] = "0123456789ABCDEF";
        for (int i = 0; i < MINISIGN_KEY_ID_SIZE; i++) {
                uint8_t b = id[MINISIGN_KEY_ID_SIZE - 1 - i];
                out[2 * i] = hex[b >> 4];
                out[2 * i + 1] = hex[b & 15];
        }
        out[16] = 0;
}

static bool ed25519_verify(const uint8_t pk[MINISIGN_PK_SIZE], const uint8_t sig[MINISIGN_SIG_SIZE],
                           const uint8_t *msg, size_t msg_len) {
        EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, MINISIGN_PK_SIZE);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        bool ok = key && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
                  EVP_DigestVerify(ctx, sig, MINISIGN_SIG_SIZE, msg, msg_len) == 1;
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(key);
        return ok;
}

int minisign_verify(const MinisignSignature *s, const MinisignKey *k, const uint8_t blake2b[MINISIGN_BLAKE2B_SIZE]) {
        if (memcmp(s->algorithm, "ED", 2) != 0)
                return memcmp(s->algorithm, "Ed", 2) == 0 ? -EPROTONOSUPPORT : -EBADMSG;
        if (memcmp(s->key_id, k->key_id, MINISIGN_KEY_ID_SIZE) != 0)
                return -EBADMSG;
        if (!ed25519_verify(k->pk, s->signature, blake2b, MINISIGN_BLAKE2B_SIZE))
                return -EBADMSG;

        size_t tl = strlen(s->trusted_comment);
        _cleanup_free_ uint8_t *global = malloc(MINISIGN_SIG_SIZE + tl);
        if (!global)
                return -ENOMEM;
        memcpy(global, s->signature, MINISIGN_SIG_SIZE);
        memcpy(global + MINISIGN_SIG_SIZE, s->trusted_comment, tl);
        if (!ed25519_verify(k->pk, s->global_signature, global, MINISIGN_SIG_SIZE + tl))
                return -EBADMSG;
        return 0;
}
