/* SPDX-License-Identifier: MIT */
/* manifest_parse(): a verdict for every refusal, valid fields on success. */
#include "fuzz.h"
#include "json-util.h"
#include "manifest.h"
#include "plugin-id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Manifest m = {};
        Verdict v = {};

        int r = manifest_parse((const char *) data, size, "counter", 1, &m, &v);
        if (r < 0) {
                FUZZ_CHECK(v.reason != REASON_NONE && v.message);
                verdict_clear(&v);
                return 0;
        }
        FUZZ_CHECK(strcmp(m.id, "counter") == 0 && strcmp(m.entry_point, "counter.so") == 0 && m.api_level == 1);
        FUZZ_CHECK(!m.version || utf8_is_valid_text(m.version, 4096));
        FUZZ_CHECK(!m.description || utf8_is_valid_text(m.description, 4096));
        struct json_object *o = NULL;
        FUZZ_CHECK(json_parse_strict(m.json, strlen(m.json), &o, NULL) == 0);
        json_object_put(o);
        manifest_done(&m);
        return 0;
}
