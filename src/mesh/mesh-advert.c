/* SPDX-License-Identifier: MIT */
/*
 * What this device tells the mesh (docs/mesh.md, "Registration"): the
 * advertisement (the host RPCs, the host events, and — unlike the Python
 * host — every loaded plugin's functions and events with their schemas),
 * registerDevice on a registrar thread with jitter and backoff, heartbeats,
 * and D2D presence.
 */
#include <time.h>

#include "build-config.h"

#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "mesh-rpc-catalog.h"
#include "names.h"
#include "strv.h"

static struct json_object *parse_or(const char *text, const char *fallback) {
        struct json_object *o = NULL;
        if (text && json_parse_strict(text, strlen(text), &o, NULL) >= 0 && json_object_is_type(o, json_type_object))
                return o;
        json_object_put(o);
        return fallback ? json_tokener_parse(fallback) : NULL;
}

static struct json_object *function_def(const char *name, const char *description, struct json_object *params) {
        struct json_object *f = json_object_new_object();
        json_object_object_add(f, "name", json_object_new_string(name));
        json_object_object_add(f, "description", json_object_new_string(description ? description : ""));
        json_object_object_add(f, "parameters", params);
        json_object_object_add(f, "labels", NULL);
        json_object_object_add(f, "tags", json_object_new_array());
        return f;
}

static struct json_object *event_def(const char *name, const char *description, struct json_object *schema) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "name", json_object_new_string(name));
        json_object_object_add(e, "description", json_object_new_string(description ? description : ""));
        json_object_object_add(e, "payload_schema", schema);
        json_object_object_add(e, "labels", NULL);
        json_object_object_add(e, "tags", json_object_new_array());
        return e;
}

#define EMPTY_PARAMS "{\"type\":\"object\",\"properties\":{},\"required\":[]}"

/*
 * The capabilities object.  compact: plugin functions without descriptions
 * and without bare-name duplicates, for hosts whose full advertisement
 * would not fit the server's max_payload.
 */
static struct json_object *capabilities(Mesh *m, bool compact) {
        struct json_object *caps = json_object_new_object(), *fns = json_object_new_array(), *evs = json_object_new_array();
        struct json_object *labels = json_object_new_object();
        _cleanup_strv_free_ char **events_seen = calloc(1, sizeof(char *));

        for (size_t i = 0; i < mesh_n_host_rpcs(); i++) {
                const HostRpcInfo *rpc = mesh_host_rpc(i);
                json_object_array_add(fns, function_def(rpc->name, rpc->description, mesh_host_rpc_schema(rpc)));
        }
        json_object_array_add(evs, event_def("plugin_loaded", "A plugin was loaded.",
                                             json_tokener_parse("{\"type\":\"object\",\"properties\":{\"plugin_id\":{\"type\":"
                                                                "\"string\"},\"functions\":{\"type\":\"array\",\"items\":{\"type\":"
                                                                "\"string\"}}},\"required\":[\"plugin_id\",\"functions\"]}")));
        json_object_array_add(evs, event_def("plugin_unloaded", "A plugin was unloaded.",
                                             json_tokener_parse("{\"type\":\"object\",\"properties\":{\"plugin_id\":{\"type\":"
                                                                "\"string\"}},\"required\":[\"plugin_id\"]}")));
        for (char **id = m->load_order; id && *id; id++) {
                const PluginRecord *r = host_find(m->host, *id);
                if (!r || !r->plugin)
                        continue;
                for (size_t f = 0; f < plugin_n_functions(r); f++) {
                        const char *fn = plugin_function_name(r, f);
                        _cleanup_free_ char *full = NULL;
                        if (asprintf(&full, "%s.%s", r->id, fn) < 0)
                                continue;
                        const char *desc = compact ? "" : plugin_function_description(r, f);
                        json_object_array_add(fns, function_def(full, desc, parse_or(plugin_function_schema(r, f), EMPTY_PARAMS)));
                        if (!compact && !mesh_is_host_rpc(fn) && mesh_bare_owner(m, fn) == r)
                                json_object_array_add(fns, function_def(fn, desc, parse_or(plugin_function_schema(r, f), EMPTY_PARAMS)));
                }
                for (size_t e = 0; e < plugin_n_events(r); e++) {
                        const char *name = plugin_event_name(r, e);
                        if (strv_contains(events_seen, name) || streq(name, "plugin_loaded") || streq(name, "plugin_unloaded"))
                                continue;
                        (void) strv_extend(&events_seen, name);
                        json_object_array_add(evs, event_def(name, compact ? "" : plugin_event_description(r, e),
                                                             parse_or(plugin_event_schema(r, e), NULL)));
                }
        }
        json_object_object_add(labels, "category", json_object_new_string("hub"));
        json_object_object_add(labels, "plugin_driver:role", json_object_new_string("plugin_host"));
        json_object_object_add(labels, "plugin_driver:authoring_rpc", json_object_new_string("get_plugin_authoring_guide"));
        json_object_object_add(labels, "plugin_driver:template_rpc", json_object_new_string("get_plugin_template"));
        json_object_object_add(labels, "plugin_driver:examples_rpc", json_object_new_string("list_plugin_examples"));
        json_object_object_add(caps, "description",
                               json_object_new_string("Device Connect plugin host: loads verified C plugins at runtime and "
                                                      "exposes their functions and events."));
        json_object_object_add(caps, "functions", fns);
        json_object_object_add(caps, "events", evs);
        json_object_object_add(caps, "labels", labels);
        return caps;
}

