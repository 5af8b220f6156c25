/* SPDX-License-Identifier: MIT */
/*
 * The trust policy: one immutable, refcounted object per generation, used by
 * every load path (startup scan, load, reload, rescan, install).  A reload
 * builds a new object and swaps it; in-flight loads keep the one they hold.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "elf-check.h"
#include "fs-check.h"
#include "image.h"
#include "minisign.h"

typedef enum SignatureMode {
        SIGNATURES_PERMISSIVE,
        SIGNATURES_STRICT_EMPTY,
        SIGNATURES_ALLOWLIST,
        SIGNATURES_INVALID, /* malformed configuration: block every external plugin */
        _SIGNATURES_MODE_MAX,
} SignatureMode;

typedef struct Pin {
        char *id;
        uint8_t digest[SHA256_DIGEST_SIZE];
} Pin;

typedef struct TrustedKey {
        MinisignKey key;
        char key_id[17];
} TrustedKey;

typedef struct PolicySettings {
        const char *signatures;        /* JSON text, or NULL/"" when unset */
        const char *signatures_source; /* name for messages, e.g. "DC_PLUGIN_SIGNATURES" */
        const char *trusted_keys_dir;  /* minisign *.pub files, or NULL */
        bool require_signatures;
        bool production;               /* refuse permissive mode ... */
        bool allow_unverified;         /* ... unless explicitly allowed */
        char *const *allowed_needed;   /* DT_NEEDED allowlist */
        bool strict_elf;
        uint64_t max_plugin_size;
        uid_t trusted_uid;
        uid_t self_uid;
        ImageMode image_mode;
} PolicySettings;

typedef struct Policy {
        unsigned n_ref;
        SignatureMode mode;
        char *invalid_reason; /* for SIGNATURES_INVALID */
        char *source;
        Pin *pins;
        size_t n_pins;
        TrustedKey *keys;
        size_t n_keys;
        bool require_signatures;
        char **allowed_needed;
        bool strict_elf;
        uint64_t max_plugin_size;
        uid_t trusted_uid;
        uid_t self_uid;
        ImageMode image_mode;
} Policy;

#define POLICY_DEFAULT_MAX_PLUGIN_SIZE (64ull * 1024 * 1024)

/* Build a policy and log its mode line (Charon's texts).  Never fails on a
 * malformed allowlist: that yields SIGNATURES_INVALID.  -ENOMEM only. */
int policy_new(const PolicySettings *s, Policy **ret);
Policy *policy_ref(Policy *p);
Policy *policy_unref(Policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Policy *, policy_unref);

/* Parse the allowlist JSON alone: 0 with mode/pins set, or -EINVAL with *reason. */
int signatures_parse(const char *text, SignatureMode *mode, Pin **pins, size_t *n_pins, char **reason);
void pins_free(Pin *pins, size_t n);

const char *signature_mode_to_string(SignatureMode m); /* "permissive", "strict", "allowlist", "invalid" */
const Pin *policy_find_pin(const Policy *p, const char *id);
const TrustedKey *policy_find_key(const Policy *p, const uint8_t key_id[MINISIGN_KEY_ID_SIZE]);
bool policy_wants_signatures(const Policy *p);
