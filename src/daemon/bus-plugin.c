/* SPDX-License-Identifier: MIT */
/* org.deviceconnect.PluginHost1.Plugin: one object per registry record,
 * served by a fallback vtable below /org/deviceconnect/PluginHost1/plugins. */
#include "bus-internal.h"
#include "dc-plugin-host/plugin.h"
#include "log.h"
#include "names.h"
#include "strv.h"

char *bus_plugin_path(const char *id) {
        char *path = NULL;
        return sd_bus_path_encode(DC_BUS_PATH_PLUGINS, id, &path) < 0 ? NULL : path;
}

static int plugin_find(sd_bus *bus, const char *path, const char *iface, void *userdata, void **found,
                       sd_bus_error *error) {
        BusManager *m = userdata;
        _cleanup_free_ char *id = NULL;
        PluginRecord *r;

        if (sd_bus_path_decode(path, DC_BUS_PATH_PLUGINS, &id) <= 0 || !id || !(r = host_find(m->host, id)))
                return 0;
        *found = r;
        return 1;
}

static int plugin_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error) {
        BusManager *m = userdata;
        _cleanup_strv_free_ char **l = calloc(host_n_records(m->host) + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < host_n_records(m->host); i++)
                if (!(l[i] = bus_plugin_path(host_record(m->host, i)->id)))
                        return -ENOMEM;
        *nodes = TAKE_PTR(l);
        return 1;
}

#define RECORD_STRING_PROPERTY(fname, expr)                                                                       \
        static int fname(sd_bus *bus, const char *path, const char *iface, const char *property,                   \
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {                             \
                PluginRecord *r = userdata;                                                                        \
                const char *v = (expr);                                                                            \
                return sd_bus_message_append(reply, "s", v ? v : "");                                              \
        }
RECORD_STRING_PROPERTY(property_get_id, r->id)
RECORD_STRING_PROPERTY(property_get_name, r->name)
RECORD_STRING_PROPERTY(property_get_plugin_version, r->version)
RECORD_STRING_PROPERTY(property_get_description, r->description)
RECORD_STRING_PROPERTY(property_get_last_error, reason_to_string(r->reason))
RECORD_STRING_PROPERTY(property_get_digest, r->digest)
RECORD_STRING_PROPERTY(property_get_isolation, r->isolation)

static int property_get_plugin_state(sd_bus *bus, const char *path, const char *iface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) r->state);
}

static int property_get_plugin_api_level(sd_bus *bus, const char *path, const char *iface, const char *property,
                                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) (r->plugin ? DC_PLUGIN_ABI_MAJOR : 0));
}

static int property_get_functions(sd_bus *bus, const char *path, const char *iface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        int k = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; k >= 0 && i < plugin_n_functions(r); i++)
                k = sd_bus_message_append(reply, "s", plugin_function_name(r, i));
        return k < 0 ? k : sd_bus_message_close_container(reply);
}

static int property_get_events(sd_bus *bus, const char *path, const char *iface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PluginRecord *r = userdata;
        int k = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; k >= 0 && i < plugin_n_events(r); i++)
                k = sd_bus_message_append(reply, "s", plugin_event_name(r, i));
        return k < 0 ? k : sd_bus_message_close_container(reply);
}

/* The fallback vtable's userdata is the record; the slot's is the manager. */
static BusManager *manager_of(sd_bus_message *msg) {
        return sd_bus_slot_get_userdata(sd_bus_get_current_slot(sd_bus_message_get_bus(msg)));
}

static int plugin_op(sd_bus_message *msg, void *userdata, sd_bus_error *error, OpKind kind) {
        PluginRecord *rec = userdata;
        BusManager *m = manager_of(msg);
        BusRequest *r;
        int k = bus_read_flags(msg, error);
        if (k < 0)
                return k;
        k = bus_request_new(m, msg, kind, NULL, &r, error);
        if (k < 0)
                return k;
        /* The record may change meanwhile: the request carries the id, not the pointer. */
        k = bus_request_set_id(r, rec->id);
        if (k < 0) {
                bus_request_free(r);
                return k;
        }
        return bus_request_submit(r, error);
}

