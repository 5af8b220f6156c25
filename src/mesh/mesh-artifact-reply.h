/* SPDX-License-Identifier: MIT */
/*
 * One read_plugin_artifact reply from another host (docs/mesh.md, "Roll-outs
 * without HTTP").  Every byte of it comes from a peer: a pure parser, no
 * NATS, so the fuzzer reaches it (tests/fuzz).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ArtifactChunk {
        uint8_t *data; /* decoded bytes (caller frees) */
        size_t size;
        bool eof;
} ArtifactChunk;

/*
 * Parse the JSON-RPC reply text to a request for `offset`: 0 and *ret, or
 * -EBADMSG (not a well-formed success reply: wrong types, JSON null, a
 * different offset, bad base64) or -EREMOTEIO (the peer answered with an
 * error) with *error a message safe to log and return (escaped, bounded).
 */
int artifact_chunk_parse(const char *text, size_t len, int64_t offset, ArtifactChunk *ret, char **error);
void artifact_chunk_done(ArtifactChunk *c);
