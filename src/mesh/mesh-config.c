/* SPDX-License-Identifier: MIT */
/*
 * Who this host is on the mesh and how it authenticates: servers, user,
 * token, JWT + nkey (.creds.json, classic .creds), TLS with host name
 * verification, device id and tenant (docs/mesh.md, "Configuration").
 */
#include <fcntl.h>

#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"
#include "names.h"
#include "strv.h"

#define DEFAULT_DEVICE_ID "plugin-host-1"
#define DEFAULT_TENANT "default"

/* docs/mesh.md: ^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$; "." only when allowed. */
static bool device_id_is_valid(const char *s, bool allow_dot) {
        size_t n = strlen(s);
        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || !(c == '-' || c == '_' || (c == '.' && allow_dot))))
                        return false;
        }
        return true;
}

static bool tenant_is_valid(const char *s) {
        if (isempty(s) || strlen(s) > 255)
                return false;
        for (const char *p = s; *p; p++)
                if (*p == '.' || *p == '*' || *p == '>' || *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}

static natsStatus jwt_cb(char **user_jwt, char **err, void *closure) {
        Mesh *m = closure;
        *user_jwt = strdup(m->jwt);
        return *user_jwt ? NATS_OK : NATS_NO_MEMORY;
}

static natsStatus sig_cb(char **err, unsigned char **sig, int *len, const char *nonce, void *closure) {
        Mesh *m = closure;
        return nats_Sign(m->seed, nonce, sig, len);
}


/* A Device Connect *.creds.json (docs/mesh.md, "Credentials"). */
static int load_creds_json(Mesh *m, const char *path, char ***urls, char **device_id, char **tenant) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *text = NULL;
        struct json_object *o = NULL, *nats, *tls, *x;
        size_t len;
        int r;

        if (fd < 0)
                return log_error_errno(errno, "Cannot open mesh credentials %s: %m", path);
        r = read_fd_full(fd, 1024 * 1024, &text, &len);
        if (r < 0 || json_parse_strict(text, len, &o, NULL) < 0 || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return log_error_errno(EBADMSG, "Mesh credentials %s are not a JSON object", path);
        }
        *device_id = json_dup_string(o, "device_id");
        *tenant = json_dup_string(o, "tenant");
        if (json_object_object_get_ex(o, "nats", &nats)) {
                m->jwt = json_dup_string(nats, "jwt");
                m->seed = json_dup_string(nats, "nkey_seed");
                if (json_object_object_get_ex(nats, "urls", &x) && json_object_is_type(x, json_type_array))
                        for (size_t i = 0; i < json_object_array_length(x); i++) {
                                struct json_object *u = json_object_array_get_idx(x, i);
                                if (json_object_is_type(u, json_type_string))
                                        (void) strv_extend(urls, json_object_get_string(u));
                        }
                if (json_object_object_get_ex(nats, "tls", &tls)) {
                        const char *ca = json_get_string(tls, "ca_file"), *ca_pem = json_get_string(tls, "ca_pem");
                        const char *cert = json_get_string(tls, "cert_file"), *key = json_get_string(tls, "key_file");
                        const char *cert_pem = json_get_string(tls, "cert_pem"), *key_pem = json_get_string(tls, "key_pem");
                        natsStatus s = NATS_OK;
                        s = natsOptions_SetSecure(m->opts, true);
                        if (s == NATS_OK && ca)
                                s = natsOptions_LoadCATrustedCertificates(m->opts, ca);
                        if (s == NATS_OK && ca_pem)
                                s = natsOptions_SetCATrustedCertificates(m->opts, ca_pem);
                        if (s == NATS_OK && cert && key)
                                s = natsOptions_LoadCertificatesChain(m->opts, cert, key);
                        if (s == NATS_OK && cert_pem && key_pem)
                                s = natsOptions_SetCertificatesChain(m->opts, cert_pem, key_pem);
                        if (s != NATS_OK) {
                                json_object_put(o);
                                return log_error_errno(EINVAL, "Mesh credentials %s: TLS material unusable: %s", path,
                                                       natsStatus_GetText(s));
                        }
                }
        }
        json_object_put(o);
        if ((m->jwt == NULL) != (m->seed == NULL))
                return log_error_errno(EINVAL, "Mesh credentials %s: nats.jwt and nats.nkey_seed go together", path);
        return 0;
}


