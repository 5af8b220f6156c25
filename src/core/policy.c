/* SPDX-License-Identifier: MIT */
#include "policy.h"

#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>

#include "json-util.h"
#include "log.h"
#include "names.h"
#include "plugin-id.h"
#include "strv.h"

static const char *const mode_table[_SIGNATURES_MODE_MAX] = {
        [SIGNATURES_PERMISSIVE] = "permissive",
        [SIGNATURES_STRICT_EMPTY] = "strict",
        [SIGNATURES_ALLOWLIST] = "allowlist",
        [SIGNATURES_INVALID] = "invalid",
};

const char *signature_mode_to_string(SignatureMode m) {
        return m >= 0 && m < _SIGNATURES_MODE_MAX ? mode_table[m] : NULL;
}

void pins_free(Pin *pins, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(pins[i].id);
        free(pins);
}

_printf_(2, 3) static int fail(char **reason, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(reason, fmt, ap);
        va_end(ap);
        return r < 0 ? -ENOMEM : -EINVAL;
}

int signatures_parse(const char *text, SignatureMode *mode, Pin **pins, size_t *n_pins, char **reason) {
        _cleanup_json_ struct json_object *o = NULL;
        _cleanup_free_ char *dup = NULL;
        Pin *list = NULL;
        size_t n = 0;
        int r;

        *pins = NULL;
        *n_pins = 0;
        if (isempty(text)) {
                *mode = SIGNATURES_PERMISSIVE;
                return 0;
        }
        JsonError e = {};
        r = json_parse_strict_ex(text, strlen(text), &o, &dup, &e);
        if (r == -ENOTUNIQ)
                return fail(reason, "duplicate key \"%s\"", dup);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(reason, "not valid JSON: %s at byte %zu", e.message, e.offset);
        if (!o)
                return fail(reason, "top-level value is null, expected an object");
        if (!json_object_is_type(o, json_type_object))
                return fail(reason, "top-level value is %s, expected an object", json_type_to_json_name(o));

        list = calloc((size_t) json_object_object_length(o) + 1, sizeof(Pin));
        if (!list)
                return -ENOMEM;
        json_object_object_foreach(o, key, val) {
                if (!plugin_id_is_valid(key)) {
                        size_t kl = strlen(key);
                        r = fail(reason, "invalid plugin name \"%s\"%s", key,
                                 kl > 3 && streq(key + kl - 3, ".so") ? " (keys are plugin names without .so)" : "");
                        goto error;
                }
                if (!json_object_is_type(val, json_type_string)) {
                        r = fail(reason, "value for \"%s\" is not a string", key);
                        goto error;
                }
                if (digest_parse_prefixed(json_object_get_string(val), list[n].digest) < 0) {
                        r = fail(reason, "value for \"%s\" must be sha256:<64 hex digits>", key);
                        goto error;
                }
                list[n].id = strdup(key);
                if (!list[n].id) {
                        r = -ENOMEM;
                        goto error;
                }
                n++;
        }
        *mode = n == 0 ? SIGNATURES_STRICT_EMPTY : SIGNATURES_ALLOWLIST;
        *pins = list;
        *n_pins = n;
        return 0;
error:
        pins_free(list, n);
        return r;
}

/* Trusted keys: each *.pub in a root-owned, permission-checked directory. */
static int load_trusted_keys(Policy *p, const char *dir) {
        OwnerRule rule = { .kind = ROOT_READONLY, .self_uid = p->self_uid, .trusted_uid = UID_INVALID };
        _cleanup_free_ char *inner = NULL;
        _cleanup_close_ int dfd = -1;
        DIR *d;
        struct dirent *de;

        dfd = root_open_checked(dir, &rule, &inner);
        if (dfd == -ENOENT)
                return 0;
        if (dfd < 0) {
                log_struct(LOG_ERR, 0, NULL, LOG_FIELDS(LF("DC_KEYS_DIR", dir)),
                           "trusted key directory %s is unusable: %s — no publisher keys trusted", dir,
                           inner ? inner : strerror(-dfd));
                return 0;
        }
        d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                Verdict v = {};
                _cleanup_free_ char *text = NULL;
                size_t len;
                MinisignKey key;

                if (de->d_name[0] == '.' || l < 5 || !streq(de->d_name + l - 4, ".pub"))
                        continue;
                _cleanup_close_ int fd = openat_plugin_file(dfd, de->d_name, &rule, MINISIGN_MAX_FILE, "key file", NULL, &v);
                if (fd < 0 || read_fd_full(fd, MINISIGN_MAX_FILE, &text, &len) < 0 ||
                    minisign_key_parse(text, len, &key) < 0) {
                        log_warning("Ignoring trusted key %s/%s: %s", dir, de->d_name,
                                    v.message ? v.message : "not a minisign public key");
                        verdict_clear(&v);
                        continue;
                }
                TrustedKey *nk = realloc(p->keys, (p->n_keys + 1) * sizeof(TrustedKey));
                if (!nk) {
                        closedir(d);
                        return -ENOMEM;
                }
                p->keys = nk;
                p->keys[p->n_keys].key = key;
                minisign_key_id_format(key.key_id, p->keys[p->n_keys].key_id);
                log_debug("Trusting publisher key %s (%s)", p->keys[p->n_keys].key_id, de->d_name);
                p->n_keys++;
        }
        closedir(d);
        return 0;
}

