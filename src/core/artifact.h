/* SPDX-License-Identifier: MIT */
/*
 * The artifact store (docs/mesh.md, "Artifacts across hosts"): packed plugins other hosts can install,
 * <artifact dir>/<id>/<version or first 12 hex of the sha256>.tgz plus
 * <id>/artifact.json describing the latest publish.  Every path component
 * is validated before use.  Serving is the mesh front end's job.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "host.h"
#include "reason.h"

typedef struct ArtifactRecord {
        char *plugin_id;
        char *filename;
        char *digest; /* sha256:<hex> of the .tgz */
        uint64_t size;
        char *version;
        char *created_at; /* 2026-11-23T10:18:07.123456+00:00 */
        char *path;       /* absolute path of the .tgz */
} ArtifactRecord;

void artifact_record_done(ArtifactRecord *r);
/* ^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$ and no "..". */
bool artifact_version_is_valid(const char *v);
/* "<version>.tgz" with a valid version (what artifact_store() writes). */
bool artifact_filename_is_valid(const char *f);
/* The record's wire keys (no path). */
struct json_object *artifact_record_to_json(const ArtifactRecord *r);

/* Copy the archive in fd into the store for id and make it the latest. */
int artifact_store(const char *artifact_dir, const char *id, const char *version, int fd, ArtifactRecord *ret,
                   Verdict *v);
/* Every latest record (one per plugin id), sorted by id. */
int artifact_list(const char *artifact_dir, ArtifactRecord **ret, size_t *ret_n);
/* The latest record, or the one of `version`.  -ENOENT: "artifact not found for <id>". */
int artifact_find(const char *artifact_dir, const char *id, const char *version, ArtifactRecord *ret, Verdict *v);

/* The configured artifact directory (newly allocated). */
char *host_artifact_dir(Host *h);

typedef void (*host_publish_cb)(Host *h, int error, const Verdict *v, const ArtifactRecord *rec, void *userdata);
/*
 * Publish an installed plugin (packed from whichever root holds it), or
 * bundle_b64 as given, on the worker pool.  version NULL: the manifest's
 * version, else the digest's first 12 hex digits.  Argument errors return
 * < 0 with *v set; otherwise cb runs exactly once on the loop thread.
 */
int host_publish_artifact(Host *h, const char *id, const char *version, const char *bundle_b64, host_publish_cb cb,
                          void *userdata, Verdict *v);
