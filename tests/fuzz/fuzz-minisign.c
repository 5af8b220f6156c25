/* SPDX-License-Identifier: MIT */
/* minisign public keys and signatures (trusted-keys.d, .minisig files). */
#include "fuzz.h"
#include "minisign.h"
#include "plugin-id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        MinisignKey k;
        MinisignSignature s;
        int rk = minisign_key_parse((const char *) data, size, &k);
        int rs = minisign_signature_parse((const char *) data, size, &s);

        FUZZ_CHECK(rk == 0 || rk == -EBADMSG);
        FUZZ_CHECK(rs == 0 || rs == -EBADMSG);
        if (rs == 0) {
                FUZZ_CHECK(s.trusted_comment && strlen(s.trusted_comment) < size);
                if (rk == 0) {
                        uint8_t hash[MINISIGN_BLAKE2B_SIZE] = {};
                        int r = minisign_verify(&s, &k, hash);
                        FUZZ_CHECK(r == -EBADMSG || r == -EPROTONOSUPPORT);
                }
                minisign_signature_done(&s);
        }
        return 0;
}
