/* SPDX-License-Identifier: MIT */
/* artifact_chunk_parse(): a peer's read_plugin_artifact reply. */
#include "fuzz.h"
#include "mesh-artifact-reply.h"
#include "plugin-id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ArtifactChunk c;
        char *error = NULL;

        int r = artifact_chunk_parse((const char *) data, size, 0, &c, &error);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG || r == -EREMOTEIO);
                /* peer text reaches logs and callers: escaped, bounded */
                FUZZ_CHECK(error && utf8_is_valid_text(error, 2048));
                free(error);
                return 0;
        }
        FUZZ_CHECK(!error && (c.size == 0 || c.data));
        artifact_chunk_done(&c);
        return 0;
}
