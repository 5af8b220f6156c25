/* SPDX-License-Identifier: MIT */
/* manifest.json of a plugin folder (docs/plugin-development.md). */
#pragma once

#include <stdbool.h>

#include <stdint.h>

#include "fs-check.h"
#include "reason.h"

#define MANIFEST_MAX_SIZE (64u * 1024u)

typedef struct Manifest {
        char *id;
        char *version;     /* may be NULL */
        char *description; /* may be NULL */
        char *entry_point; /* "<id>.so" */
        char *runtime;     /* "c" */
        int64_t api_level;
        char *isolation;   /* "process", "in-process" (a request; the administrator decides) or NULL */
        bool network;      /* asks for IP sockets in its worker (the administrator decides) */
        char *json;        /* the manifest as compact JSON (for Describe/list_plugins) */
} Manifest;

/*
 * Parse and validate manifest text for the plugin folder `folder_id`:
 * strict JSON object, runtime "c", id = folder, entry_point = <id>.so,
 * integer api_level equal to host_api_level.  Sets *v on failure.
 */
int manifest_parse(const char *text, size_t len, const char *folder_id, unsigned host_api_level, Manifest *ret,
                   Verdict *v);
void manifest_done(Manifest *m);
/* The string `key` of dirfd/manifest.json when the file passes the owner
 * rule and parses, else NULL: for installs and publishes that need one value
 * before (or without) a full verification. */
char *manifest_read_string(int dirfd, const OwnerRule *rule, const char *key);
