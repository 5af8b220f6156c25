/* SPDX-License-Identifier: MIT */
/* schema_compile() then schema_validate(): input is "<schema>\0<value>". */
#include "fuzz.h"
#include "json-util.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, 0, size);
        size_t slen = nul ? (size_t) (nul - data) : size;
        char *schema_text = fuzz_strndup(data, slen), *error = NULL;
        struct json_object *schema = NULL;

        int r = schema_compile(schema_text, &schema, &error);
        FUZZ_CHECK(r == 0 || (r == -EINVAL && error));
        free(error);
        error = NULL;
        if (r == 0 && nul) {
                struct json_object *value = NULL;
                if (json_parse_strict((const char *) nul + 1, size - slen - 1, &value, NULL) == 0) {
                        r = schema_validate(schema, value, &error);
                        FUZZ_CHECK(r == 0 || (r == -EINVAL && error));
                        free(error);
                        json_object_put(value);
                }
        }
        json_object_put(schema);
        free(schema_text);
        return 0;
}
