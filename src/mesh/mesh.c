/* SPDX-License-Identifier: MIT */
#include "mesh-internal.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "json-util.h"
#include "log.h"
#include "strv.h"

#define DEFAULT_DEVICE_ID "plugin-host-1"
#define DEFAULT_TENANT "default"

bool mesh_configured(const HostConfig *c) {
        return !strv_isempty(c->mesh_urls) || c->mesh_credentials || c->mesh_jwt;
}

const char *mesh_device_id(const Mesh *m) {
        return m->device_id;
}

const char *mesh_tenant(const Mesh *m) {
        return m->tenant;
}

/* wire §2: ^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$; "." only when allowed. */
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

int mesh_publish_text(natsConnection *nc, const char *subject, const char *text, size_t len) {
        if (!nc)
                return -ENOTCONN;
        int64_t max = natsConnection_GetMaxPayload(nc);
        if (max > 0 && (int64_t) len > max) {
                log_warning("Not publishing %zu bytes on %s: over the server's max_payload", len, subject);
                return -EMSGSIZE;
        }
        return natsConnection_Publish(nc, subject, text, (int) len) == NATS_OK ? 0 : -EIO;
}

int mesh_publish_json_on(natsConnection *nc, const char *subject, struct json_object *o) {
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        return mesh_publish_text(nc, subject, text, strlen(text));
}

int mesh_publish_json(Mesh *m, const char *subject, struct json_object *o) {
        return mesh_publish_json_on(m->nc, subject, o);
}

/* ---- the loop bridge ------------------------------------------------------------ */

static void wake(Mesh *m) {
        uint64_t one = 1;
        (void) write(m->efd, &one, sizeof one);
}

/* Lock held: the message goes to the loop; false if it was dropped. */
static bool enqueue(Mesh *m, natsMsg *msg) {
        if (m->n_queue == m->queue_cap) {
                size_t cap = m->queue_cap ? m->queue_cap * 2 : 64;
                natsMsg **q = realloc(m->queue, cap * sizeof *q);
                if (!q) {
                        natsMsg_Destroy(msg);
                        return false;
                }
                m->queue = q;
                m->queue_cap = cap;
        }
        m->queue[m->n_queue++] = msg;
        return true;
}

/* A delivery thread of nats.c (one per subscription). */
static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        Mesh *m = closure;
        bool done = false, queued = false;

        pthread_mutex_lock(&m->lock);
        if (m->closing) {
                pthread_mutex_unlock(&m->lock);
                natsMsg_Destroy(msg);
                return;
        }
        m->active++;
        pthread_mutex_unlock(&m->lock);

        /* Most calls end here: no hand-off to the loop and a worker. */
        if (streq(natsMsg_GetSubject(msg), m->subj_cmd))
                done = mesh_try_direct(m, nc, msg);

        pthread_mutex_lock(&m->lock);
        if (done || m->closing)
                natsMsg_Destroy(msg);
        else
                queued = enqueue(m, msg);
        if (--m->active == 0 && m->closing)
                pthread_cond_broadcast(&m->idle);
        pthread_mutex_unlock(&m->lock);
        if (queued)
                wake(m);
}

static void on_reconnected(natsConnection *nc, void *closure) {
        Mesh *m = closure;
        pthread_mutex_lock(&m->lock);
        m->reconnected = true;
        pthread_mutex_unlock(&m->lock);
        wake(m);
}

static void on_connected(natsConnection *nc, void *closure) {
        on_reconnected(nc, closure); /* first connect after a failed start: register */
}

int mesh_post(Mesh *m, void (*fn)(Mesh *m, void *userdata, bool cancelled), void *userdata) {
        MeshTask *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->run = fn;
        t->userdata = userdata;
        pthread_mutex_lock(&m->lock);
        t->next = m->tasks;
        m->tasks = t;
        pthread_mutex_unlock(&m->lock);
        wake(m);
        return 0;
}

static void run_tasks(Mesh *m, MeshTask *list, bool cancelled) {
        /* posted newest first: run oldest first */
        MeshTask *rev = NULL;
        while (list) {
                MeshTask *n = list->next;
                list->next = rev;
                rev = list;
                list = n;
        }
        while (rev) {
                MeshTask *n = rev->next;
                rev->run(m, rev->userdata, cancelled);
                free(rev);
                rev = n;
        }
}