static struct json_object *identity(Mesh *m) {
        struct json_object *o = json_object_new_object();
        char model[300];
        snprintf(model, sizeof model, "Plugin Host (%s)", m->device_id);
        json_object_object_add(o, "device_type", json_object_new_string(DC_MESH_DEVICE_TYPE));
        json_object_object_add(o, "manufacturer", json_object_new_string("Device Connect"));
        json_object_object_add(o, "model", json_object_new_string(model));
        /* the registry keeps it: fleet tools read the host's version there */
        json_object_object_add(o, "firmware_version", json_object_new_string(PACKAGE_VERSION));
        json_object_object_add(o, "description",
                               json_object_new_string("Dynamic plugin host: verified C plugins, in-process, behind a trust policy"));
        return o;
}

static struct json_object *status(void) {
        struct json_object *o = json_object_new_object();
        _cleanup_free_ char *ts = mesh_iso_now();
        json_object_object_add(o, "ts", json_object_new_string(ts ? ts : ""));
        json_object_object_add(o, "availability", json_object_new_string("idle"));
        json_object_object_add(o, "busy_score", json_object_new_double(0.0));
        json_object_object_add(o, "online", json_object_new_boolean(true));
        return o;
}

static size_t encoded_size(struct json_object *o) {
        return strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Full when it fits the server's max_payload (with room for the envelope), else compact. */
static struct json_object *fitting_capabilities(Mesh *m) {
        struct json_object *caps = capabilities(m, false);
        int64_t max = m->nc ? natsConnection_GetMaxPayload(m->nc) : 0;
        if (max > 0 && (int64_t) encoded_size(caps) > max - 1024) {
                json_object_put(caps);
                caps = capabilities(m, true);
        }
        return caps;
}

struct json_object *mesh_registration_params(Mesh *m) {
        struct json_object *p = json_object_new_object();
        if (!p)
                return NULL;
        json_object_object_add(p, "device_id", json_object_new_string(m->device_id));
        json_object_object_add(p, "device_ttl", json_object_new_int((int) m->config->mesh.ttl_sec));
        json_object_object_add(p, "capabilities", fitting_capabilities(m));
        json_object_object_add(p, "identity", identity(m));
        json_object_object_add(p, "status", status());
        return p;
}

struct json_object *mesh_presence(Mesh *m) {
        struct json_object *p = json_object_new_object();
        if (!p)
                return NULL;
        json_object_object_add(p, "device_id", json_object_new_string(m->device_id));
        json_object_object_add(p, "capabilities", fitting_capabilities(m));
        json_object_object_add(p, "identity", identity(m));
        json_object_object_add(p, "status", status());
        json_object_object_add(p, "ts", json_object_new_double(mesh_epoch_now()));
        json_object_object_add(p, "d2d", json_object_new_boolean(true));
        return p;
}

/* ---- heartbeat, presence, registration ---- */

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        Mesh *m = userdata;
        struct json_object *o = json_object_new_object();
        if (o) {
                json_object_object_add(o, "device_id", json_object_new_string(m->device_id));
                json_object_object_add(o, "ts", json_object_new_double(mesh_epoch_now()));
                (void) mesh_publish_json(m, m->subj_heartbeat, o);
                json_object_put(o);
        }
        uint64_t period = (m->config->mesh.ttl_sec / 3 > 1 ? m->config->mesh.ttl_sec / 3 : 1) * 1000000ull;
        (void) sd_event_source_set_time_relative(s, period);
        return 0;
}

