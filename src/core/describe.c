/* SPDX-License-Identifier: MIT */
/* What front ends show of the registry: record details and Describe's JSON. */
#include "build-config.h"
#include "host-internal.h"
#include "isolated.h"
#include "sandbox-probe.h"
#include "plugin-instance.h"

#define PLUGIN_OR(r, fallback) \
        if (!(r)->plugin)      \
                return fallback;
size_t plugin_n_functions(const PluginRecord *r) {
        PLUGIN_OR(r, 0);
        return r->plugin->n_functions;
}
const char *plugin_function_name(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_functions ? r->plugin->functions[i].def.name : NULL;
}
const char *plugin_function_description(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_functions ? r->plugin->functions[i].def.description : NULL;
}
const char *plugin_function_schema(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_functions ? r->plugin->functions[i].schema_text : NULL;
}
size_t plugin_n_events(const PluginRecord *r) {
        PLUGIN_OR(r, 0);
        return r->plugin->n_events;
}
const char *plugin_event_name(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_events ? r->plugin->events[i].def.name : NULL;
}
const char *plugin_event_description(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_events ? r->plugin->events[i].def.description : NULL;
}
const char *plugin_event_schema(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_events ? r->plugin->events[i].schema_text : NULL;
}
size_t plugin_n_routines(const PluginRecord *r) {
        PLUGIN_OR(r, 0);
        return r->plugin->n_routines;
}
const char *plugin_routine_name(const PluginRecord *r, size_t i) {
        PLUGIN_OR(r, NULL);
        return i < r->plugin->n_routines ? r->plugin->routines[i].def.name : NULL;
}

static void add_str(struct json_object *o, const char *key, const char *value) {
        json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

struct json_object *host_record_to_json(Host *h, const PluginRecord *r) {
        struct json_object *o = json_object_new_object(), *fns, *evs, *rts;
        if (!o)
                return NULL;
        add_str(o, "id", r->id);
        add_str(o, "state", plugin_state_to_string(r->state));
        add_str(o, "reason", reason_to_string(r->reason));
        add_str(o, "message", r->message);
        add_str(o, "digest", r->digest);
        add_str(o, "root", r->root);
        add_str(o, "layout", r->layout == LAYOUT_FLAT ? "flat" : "folder");
        add_str(o, "name", r->name);
        add_str(o, "version", r->version);
        add_str(o, "description", r->description);
        json_object_object_add(o, "changed_usec", json_object_new_uint64(r->changed_usec));
        add_str(o, "isolation", r->isolation);
        if (r->plugin && r->plugin->isolated)
                json_object_object_add(o, "worker", isolated_describe(r->plugin));
        fns = json_object_new_array();
        for (size_t i = 0; i < plugin_n_functions(r); i++) {
                struct json_object *f = json_object_new_object(), *schema = NULL;
                add_str(f, "name", plugin_function_name(r, i));
                add_str(f, "description", plugin_function_description(r, i));
                json_object_deep_copy(r->plugin->functions[i].schema, &schema, NULL);
                json_object_object_add(f, "params", schema);
                json_object_array_add(fns, f);
        }
        json_object_object_add(o, "functions", fns);
        evs = json_object_new_array();
        for (size_t i = 0; i < plugin_n_events(r); i++) {
                struct json_object *e = json_object_new_object(), *schema = NULL;
                add_str(e, "name", plugin_event_name(r, i));
                add_str(e, "description", plugin_event_description(r, i));
                json_object_deep_copy(r->plugin->events[i].schema, &schema, NULL);
                json_object_object_add(e, "payload", schema);
                json_object_array_add(evs, e);
        }
        json_object_object_add(o, "events", evs);
        rts = json_object_new_array();
        for (size_t i = 0; i < plugin_n_routines(r); i++)
                json_object_array_add(rts, json_object_new_string(plugin_routine_name(r, i)));
        json_object_object_add(o, "routines", rts);
        if (r->manifest_json) {
                struct json_object *m = json_tokener_parse(r->manifest_json);
                json_object_object_add(o, "manifest", m);
        }
        return o;
}

struct json_object *host_plugin_worker_json(const PluginRecord *r) {
        return r->plugin && r->plugin->isolated ? isolated_describe(r->plugin) : NULL;
}

struct json_object *host_sandbox_json(Host *h) {
        return sandbox_probe(h->config);
}

struct json_object *host_describe(Host *h) {
        struct json_object *o = json_object_new_object(), *policy, *roots, *plugins, *shadowed;
        const Registry *reg = &h->registry;
        if (!o)
                return NULL;
        add_str(o, "version", PACKAGE_VERSION);
        json_object_object_add(o, "api_level", json_object_new_int(DC_PLUGIN_ABI_MAJOR));
        policy = json_object_new_object();
        if (h->policy) {
                add_str(policy, "mode", signature_mode_to_string(h->policy->mode));
                add_str(policy, "invalid_reason", h->policy->invalid_reason);
                json_object_object_add(policy, "pins", json_object_new_int((int) h->policy->n_pins));
                json_object_object_add(policy, "trusted_keys", json_object_new_int((int) h->policy->n_keys));
                json_object_object_add(policy, "require_signatures", json_object_new_boolean(h->policy->require_signatures));
                json_object_object_add(policy, "strict_elf", json_object_new_boolean(h->policy->strict_elf));
        }
        json_object_object_add(o, "policy", policy);
        json_object_object_add(o, "sandbox", sandbox_probe(h->config));
        roots = json_object_new_array();
        for (size_t i = 0; i < h->n_roots; i++) {
                struct json_object *r = json_object_new_object();
                add_str(r, "path", h->roots[i]);
                add_str(r, "kind", h->root_kinds[i] == ROOT_STORE ? "store" : "read-only");
                json_object_array_add(roots, r);
        }
        json_object_object_add(o, "roots", roots);
        plugins = json_object_new_array();
        for (size_t i = 0; i < reg->n_records; i++)
                json_object_array_add(plugins, host_record_to_json(h, reg->records[i]));
        json_object_object_add(o, "plugins", plugins);
        shadowed = json_object_new_array();
        for (size_t i = 0; i < reg->n_shadowed; i++)
                json_object_array_add(shadowed, host_record_to_json(h, reg->shadowed[i]));
        json_object_object_add(o, "shadowed", shadowed);
        return o;
}