static void send_presence(Mesh *m);

static int on_efd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Mesh *m = userdata;
        uint64_t n;
        natsMsg **batch;
        size_t count;
        bool reconnected;

        (void) read(fd, &n, sizeof n);
        pthread_mutex_lock(&m->lock);
        batch = m->queue;
        count = m->n_queue;
        m->queue = NULL;
        m->n_queue = m->queue_cap = 0;
        reconnected = m->reconnected;
        m->reconnected = false;
        MeshTask *tasks = TAKE_PTR(m->tasks);
        pthread_mutex_unlock(&m->lock);
        run_tasks(m, tasks, false);

        for (size_t i = 0; i < count; i++) {
                const char *subject = natsMsg_GetSubject(batch[i]);
                if (m->probe_sub && streq(subject, m->subj_probe))
                        send_presence(m);
                else
                        mesh_handle_request(m, batch[i]);
                natsMsg_Destroy(batch[i]);
        }
        free(batch);
        if (reconnected) {
                log_info("Connected to the mesh server; refreshing the registration");
                mesh_advertisement_changed(m);
        }
        return 0;
}

/* ---- heartbeat, presence, registration ---------------------------------------------- */

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        Mesh *m = userdata;
        struct json_object *o = json_object_new_object();
        if (o) {
                json_object_object_add(o, "device_id", json_object_new_string(m->device_id));
                json_object_object_add(o, "ts", json_object_new_double(mesh_epoch_now()));
                (void) mesh_publish_json(m, m->subj_heartbeat, o);
                json_object_put(o);
        }
        uint64_t period = (m->config->mesh_ttl_sec / 3 > 1 ? m->config->mesh_ttl_sec / 3 : 1) * 1000000ull;
        (void) sd_event_source_set_time_relative(s, period);
        return 0;
}

static void send_presence(Mesh *m) {
        struct json_object *o = mesh_presence(m);
        if (o) {
                (void) mesh_publish_json(m, m->subj_presence, o);
                json_object_put(o);
        }
}

static int on_presence(sd_event_source *s, uint64_t usec, void *userdata) {
        Mesh *m = userdata;
        send_presence(m);
        /* 0.5 s for 10 s after start or a change, then every 5 s (wire §9) */
        if (m->presence_burst > 0)
                m->presence_burst--;
        (void) sd_event_source_set_time_relative(s, m->presence_burst > 0 ? 500000 : 5000000);
        return 0;
}

/* UUID as registry reply (wire §8.2): 8-4-4-4-12 hex. */
static bool is_uuid(const char *s) {
        static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
        if (!s || strlen(s) != sizeof pattern - 1)
                return false;
        for (size_t i = 0; pattern[i]; i++)
                if (pattern[i] == '-' ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
                        return false;
        return true;
}

static double env_seconds(const char *name, double def) {
        const char *e = getenv(name);
        char *end;
        double d = e ? strtod(e, &end) : def;
        return e && (*end || d < 0) ? def : d;
}

/* Wait up to usec or until stopped / a newer document arrives.  Lock held. */
static bool registrar_wait(Mesh *m, uint64_t usec, bool wake_on_doc) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t) (usec / 1000000);
        ts.tv_nsec += (long) (usec % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        while (!m->stop && !(wake_on_doc && m->pending_doc))
                if (pthread_cond_timedwait(&m->cond, &m->lock, &ts) == ETIMEDOUT)
                        break;
        return !m->stop;
}