void mesh_send_presence(Mesh *m) {
        struct json_object *o = mesh_presence(m);
        if (o) {
                (void) mesh_publish_json(m, m->subj_presence, o);
                json_object_put(o);
        }
}

static int on_presence(sd_event_source *s, uint64_t usec, void *userdata) {
        Mesh *m = userdata;
        mesh_send_presence(m);
        /* 0.5 s for 10 s after start or a change, then every 5 s, as upstream */
        if (m->presence_burst > 0)
                m->presence_burst--;
        (void) sd_event_source_set_time_relative(s, m->presence_burst > 0 ? 500000 : 5000000);
        return 0;
}

/* A registry's reply carries a UUID: 8-4-4-4-12 hex. */
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
                /* spread a fleet's registrations (docs/mesh.md, "Registration") */
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
                        /* the registry's reply is a peer's: every member type-checked */
                        struct json_object *o = NULL, *res;
                        const char *id = NULL;
                        if (json_parse_strict(natsMsg_GetData(reply), (size_t) natsMsg_GetDataLength(reply), &o, NULL) >= 0 &&
                            json_member_object(o, "result", &res) >= 0 &&
                            json_member_string(res, "device_registration_id", &id) >= 0 && is_uuid(id))
                                uuid = strdup(id);
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
                mesh_send_presence(m);
                return 0;
        }
        struct json_object *params = mesh_registration_params(m);
        char id[300];
        if (!params)
                return 0;
        snprintf(id, sizeof id, "%s-%.0f", m->device_id, mesh_epoch_now() * 1000);
        _cleanup_json_ struct json_object *req = jsonrpc_request(id, "registerDevice", params);
        char *doc = req ? strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE))
                        : NULL;
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

int mesh_advert_timers(Mesh *m) {
        sd_event *e = m->event;
        if (sd_event_add_time(e, &m->refresh, CLOCK_MONOTONIC, 0, 10000, on_refresh, m) < 0 ||
            sd_event_source_set_enabled(m->refresh, SD_EVENT_OFF) < 0 ||
            sd_event_add_time_relative(e, &m->heartbeat, CLOCK_MONOTONIC, 0, 10000, on_heartbeat, m) < 0 ||
            (m->d2d && sd_event_add_time_relative(e, &m->presence, CLOCK_MONOTONIC, 500000, 10000, on_presence, m) < 0))
                return -ENOMEM;
        (void) sd_event_source_set_enabled(m->heartbeat, SD_EVENT_ON);
        return 0;
}

void mesh_advert_first_heartbeat(Mesh *m) {
        /* Now, once connected, not after the timer's period: it is the
         * device's first sign of life on the mesh. */
        (void) on_heartbeat(m->heartbeat, 0, m);
}

int mesh_advert_start(Mesh *m) {
        if (m->presence) {
                m->presence_burst = 20;
                (void) sd_event_source_set_enabled(m->presence, SD_EVENT_ON);
        }
        if (!m->d2d) {
                int r = -pthread_create(&m->registrar, NULL, registrar_main, m);
                if (r < 0)
                        return r;
                m->registrar_running = true;
        }
        on_refresh(NULL, 0, m); /* first registration or presence now */
        return 0;
}

void mesh_advert_stop(Mesh *m) {
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
}

/* After the connection is closed (a registrar blocked in a request wakes). */
void mesh_advert_free(Mesh *m) {
        if (m->registrar_running)
                pthread_join(m->registrar, NULL);
        m->registrar_running = false;
        m->heartbeat = sd_event_source_disable_unref(m->heartbeat);
        m->refresh = sd_event_source_disable_unref(m->refresh);
        m->presence = sd_event_source_disable_unref(m->presence);
        m->pending_doc = (free(m->pending_doc), NULL);
        m->registration_id = (free(m->registration_id), NULL);
}
