/* SPDX-License-Identifier: MIT */
/*
 * Daemon configuration: built-in defaults, then the config file
 * (/etc/dc-plugin-host/dc-plugin-host.conf), then the environment, then the
 * command line.  See docs/dc-plugin-hostd.8.md for every key.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"

/* A value replaced by a reload: kept until host_config_done(), because
 * worker threads may still be reading the old one. */
typedef struct RetiredValue {
        void *p;
        bool strv;
} RetiredValue;

typedef struct HostConfig {
        char **plugin_dirs;       /* read-only roots, scanned in order */
        char *state_dir;          /* /var/lib/dc-plugin-host */
        char *store_dir;          /* install store: <state_dir>/plugins or $DC_PLUGIN_CAPABILITIES_DIR */
        char *config_dir;         /* /etc/dc-plugin-host */
        char *signatures_file;    /* <config_dir>/signatures.json (wins over the environment) */
        char *signatures_env;     /* $DC_PLUGIN_SIGNATURES, NULL when unset */
        char *trusted_keys_dir;   /* <config_dir>/trusted-keys.d */
        char *plugin_config_dir;  /* <config_dir>/plugin-config: <id>.json handed to the plugin */
        bool require_signatures;
        bool strict_elf;
        bool production;
        bool allow_unverified;
        bool auto_load;
        char **allowed_libraries; /* DT_NEEDED allowlist */
        uint64_t max_plugin_size;
        uid_t trusted_uid;
        uid_t self_uid;           /* the daemon's euid (tests may pretend otherwise) */
        unsigned workers;
        unsigned max_queued_calls;
        uint64_t call_timeout_usec;
        unsigned max_loaded_plugins;   /* cap of loads, from any front end */
        unsigned ops_per_minute;       /* rate limit of install/load/remove/publish, per caller */
        unsigned plugin_events_per_second;    /* per plugin (twice that as a burst) */
        unsigned plugin_log_lines_per_second; /* likewise */
        ImageMode image_mode;          /* tests only */

        /* Installs (docs/plugin-security.md, "Installing plugins") */
        uint64_t max_archive_size;     /* compressed archive: $DC_PLUGIN_MAX_PLUGIN_BYTES, 10 MiB */
        uint64_t max_extracted_size;   /* everything extracted from one archive */
        unsigned max_archive_members;
        bool install_require_digest;   /* $DC_PLUGIN_INSTALL_REQUIRE_DIGEST */
        char **install_url_allowlist;  /* $DC_PLUGIN_INSTALL_URL_ALLOWLIST; empty = any host */
        char *install_ca_file;         /* extra CA bundle for private artifact servers */
        char *install_proxy;           /* InstallProxy=: NULL/"" = no proxy, whatever the environment says */
        bool install_allow_http;       /* tests only: permit http:// URLs */
        uint64_t install_timeout_usec; /* whole download, all redirects */
        char *artifact_dir;            /* NULL: <state_dir>/artifacts; $DC_PLUGIN_ARTIFACT_DIR */
        uint64_t artifact_max_bytes;   /* the artifact store's quota */
        unsigned artifact_max_files;

        /* The D-Bus front end */
        struct {
                uint64_t polkit_timeout_usec;
                unsigned max_pending_authorizations;
                unsigned max_pending_authorizations_per_caller; /* per connection and per uid */
                uint64_t max_pending_authorization_bytes;       /* request bytes held per uid */
        } bus;

        /* The mesh front end (docs/mesh.md).  No URL and no credentials: off. */
        struct {
                char **urls;                /* MeshURLs=, $MESSAGING_URLS, $NATS_URL */
                char *credentials;          /* .creds.json or .creds: $MESSAGING_CREDENTIALS_FILE */
                char *user, *password, *token;
                char *jwt, *nkey_seed;      /* $NATS_JWT + $NATS_NKEY_SEED */
                char *tls_ca, *tls_cert, *tls_key;
                bool tls_skip_hostname;     /* explicit opt-out of host name verification */
                char *device_id;            /* NULL: $DEVICE_ID, creds, "plugin-host-1" */
                char *tenant;               /* NULL: $TENANT, creds, "default" */
                bool allow_dotted_device_id;
                char *discovery_mode;       /* "infra" (default) or "d2d" */
                unsigned ttl_sec;
                unsigned max_in_flight;     /* plugin calls and host operations at once */
                char *import_dir;           /* install_plugin source root; NULL = refused */
                char *reply_prefix;         /* reply subjects we publish on; NULL = "_INBOX." */
                uint64_t download_budget;   /* bytes all dc-mesh:// downloads in progress may reserve */
                bool allow_unverified_installs; /* installs and loads from the mesh under a permissive policy */
        } mesh;

        RetiredValue *retired;
        size_t n_retired;
} HostConfig;

int host_config_init(HostConfig *c);
void host_config_done(HostConfig *c);
/* Parse "Key=Value" lines ([Section] headers and # comments allowed; the
 * sections are for people: every key is known by name alone).  -ENOENT if
 * the file does not exist; -EINVAL with a logged message on a bad line. */
int host_config_load_file(HostConfig *c, const char *path);
int host_config_load_env(HostConfig *c);
/* Parse one setting (also --set).  -ENOKEY for an unknown key. */
int host_config_set(HostConfig *c, const char *key, const char *value);
/*
 * Reload: the settings that differ between live and fresh (a configuration
 * read again the same way) are moved into live if they can change at
 * runtime (*changed) or left for a restart (*restart); both NULL-terminated
 * lists of keys.  Loop thread; fresh keeps what was not moved.
 */
/* Log settings that contradict each other (they are still used as given). */
void host_config_warn(const HostConfig *c);
int host_config_apply(HostConfig *live, HostConfig *fresh, char ***changed, char ***restart);


int parse_boolean(const char *s);
int parse_size(const char *s, uint64_t *ret); /* "64M", "10485760" */
