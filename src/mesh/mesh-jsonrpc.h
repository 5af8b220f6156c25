/* SPDX-License-Identifier: MIT */
/*
 * JSON-RPC 2.0 as the Device Connect mesh speaks it (docs/mesh.md): the
 * request parser (a pure function of the peer's bytes, reached by the
 * fuzzer) and the one builder of every envelope this host sends.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "plugin-id.h"

#define JSONRPC_PARSE_ERROR (-32700)
#define JSONRPC_INVALID_REQUEST (-32600)
#define JSONRPC_METHOD_NOT_FOUND (-32601)
#define JSONRPC_INVALID_PARAMS (-32602)
#define JSONRPC_SERVER_ERROR (-32000)

typedef struct JsonRpcRequest {
        struct json_object *root;   /* the whole document (owned) */
        struct json_object *id;     /* string or number; NULL: a notification (no reply) */
        const char *method;
        struct json_object *params; /* an object; caller metadata (_dc_meta, source_device) removed */
} JsonRpcRequest;

/*
 * Parse one request.  0 with *ret; or a JSON-RPC error code with *message
 * (static text) and ret->id set when the id could be read (the error reply
 * echoes it).  A notification parses (ret->id NULL) and gets no reply.
 */
int jsonrpc_parse_request(const char *data, size_t len, JsonRpcRequest *ret, const char **message);
void jsonrpc_request_done(JsonRpcRequest *r);

/* "<plugin_id>.<fn>" split into id (a buffer) and function; false if malformed. */
bool jsonrpc_split_qualified(const char *name, char id[static PLUGIN_ID_MAX + 1], const char **fn);

/* {"jsonrpc":"2.0", "id": id, key: value} (id referenced, value taken; id
 * NULL: no "id" member, as in notifications). */
struct json_object *jsonrpc_envelope(struct json_object *id, const char *key, struct json_object *value);
/* A reply: the same with "id" always present (null when the request's
 * could not be read). */
struct json_object *jsonrpc_reply(struct json_object *id, const char *key, struct json_object *value);
/* {"jsonrpc":"2.0", "id": id, "method": method, "params": params} (params
 * taken, NULL = {}); id NULL: a notification. */
struct json_object *jsonrpc_request(const char *id, const char *method, struct json_object *params);
/* {"code": code, "message": message} */
struct json_object *jsonrpc_error_object(int code, const char *message);

char *mesh_iso_now(void); /* YYYY-MM-DDTHH:MM:SSZ */
double mesh_epoch_now(void);
void mesh_random_hex(char *out, size_t n_hex);