int policy_new(const PolicySettings *s, Policy **ret) {
        _cleanup_(policy_unrefp) Policy *p = calloc(1, sizeof(Policy));
        const char *src = s->signatures_source ? s->signatures_source : DC_ENV_SIGNATURES;
        int r;

        if (!p)
                return -ENOMEM;
        p->n_ref = 1;
        p->require_signatures = s->require_signatures;
        p->strict_elf = s->strict_elf;
        p->max_plugin_size = s->max_plugin_size ? s->max_plugin_size : POLICY_DEFAULT_MAX_PLUGIN_SIZE;
        p->trusted_uid = s->trusted_uid;
        p->self_uid = s->self_uid;
        p->image_mode = s->image_mode;
        p->source = strdup(src);
        p->allowed_needed = strv_copy(s->allowed_needed);
        if (!p->source || !p->allowed_needed)
                return -ENOMEM;

        r = signatures_parse(s->signatures, &p->mode, &p->pins, &p->n_pins, &p->invalid_reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                p->mode = SIGNATURES_INVALID;
                log_struct(LOG_ERR, 0, DC_MESSAGE_POLICY_MODE, LOG_FIELDS(LF("DC_POLICY_MODE", "invalid")),
                           "invalid %s: %s — all external plugins blocked", src, p->invalid_reason);
        } else if (p->mode == SIGNATURES_PERMISSIVE && s->production && !s->allow_unverified) {
                /* Production builds never run unverified code by accident. */
                p->mode = SIGNATURES_STRICT_EMPTY;
                log_struct(LOG_WARNING, 0, DC_MESSAGE_POLICY_MODE, LOG_FIELDS(LF("DC_POLICY_MODE", "strict")),
                           "Plugin signature verification: STRICT mode (%s not set and permissive mode needs "
                           "--allow-unverified-plugins in production builds)",
                           src);
        } else if (p->mode == SIGNATURES_PERMISSIVE)
                log_struct(LOG_INFO, 0, DC_MESSAGE_POLICY_MODE, LOG_FIELDS(LF("DC_POLICY_MODE", "permissive")),
                           "Plugin signature verification: PERMISSIVE mode (%s not set)", src);
        else if (p->mode == SIGNATURES_STRICT_EMPTY)
                log_struct(LOG_INFO, 0, DC_MESSAGE_POLICY_MODE, LOG_FIELDS(LF("DC_POLICY_MODE", "strict")),
                           "Plugin signature verification: STRICT mode (empty allowlist — no external plugins permitted)");
        else
                log_struct(LOG_INFO, 0, DC_MESSAGE_POLICY_MODE, LOG_FIELDS(LF("DC_POLICY_MODE", "allowlist")),
                           "Plugin signature verification: STRICT mode (%zu plugin(s) in allowlist)", p->n_pins);

        if (s->trusted_keys_dir) {
                r = load_trusted_keys(p, s->trusted_keys_dir);
                if (r < 0)
                        return r;
        }
        if (p->require_signatures && p->n_keys == 0)
                log_warning("Publisher signatures are required but no trusted key is configured — every plugin will be rejected");
        *ret = TAKE_PTR(p);
        return 0;
}

Policy *policy_ref(Policy *p) {
        if (p)
                __atomic_add_fetch(&p->n_ref, 1, __ATOMIC_RELAXED);
        return p;
}

Policy *policy_unref(Policy *p) {
        if (!p || __atomic_sub_fetch(&p->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        pins_free(p->pins, p->n_pins);
        free(p->keys);
        free(p->invalid_reason);
        free(p->source);
        strv_free(p->allowed_needed);
        free(p);
        return NULL;
}

const Pin *policy_find_pin(const Policy *p, const char *id) {
        for (size_t i = 0; i < p->n_pins; i++)
                if (streq(p->pins[i].id, id))
                        return &p->pins[i];
        return NULL;
}

const TrustedKey *policy_find_key(const Policy *p, const uint8_t key_id[MINISIGN_KEY_ID_SIZE]) {
        for (size_t i = 0; i < p->n_keys; i++)
                if (memcmp(p->keys[i].key.key_id, key_id, MINISIGN_KEY_ID_SIZE) == 0)
                        return &p->keys[i];
        return NULL;
}

bool policy_wants_signatures(const Policy *p) {
        return p->require_signatures || p->n_keys > 0;
}