static void *registrar_main(void *userdata) {
        Mesh *m = userdata;
        double jitter = env_seconds("DEVICE_CONNECT_REGISTER_JITTER", 2.0);
        double timeout = env_seconds("DEVICE_CONNECT_REGISTER_TIMEOUT", 15.0);
        unsigned backoff = 0;
        char *doc = NULL;

        pthread_mutex_lock(&m->lock);
        for (;;) {
                while (!m->stop && !m->pending_doc && !doc)
                        pthread_cond_wait(&m->cond, &m->lock);
                if (m->stop)
                        break;
                if (m->pending_doc) {
                        free(doc);
                        doc = TAKE_PTR(m->pending_doc);
                        backoff = 0;
                }
                /* spread a fleet's registrations (wire §8.3) */
                uint64_t delay = (uint64_t) (jitter * 1e6 * (double) (random() % 1000) / 1000.0);
                if (!registrar_wait(m, delay, false))
                        break;
                natsConnection *nc = m->nc;
                pthread_mutex_unlock(&m->lock);

                natsMsg *reply = NULL;
                natsStatus s = nc ? natsConnection_RequestString(&reply, nc, m->subj_registry, doc, (int64_t) (timeout * 1000))
                                  : NATS_NOT_YET_CONNECTED;
                char *uuid = NULL;
                if (s == NATS_OK) {
                        struct json_object *o = NULL, *res, *id;
                        if (json_parse_strict(natsMsg_GetData(reply), (size_t) natsMsg_GetDataLength(reply), &o, NULL) >= 0 &&
                            json_object_object_get_ex(o, "result", &res) &&
                            json_object_object_get_ex(res, "device_registration_id", &id) &&
                            json_object_is_type(id, json_type_string) && is_uuid(json_object_get_string(id)))
                                uuid = strdup(json_object_get_string(id));
                        json_object_put(o);
                        natsMsg_Destroy(reply);
                }
                pthread_mutex_lock(&m->lock);
                if (uuid) {
                        free(m->registration_id);
                        m->registration_id = uuid;
                        m->registrations++;
                        doc = (free(doc), NULL);
                        backoff = 0;
                        log_struct(LOG_INFO, 0, NULL, LOG_FIELDS(LF("DC_REGISTRATION_ID", uuid)), "Registered with the mesh registry");
                        continue;
                }
                /* 1, 2, 4, 8, 16, 30, 30 … s; a newer document restarts at once */
                static const unsigned steps[] = { 1, 2, 4, 8, 16, 30 };
                unsigned wait_s = steps[backoff < ELEMENTSOF(steps) ? backoff : ELEMENTSOF(steps) - 1];
                backoff++;
                log_debug("registerDevice failed (%s); retrying in %u s", nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "invalid reply", wait_s);
                if (!registrar_wait(m, (uint64_t) wait_s * 1000000, true))
                        break;
        }
        pthread_mutex_unlock(&m->lock);
        free(doc);
        return NULL;
}

static int on_refresh(sd_event_source *s, uint64_t usec, void *userdata) {
        Mesh *m = userdata;
        if (m->d2d) {
                m->presence_burst = 20;
                send_presence(m);
                return 0;
        }
        struct json_object *req = json_object_new_object(), *params = mesh_registration_params(m);
        char id[300];
        if (!req || !params) {
                json_object_put(req);
                json_object_put(params);
                return 0;
        }
        snprintf(id, sizeof id, "%s-%.0f", m->device_id, mesh_epoch_now() * 1000);
        json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(req, "id", json_object_new_string(id));
        json_object_object_add(req, "method", json_object_new_string("registerDevice"));
        json_object_object_add(req, "params", params);
        char *doc = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(req);
        if (!doc)
                return 0;
        pthread_mutex_lock(&m->lock);
        free(m->pending_doc);
        m->pending_doc = doc;
        pthread_cond_signal(&m->cond);
        pthread_mutex_unlock(&m->lock);
        return 0;
}

void mesh_advertisement_changed(Mesh *m) {
        /* Coalesce a burst of changes into one refresh; never on a reply's path. */
        (void) sd_event_source_set_time_relative(m->refresh, 100000);
        (void) sd_event_source_set_enabled(m->refresh, SD_EVENT_ONESHOT);
}

/* ---- host listener: events ---------------------------------------------------------- */

