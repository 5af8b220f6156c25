/* SPDX-License-Identifier: MIT */
#include "mesh-jsonrpc.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "json-util.h"
#include "macro.h"

int jsonrpc_parse_request(const char *data, size_t len, JsonRpcRequest *ret, const char **message) {
        struct json_object *o = NULL, *id = NULL, *method = NULL, *params = NULL;

        assert(ret && message);
        *ret = (JsonRpcRequest){};
        if (json_parse_strict(data, len, &o, NULL) < 0) {
                *message = "Parse error";
                return JSONRPC_PARSE_ERROR;
        }
        ret->root = o;
        if (!json_object_is_type(o, json_type_object)) {
                *message = "Invalid Request: not a JSON object";
                return JSONRPC_INVALID_REQUEST;
        }
        if (!json_object_object_get_ex(o, "id", &id))
                return 0; /* a notification: no reply, not even an error */
        if (!json_object_is_type(id, json_type_string) && !json_object_is_type(id, json_type_int) &&
                 !json_object_is_type(id, json_type_double)) {
                *message = "Invalid Request: id must be a string or a number";
                return JSONRPC_INVALID_REQUEST;
        }
        ret->id = id;
        if (!json_object_object_get_ex(o, "method", &method) || json_object_is_type(method, json_type_null)) {
                *message = "Unknown method: None";
                return JSONRPC_METHOD_NOT_FOUND;
        }
        if (!json_object_is_type(method, json_type_string)) {
                *message = "Invalid Request: method must be a string";
                return JSONRPC_INVALID_REQUEST;
        }
        ret->method = json_object_get_string(method);
        if (!json_object_object_get_ex(o, "params", &params)) {
                params = json_object_new_object();
                if (!params) {
                        *message = "Out of memory";
                        return JSONRPC_SERVER_ERROR;
                }
                json_object_object_add(o, "params", params);
        }
        if (!params || !json_object_is_type(params, json_type_object)) {
                *message = "Invalid params: params must be an object";
                return JSONRPC_INVALID_PARAMS;
        }
        /* Caller metadata is unauthenticated and never reaches a handler's params. */
        json_object_object_del(params, "_dc_meta");
        json_object_object_del(params, "source_device");
        ret->params = params;
        return 0;
}

void jsonrpc_request_done(JsonRpcRequest *r) {
        json_object_put(r->root);
        *r = (JsonRpcRequest){};
}

bool jsonrpc_split_qualified(const char *name, char id[static PLUGIN_ID_MAX + 1], const char **fn) {
        const char *dot = strchr(name, '.');
        if (!dot || (size_t) (dot - name) > PLUGIN_ID_MAX)
                return false;
        memcpy(id, name, (size_t) (dot - name));
        id[dot - name] = 0;
        *fn = dot + 1;
        return plugin_id_is_valid(id) && plugin_symbol_name_is_valid(*fn);
}

static struct json_object *envelope(struct json_object *id, bool with_id, const char *key, struct json_object *value) {
        struct json_object *o = json_object_new_object();
        if (!o) {
                json_object_put(value);
                return NULL;
        }
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        if (with_id)
                json_object_object_add(o, "id", json_object_get(id));
        json_object_object_add(o, key, value);
        return o;
}

struct json_object *jsonrpc_envelope(struct json_object *id, const char *key, struct json_object *value) {
        return envelope(id, id != NULL, key, value);
}

struct json_object *jsonrpc_reply(struct json_object *id, const char *key, struct json_object *value) {
        return envelope(id, true, key, value);
}

struct json_object *jsonrpc_request(const char *id, const char *method, struct json_object *params) {
        struct json_object *idv = id ? json_object_new_string(id) : NULL;
        struct json_object *o = jsonrpc_envelope(idv, "method", json_object_new_string(method));
        json_object_put(idv);
        if (o)
                json_object_object_add(o, "params", params ? params : json_object_new_object());
        else
                json_object_put(params);
        return o;
}

struct json_object *jsonrpc_error_object(int code, const char *message) {
        struct json_object *e = json_object_new_object();
        if (!e)
                return NULL;
        json_object_object_add(e, "code", json_object_new_int(code));
        json_object_object_add(e, "message", json_object_new_string(message ? message : "error"));
        return e;
}

char *mesh_iso_now(void) {
        time_t t = time(NULL);
        struct tm tm;
        char buf[32];
        gmtime_r(&t, &tm);
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return strdup(buf);
}

double mesh_epoch_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void mesh_random_hex(char *out, size_t n_hex) {
        static const char hex[] = "0123456789abcdef";
        uint8_t b[32];
        size_t n = (n_hex + 1) / 2;
        if (n > sizeof b || getrandom(b, n, GRND_NONBLOCK) != (ssize_t) n)
                memset(b, 0, sizeof b);
        for (size_t i = 0; i < n_hex; i++)
                out[i] = hex[(b[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
        out[n_hex] = 0;
}
