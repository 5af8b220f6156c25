/* SPDX-License-Identifier: MIT */
/*
 * Installing and removing plugins in the store: the one definition of the
 * install operation that the D-Bus and mesh front ends translate to.
 *
 * An install runs in two halves.  On a worker thread: read the archive
 * (fd, base64 or HTTPS URL) into a private memfd while hashing it, check
 * the digest, extract it into a fresh directory below <store>/.staging
 * under the archive rules, and verify the complete plugin there with the
 * same trust policy as every load (no plugin code runs).  Back on the event
 * loop: rename it into place (RENAME_NOREPLACE, or RENAME_EXCHANGE when
 * replacing), load it if asked, and remove the staging leftovers.  A crash
 * at any point leaves the old or the new plugin, never a mix; leftover
 * staging is removed at the next start.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "extract.h"
#include "host.h"

typedef enum InstallSource {
        INSTALL_SOURCE_FD,     /* D-Bus: an archive passed as a file descriptor */
        INSTALL_SOURCE_BASE64, /* mesh: bundle_b64 */
        INSTALL_SOURCE_URL,    /* mesh: HTTPS URL */
        INSTALL_SOURCE_DIRECTORY, /* mesh install_plugin: the folder name_hint below the directory fd */
} InstallSource;

typedef struct InstallRequest {
        InstallSource source;
        int fd;                 /* FD, DIRECTORY: host_install() takes it over (closed in every case) */
        const char *bundle_b64; /* BASE64 */
        const char *url;        /* URL */
        const char *name_hint;  /* file name or URL, for the format's suffix rule */
        const char *plugin_id;  /* NULL: the manifest's id, else the top-level folder */
        const char *digest;     /* NULL, "sha256:<hex>" or "<hex>" over the archive bytes */
        PackageFormat format;
        bool load;
        bool replace;
        bool allow_downgrade; /* an admin's explicit consent to go below the version floor */
        const char *caller; /* for the journal (DC_CALLER) */
} InstallRequest;

typedef struct InstallResult {
        char *plugin_id;    /* resolved id, once known */
        char *installed_to; /* <store>/<id> */
        char *version;      /* manifest version, may be NULL */
        char archive_digest[DIGEST_STRING_MAX];
        bool replaced;
        bool loaded;    /* the load step succeeded */
        bool running;   /* load false: a previous version of the plugin stays loaded */
        bool reload_pending; /* running, and its code differs from what was installed */
        int load_error; /* < 0: installed, but the load step failed ("partial") */
        Verdict load_verdict;
} InstallResult;

/* error < 0: nothing changed on disk; *v says why (reason + message). */
typedef void (*host_install_cb)(Host *h, int error, const Verdict *v, const InstallResult *res, void *userdata);

/*
 * Start an install.  Argument errors that need no I/O (bad id, bad digest,
 * digest required, bad URL) return < 0 with *v set and cb is not called;
 * otherwise cb is called exactly once on the loop thread.
 */
int host_install(Host *h, const InstallRequest *req, host_install_cb cb, void *userdata, Verdict *v);

/*
 * install_plugin_from_manifest (docs/mesh.md, "Host RPCs"): {"type": "python"
 * (default) or "c", "id", "bundle_b64" (preferred) or "url", "digest",
 * "format", "replace", "allow_downgrade"}.  Fills req with pointers into m
 * (valid while m lives).  "docker" and unknown types are refused with the
 * Python host's texts.
 */
int install_request_from_manifest(struct json_object *m, InstallRequest *req, Verdict *v);

/* The extraction limits of every install path (MaxExtractedSize= and friends). */
ArchiveLimits install_archive_limits(const HostConfig *c);

/* The plugin folder of an extracted archive (xfd): the root (*ret_top NULL)
 * or its single top-level directory; REASON_ARCHIVE_LAYOUT otherwise. */
int install_find_plugin_dir(int xfd, char **ret_top, Verdict *v);

/* Unload (waiting for running calls) and delete a plugin from the store.
 * -ENOENT unknown, -EROFS in a read-only root, -EBUSY in progress. */
int host_remove(Host *h, const char *id, host_done_cb cb, void *userdata, Verdict *v);
