/* SPDX-License-Identifier: MIT */
#include "reason.h"

static const char *const reason_table[_REASON_MAX] = {
        [REASON_NONE] = "",
        [REASON_POLICY_INVALID] = "policy-invalid",
        [REASON_INVALID_ID] = "invalid-id",
        [REASON_DISABLED] = "disabled",
        [REASON_NOT_IN_ALLOWLIST] = "not-in-allowlist",
        [REASON_INSECURE_DIRECTORY] = "insecure-directory",
        [REASON_INSECURE_OWNER] = "insecure-owner",
        [REASON_INSECURE_MODE] = "insecure-mode",
        [REASON_SETUID] = "setuid",
        [REASON_NOT_REGULAR_FILE] = "not-regular-file",
        [REASON_TOO_LARGE] = "too-large",
        [REASON_MANIFEST_MISSING] = "manifest-missing",
        [REASON_MANIFEST_INVALID] = "manifest-invalid",
        [REASON_RUNTIME_UNSUPPORTED] = "runtime-unsupported",
        [REASON_ID_MISMATCH] = "id-mismatch",
        [REASON_DIGEST_MISMATCH] = "digest-mismatch",
        [REASON_SIGNATURE_MISSING] = "signature-missing",
        [REASON_SIGNATURE_INVALID] = "signature-invalid",
        [REASON_SIGNATURE_UNTRUSTED_KEY] = "signature-untrusted-key",
        [REASON_SIGNATURE_METADATA_MISMATCH] = "signature-metadata-mismatch",
        [REASON_ROLLBACK] = "rollback",
        [REASON_ELF_INVALID] = "elf-invalid",
        [REASON_ELF_WRONG_MACHINE] = "elf-wrong-machine",
        [REASON_ELF_INTERP] = "elf-interp",
        [REASON_ELF_EXECSTACK] = "elf-execstack",
        [REASON_ELF_WX_SEGMENT] = "elf-wx-segment",
        [REASON_ELF_RPATH] = "elf-rpath",
        [REASON_ELF_NEEDED_NOT_ALLOWED] = "elf-needed-not-allowed",
        [REASON_ELF_CONSTRUCTOR] = "elf-constructor",
        [REASON_ELF_IFUNC] = "elf-ifunc",
        [REASON_IMMUTABLE_IMAGE_UNAVAILABLE] = "immutable-image-unavailable",
        [REASON_DUPLICATE_ID] = "duplicate-id",
        [REASON_LOAD_FAILED] = "load-failed",
        [REASON_DESCRIPTOR_MISSING] = "descriptor-missing",
        [REASON_DESCRIPTOR_INVALID] = "descriptor-invalid",
        [REASON_ABI_MISMATCH] = "abi-mismatch",
        [REASON_INIT_FAILED] = "init-failed",
        [REASON_INIT_TIMEOUT] = "init-timeout",
        [REASON_READ_FAILED] = "read-failed",
        [REASON_ARCHIVE_INVALID] = "archive-invalid",
        [REASON_ARCHIVE_TOO_LARGE] = "archive-too-large",
        [REASON_ARCHIVE_UNSAFE_PATH] = "archive-unsafe-path",
        [REASON_ARCHIVE_LINK] = "archive-link",
        [REASON_ARCHIVE_SPECIAL_FILE] = "archive-special-file",
        [REASON_ARCHIVE_DUPLICATE_ENTRY] = "archive-duplicate-entry",
        [REASON_ARCHIVE_BAD_NAME] = "archive-bad-name",
        [REASON_ARCHIVE_LIMIT_EXCEEDED] = "archive-limit-exceeded",
        [REASON_ARCHIVE_LAYOUT] = "archive-layout",
        [REASON_DIGEST_REQUIRED] = "digest-required",
        [REASON_DIGEST_INVALID] = "digest-invalid",
        [REASON_ALREADY_EXISTS] = "already-exists",
        [REASON_READ_ONLY] = "read-only",
        [REASON_URL_INVALID] = "url-invalid",
        [REASON_URL_NOT_ALLOWED] = "url-not-allowed",
        [REASON_URL_INSECURE] = "url-insecure",
        [REASON_DOWNLOAD_FAILED] = "download-failed",
        [REASON_NOT_FOUND] = "not-found",
        [REASON_ALREADY_LOADED] = "already-loaded",
        [REASON_NOT_LOADED] = "not-loaded",
        [REASON_NO_SUCH_FUNCTION] = "no-such-function",
        [REASON_INVALID_PARAMS] = "invalid-params",
        [REASON_BUSY] = "busy",
        [REASON_TIMEOUT] = "timeout",
        [REASON_HANDLER_FAILED] = "handler-failed",
        [REASON_RATE_LIMITED] = "rate-limited",
        [REASON_LIMIT_EXCEEDED] = "limit-exceeded",
        [REASON_SHUTTING_DOWN] = "shutting-down",
        [REASON_OUT_OF_MEMORY] = "out-of-memory",
        [REASON_INVALID_ARGUMENT] = "invalid-argument",
        [REASON_INVALID_PATH] = "invalid-path",
        [REASON_NOT_SUPPORTED] = "not-supported",
        [REASON_UNVERIFIED_CODE] = "unverified-code",
        [REASON_CONFIG_INVALID] = "config-invalid",
        [REASON_PLUGIN_CRASHED] = "plugin-crashed",
        [REASON_QUARANTINED] = "quarantined",
        [REASON_ISOLATION_UNAVAILABLE] = "isolation-unavailable",
        [REASON_ADMIN_ONLY] = "admin-only",
        [REASON_FAILED] = "failed",
};

bool reason_is_install_problem(Reason r) {
        return r >= REASON_ARCHIVE_INVALID && r <= REASON_NOT_FOUND;
}

bool reason_is_operation_problem(Reason r) {
        return r >= REASON_ALREADY_LOADED && r < _REASON_MAX;
}

const char *reason_to_string(Reason r) {
        return r >= 0 && r < _REASON_MAX ? reason_table[r] : "";
}

Reason reason_from_string(const char *s) {
        for (int i = 1; i < _REASON_MAX; i++)
                if (streq(s, reason_table[i]))
                        return (Reason) i;
        return REASON_NONE;
}

bool reason_is_rejection(Reason r) {
        switch (r) {
        case REASON_NONE:
        case REASON_DISABLED:
        case REASON_LOAD_FAILED:
        case REASON_INIT_FAILED:
        case REASON_INIT_TIMEOUT:
        case REASON_READ_FAILED:
                return false;
        case REASON_ARCHIVE_INVALID ... REASON_NOT_FOUND:
                return false; /* bad input, not a trust decision */
        case REASON_ALREADY_LOADED ... _REASON_MAX - 1:
                return false; /* the request, not the plugin */
        default:
                return true;
        }
}

void verdict_clear(Verdict *v) {
        v->reason = REASON_NONE;
        v->message = (free(v->message), NULL);
}

int verdict_set(Verdict *v, int error, Reason reason, const char *format, ...) {
        va_list ap;
        char *m = NULL;

        if (!v)
                return error;
        va_start(ap, format);
        if (vasprintf(&m, format, ap) < 0)
                m = NULL;
        va_end(ap);
        free(v->message);
        v->message = m;
        v->reason = reason;
        return error;
}
