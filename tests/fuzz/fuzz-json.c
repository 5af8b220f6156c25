/* SPDX-License-Identifier: MIT */
/* json_parse_strict(): accepted text serialises to text it accepts again,
 * to the same value; every refusal says why. */
#include "fuzz.h"
#include "json-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct json_object *o = NULL;
        char *dup = NULL;
        JsonError e = {};

        int r = json_parse_strict_ex((const char *) data, size, &o, &dup, &e);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG || r == -ENOTUNIQ);
                FUZZ_CHECK(!o && e.message && e.offset <= size);
                FUZZ_CHECK((r == -ENOTUNIQ) == (dup != NULL));
                free(dup);
                return 0;
        }
        if (!o)
                return 0; /* null */
        char *text = strdup(json_to_string_compact(o));
        FUZZ_CHECK(text);
        struct json_object *again = NULL;
        FUZZ_CHECK(json_parse_strict(text, strlen(text), &again, NULL) == 0 && again);
        FUZZ_CHECK(strcmp(json_to_string_compact(again), text) == 0);
        FUZZ_CHECK(json_object_equal(o, again));
        json_object_put(again);
        json_object_put(o);
        free(text);
        return 0;
}
