/* SPDX-License-Identifier: MIT */
/*
 * Every check that happens before any plugin code runs (steps 1-14 of the
 * load, docs/plugin-security.md).
 * Used by each load path and by `dc-plugin-hostd --check` / `hostctl verify`.
 */
#pragma once

#include "digest.h"
#include "image.h"
#include "manifest.h"
#include "policy.h"

typedef enum PluginLayout {
        LAYOUT_FOLDER, /* <root>/<id>/{manifest.json,<id>.so} */
        LAYOUT_FLAT,   /* <root>/<id>.so, Charon's drop-in form, no manifest */
} PluginLayout;

typedef struct Candidate {
        char *id;
        char *root;             /* canonical root path */
        PluginLayout layout;
        Manifest manifest;      /* empty for LAYOUT_FLAT */
        PluginImage image;      /* fd = -1 until hashed */
        char digest[DIGEST_STRING_MAX]; /* "" until computed */
        char expected_digest[DIGEST_STRING_MAX]; /* the pin, on digest-mismatch */
        char *signer;           /* trusted key id that signed it, or NULL */
        char *signed_version;   /* version from the signed trusted comment */
} Candidate;

typedef struct VerifyContext {
        Policy *policy;
        OwnerRule rule;
        unsigned host_api_level;
        bool (*is_disabled)(const char *id, void *userdata);
        bool (*is_registered)(const char *id, void *userdata); /* duplicate id check */
        void *userdata;
} VerifyContext;

void candidate_init(Candidate *c);
void candidate_done(Candidate *c);
/* The version the plugin's descriptor must carry: the manifest's, or the signed one (flat layout). */
static inline const char *candidate_expected_version(const Candidate *c) {
        return c->layout == LAYOUT_FOLDER ? c->manifest.version : c->signed_version;
}

/*
 * Verify the entry `name` below the open root `rootfd` (a folder, or
 * "<id>.so" for LAYOUT_FLAT).  On success the candidate holds the sealed
 * image ready for dlopen().  On failure *v holds reason and message; the
 * candidate keeps what was learnt (id, digest) for the registry.
 */
int plugin_verify(const VerifyContext *ctx, int rootfd, const char *root_path, const char *name, PluginLayout layout,
                  Candidate *c, Verdict *v);

/* "x86_64" etc.: uname -m of the host (for signed metadata). */
const char *host_architecture(void);