static void publish_event(Mesh *m, const char *name, struct json_object *params) {
        _cleanup_free_ char *subject = NULL, *ts = mesh_iso_now();
        char event_id[9], trace[17];
        struct json_object *o = json_object_new_object();

        if (!o || asprintf(&subject, "device-connect.%s.%s.event.%s", m->tenant, m->device_id, name) < 0) {
                json_object_put(o);
                json_object_put(params);
                return;
        }
        mesh_random_hex(event_id, 8);
        mesh_random_hex(trace, 16);
        json_object_object_add(params, "event_id", json_object_new_string(event_id));
        json_object_object_add(params, "ts", json_object_new_string(ts ? ts : ""));
        json_object_object_add(params, "_trace_id", json_object_new_string(trace));
        json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(o, "method", json_object_new_string(name));
        json_object_object_add(o, "params", params);
        (void) mesh_publish_json(m, subject, o);
        json_object_put(o);
}

static void on_plugin_loaded(Host *h, const PluginRecord *r, void *userdata) {
        Mesh *m = userdata;
        struct json_object *p = json_object_new_object(), *fns = json_object_new_array();
        if (!strv_contains(m->load_order, r->id))
                (void) strv_extend(&m->load_order, r->id);
        for (size_t i = 0; fns && i < plugin_n_functions(r); i++)
                json_object_array_add(fns, json_object_new_string(plugin_function_name(r, i)));
        mesh_update_names(m);
        if (p && fns) {
                json_object_object_add(p, "plugin_id", json_object_new_string(r->id));
                json_object_object_add(p, "functions", fns);
                publish_event(m, "plugin_loaded", p);
        } else {
                json_object_put(p);
                json_object_put(fns);
        }
        mesh_advertisement_changed(m);
}

static void on_plugin_unloaded(Host *h, const char *id, void *userdata) {
        Mesh *m = userdata;
        struct json_object *p = json_object_new_object();
        strv_remove(m->load_order, id);
        mesh_update_names(m);
        if (p) {
                json_object_object_add(p, "plugin_id", json_object_new_string(id));
                publish_event(m, "plugin_unloaded", p);
        }
        mesh_advertisement_changed(m);
}

static void on_plugin_event(Host *h, const char *plugin_id, const char *event, const char *payload, void *userdata) {
        Mesh *m = userdata;
        struct json_object *p = NULL;
        if (json_parse_strict(payload, strlen(payload), &p, NULL) < 0)
                return;
        if (!json_object_is_type(p, json_type_object)) {
                struct json_object *w = json_object_new_object();
                json_object_object_add(w, "value", p);
                p = w;
        }
        publish_event(m, event, p);
}

static const HostListener mesh_listener = {
        .plugin_loaded = on_plugin_loaded,
        .plugin_unloaded = on_plugin_unloaded,
        .plugin_event = on_plugin_event,
};

/* ---- credentials ------------------------------------------------------------------- */

static natsStatus jwt_cb(char **user_jwt, char **err, void *closure) {
        Mesh *m = closure;
        *user_jwt = strdup(m->jwt);
        return *user_jwt ? NATS_OK : NATS_NO_MEMORY;
}

static natsStatus sig_cb(char **err, unsigned char **sig, int *len, const char *nonce, void *closure) {
        Mesh *m = closure;
        return nats_Sign(m->seed, nonce, sig, len);
}


/* A Device Connect *.creds.json (wire §4.2). */
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

