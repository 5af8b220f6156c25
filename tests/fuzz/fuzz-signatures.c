/* SPDX-License-Identifier: MIT */
/* signatures_parse(): the allowlist JSON (signatures.json, $DC_PLUGIN_SIGNATURES). */
#include "fuzz.h"
#include "plugin-id.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_strndup(data, size), *reason = NULL;
        SignatureMode mode;
        Pin *pins = NULL;
        size_t n = 0;

        int r = signatures_parse(text, &mode, &pins, &n, &reason);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL && reason && !pins && n == 0);
                free(reason);
        } else {
                FUZZ_CHECK(mode == SIGNATURES_PERMISSIVE || mode == SIGNATURES_STRICT_EMPTY || mode == SIGNATURES_ALLOWLIST);
                FUZZ_CHECK((mode == SIGNATURES_ALLOWLIST) == (n > 0));
                for (size_t i = 0; i < n; i++)
                        for (size_t j = 0; j < i; j++)
                                FUZZ_CHECK(strcmp(pins[i].id, pins[j].id) != 0);
                for (size_t i = 0; i < n; i++)
                        FUZZ_CHECK(plugin_id_is_valid(pins[i].id));
                pins_free(pins, n);
        }
        free(text);
        return 0;
}
