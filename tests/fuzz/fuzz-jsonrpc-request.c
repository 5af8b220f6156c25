/* SPDX-License-Identifier: MIT */
/* jsonrpc_parse_request(): every request a mesh peer sends to cmd, and the
 * reply envelope built from what it parsed. */
#include <json-c/json.h>

#include "fuzz.h"
#include "json-util.h"
#include "mesh-jsonrpc.h"

/* Whatever the host sends back is strict JSON again. */
static void check_reply(struct json_object *id, int code, const char *message) {
        struct json_object *reply = jsonrpc_reply(id, "error", jsonrpc_error_object(code, message));
        FUZZ_CHECK(reply);
        const char *text = json_to_string_compact(reply);
        struct json_object *again = NULL;
        FUZZ_CHECK(json_parse_strict(text, strlen(text), &again, NULL) == 0);
        json_object_put(again);
        json_object_put(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        JsonRpcRequest req;
        const char *message = NULL;

        int code = jsonrpc_parse_request((const char *) data, size, &req, &message);
        if (code != 0) {
                FUZZ_CHECK(code == JSONRPC_PARSE_ERROR || code == JSONRPC_INVALID_REQUEST ||
                           code == JSONRPC_METHOD_NOT_FOUND || code == JSONRPC_INVALID_PARAMS ||
                           code == JSONRPC_SERVER_ERROR);
                FUZZ_CHECK(message && *message);
                FUZZ_CHECK(!req.id || json_object_is_type(req.id, json_type_string) ||
                           json_object_is_type(req.id, json_type_int) || json_object_is_type(req.id, json_type_double));
                check_reply(req.id, code, message);
        } else if (req.id) {
                /* a call: a string method and object params without caller metadata */
                FUZZ_CHECK(req.method && req.params && json_object_is_type(req.params, json_type_object));
                FUZZ_CHECK(!json_object_object_get_ex(req.params, "_dc_meta", NULL));
                FUZZ_CHECK(!json_object_object_get_ex(req.params, "source_device", NULL));
                char pid[PLUGIN_ID_MAX + 1];
                const char *fn;
                if (jsonrpc_split_qualified(req.method, pid, &fn))
                        FUZZ_CHECK(plugin_id_is_valid(pid) && fn && *fn);
                check_reply(req.id, JSONRPC_METHOD_NOT_FOUND, req.method);
        } else
                FUZZ_CHECK(req.root && json_object_is_type(req.root, json_type_object)); /* a notification */
        jsonrpc_request_done(&req);
        return 0;
}