static int configure(Mesh *m) {
        const HostConfig *c = m->config;
        _cleanup_strv_free_ char **urls = strv_copy(c->mesh_urls ? c->mesh_urls : (char *[]){ NULL });
        _cleanup_free_ char *creds_device = NULL, *creds_tenant = NULL, *json_path = NULL;
        natsStatus s;

        if (!urls)
                return -ENOMEM;
        if (natsOptions_Create(&m->opts) != NATS_OK)
                return -ENOMEM;
        if (c->mesh_credentials) {
                const char *path = c->mesh_credentials;
                /* x.creds with a sibling x.creds.json: the latter (wire §4.3) */
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
        if (c->mesh_jwt && !m->jwt) {
                m->jwt = strdup(c->mesh_jwt);
                m->seed = c->mesh_nkey_seed ? strdup(c->mesh_nkey_seed) : NULL;
                if (!m->seed)
                        return log_error_errno(EINVAL, "NATS_JWT needs NATS_NKEY_SEED");
        }
        if (m->jwt && natsOptions_SetUserCredentialsCallbacks(m->opts, jwt_cb, m, sig_cb, m) != NATS_OK)
                return -EINVAL;
        if (strv_isempty(urls))
                return log_error_errno(EINVAL, "No mesh server: set MeshURLs=, $MESSAGING_URLS or $NATS_URL, or give "
                                               "credentials that name one");

        /* Identity: configuration, then the credentials, then the defaults. */
        const char *dev = c->device_id ? c->device_id : creds_device ? creds_device : DEFAULT_DEVICE_ID;
        const char *ten = c->tenant ? c->tenant : creds_tenant ? creds_tenant : DEFAULT_TENANT;
        if (!device_id_is_valid(dev, c->allow_dotted_device_id))
                return log_error_errno(EINVAL, "Invalid device id \"%s\"%s", dev,
                                       strchr(dev, '.') ? " (a '.' needs AllowDottedDeviceId=yes)" : "");
        if (!tenant_is_valid(ten))
                return log_error_errno(EINVAL, "Invalid tenant \"%s\"", ten);
        m->device_id = strdup(dev);
        m->tenant = strdup(ten);
        m->d2d = c->discovery_mode && streq(c->discovery_mode, "d2d");
        if (!m->device_id || !m->tenant ||
            asprintf(&m->subj_cmd, "device-connect.%s.%s.cmd", ten, dev) < 0 ||
            asprintf(&m->subj_registry, "device-connect.%s.registry", ten) < 0 ||
            asprintf(&m->subj_heartbeat, "device-connect.%s.%s.heartbeat", ten, dev) < 0 ||
            asprintf(&m->subj_presence, "device-connect.%s.%s.presence", ten, dev) < 0 ||
            asprintf(&m->subj_probe, "device-connect.%s.discovery.probe", ten) < 0)
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
        if (s == NATS_OK)
                s = natsOptions_SetReconnectedCB(m->opts, on_reconnected, m);
        if (s == NATS_OK)
                s = natsOptions_SetRetryOnFailedConnect(m->opts, true, on_connected, m);
        if (s == NATS_OK && c->mesh_user)
                s = natsOptions_SetUserInfo(m->opts, c->mesh_user, c->mesh_password ? c->mesh_password : "");
        if (s == NATS_OK && c->mesh_token)
                s = natsOptions_SetToken(m->opts, c->mesh_token);
        if (s == NATS_OK && (tls || c->mesh_tls_ca))
                s = natsOptions_SetSecure(m->opts, true);
        if (s == NATS_OK && c->mesh_tls_ca)
                s = natsOptions_LoadCATrustedCertificates(m->opts, c->mesh_tls_ca);
        if (s == NATS_OK && c->mesh_tls_cert && c->mesh_tls_key)
                s = natsOptions_LoadCertificatesChain(m->opts, c->mesh_tls_cert, c->mesh_tls_key);
        /* The certificate must name the first server's host (wire §4.6 FIX:
         * upstream does not check it); said explicitly rather than relying
         * on the library's default. */
        if (s == NATS_OK && (tls || c->mesh_tls_ca) && !c->mesh_tls_skip_hostname) {
                _cleanup_free_ char *host = url_host(urls[0]);
                if (!host)
                        return -ENOMEM;
                s = natsOptions_SetExpectedHostname(m->opts, host);
        } else if (s == NATS_OK && c->mesh_tls_skip_hostname) {
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

/*
 * Connect and subscribe cmd first (wire §8.5).  A server that is down is
 * retried by nats.c; a connection nats.c gives up on at once (TLS or
 * authentication failure) is retried by us every 5 s: the mesh never stops
 * the daemon, and the log says why it is not connected.
 */
static int mesh_connect(Mesh *m) {
        natsConnection *nc = NULL;
        natsStatus s = natsConnection_Connect(&nc, m->opts);
        if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
                log_warning("Cannot connect to the mesh: %s; retrying every 5 s",
                            nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
                natsConnection_Destroy(nc);
                return -EAGAIN;
        }
        if (s == NATS_NOT_YET_CONNECTED)
                log_warning("Mesh server not reachable yet; retrying in the background");
        if (natsConnection_Subscribe(&m->cmd_sub, nc, m->subj_cmd, on_message, m) != NATS_OK ||
            natsSubscription_SetPendingLimits(m->cmd_sub, 100000, 256 * 1024 * 1024) != NATS_OK ||
            (m->d2d && natsConnection_Subscribe(&m->probe_sub, nc, m->subj_probe, on_message, m) != NATS_OK)) {
                /* nats.c gave up meanwhile (e.g. the TLS handshake failed) */
                bool closed = natsConnection_IsClosed(nc);
                log_warning("Cannot subscribe to %s: %s%s", m->subj_cmd, nats_GetLastError(NULL),
                            closed ? "; retrying every 5 s" : "");
                natsSubscription_Destroy(m->cmd_sub);
                natsSubscription_Destroy(m->probe_sub);
                m->cmd_sub = m->probe_sub = NULL;
                natsConnection_Destroy(nc);
                return closed ? -EAGAIN : -ENOMEM;
        }
        /* No flush round trip: the server handles SUB before anything we
         * publish after it on this connection (the registration included). */
        pthread_mutex_lock(&m->lock);
        m->nc = nc;
        pthread_mutex_unlock(&m->lock);
        return 0;
}

/* Every 5 s: connect if we have no connection, or replace one nats.c closed
 * for good (it stops retrying after a TLS or authentication failure). */
static int on_connect_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Mesh *m = userdata;
        (void) sd_event_source_set_time_relative(s, 5000000);
        if (m->nc && natsConnection_IsClosed(m->nc)) {
                log_warning("The mesh connection was closed (%s); reconnecting",
                            nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "no reason given");
                pthread_mutex_lock(&m->lock);
                /* the registrar may still hold it: destroyed at mesh_free() */
                if (m->n_stale < ELEMENTSOF(m->stale)) {
                        m->stale[m->n_stale].nc = m->nc;
                        m->stale[m->n_stale].cmd = m->cmd_sub;
                        m->stale[m->n_stale++].probe = m->probe_sub;
                }
                m->nc = NULL;
                m->cmd_sub = m->probe_sub = NULL;
                pthread_mutex_unlock(&m->lock);
        }
        if (m->nc || mesh_connect(m) < 0)
                return 0;
        log_info("Connected to the mesh server");
        mesh_advertisement_changed(m);
        return 0;
}

static void mesh_init_common(Mesh *m) {
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->cond, NULL);
        pthread_cond_init(&m->idle, NULL);
        pthread_mutex_init(&m->names_lock, NULL);
}

/* What mesh_init_common() and configure() set up, for the daemon and the client alike. */
static void mesh_free_common(Mesh *m) {
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
        pthread_cond_destroy(&m->idle);
        pthread_mutex_destroy(&m->names_lock);
        mesh_names_clear(m);
        free(m->jwt);
        free(m->seed);
        free(m->tenant);
        free(m->device_id);
        free(m->subj_cmd);
        free(m->subj_registry);
        free(m->subj_heartbeat);
        free(m->subj_presence);
        free(m->subj_probe);
        free(m);
}

int mesh_new(sd_event *e, Host *h, const HostConfig *c, Mesh **ret) {
        Mesh *m = calloc(1, sizeof *m);
        int r;

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(e);
        m->host = h;
        m->config = c;
        m->efd = -1;
        mesh_init_common(m);
        m->load_order = calloc(1, sizeof(char *));
        if (!m->load_order) {
                mesh_free(m);
                return -ENOMEM;
        }
        if (nats_Open(-1) != NATS_OK) {
                mesh_free(m);
                return -ENOMEM;
        }
        r = configure(m);
        if (r < 0) {
                mesh_free(m);
                return r;
        }
        m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->efd < 0 || sd_event_add_io(e, &m->efd_source, m->efd, EPOLLIN, on_efd, m) < 0 ||
            sd_event_add_time(e, &m->refresh, CLOCK_MONOTONIC, 0, 10000, on_refresh, m) < 0) {
                mesh_free(m);
                return -ENOMEM;
        }
        (void) sd_event_source_set_enabled(m->refresh, SD_EVENT_OFF);

        r = mesh_connect(m);
        if (r == -ENOMEM) {
                mesh_free(m);
                return r;
        }
        if (sd_event_add_time_relative(e, &m->retry, CLOCK_MONOTONIC, 5000000, 100000, on_connect_retry, m) < 0 ||
            sd_event_source_set_enabled(m->retry, SD_EVENT_ON) < 0) {
                mesh_free(m);
                return -ENOMEM;
        }
        if (sd_event_add_time_relative(e, &m->heartbeat, CLOCK_MONOTONIC, 0, 10000, on_heartbeat, m) < 0 ||
            (m->d2d && sd_event_add_time_relative(e, &m->presence, CLOCK_MONOTONIC, 500000, 10000, on_presence, m) < 0)) {
                mesh_free(m);
                return -ENOMEM;
        }
        (void) sd_event_source_set_enabled(m->heartbeat, SD_EVENT_ON);
        /* The first heartbeat now, not after the timer's coalescing slack:
         * it is the device's first sign of life on the mesh. */
        (void) on_heartbeat(m->heartbeat, 0, m);
        *ret = m;
        return 0;
}

