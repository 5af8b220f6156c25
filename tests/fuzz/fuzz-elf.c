/* SPDX-License-Identifier: MIT */
/* elf_preflight() on arbitrary bytes, plain and strict, with a required symbol. */
#include "elf-check.h"
#include "fuzz.h"
#include "dc-plugin-host/plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char *const needed[] = { (char *) "libc.so.6", NULL };
        /* Real images are mapped page-aligned: so is this copy. */
        uint8_t *image = aligned_alloc(4096, size ? (size + 4095) / 4096 * 4096 : 4096);
        FUZZ_CHECK(image);
        memcpy(image, data, size);
        for (int strict = 0; strict < 2; strict++) {
                ElfPolicy p = { .allowed_needed = needed, .strict = strict,
                                .required_symbol = strict ? DC_PLUGIN_DESCRIPTOR_SYMBOL : NULL };
                Verdict v = {};
                int r = elf_preflight(image, size, &p, &v);
                FUZZ_CHECK(r == 0 || (r < 0 && v.reason != REASON_NONE && v.message));
                verdict_clear(&v);
        }
        free(image);
        return 0;
}
