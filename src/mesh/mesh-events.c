/* SPDX-License-Identifier: MIT */
/*
 * Events this device publishes on "…<device>.event.<name>": the host's
 * plugin_loaded and plugin_unloaded, and every plugin event under the
 * host's id, with event_id, ts and _trace_id added (docs/mesh.md, "Events").
 */
#include "json-util.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "names.h"

void mesh_publish_event(Mesh *m, const char *name, struct json_object *params) {
        _cleanup_free_ char *subject = NULL, *ts = mesh_iso_now();
        char event_id[9], trace[17];

        if (!params)
                return;
        if (asprintf(&subject, DC_MESH_SUBJECT_EVENT_FMT, m->tenant, m->device_id, name) < 0) {
                json_object_put(params);
                return;
        }
        mesh_random_hex(event_id, 8);
        mesh_random_hex(trace, 16);
        json_object_object_add(params, "event_id", json_object_new_string(event_id));
        json_object_object_add(params, "ts", json_object_new_string(ts ? ts : ""));
        json_object_object_add(params, "_trace_id", json_object_new_string(trace));
        _cleanup_json_ struct json_object *o = jsonrpc_envelope(NULL, "method", json_object_new_string(name));
        if (!o) {
                json_object_put(params);
                return;
        }
        json_object_object_add(o, "params", params);
        (void) mesh_publish_json(m, subject, o);
}

void mesh_event_plugin_loaded(Mesh *m, const PluginRecord *r) {
        struct json_object *p = json_object_new_object(), *fns = json_object_new_array();
        if (!p || !fns) {
                json_object_put(p);
                json_object_put(fns);
                return;
        }
        for (size_t i = 0; i < plugin_n_functions(r); i++)
                json_object_array_add(fns, json_object_new_string(plugin_function_name(r, i)));
        json_object_object_add(p, "plugin_id", json_object_new_string(r->id));
        json_object_object_add(p, "functions", fns);
        mesh_publish_event(m, "plugin_loaded", p);
}

void mesh_event_plugin_unloaded(Mesh *m, const char *id) {
        struct json_object *p = json_object_new_object();
        if (!p)
                return;
        json_object_object_add(p, "plugin_id", json_object_new_string(id));
        mesh_publish_event(m, "plugin_unloaded", p);
}
