/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <strings.h>

#include "build-config.h"
#include "log.h"
#include "names.h"
#include "strv.h"

#define DEFAULT_ALLOWED_LIBRARIES "libc.so.6 libm.so.6"

int parse_boolean(const char *s) {
        if (!s)
                return -EINVAL;
        if (streq(s, "1") || strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "on") == 0)
                return 1;
        if (streq(s, "0") || strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "off") == 0)
                return 0;
        return -EINVAL;
}

int parse_size(const char *s, uint64_t *ret) {
        char *end;
        uint64_t mult = 1;

        if (isempty(s) || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0)
                return -ERANGE;
        if (streq(end, "K"))
                mult = 1024;
        else if (streq(end, "M"))
                mult = 1024 * 1024;
        else if (streq(end, "G"))
                mult = 1024ull * 1024 * 1024;
        else if (*end)
                return -EINVAL;
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

static int set_string(char **dst, const char *value) {
        char *c = strdup(value);
        if (!c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

int host_config_init(HostConfig *c) {
        *c = (HostConfig){
                .trusted_uid = (uid_t) -1,
                .self_uid = geteuid(),
                .workers = 4,
                .max_queued_calls = 256,
                .call_timeout_usec = 30ull * 1000000,
                .production = PRODUCTION_BUILD,
                .auto_load = true,
                .max_plugin_size = 64ull * 1024 * 1024,
                .max_loaded_plugins = 256,
                .ops_per_minute = 120,
                .plugin_events_per_second = 200,
                .plugin_log_lines_per_second = 100,
                .max_archive_size = 10ull * 1024 * 1024,
                .max_extracted_size = 256ull * 1024 * 1024,
                .max_archive_members = 10000,
                .install_timeout_usec = 120ull * 1000000,
                .artifact_max_bytes = 256ull * 1024 * 1024,
                .artifact_max_files = 1000,
                .bus = {
                        .polkit_timeout_usec = 25ull * 1000000,
                        .max_pending_authorizations = 64,
                        .max_pending_authorizations_per_caller = 16,
                        .max_pending_authorization_bytes = 16ull * 1024 * 1024,
                },
                .mesh = {
                        .ttl_sec = 15,
                        .max_in_flight = 256,
                        .download_budget = 64ull * 1024 * 1024,
                },
        };
        _cleanup_free_ char *libs = NULL;
        if (asprintf(&libs, "%s %s", DEFAULT_ALLOWED_LIBRARIES, EXTRA_ALLOWED_NEEDED) < 0)
                return -ENOMEM;
        c->plugin_dirs = strv_split(PKG_PLUGINS_DIR " " PKG_CONF_DIR "/plugins", " ");
        c->allowed_libraries = strv_split(libs, " ");
        c->state_dir = strdup(PKG_STATE_DIR);
        c->store_dir = strdup(PKG_STATE_DIR "/plugins");
        c->config_dir = strdup(PKG_CONF_DIR);
        c->signatures_file = strdup(PKG_CONF_DIR "/signatures.json");
        c->trusted_keys_dir = strdup(PKG_CONF_DIR "/trusted-keys.d");
        c->plugin_config_dir = strdup(PKG_CONF_DIR "/plugin-config");
        if (!c->plugin_dirs || !c->allowed_libraries || !c->state_dir || !c->store_dir || !c->config_dir ||
            !c->signatures_file || !c->trusted_keys_dir || !c->plugin_config_dir)
                return -ENOMEM;
        return 0;
}

void host_config_done(HostConfig *c) {
        strv_free(c->plugin_dirs);
        strv_free(c->allowed_libraries);
        free(c->state_dir);
        free(c->store_dir);
        free(c->config_dir);
        free(c->signatures_file);
        free(c->signatures_env);
        free(c->trusted_keys_dir);
        free(c->plugin_config_dir);
        strv_free(c->install_url_allowlist);
        free(c->install_ca_file);
        free(c->install_proxy);
        free(c->artifact_dir);
        strv_free(c->mesh.urls);
        free(c->mesh.credentials);
        free(c->mesh.user);
        free(c->mesh.password);
        free(c->mesh.token);
        free(c->mesh.jwt);
        free(c->mesh.nkey_seed);
        free(c->mesh.tls_ca);
        free(c->mesh.tls_cert);
        free(c->mesh.tls_key);
        free(c->mesh.device_id);
        free(c->mesh.tenant);
        free(c->mesh.discovery_mode);
        free(c->mesh.import_dir);
        free(c->mesh.reply_prefix);
        for (size_t i = 0; i < c->n_retired; i++)
                if (c->retired[i].strv)
                        strv_free(c->retired[i].p);
                else
                        free(c->retired[i].p);
        free(c->retired);
        *c = (HostConfig){};
}

/* ---- value parsers: (value, the field, the entry's range) ---------------------------- */

typedef struct Setting Setting;
typedef int (*setting_parser)(const Setting *s, const char *value, void *field, HostConfig *c);

/* When a changed value takes effect (ReloadConfiguration, SIGHUP). */
enum { WHEN_GROUP = 0, WHEN_RUNTIME, WHEN_RESTART };

struct Setting {
        const char *key;
        setting_parser parse;
        size_t offset;          /* of the field in HostConfig */
        uint64_t min, max;      /* numbers: the accepted range */
        int when;               /* WHEN_GROUP: as its group says */
};

static int parse_string(const Setting *s, const char *value, void *field, HostConfig *c) {
        return set_string(field, value);
}

static int parse_bool(const Setting *s, const char *value, void *field, HostConfig *c) {
        int r = parse_boolean(value);
        if (r < 0)
                return r;
        *(bool *) field = r;
        return 0;
}

static int parse_number(const Setting *s, const char *value, uint64_t *ret) {
        char *end;
        if (isempty(value) || !isdigit((unsigned char) value[0]))
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || *end || v < s->min || v > s->max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_unsigned_field(const Setting *s, const char *value, void *field, HostConfig *c) {
        uint64_t v;
        int r = parse_number(s, value, &v);
        if (r >= 0)
                *(unsigned *) field = (unsigned) v;
        return r;
}

static int parse_uid_field(const Setting *s, const char *value, void *field, HostConfig *c) {
        uint64_t v;
        int r = parse_number(s, value, &v);
        if (r >= 0)
                *(uid_t *) field = (uid_t) v;
        return r;
}

static int parse_seconds(const Setting *s, const char *value, void *field, HostConfig *c) {
        uint64_t v;
        int r = parse_number(s, value, &v);
        if (r >= 0)
                *(uint64_t *) field = v * 1000000;
        return r;
}

static int parse_size_field(const Setting *s, const char *value, void *field, HostConfig *c) {
        return parse_size(value, field);
}

static int replace_list(void *field, const char *value, const char *separators) {
        char **l = strv_split(value, separators);
        if (!l)
                return -ENOMEM;
        strv_free(*(char ***) field);
        *(char ***) field = l;
        return 0;
}

/* "a b c" replaces the list. */
static int parse_words(const Setting *s, const char *value, void *field, HostConfig *c) {
        return replace_list(field, value, " ");
}

/* "nats://a:4222, nats://b:4222": commas or spaces. */
static int parse_url_list(const Setting *s, const char *value, void *field, HostConfig *c) {
        return replace_list(field, value, ", ");
}

/* AllowedLibraries= adds to the default libc/libm. */
static int parse_added_words(const Setting *s, const char *value, void *field, HostConfig *c) {
        _cleanup_strv_free_ char **l = strv_split(value, " ");
        if (!l)
                return -ENOMEM;
        for (char **i = l; *i; i++)
                if (!strv_contains(*(char ***) field, *i) && strv_extend(field, *i) < 0)
                        return -ENOMEM;
        return 0;
}

/* "a.example, b.example c.example": lower-cased hosts. */
static int parse_host_list(const Setting *s, const char *value, void *field, HostConfig *c) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL;

        if (!l || !copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
                for (char *p = t; *p; p++) {
                        *p = (char) tolower((unsigned char) *p);
                        if (!isalnum((unsigned char) *p) && *p != '.' && *p != '-' && *p != '_' && *p != ':' &&
                            *p != '[' && *p != ']')
                                return -EINVAL;
                }
                if (strv_extend(&l, t) < 0)
                        return -ENOMEM;
        }
        strv_free(*(char ***) field);
        *(char ***) field = TAKE_PTR(l);
        return 0;
}

/* StateDirectory= also moves the store below it. */
static int parse_state_dir(const Setting *s, const char *value, void *field, HostConfig *c) {
        _cleanup_free_ char *store = NULL;
        if (asprintf(&store, "%s/plugins", value) < 0)
                return -ENOMEM;
        int r = set_string(&c->state_dir, value);
        return r < 0 ? r : set_string(&c->store_dir, store);
}

static int parse_discovery_mode(const Setting *s, const char *value, void *field, HostConfig *c) {
        if (!streq(value, "infra") && !streq(value, "d2d") && !streq(value, "p2p"))
                return -EINVAL;
        return set_string(field, streq(value, "p2p") ? "d2d" : value);
}

/* MeshTLSVerifyHostname=no is the explicit opt-out. */
static int parse_verify_hostname(const Setting *s, const char *value, void *field, HostConfig *c) {
        int r = parse_boolean(value);
        if (r < 0)
                return r;
        *(bool *) field = !r;
        return 0;
}

static int parse_subject_prefix(const Setting *s, const char *value, void *field, HostConfig *c) {
        if (isempty(value) || strpbrk(value, "*> \t"))
                return -EINVAL;
        return set_string(field, value);
}

/* ---- the settings, by who uses them (dc-plugin-host.conf(5)) ------------------------- */

#define AT(member) offsetof(HostConfig, member)
#define STRING(key, member, ...) { key, parse_string, AT(member), 0, 0, __VA_ARGS__ }
#define BOOL(key, member, ...) { key, parse_bool, AT(member), 0, 0, __VA_ARGS__ }
#define UNSIGNED(key, member, lo, hi, ...) { key, parse_unsigned_field, AT(member), lo, hi, __VA_ARGS__ }
#define SECONDS(key, member, lo, hi, ...) { key, parse_seconds, AT(member), lo, hi, __VA_ARGS__ }
#define SIZE(key, member, ...) { key, parse_size_field, AT(member), 0, 0, __VA_ARGS__ }

/* The plugins, the trust policy and the calls: the core's. */
static const Setting core_settings[] = {
        { "PluginDirectories", parse_words, AT(plugin_dirs), .when = WHEN_RESTART },
        { "StateDirectory", parse_state_dir, 0, .when = WHEN_RESTART },
        STRING("StoreDirectory", store_dir, WHEN_RESTART),
        STRING("SignaturesFile", signatures_file),
        STRING("TrustedKeysDirectory", trusted_keys_dir),
        STRING("PluginConfigDirectory", plugin_config_dir),
        { "AllowedLibraries", parse_added_words, AT(allowed_libraries) },
        BOOL("RequireSignatures", require_signatures),
        BOOL("StrictELF", strict_elf),
        BOOL("AllowUnverifiedPlugins", allow_unverified),
        BOOL("AutoLoad", auto_load),
        SIZE("MaxPluginSize", max_plugin_size),
        { "TrustedUID", parse_uid_field, AT(trusted_uid), 0, 0x7fffffff },
        UNSIGNED("Workers", workers, 1, 256, WHEN_RESTART),
        UNSIGNED("MaxQueuedCalls", max_queued_calls, 1, 1000000, WHEN_RESTART),
        SECONDS("CallTimeoutSec", call_timeout_usec, 1, 86400),
        UNSIGNED("MaxLoadedPlugins", max_loaded_plugins, 1, 100000),
        UNSIGNED("OperationsPerMinute", ops_per_minute, 1, 1000000),
        UNSIGNED("MeshOperationsPerMinute", ops_per_minute, 1, 1000000), /* the older name */
        UNSIGNED("PluginEventsPerSecond", plugin_events_per_second, 1, 1000000),
        UNSIGNED("PluginLogLinesPerSecond", plugin_log_lines_per_second, 1, 1000000),
};

static const Setting install_settings[] = {
        SIZE("MaxArchiveSize", max_archive_size),
        SIZE("MaxExtractedSize", max_extracted_size),
        UNSIGNED("MaxArchiveMembers", max_archive_members, 1, 10000000),
        BOOL("InstallRequireDigest", install_require_digest),
        BOOL("InstallAllowInsecureHTTP", install_allow_http),
        { "InstallURLAllowlist", parse_host_list, AT(install_url_allowlist) },
        STRING("InstallCAFile", install_ca_file),
        STRING("InstallProxy", install_proxy), /* a URL; empty = none, whatever the environment says */
        SECONDS("InstallTimeoutSec", install_timeout_usec, 1, 86400),
        STRING("ArtifactDirectory", artifact_dir, WHEN_RESTART),
        SIZE("ArtifactStoreMaxSize", artifact_max_bytes),
        UNSIGNED("ArtifactStoreMaxFiles", artifact_max_files, 1, 1000000),
};

static const Setting bus_settings[] = {
        SECONDS("PolkitTimeoutSec", bus.polkit_timeout_usec, 1, 3600),
        UNSIGNED("MaxPendingAuthorizations", bus.max_pending_authorizations, 1, 100000),
        UNSIGNED("MaxPendingAuthorizationsPerCaller", bus.max_pending_authorizations_per_caller, 1, 100000),
        SIZE("MaxPendingAuthorizationBytes", bus.max_pending_authorization_bytes),
};

static const Setting mesh_settings[] = {
        { "MeshURLs", parse_url_list, AT(mesh.urls) },
        STRING("MeshCredentialsFile", mesh.credentials),
        STRING("MeshUser", mesh.user),
        STRING("MeshPassword", mesh.password),
        STRING("MeshToken", mesh.token),
        STRING("MeshTLSCAFile", mesh.tls_ca),
        STRING("MeshTLSCertFile", mesh.tls_cert),
        STRING("MeshTLSKeyFile", mesh.tls_key),
        { "MeshTLSVerifyHostname", parse_verify_hostname, AT(mesh.tls_skip_hostname) },
        STRING("DeviceId", mesh.device_id),
        STRING("Tenant", mesh.tenant),
        BOOL("AllowDottedDeviceId", mesh.allow_dotted_device_id),
        { "MeshDiscoveryMode", parse_discovery_mode, AT(mesh.discovery_mode) },
        UNSIGNED("MeshTTLSec", mesh.ttl_sec, 1, 3600),
        UNSIGNED("MeshMaxInFlight", mesh.max_in_flight, 1, 100000),
        STRING("ImportDirectory", mesh.import_dir),
        { "MeshReplyPrefix", parse_subject_prefix, AT(mesh.reply_prefix) },
        SIZE("MeshDownloadBudget", mesh.download_budget),
        BOOL("AllowUnverifiedMeshInstalls", mesh.allow_unverified_installs, WHEN_RUNTIME),
};

/* The core's settings are read where they are used and change on reload
 * (roots, store and pools excepted); the front ends read theirs when they
 * connect, so those need a restart. */
static const struct {
        const Setting *settings;
        size_t n;
        bool restart;
} setting_groups[] = {
        { core_settings, ELEMENTSOF(core_settings), false },
        { install_settings, ELEMENTSOF(install_settings), false },
        { bus_settings, ELEMENTSOF(bus_settings), true },
        { mesh_settings, ELEMENTSOF(mesh_settings), true },
};

static const Setting *find_setting(const char *key) {
        for (size_t g = 0; g < ELEMENTSOF(setting_groups); g++)
                for (size_t i = 0; i < setting_groups[g].n; i++)
                        if (streq(setting_groups[g].settings[i].key, key))
                                return &setting_groups[g].settings[i];
        return NULL;
}

int host_config_set(HostConfig *c, const char *key, const char *value) {
        const Setting *s = find_setting(key);
        if (!s)
                return -ENOKEY;
        return s->parse(s, value, (uint8_t *) c + s->offset, c);
}

int host_config_load_file(HostConfig *c, const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;

        if (!f)
                return -errno;
        while (getline(&line, &cap, f) >= 0) {
                char *s = line, *eq, *e;
                lineno++;
                s += strspn(s, " \t");
                s[strcspn(s, "\r\n")] = 0;
                if (!*s || *s == '#' || *s == ';' || *s == '[')
                        continue;
                eq = strchr(s, '=');
                if (!eq) {
                        log_error("%s:%u: expected Key=Value", path, lineno);
                        return -EINVAL;
                }
                *eq = 0;
                for (e = eq; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
                        e[-1] = 0;
                char *value = eq + 1;
                value += strspn(value, " \t");
                for (e = value + strlen(value); e > value && (e[-1] == ' ' || e[-1] == '\t'); e--)
                        e[-1] = 0;
                int r = host_config_set(c, s, value);
                if (r == -ENOKEY) {
                        log_error("%s:%u: unknown setting \"%s\"", path, lineno, s);
                        return -EINVAL;
                }
                if (r < 0) {
                        log_error("%s:%u: invalid value for %s: \"%s\"", path, lineno, s, value);
                        return r == -ENOMEM ? r : -EINVAL;
                }
        }
        return 0;
}

int host_config_load_env(HostConfig *c) {
        const char *e;

        e = getenv(DC_ENV_SIGNATURES);
        if (e && set_string(&c->signatures_env, e) < 0)
                return -ENOMEM;
        e = getenv(DC_ENV_CAPABILITIES_DIR);
        if (!isempty(e) && set_string(&c->store_dir, e) < 0)
                return -ENOMEM;
        /* The Python host's install knobs keep their names (docs/plugin-security.md). */
        static const struct {
                const char *env, *key;
        } install_env[] = {
                { DC_ENV_MAX_PLUGIN_BYTES, "MaxArchiveSize" },
                { DC_ENV_INSTALL_REQUIRE_DIGEST, "InstallRequireDigest" },
                { DC_ENV_INSTALL_URL_ALLOWLIST, "InstallURLAllowlist" },
                { DC_ENV_ARTIFACT_DIR, "ArtifactDirectory" },
        };
        /* The Device Connect SDK's names (docs/mesh.md); the first one set wins. */
        static const struct {
                const char *env[3], *key;
        } mesh_env[] = {
                { { "MESSAGING_URLS", "NATS_URL" }, "MeshURLs" },
                { { "MESSAGING_CREDENTIALS_FILE", "NATS_CREDENTIALS_FILE" }, "MeshCredentialsFile" },
                { { "MESSAGING_TLS_CA_FILE", "NATS_TLS_CA_FILE" }, "MeshTLSCAFile" },
                { { "MESSAGING_TLS_CERT_FILE", "NATS_TLS_CERT_FILE" }, "MeshTLSCertFile" },
                { { "MESSAGING_TLS_KEY_FILE", "NATS_TLS_KEY_FILE" }, "MeshTLSKeyFile" },
                { { "DEVICE_ID", "DC_PLUGIN_DEVICE_ID" }, "DeviceId" },
                { { "TENANT", "DC_PLUGIN_TENANT" }, "Tenant" },
                { { "DEVICE_CONNECT_DISCOVERY_MODE" }, "MeshDiscoveryMode" },
        };
        for (size_t i = 0; i < ELEMENTSOF(mesh_env); i++)
                for (size_t k = 0; k < 3 && mesh_env[i].env[k]; k++) {
                        e = getenv(mesh_env[i].env[k]);
                        if (isempty(e))
                                continue;
                        int r = host_config_set(c, mesh_env[i].key, e);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                log_error("Invalid value in $%s: \"%s\"", mesh_env[i].env[k], e);
                                return -EINVAL;
                        }
                        break;
                }
        e = getenv("NATS_JWT");
        if (!isempty(e) && set_string(&c->mesh.jwt, e) < 0)
                return -ENOMEM;
        e = getenv("NATS_NKEY_SEED");
        if (!isempty(e) && set_string(&c->mesh.nkey_seed, e) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(install_env); i++) {
                e = getenv(install_env[i].env);
                if (!e)
                        continue;
                int r = host_config_set(c, install_env[i].key, e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_error("Invalid value in $%s: \"%s\"", install_env[i].env, e);
                        return -EINVAL;
                }
        }
        return 0;
}

/* ---- reload ------------------------------------------------------------------------- */

typedef enum { KIND_STRING, KIND_STRV, KIND_BOOL, KIND_UNSIGNED, KIND_UID, KIND_U64, KIND_STATE_DIR } SettingKind;

static SettingKind setting_kind(const Setting *s) {
        if (s->parse == parse_bool || s->parse == parse_verify_hostname)
                return KIND_BOOL;
        if (s->parse == parse_unsigned_field)
                return KIND_UNSIGNED;
        if (s->parse == parse_uid_field)
                return KIND_UID;
        if (s->parse == parse_seconds || s->parse == parse_size_field)
                return KIND_U64;
        if (s->parse == parse_words || s->parse == parse_url_list || s->parse == parse_added_words ||
            s->parse == parse_host_list)
                return KIND_STRV;
        if (s->parse == parse_state_dir)
                return KIND_STATE_DIR;
        return KIND_STRING;
}

static bool strv_equal(char **a, char **b) {
        for (; a && b && *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return (!a || !*a) && (!b || !*b);
}

static bool setting_equal(const Setting *s, const HostConfig *a, const HostConfig *b) {
        const void *x = (const uint8_t *) a + s->offset, *y = (const uint8_t *) b + s->offset;
        switch (setting_kind(s)) {
        case KIND_BOOL:
                return *(const bool *) x == *(const bool *) y;
        case KIND_UNSIGNED:
                return *(const unsigned *) x == *(const unsigned *) y;
        case KIND_UID:
                return *(const uid_t *) x == *(const uid_t *) y;
        case KIND_U64:
                return *(const uint64_t *) x == *(const uint64_t *) y;
        case KIND_STRV:
                return strv_equal(*(char **const *) x, *(char **const *) y);
        case KIND_STATE_DIR:
                return streq_ptr(a->state_dir, b->state_dir) && streq_ptr(a->store_dir, b->store_dir);
        case KIND_STRING:
                return streq_ptr(*(char *const *) x, *(char *const *) y);
        }
        assert_not_reached();
}

static int retire(HostConfig *c, void *p, bool strv) {
        if (!p)
                return 0;
        RetiredValue *n = reallocarray(c->retired, c->n_retired + 1, sizeof *n);
        if (!n)
                return -ENOMEM;
        c->retired = n;
        c->retired[c->n_retired++] = (RetiredValue){ p, strv };
        return 0;
}

/* Moves the value of s from fresh into live.  Numbers are stored atomically:
 * worker and delivery threads read them without the loop. */
static int setting_move(const Setting *s, HostConfig *live, HostConfig *fresh) {
        void *x = (uint8_t *) live + s->offset, *y = (uint8_t *) fresh + s->offset;
        switch (setting_kind(s)) {
        case KIND_BOOL:
                __atomic_store_n((bool *) x, *(bool *) y, __ATOMIC_RELAXED);
                return 0;
        case KIND_UNSIGNED:
                __atomic_store_n((unsigned *) x, *(unsigned *) y, __ATOMIC_RELAXED);
                return 0;
        case KIND_UID:
                __atomic_store_n((uid_t *) x, *(uid_t *) y, __ATOMIC_RELAXED);
                return 0;
        case KIND_U64:
                __atomic_store_n((uint64_t *) x, *(uint64_t *) y, __ATOMIC_RELAXED);
                return 0;
        case KIND_STRV:
        case KIND_STRING: {
                int r = retire(live, *(void **) x, setting_kind(s) == KIND_STRV);
                if (r < 0)
                        return r;
                __atomic_store_n((void **) x, *(void **) y, __ATOMIC_RELEASE);
                *(void **) y = NULL;
                return 0;
        }
        case KIND_STATE_DIR:
                break;
        }
        assert_not_reached();
}

int host_config_apply(HostConfig *live, HostConfig *fresh, char ***ret_changed, char ***ret_restart) {
        _cleanup_strv_free_ char **changed = calloc(1, sizeof(char *)), **restart = calloc(1, sizeof(char *));

        assert(live && fresh && ret_changed && ret_restart);
        if (!changed || !restart)
                return -ENOMEM;
        for (size_t g = 0; g < ELEMENTSOF(setting_groups); g++)
                for (size_t i = 0; i < setting_groups[g].n; i++) {
                        const Setting *s = &setting_groups[g].settings[i];
                        /* an alias's field was moved under its first name: now equal */
                        if (setting_equal(s, live, fresh))
                                continue;
                        bool needs_restart = s->when == WHEN_RESTART ||
                                             (s->when == WHEN_GROUP && setting_groups[g].restart);
                        if (strv_extend(needs_restart ? &restart : &changed, s->key) < 0)
                                return -ENOMEM;
                        if (!needs_restart) {
                                int r = setting_move(s, live, fresh);
                                if (r < 0)
                                        return r;
                        }
                }
        *ret_changed = TAKE_PTR(changed);
        *ret_restart = TAKE_PTR(restart);
        return 0;
}

void host_config_warn(const HostConfig *c) {
        if (c->mesh.download_budget < c->max_archive_size)
                log_warning("MeshDownloadBudget=%" PRIu64 " is below MaxArchiveSize=%" PRIu64
                            ": dc-mesh:// downloads of larger archives are always refused",
                            c->mesh.download_budget, c->max_archive_size);
        if (c->artifact_max_bytes < c->max_archive_size)
                log_warning("ArtifactStoreMaxSize=%" PRIu64 " is below MaxArchiveSize=%" PRIu64
                            ": larger artifacts cannot be published",
                            c->artifact_max_bytes, c->max_archive_size);
        if (c->max_extracted_size < c->max_archive_size)
                log_warning("MaxExtractedSize=%" PRIu64 " is below MaxArchiveSize=%" PRIu64, c->max_extracted_size,
                            c->max_archive_size);
}
