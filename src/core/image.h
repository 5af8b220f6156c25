/* SPDX-License-Identifier: MIT */
/*
 * The verified bytes of a plugin: copied into a sealed memfd while hashed
 * (docs/plugin-security.md, "Why the loader cannot be fooled by swapping
 * files"), so every check and the later dlopen() see the same bytes.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "minisign.h"
#include "reason.h"

typedef struct PluginImage {
        int fd;           /* sealed memfd, or the original fd in fallback mode */
        bool sealed;      /* false: fallback on an unmodifiable file */
        const uint8_t *map; /* the bytes, for checks: a PROT_READ mapping or a heap copy */
        bool map_is_heap;
        size_t size;
        uint8_t sha256[SHA256_DIGEST_SIZE];
        uint8_t blake2b[MINISIGN_BLAKE2B_SIZE];
        bool have_blake2b;
} PluginImage;

typedef enum ImageMode {
        IMAGE_MEMFD_AUTO,  /* sealed memfd; fallback only if executable memfds are refused */
        IMAGE_FORCE_FALLBACK, /* tests: behave as if executable memfds were refused */
} ImageMode;

/*
 * Copy src_fd (a checked regular file of st_size bytes) into a sealed memfd,
 * computing SHA-256 (and BLAKE2b-512 if want_blake2b) in the same pass.
 * On failure sets *v (reason read-failed, too-large or
 * immutable-image-unavailable).  trusted_owner tells the fallback whether
 * the file's owner is one the daemon itself cannot impersonate.
 */
int plugin_image_load(int src_fd, const char *id, uint64_t max_size, bool want_blake2b, ImageMode mode,
                      bool trusted_owner, PluginImage *ret, Verdict *v);
/* Drop the mapping; keep the fd (it must outlive the dlopen()ed object). */
void plugin_image_unmap(PluginImage *img);
void plugin_image_done(PluginImage *img);
/* One-shot helper for CLI "hash": SHA-256 of a file descriptor's content. */
int sha256_fd(int fd, uint8_t out[SHA256_DIGEST_SIZE]);