int mesh_start(Mesh *m) {
        int r;

        assert(!m->started);
        m->started = true;
        r = host_add_listener(m->host, &mesh_listener, m);
        if (r < 0)
                return r;
        for (size_t i = 0; i < host_n_records(m->host); i++)
                if (host_record(m->host, i)->plugin)
                        (void) strv_extend(&m->load_order, host_record(m->host, i)->id);
        mesh_update_names(m);
        if (m->presence) {
                m->presence_burst = 20;
                (void) sd_event_source_set_enabled(m->presence, SD_EVENT_ON);
        }
        if (!m->d2d) {
                r = -pthread_create(&m->registrar, NULL, registrar_main, m);
                if (r < 0)
                        return r;
                m->registrar_running = true;
        }
        on_refresh(NULL, 0, m); /* first registration or presence now */
        log_struct(LOG_INFO, 0, NULL,
                   LOG_FIELDS(LF("DC_DEVICE_ID", m->device_id), LF("DC_TENANT", m->tenant), LF("DC_MESH_MODE", m->d2d ? "d2d" : "infra")),
                   "Serving the mesh as %s in tenant %s", m->device_id, m->tenant);
        return 0;
}

Mesh *mesh_free(Mesh *m) {
        if (!m)
                return NULL;
        if (m->started)
                host_remove_listener(m->host, &mesh_listener, m);
        if (m->d2d && m->nc) {
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "device_id", json_object_new_string(m->device_id));
                json_object_object_add(o, "tenant", json_object_new_string(m->tenant));
                json_object_object_add(o, "departing", json_object_new_boolean(true));
                json_object_object_add(o, "ts", json_object_new_double(mesh_epoch_now()));
                (void) mesh_publish_json(m, m->subj_presence, o);
                json_object_put(o);
        }
        if (m->registrar_running) {
                pthread_mutex_lock(&m->lock);
                m->stop = true;
                pthread_cond_broadcast(&m->cond);
                pthread_mutex_unlock(&m->lock);
        }
        if (m->cmd_sub)
                natsSubscription_Unsubscribe(m->cmd_sub);
        if (m->probe_sub)
                natsSubscription_Unsubscribe(m->probe_sub);
        /* No callback may touch the host after this returns. */
        pthread_mutex_lock(&m->lock);
        m->closing = true;
        while (m->active > 0)
                pthread_cond_wait(&m->idle, &m->lock);
        pthread_mutex_unlock(&m->lock);
        if (m->nc) {
                (void) natsConnection_FlushTimeout(m->nc, 1000);
                natsConnection_Close(m->nc); /* wakes a registrar blocked in a request */
        }
        if (m->registrar_running)
                pthread_join(m->registrar, NULL);
        /* fetch threads end once the closed connection fails their requests */
        pthread_mutex_lock(&m->lock);
        while (m->n_fetchers > 0)
                pthread_cond_wait(&m->cond, &m->lock);
        MeshTask *left = TAKE_PTR(m->tasks);
        pthread_mutex_unlock(&m->lock);
        run_tasks(m, left, true);
        natsSubscription_Destroy(m->cmd_sub);
        natsSubscription_Destroy(m->probe_sub);
        natsConnection_Destroy(m->nc);
        for (size_t i = 0; i < m->n_stale; i++) {
                natsSubscription_Destroy(m->stale[i].cmd);
                natsSubscription_Destroy(m->stale[i].probe);
                natsConnection_Destroy(m->stale[i].nc);
        }
        natsOptions_Destroy(m->opts);
        for (size_t i = 0; i < m->n_queue; i++)
                natsMsg_Destroy(m->queue[i]);
        free(m->queue);
        sd_event_source_disable_unref(m->efd_source);
        sd_event_source_disable_unref(m->heartbeat);
        sd_event_source_disable_unref(m->refresh);
        sd_event_source_disable_unref(m->presence);
        sd_event_source_disable_unref(m->retry);
        safe_close(m->efd);
        strv_free(m->load_order);
        free(m->pending_doc);
        free(m->registration_id);
        sd_event_unref(m->event);
        mesh_free_common(m);
        /* No nats_Close(): it tears down library state (TLS included) that
         * other threads and the rest of shutdown may still touch; the
         * process is about to exit anyway. */
        return NULL;
}

