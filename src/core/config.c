/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <ctype.h>
#include <strings.h>
#include <inttypes.h>
#include <stddef.h>

#include "log.h"
#include "names.h"
#include "strv.h"
#include "build-config.h"

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
                .polkit_timeout_usec = 25ull * 1000000,
                .max_pending_authorizations = 64,
                .production = PRODUCTION_BUILD,
                .auto_load = true,
                .max_plugin_size = 64ull * 1024 * 1024,
                .max_archive_size = 10ull * 1024 * 1024,
                .max_extracted_size = 256ull * 1024 * 1024,
                .max_archive_members = 10000,
                .install_timeout_usec = 120ull * 1000000,
                .mesh_ttl_sec = 15,
                .mesh_max_in_flight = 256,
                .max_loaded_plugins = 256,
                .mesh_ops_per_minute = 120,
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
        strv_free(c->mesh_urls);
        free(c->mesh_credentials);
        free(c->mesh_user);
        free(c->mesh_password);
        free(c->mesh_token);
        free(c->mesh_jwt);
        free(c->mesh_nkey_seed);
        free(c->mesh_tls_ca);
        free(c->mesh_tls_cert);
        free(c->mesh_tls_key);
        free(c->device_id);
        free(c->tenant);
        free(c->discovery_mode);
        free(c->import_dir);
        *c = (HostConfig){};
}

/* "a.example, b.example c.example": lower-cased hosts. */
static int set_host_list(char ***dst, const char *value) {
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
        strv_free(*dst);
        *dst = TAKE_PTR(l);
        return 0;
}

