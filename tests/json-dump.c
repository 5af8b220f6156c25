/* SPDX-License-Identifier: MIT */
/*
 * For tests/json-differential.py: reads records (a 4-byte little-endian
 * length, then that many bytes) from stdin and prints one line per record:
 * "ok <canonical value>" or "refused <errno name>".  The canonical form
 * tags every value with its type so that 1 and 1.0 differ:
 *   n  t  f  i<int64>  u<uint64>  d<%.17g>  s<hex bytes>
 *   [v,v]  {<hex name>:v,…}  (members in document order)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "json-util.h"

static void hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                printf("%02x", (unsigned char) s[i]);
}

static void dump(struct json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null:
                putchar('n');
                break;
        case json_type_boolean:
                putchar(json_object_get_boolean(o) ? 't' : 'f');
                break;
        case json_type_int: {
                int64_t i = json_object_get_int64(o);
                if (i == INT64_MAX && json_object_get_uint64(o) > (uint64_t) INT64_MAX)
                        printf("u%" PRIu64, json_object_get_uint64(o));
                else
                        printf("i%" PRId64, i);
                break;
        }
        case json_type_double:
                printf("d%.17g", json_object_get_double(o));
                break;
        case json_type_string:
                putchar('s');
                hex(json_object_get_string(o), (size_t) json_object_get_string_len(o));
                break;
        case json_type_array:
                putchar('[');
                for (size_t i = 0; i < json_object_array_length(o); i++) {
                        if (i)
                                putchar(',');
                        dump(json_object_array_get_idx(o, i));
                }
                putchar(']');
                break;
        case json_type_object: {
                bool first = true;
                putchar('{');
                json_object_object_foreach(o, key, val) {
                        if (!first)
                                putchar(',');
                        first = false;
                        hex(key, strlen(key));
                        putchar(':');
                        dump(val);
                }
                putchar('}');
                break;
        }
        }
}

int main(void) {
        uint8_t lenbuf[4];
        while (fread(lenbuf, 1, 4, stdin) == 4) {
                size_t n = lenbuf[0] | (size_t) lenbuf[1] << 8 | (size_t) lenbuf[2] << 16 | (size_t) lenbuf[3] << 24;
                char *text = malloc(n ? n : 1);
                if (!text || fread(text, 1, n, stdin) != n)
                        return 2;
                struct json_object *o = NULL;
                int r = json_parse_strict(text, n, &o, NULL);
                if (r < 0)
                        printf("refused %s", r == -ENOTUNIQ ? "ENOTUNIQ" : r == -EBADMSG ? "EBADMSG" : "other");
                else {
                        printf("ok ");
                        dump(o);
                }
                putchar('\n');
                json_object_put(o);
                free(text);
        }
        return ferror(stdin) ? 2 : 0;
}