/* ---- clients ------------------------------------------------------------------------ */

int mesh_client_open(const HostConfig *c, Mesh **ret) {
        Mesh *m = calloc(1, sizeof *m);
        natsStatus s;
        int r;

        if (!m)
                return -ENOMEM;
        m->config = c;
        m->efd = -1;
        mesh_init_common(m);
        if (nats_Open(-1) != NATS_OK) {
                free(m);
                return -ENOMEM;
        }
        r = configure(m);
        if (r >= 0 && natsOptions_SetRetryOnFailedConnect(m->opts, false, NULL, NULL) != NATS_OK)
                r = -EINVAL;
        if (r >= 0 && natsOptions_SetMaxReconnect(m->opts, 0) != NATS_OK)
                r = -EINVAL;
        if (r >= 0 && (s = natsConnection_Connect(&m->nc, m->opts)) != NATS_OK) {
                log_error("Cannot connect to the mesh: %s", nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
                r = -ECONNREFUSED;
        }
        if (r < 0) {
                mesh_client_close(m);
                return r;
        }
        *ret = m;
        return 0;
}

int mesh_client_request(Mesh *m, const char *method, struct json_object *params, uint64_t timeout_usec,
                        struct json_object **ret_reply) {
        struct json_object *req = json_object_new_object();
        natsMsg *reply = NULL;
        char id[32];
        natsStatus s;

        if (!req)
                return -ENOMEM;
        mesh_random_hex(id, 12);
        json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(req, "id", json_object_new_string(id));
        json_object_object_add(req, "method", json_object_new_string(method));
        json_object_object_add(req, "params", params ? json_object_get(params) : json_object_new_object());
        s = natsConnection_RequestString(&reply, m->nc, m->subj_cmd,
                                         json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                                         (int64_t) (timeout_usec / 1000));
        json_object_put(req);
        if (s == NATS_NO_RESPONDERS)
                return log_error_errno(EHOSTUNREACH, "Device %s is not on the mesh (tenant %s)", m->device_id, m->tenant);
        if (s == NATS_TIMEOUT)
                return log_error_errno(ETIMEDOUT, "Device %s did not answer %s in time", m->device_id, method);
        if (s != NATS_OK)
                return log_error_errno(EIO, "Request failed: %s", natsStatus_GetText(s));
        int r = json_parse_strict(natsMsg_GetData(reply), (size_t) natsMsg_GetDataLength(reply), ret_reply, NULL);
        natsMsg_Destroy(reply);
        return r < 0 ? log_error_errno(EBADMSG, "Device %s sent invalid JSON", m->device_id) : 0;
}

void mesh_client_close(Mesh *m) {
        if (!m)
                return;
        if (m->nc) {
                natsConnection_Close(m->nc);
                natsConnection_Destroy(m->nc);
        }
        natsOptions_Destroy(m->opts);
        mesh_free_common(m);
}
