/* SPDX-License-Identifier: MIT */
/* Stable reason codes for rejected or failed plugins and refused operations
 * (docs/plugin-security.md, "Troubleshooting"; docs/dbus-api.md). */
#pragma once

#include <stdarg.h>

#include "macro.h"

typedef enum Reason {
        REASON_NONE,
        REASON_POLICY_INVALID,
        REASON_INVALID_ID,
        REASON_DISABLED,
        REASON_NOT_IN_ALLOWLIST,
        REASON_INSECURE_DIRECTORY,
        REASON_INSECURE_OWNER,
        REASON_INSECURE_MODE,
        REASON_SETUID,
        REASON_NOT_REGULAR_FILE,
        REASON_TOO_LARGE,
        REASON_MANIFEST_MISSING,
        REASON_MANIFEST_INVALID,
        REASON_RUNTIME_UNSUPPORTED,
        REASON_ID_MISMATCH,
        REASON_DIGEST_MISMATCH,
        REASON_SIGNATURE_MISSING,
        REASON_SIGNATURE_INVALID,
        REASON_SIGNATURE_UNTRUSTED_KEY,
        REASON_SIGNATURE_METADATA_MISMATCH,
        REASON_ROLLBACK,
        REASON_ELF_INVALID,
        REASON_ELF_WRONG_MACHINE,
        REASON_ELF_INTERP,
        REASON_ELF_EXECSTACK,
        REASON_ELF_WX_SEGMENT,
        REASON_ELF_RPATH,
        REASON_ELF_NEEDED_NOT_ALLOWED,
        REASON_ELF_CONSTRUCTOR,
        REASON_ELF_IFUNC, /* strict ELF: IFUNC resolvers run inside dlopen */
        REASON_IMMUTABLE_IMAGE_UNAVAILABLE,
        REASON_DUPLICATE_ID,
        REASON_LOAD_FAILED,
        REASON_DESCRIPTOR_MISSING,
        REASON_DESCRIPTOR_INVALID,
        REASON_ABI_MISMATCH,
        REASON_INIT_FAILED,
        REASON_INIT_TIMEOUT,
        REASON_READ_FAILED,
        /* Installs (archive, digest, source and store problems). */
        REASON_ARCHIVE_INVALID,
        REASON_ARCHIVE_TOO_LARGE,
        REASON_ARCHIVE_UNSAFE_PATH,
        REASON_ARCHIVE_LINK,
        REASON_ARCHIVE_SPECIAL_FILE,
        REASON_ARCHIVE_DUPLICATE_ENTRY,
        REASON_ARCHIVE_BAD_NAME,
        REASON_ARCHIVE_LIMIT_EXCEEDED,
        REASON_ARCHIVE_LAYOUT,
        REASON_DIGEST_REQUIRED,
        REASON_DIGEST_INVALID,
        REASON_ALREADY_EXISTS,
        REASON_READ_ONLY,
        REASON_URL_INVALID,
        REASON_URL_NOT_ALLOWED,
        REASON_URL_INSECURE,
        REASON_DOWNLOAD_FAILED,
        REASON_NOT_FOUND,
        /* Operations (src/core/ops.c): why a request was refused or failed. */
        REASON_ALREADY_LOADED,
        REASON_NOT_LOADED,
        REASON_NO_SUCH_FUNCTION,
        REASON_INVALID_PARAMS,
        REASON_BUSY,
        REASON_TIMEOUT,
        REASON_HANDLER_FAILED,
        REASON_RATE_LIMITED,
        REASON_LIMIT_EXCEEDED,
        REASON_SHUTTING_DOWN,
        REASON_OUT_OF_MEMORY,
        REASON_INVALID_ARGUMENT,
        REASON_INVALID_PATH,
        REASON_NOT_SUPPORTED,
        REASON_UNVERIFIED_CODE,
        REASON_CONFIG_INVALID,
        REASON_PLUGIN_CRASHED,
        REASON_QUARANTINED,
        REASON_ISOLATION_UNAVAILABLE,
        REASON_ADMIN_ONLY, /* the mesh: an admin RPC on the cmd subject (MeshAdminRPCsOnCmd=no) */
        REASON_FAILED,
        _REASON_MAX,
} Reason;

const char *reason_to_string(Reason r);
Reason reason_from_string(const char *s);
/* True for reasons that mean "the trust policy refused it" (vs. it broke). */
bool reason_is_rejection(Reason r);
/* Archive, digest, download and store problems of an install. */
bool reason_is_install_problem(Reason r);
/* Refusals and failures of an operation (busy, rate-limited, timeout…). */
bool reason_is_operation_problem(Reason r);

/* The outcome of one check: a reason code and a short, stable message. */
typedef struct Verdict {
        Reason reason;
        char *message;
} Verdict;

void verdict_clear(Verdict *v);
/* Sets *v and returns `error` (a negative errno) for `return verdict_set(...)`. */
int verdict_set(Verdict *v, int error, Reason reason, const char *format, ...) _printf_(4, 5);
