/* SPDX-License-Identifier: MIT */
/*
 * What this device advertises (wire §8.1, §9, §15.1): the 18 host RPCs, the
 * host events, and — unlike the Python host — every loaded plugin's
 * functions and events with their JSON schemas.
 */
#include <sys/random.h>
#include <time.h>

#include "json-util.h"
#include "mesh-internal.h"
#include "strv.h"

char *mesh_iso_now(void) {
        time_t t = time(NULL);
        struct tm tm;
        char buf[32];
        gmtime_r(&t, &tm);
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return strdup(buf);
}

double mesh_epoch_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void mesh_random_hex(char *out, size_t n_hex) {
        static const char hex[] = "0123456789abcdef";
        uint8_t b[32];
        size_t n = (n_hex + 1) / 2;
        if (n > sizeof b || getrandom(b, n, GRND_NONBLOCK) != (ssize_t) n)
                memset(b, 0, sizeof b);
        for (size_t i = 0; i < n_hex; i++)
                out[i] = hex[(b[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
        out[n_hex] = 0;
}

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

        for (size_t i = 0; i < mesh_n_host_rpcs(); i++)
                json_object_array_add(fns, function_def(mesh_host_rpc_name(i), mesh_host_rpc_description(i), mesh_host_rpc_schema(i)));
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
        json_object_object_add(o, "device_type", json_object_new_string("plugin_host"));
        json_object_object_add(o, "manufacturer", json_object_new_string("Device Connect"));
        json_object_object_add(o, "model", json_object_new_string(model));
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
        json_object_object_add(p, "device_ttl", json_object_new_int((int) m->config->mesh_ttl_sec));
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
