/* SPDX-License-Identifier: MIT */
/* base64 (strict: decoding then encoding gives the input back), plugin ids
 * and names against a second reading of their patterns, escape_untrusted(). */
#include "base64.h"
#include "escape.h"
#include "fuzz.h"
#include "plugin-id.h"

static bool ref_id(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > PLUGIN_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
                if (!alnum && (i == 0 || (c != '-' && c != '_')))
                        return false;
        }
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *out = malloc(base64_decoded_max(size) + 1);
        FUZZ_CHECK(out);
        long n = base64_decode_strict((const char *) data, size, out);
        FUZZ_CHECK(n >= -EINVAL);
        if (n >= 0) {
                char *again = malloc(base64_encoded_size((size_t) n));
                FUZZ_CHECK(again);
                size_t m = base64_encode(out, (size_t) n, again);
                FUZZ_CHECK(m == size && memcmp(again, data, size) == 0);
                free(again);
        }
        free(out);

        char *s = fuzz_strndup(data, size);
        FUZZ_CHECK(plugin_id_is_valid(s) == ref_id(s));
        if (plugin_id_is_valid(s))
                FUZZ_CHECK(utf8_is_valid_text(s, PLUGIN_ID_MAX));
        char *e = escape_untrusted(s, 256);
        FUZZ_CHECK(e && utf8_is_valid_text(e, 256 * 4 + 3));
        free(e);
        free(s);
        return 0;
}
