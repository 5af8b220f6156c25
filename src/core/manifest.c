/* SPDX-License-Identifier: MIT */
#include "manifest.h"

#include <inttypes.h>

#include "json-util.h"
#include "plugin-id.h"

#define INVALID(...) verdict_set(v, -EBADMSG, REASON_MANIFEST_INVALID, __VA_ARGS__)

void manifest_done(Manifest *m) {
        free(m->id);
        free(m->version);
        free(m->description);
        free(m->entry_point);
        free(m->runtime);
        free(m->isolation);
        free(m->json);
        *m = (Manifest){};
}

static int get_string(struct json_object *o, const char *key, char **ret, Verdict *v) {
        struct json_object *x;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &x))
                return 0;
        if (!json_object_is_type(x, json_type_string))
                return INVALID("plugin rejected: manifest-invalid: \"%s\" must be a string", key);
        if (!utf8_is_valid_text(json_object_get_string(x), 4096))
                return INVALID("plugin rejected: manifest-invalid: \"%s\" is not printable UTF-8 text", key);
        *ret = strdup(json_object_get_string(x));
        return *ret ? 1 : -ENOMEM;
}

int manifest_parse(const char *text, size_t len, const char *folder_id, unsigned host_api_level, Manifest *ret,
                   Verdict *v) {
        _cleanup_json_ struct json_object *o = NULL;
        _cleanup_free_ char *dup = NULL;
        Manifest m = {};
        struct json_object *x;
        int r;

        if (len > MANIFEST_MAX_SIZE)
                return verdict_set(v, -EFBIG, REASON_TOO_LARGE, "plugin rejected: too-large: manifest.json is larger than %u bytes",
                                   MANIFEST_MAX_SIZE);
        r = json_parse_strict(text, len, &o, &dup);
        if (r == -ENOTUNIQ)
                return INVALID("plugin rejected: manifest-invalid: duplicate key \"%s\"", dup);
        if (r < 0 || !o)
                return INVALID("plugin rejected: manifest-invalid: manifest.json is not valid JSON");
        if (!json_object_is_type(o, json_type_object))
                return INVALID("plugin rejected: manifest-invalid: manifest.json must hold a JSON object");

        if ((r = get_string(o, "runtime", &m.runtime, v)) < 0 || (r = get_string(o, "id", &m.id, v)) < 0 ||
            (r = get_string(o, "version", &m.version, v)) < 0 ||
            (r = get_string(o, "description", &m.description, v)) < 0 ||
            (r = get_string(o, "entry_point", &m.entry_point, v)) < 0)
                goto fail;

        /* A Python plugin of the existing host: say so instead of "invalid". */
        if (!m.runtime || !streq(m.runtime, "c")) {
                bool python = json_object_object_get_ex(o, "class_name", NULL) ||
                              (m.entry_point && strlen(m.entry_point) > 3 &&
                               streq(m.entry_point + strlen(m.entry_point) - 3, ".py"));
                if (m.runtime)
                        r = verdict_set(v, -EPROTONOSUPPORT, REASON_RUNTIME_UNSUPPORTED,
                                        "plugin rejected: runtime-unsupported: runtime \"%s\" is not supported, this host loads C plugins (runtime \"c\")",
                                        m.runtime);
                else if (python)
                        r = verdict_set(v, -EPROTONOSUPPORT, REASON_RUNTIME_UNSUPPORTED,
                                        "plugin rejected: runtime-unsupported: this is a Python plugin (class_name/capability.py); this host loads C plugins (runtime \"c\")");
                else
                        r = verdict_set(v, -EPROTONOSUPPORT, REASON_RUNTIME_UNSUPPORTED,
                                        "plugin rejected: runtime-unsupported: manifest has no \"runtime\": \"c\"");
                goto fail;
        }
        if (!m.id) {
                r = INVALID("plugin rejected: manifest-invalid: \"id\" is required");
                goto fail;
        }
        if (!plugin_id_is_valid(m.id)) {
                r = verdict_set(v, -EINVAL, REASON_INVALID_ID, "plugin rejected: invalid-id: manifest id \"%s\" is not a valid plugin id", m.id);
                goto fail;
        }
        if (!streq(m.id, folder_id)) {
                r = verdict_set(v, -EBADMSG, REASON_ID_MISMATCH,
                                "plugin rejected: id-mismatch: manifest id \"%s\" differs from the folder name \"%s\"", m.id,
                                folder_id);
                goto fail;
        }
        char expected[PLUGIN_ID_MAX + 4];
        snprintf(expected, sizeof expected, "%s.so", m.id);
        if (!m.entry_point) {
                m.entry_point = strdup(expected);
                if (!m.entry_point) {
                        r = -ENOMEM;
                        goto fail;
                }
        } else if (!streq(m.entry_point, expected)) {
                r = INVALID("plugin rejected: manifest-invalid: entry_point must be \"%s\"", expected);
                goto fail;
        }
        if (!json_object_object_get_ex(o, "api_level", &x)) {
                r = verdict_set(v, -EPROTO, REASON_ABI_MISMATCH,
                                "plugin interface version mismatch: plugin interface none, host requires %u", host_api_level);
                goto fail;
        }
        if (!json_object_is_type(x, json_type_int)) {
                r = INVALID("plugin rejected: manifest-invalid: \"api_level\" must be an integer");
                goto fail;
        }
        m.api_level = json_object_get_int64(x);
        if (m.api_level != (int64_t) host_api_level) {
                r = verdict_set(v, -EPROTO, REASON_ABI_MISMATCH,
                                "plugin interface version mismatch: plugin interface %" PRId64 ", host requires %u",
                                m.api_level, host_api_level);
                goto fail;
        }
        r = get_string(o, "isolation", &m.isolation, v);
        if (r < 0)
                goto fail;
        if (m.isolation && !streq(m.isolation, "process") && !streq(m.isolation, "in-process")) {
                r = INVALID("plugin rejected: manifest-invalid: \"isolation\" must be \"process\" or \"in-process\"");
                goto fail;
        }
        if (json_object_object_get_ex(o, "network", &x)) {
                if (!json_object_is_type(x, json_type_boolean)) {
                        r = INVALID("plugin rejected: manifest-invalid: \"network\" must be true or false");
                        goto fail;
                }
                m.network = json_object_get_boolean(x);
        }
        m.json = strdup(json_to_string_compact(o));
        if (!m.json) {
                r = -ENOMEM;
                goto fail;
        }
        *ret = m;
        return 0;
fail:
        manifest_done(&m);
        return r;
}

char *manifest_read_string(int dirfd, const OwnerRule *rule, const char *key) {
        _cleanup_close_ int fd = openat_plugin_file(dirfd, "manifest.json", rule, MANIFEST_MAX_SIZE, "manifest", NULL, NULL);
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ struct json_object *o = NULL;
        size_t len;

        if (fd < 0 || read_fd_full(fd, MANIFEST_MAX_SIZE, &text, &len) < 0 || json_parse_strict(text, len, &o, NULL) < 0)
                return NULL;
        return json_dup_string(o, key);
}