/* "tls://user:pw@host:4222" → "host" ("[::1]" → "::1"). */
static char *url_host(const char *url) {
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        const char *at = strchr(p, '@');
        if (at)
                p = at + 1;
        if (*p == '[') {
                const char *end = strchr(p, ']');
                return end ? strndup(p + 1, (size_t) (end - p - 1)) : strdup(p);
        }
        return strndup(p, strcspn(p, ":/"));
}

int mesh_configure(Mesh *m) {
        const HostConfig *c = m->config;
        _cleanup_strv_free_ char **urls = strv_copy(c->mesh.urls ? c->mesh.urls : (char *[]){ NULL });
        _cleanup_free_ char *creds_device = NULL, *creds_tenant = NULL, *json_path = NULL;
        natsStatus s;

        if (!urls)
                return -ENOMEM;
        if (natsOptions_Create(&m->opts) != NATS_OK)
                return -ENOMEM;
        if (c->mesh.credentials) {
                const char *path = c->mesh.credentials;
                /* x.creds with a sibling x.creds.json: the latter, as upstream */
                if (endswith(path, ".creds") && asprintf(&json_path, "%s.json", path) >= 0 && access(json_path, R_OK) == 0)
                        path = json_path;
                if (endswith(path, ".json")) {
                        _cleanup_strv_free_ char **creds_urls = calloc(1, sizeof(char *));
                        int r = load_creds_json(m, path, &creds_urls, &creds_device, &creds_tenant);
                        if (r < 0)
                                return r;
                        if (strv_isempty(urls)) {
                                strv_free(urls);
                                urls = TAKE_PTR(creds_urls);
                        }
                } else if ((s = natsOptions_SetUserCredentialsFromFiles(m->opts, path, NULL)) != NATS_OK)
                        return log_error_errno(EINVAL, "Mesh credentials %s unusable: %s", path, natsStatus_GetText(s));
        }
        if (c->mesh.jwt && !m->jwt) {
                m->jwt = strdup(c->mesh.jwt);
                m->seed = c->mesh.nkey_seed ? strdup(c->mesh.nkey_seed) : NULL;
                if (!m->seed)
                        return log_error_errno(EINVAL, "NATS_JWT needs NATS_NKEY_SEED");
        }
        if (m->jwt && natsOptions_SetUserCredentialsCallbacks(m->opts, jwt_cb, m, sig_cb, m) != NATS_OK)
                return -EINVAL;
        if (strv_isempty(urls))
                return log_error_errno(EINVAL, "No mesh server: set MeshURLs=, $MESSAGING_URLS or $NATS_URL, or give "
                                               "credentials that name one");

        /* Identity: configuration, then the credentials, then the defaults. */
        const char *dev = c->mesh.device_id ? c->mesh.device_id : creds_device ? creds_device : DEFAULT_DEVICE_ID;
        const char *ten = c->mesh.tenant ? c->mesh.tenant : creds_tenant ? creds_tenant : DEFAULT_TENANT;
        if (!device_id_is_valid(dev, c->mesh.allow_dotted_device_id))
                return log_error_errno(EINVAL, "Invalid device id \"%s\"%s", dev,
                                       strchr(dev, '.') ? " (a '.' needs AllowDottedDeviceId=yes)" : "");
        if (!tenant_is_valid(ten))
                return log_error_errno(EINVAL, "Invalid tenant \"%s\"", ten);
        m->device_id = strdup(dev);
        m->tenant = strdup(ten);
        m->d2d = c->mesh.discovery_mode && streq(c->mesh.discovery_mode, "d2d");
        if (!m->device_id || !m->tenant ||
            asprintf(&m->subj_cmd, DC_MESH_SUBJECT_CMD_FMT, ten, dev) < 0 ||
            asprintf(&m->subj_admin, DC_MESH_SUBJECT_ADMIN_FMT, ten, dev) < 0 ||
            asprintf(&m->subj_registry, DC_MESH_SUBJECT_REGISTRY_FMT, ten) < 0 ||
            asprintf(&m->subj_heartbeat, DC_MESH_SUBJECT_HEARTBEAT_FMT, ten, dev) < 0 ||
            asprintf(&m->subj_presence, DC_MESH_SUBJECT_PRESENCE_FMT, ten, dev) < 0 ||
            asprintf(&m->subj_probe, DC_MESH_SUBJECT_PROBE_FMT, ten) < 0 ||
            asprintf(&m->subj_own_prefix, DC_MESH_DEVICE_SUBJECTS_FMT, ten, dev) < 0)
                return -ENOMEM;

        bool tls = false;
        for (char **u = urls; *u; u++)
                tls = tls || strncmp(*u, "tls://", 6) == 0;
        s = natsOptions_SetServers(m->opts, (const char **) urls, (int) strv_length(urls));
        if (s == NATS_OK)
                s = natsOptions_SetName(m->opts, "dc-plugin-hostd");
        if (s == NATS_OK)
                s = natsOptions_SetMaxReconnect(m->opts, -1);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectWait(m->opts, 1000);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectJitter(m->opts, 500, 1000);
        if (s == NATS_OK)
                s = natsOptions_SetSendAsap(m->opts, true);
        if (s == NATS_OK && c->mesh.user)
                s = natsOptions_SetUserInfo(m->opts, c->mesh.user, c->mesh.password ? c->mesh.password : "");
        if (s == NATS_OK && c->mesh.token)
                s = natsOptions_SetToken(m->opts, c->mesh.token);
        if (s == NATS_OK && (tls || c->mesh.tls_ca))
                s = natsOptions_SetSecure(m->opts, true);
        if (s == NATS_OK && c->mesh.tls_ca)
                s = natsOptions_LoadCATrustedCertificates(m->opts, c->mesh.tls_ca);
        if (s == NATS_OK && c->mesh.tls_cert && c->mesh.tls_key)
                s = natsOptions_LoadCertificatesChain(m->opts, c->mesh.tls_cert, c->mesh.tls_key);
        /* The certificate must name the first server's host (upstream does
         * not check it); said explicitly rather than relying on the
         * library's default. */
        if (s == NATS_OK && (tls || c->mesh.tls_ca) && !c->mesh.tls_skip_hostname) {
                _cleanup_free_ char *host = url_host(urls[0]);
                if (!host)
                        return -ENOMEM;
                s = natsOptions_SetExpectedHostname(m->opts, host);
        } else if (s == NATS_OK && c->mesh.tls_skip_hostname) {
                /* nats.c cannot skip only the name check: the opt-out skips
                 * certificate verification altogether (tests, broken PKI). */
                s = natsOptions_SkipServerVerification(m->opts, true);
                log_warning("Mesh TLS host name verification is off (MeshTLSVerifyHostname=no): the server "
                            "certificate is not verified at all");
        }
        if (s != NATS_OK)
                return log_error_errno(EINVAL, "Invalid mesh connection settings: %s", natsStatus_GetText(s));
        return 0;
}

void mesh_init_common(Mesh *m) {
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->cond, NULL);
        pthread_cond_init(&m->idle, NULL);
        pthread_mutex_init(&m->names_lock, NULL);
}

/* What mesh_init_common() and configure() set up, for the daemon and the client alike. */
void mesh_free_common(Mesh *m) {
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
        pthread_cond_destroy(&m->idle);
        pthread_mutex_destroy(&m->names_lock);
        free(m->jwt);
        free(m->seed);
        free(m->tenant);
        free(m->device_id);
        free(m->subj_cmd);
        free(m->subj_admin);
        free(m->subj_registry);
        free(m->subj_heartbeat);
        free(m->subj_presence);
        free(m->subj_probe);
        free(m->subj_own_prefix);
        free(m);
}

