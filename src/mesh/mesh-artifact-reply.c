/* SPDX-License-Identifier: MIT */
#include "mesh-artifact-reply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base64.h"
#include "escape.h"
#include "json-util.h"
#include "macro.h"

#define PEER_MESSAGE_MAX 256

_printf_(3, 4) static int fail(char **error, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(error, fmt, ap) < 0)
                *error = NULL;
        va_end(ap);
        return r;
}

/* The peer's own words, escaped and bounded. */
static int peer_error(char **error, struct json_object *o) {
        const char *text = NULL;
        if (json_member_string(o, "message", &text) < 0)
                return fail(error, -EBADMSG, "download failed: invalid reply from the publishing host");
        _cleanup_free_ char *safe = escape_untrusted(text, PEER_MESSAGE_MAX);
        return fail(error, -EREMOTEIO, "download failed: %s", safe ? safe : "(out of memory)");
}

int artifact_chunk_parse(const char *text, size_t len, int64_t offset, ArtifactChunk *ret, char **error) {
        _cleanup_json_ struct json_object *o = NULL;
        struct json_object *result, *err;
        const char *status, *b64;
        int64_t at;
        bool eof = false;
        int r;

        assert(text && ret && error);
        *error = NULL;
        *ret = (ArtifactChunk){};
        if (json_parse_strict(text, len, &o, NULL) < 0 || !json_object_is_type(o, json_type_object))
                return fail(error, -EBADMSG, "download failed: invalid reply from the publishing host: not a JSON object");
        if (json_member_object(o, "error", &err) >= 0)
                return peer_error(error, err);
        if (json_member_object(o, "result", &result) < 0)
                return fail(error, -EBADMSG, "download failed: invalid reply from the publishing host: no result object");
        if (json_member_string(result, "status", &status) < 0)
                return fail(error, -EBADMSG, "download failed: invalid reply from the publishing host: no status");
        if (!streq(status, "success"))
                return peer_error(error, result);
        if (json_member_string(result, "data_b64", &b64) < 0)
                return fail(error, -EBADMSG, "download failed: invalid reply from the publishing host: no data_b64 string");
        r = json_member_bool(result, "eof", &eof);
        if (r == -EBADMSG)
                return fail(error, r, "download failed: invalid reply from the publishing host: eof is not a boolean");
        r = json_member_int64(result, "offset", &at);
        if (r == -EBADMSG || (r >= 0 && at != offset))
                return fail(error, -EBADMSG, "download failed: invalid reply from the publishing host: wrong offset");

        uint8_t *buf = NULL;
        long n = base64_decode_alloc(b64, strlen(b64), &buf);
        if (n < 0)
                return fail(error, -EBADMSG, "download failed: invalid reply from the publishing host: invalid base64 chunk");
        *ret = (ArtifactChunk){ .data = buf, .size = (size_t) n, .eof = eof };
        return 0;
}

void artifact_chunk_done(ArtifactChunk *c) {
        free(c->data);
        *c = (ArtifactChunk){};
}