static int parse_unsigned(const char *value, unsigned min, unsigned max, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(value, &end, 10);
        if (errno || isempty(value) || *end || !isdigit((unsigned char) value[0]) || v < min || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

int host_config_set(HostConfig *c, const char *key, const char *value) {
        int r;

        if (streq(key, "PluginDirectories")) {
                char **l = strv_split(value, " ");
                if (!l)
                        return -ENOMEM;
                strv_free(c->plugin_dirs);
                c->plugin_dirs = l;
                return 0;
        }
        if (streq(key, "StateDirectory")) {
                _cleanup_free_ char *store = NULL;
                if (asprintf(&store, "%s/plugins", value) < 0)
                        return -ENOMEM;
                r = set_string(&c->state_dir, value);
                return r < 0 ? r : set_string(&c->store_dir, store);
        }
        if (streq(key, "StoreDirectory"))
                return set_string(&c->store_dir, value);
        if (streq(key, "SignaturesFile"))
                return set_string(&c->signatures_file, value);
        if (streq(key, "TrustedKeysDirectory"))
                return set_string(&c->trusted_keys_dir, value);
        if (streq(key, "PluginConfigDirectory"))
                return set_string(&c->plugin_config_dir, value);
        if (streq(key, "AllowedLibraries")) {
                /* Adds to the default libc/libm. */
                char **l = strv_split(value, " ");
                if (!l)
                        return -ENOMEM;
                for (char **i = l; *i; i++)
                        if (!strv_contains(c->allowed_libraries, *i) && strv_extend(&c->allowed_libraries, *i) < 0) {
                                strv_free(l);
                                return -ENOMEM;
                        }
                strv_free(l);
                return 0;
        }
        if (streq(key, "RequireSignatures") || streq(key, "StrictELF") || streq(key, "AllowUnverifiedPlugins") ||
            streq(key, "AutoLoad")) {
                r = parse_boolean(value);
                if (r < 0)
                        return r;
                if (streq(key, "RequireSignatures"))
                        c->require_signatures = r;
                else if (streq(key, "StrictELF"))
                        c->strict_elf = r;
                else if (streq(key, "AllowUnverifiedPlugins"))
                        c->allow_unverified = r;
                else
                        c->auto_load = r;
                return 0;
        }
        if (streq(key, "MaxPluginSize"))
                return parse_size(value, &c->max_plugin_size);
        if (streq(key, "TrustedUID")) {
                unsigned u;
                r = parse_unsigned(value, 0, 0x7fffffffu, &u);
                if (r < 0)
                        return r;
                c->trusted_uid = (uid_t) u;
                return 0;
        }
        if (streq(key, "Workers"))
                return parse_unsigned(value, 1, 256, &c->workers);
        if (streq(key, "MaxPendingAuthorizations"))
                return parse_unsigned(value, 1, 100000, &c->max_pending_authorizations);
        if (streq(key, "MaxQueuedCalls"))
                return parse_unsigned(value, 1, 1000000, &c->max_queued_calls);
        if (streq(key, "PolkitTimeoutSec")) {
                unsigned sec;
                r = parse_unsigned(value, 1, 3600, &sec);
                if (r < 0)
                        return r;
                c->polkit_timeout_usec = (uint64_t) sec * 1000000;
                return 0;
        }
        if (streq(key, "MaxArchiveSize"))
                return parse_size(value, &c->max_archive_size);
        if (streq(key, "MaxExtractedSize"))
                return parse_size(value, &c->max_extracted_size);
        if (streq(key, "MaxArchiveMembers"))
                return parse_unsigned(value, 1, 10000000, &c->max_archive_members);
        if (streq(key, "InstallRequireDigest") || streq(key, "InstallAllowInsecureHTTP")) {
                r = parse_boolean(value);
                if (r < 0)
                        return r;
                if (streq(key, "InstallRequireDigest"))
                        c->install_require_digest = r;
                else
                        c->install_allow_http = r;
                return 0;
        }
        if (streq(key, "InstallURLAllowlist"))
                return set_host_list(&c->install_url_allowlist, value);
        if (streq(key, "InstallCAFile"))
                return set_string(&c->install_ca_file, value);
        if (streq(key, "InstallProxy")) /* a URL, e.g. http://proxy:3128; empty = none */
                return set_string(&c->install_proxy, value);
        if (streq(key, "ArtifactDirectory"))
                return set_string(&c->artifact_dir, value);
        static const struct {
                const char *key;
                size_t offset;
        } strings[] = {
                { "MeshCredentialsFile", offsetof(HostConfig, mesh_credentials) },
                { "MeshUser", offsetof(HostConfig, mesh_user) },
                { "MeshPassword", offsetof(HostConfig, mesh_password) },
                { "MeshToken", offsetof(HostConfig, mesh_token) },
                { "MeshTLSCAFile", offsetof(HostConfig, mesh_tls_ca) },
                { "MeshTLSCertFile", offsetof(HostConfig, mesh_tls_cert) },
                { "MeshTLSKeyFile", offsetof(HostConfig, mesh_tls_key) },
                { "DeviceId", offsetof(HostConfig, device_id) },
                { "Tenant", offsetof(HostConfig, tenant) },
                { "ImportDirectory", offsetof(HostConfig, import_dir) },
        };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                if (streq(key, strings[i].key))
                        return set_string((char **) ((uint8_t *) c + strings[i].offset), value);
        if (streq(key, "MeshURLs")) {
                char **l = strv_split(value, ", ");
                if (!l)
                        return -ENOMEM;
                strv_free(c->mesh_urls);
                c->mesh_urls = l;
                return 0;
        }
        if (streq(key, "MeshDiscoveryMode")) {
                if (!streq(value, "infra") && !streq(value, "d2d") && !streq(value, "p2p"))
                        return -EINVAL;
                return set_string(&c->discovery_mode, streq(value, "p2p") ? "d2d" : value);
        }
        if (streq(key, "MeshTLSVerifyHostname") || streq(key, "AllowDottedDeviceId")) {
                r = parse_boolean(value);
                if (r < 0)
                        return r;
                if (streq(key, "AllowDottedDeviceId"))
                        c->allow_dotted_device_id = r;
                else
                        c->mesh_tls_skip_hostname = !r;
                return 0;
        }
        if (streq(key, "MeshTTLSec"))
                return parse_unsigned(value, 1, 3600, &c->mesh_ttl_sec);
        if (streq(key, "MeshMaxInFlight"))
                return parse_unsigned(value, 1, 100000, &c->mesh_max_in_flight);
        if (streq(key, "MeshOperationsPerMinute"))
                return parse_unsigned(value, 1, 1000000, &c->mesh_ops_per_minute);
        if (streq(key, "MaxLoadedPlugins"))
                return parse_unsigned(value, 1, 100000, &c->max_loaded_plugins);
        if (streq(key, "InstallTimeoutSec")) {
                unsigned s;
                r = parse_unsigned(value, 1, 86400, &s);
                if (r < 0)
                        return r;
                c->install_timeout_usec = (uint64_t) s * 1000000;
                return 0;
        }
        if (streq(key, "CallTimeoutSec")) {
                unsigned s;
                r = parse_unsigned(value, 1, 86400, &s);
                if (r < 0)
                        return r;
                c->call_timeout_usec = (uint64_t) s * 1000000;
                return 0;
        }
        return -ENOKEY;
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
        /* The Python host's install knobs keep their names (wire §15.11). */
        static const struct {
                const char *env, *key;
        } install_env[] = {
                { DC_ENV_MAX_PLUGIN_BYTES, "MaxArchiveSize" },
                { DC_ENV_INSTALL_REQUIRE_DIGEST, "InstallRequireDigest" },
                { DC_ENV_INSTALL_URL_ALLOWLIST, "InstallURLAllowlist" },
                { DC_ENV_ARTIFACT_DIR, "ArtifactDirectory" },
        };
        /* The edge SDK's names (wire §4.5, §15.11); the first one set wins. */
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
        if (!isempty(e) && set_string(&c->mesh_jwt, e) < 0)
                return -ENOMEM;
        e = getenv("NATS_NKEY_SEED");
        if (!isempty(e) && set_string(&c->mesh_nkey_seed, e) < 0)
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