static int method_plugin_load(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return plugin_op(msg, userdata, error, OP_LOAD);
}
static int method_plugin_unload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return plugin_op(msg, userdata, error, OP_UNLOAD);
}
static int method_plugin_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return plugin_op(msg, userdata, error, OP_RELOAD);
}

static int reply_result_json(BusRequest *r, const OpResult *res) {
        return sd_bus_reply_method_return(r->msg, "s", res->result_json);
}

static int method_plugin_invoke(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PluginRecord *rec = userdata;
        BusRequest *r;
        const char *fn, *params;
        int k = sd_bus_message_read(msg, "ss", &fn, &params);
        if (k < 0)
                return k;
        if ((k = bus_check_params_size(params, error)) < 0)
                return k;
        k = bus_request_new(manager_of(msg), msg, OP_INVOKE, NULL, &r, error);
        if (k < 0)
                return k;
        r->op.function = fn;
        r->op.params_json = params;
        r->reply = reply_result_json;
        k = bus_request_set_id(r, rec->id);
        if (k < 0) {
                bus_request_free(r);
                return k;
        }
        return bus_request_submit(r, error);
}

const sd_bus_vtable bus_plugin_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Version", "s", property_get_plugin_version, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Description", "s", property_get_description, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ApiLevel", "u", property_get_plugin_api_level, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "u", property_get_plugin_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastError", "s", property_get_last_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Digest", "s", property_get_digest, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Functions", "as", property_get_functions, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Events", "as", property_get_events, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Isolation", "s", property_get_isolation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Load", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_plugin_load,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unload", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_plugin_unload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_plugin_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Invoke", SD_BUS_ARGS("s", function, "s", params_json), SD_BUS_RESULT("s", result_json),
                                method_plugin_invoke, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* ---- host → object changes ---- */

static void emit_changed(Host *h, const PluginRecord *r, void *userdata) {
        BusManager *m = userdata;
        _cleanup_free_ char *path = bus_plugin_path(r->id);
        if (!path)
                return;
        int k = sd_bus_emit_properties_changed(m->bus, path, DC_BUS_IFACE_PLUGIN, "Name", "Version", "Description",
                                               "ApiLevel", "State", "LastError", "Digest", "Functions", "Events",
                                               "Isolation", NULL);
        if (k < 0)
                log_debug("Failed to emit PropertiesChanged for %s: %s", r->id, strerror(-k));
}

static void emit_added(Host *h, const PluginRecord *r, void *userdata) {
        BusManager *m = userdata;
        _cleanup_free_ char *path = bus_plugin_path(r->id);
        if (path)
                (void) sd_bus_emit_object_added(m->bus, path);
}

static void emit_removed(Host *h, const char *id, void *userdata) {
        BusManager *m = userdata;
        _cleanup_free_ char *path = bus_plugin_path(id);
        if (path)
                (void) sd_bus_emit_object_removed(m->bus, path);
}

static const HostListener plugin_listener = {
        .record_added = emit_added,
        .record_changed = emit_changed,
        .record_removed = emit_removed,
};

int bus_plugin_register(BusManager *m) {
        int r = sd_bus_add_fallback_vtable(m->bus, &m->slots[m->n_slots++], DC_BUS_PATH_PLUGINS, DC_BUS_IFACE_PLUGIN,
                                           bus_plugin_vtable, plugin_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(m->bus, &m->slots[m->n_slots++], DC_BUS_PATH_PLUGINS, plugin_enumerate, m);
        if (r >= 0)
                r = host_add_listener(m->host, &plugin_listener, m);
        return r;
}

void bus_plugin_unregister(BusManager *m) {
        host_remove_listener(m->host, &plugin_listener, m);
}
