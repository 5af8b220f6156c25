/* SPDX-License-Identifier: MIT */
#include "plugin-text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"

int plugin_json_parse(const char *text, bool object_only, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = NULL;
        size_t n = strnlen(text, PLUGIN_JSON_MAX + 1);

        if (n > PLUGIN_JSON_MAX || json_parse_strict(text, n, &o, NULL) < 0 ||
            (object_only && !json_object_is_type(o, json_type_object)))
                return -EINVAL;
        if (ret)
                *ret = TAKE_PTR(o);
        return 0;
}

int plugin_result_store(char **slot, const char *result_json) {
        if (!result_json || plugin_json_parse(result_json, false, NULL) < 0)
                return -EINVAL;
        char *copy = strdup(result_json);
        if (!copy)
                return -ENOMEM;
        free(*slot);
        *slot = copy;
        return 0;
}
