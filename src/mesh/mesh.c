/* SPDX-License-Identifier: MIT */
/*
 * The mesh front end's life: configure, connect, follow the host (events,
 * bare names, the advertisement), and shut down in an order that lets no
 * callback outlive what it touches.
 */
#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "names.h"
#include "strv.h"

bool mesh_configured(const HostConfig *c) {
        return !strv_isempty(c->mesh.urls) || c->mesh.credentials || c->mesh.jwt;
}

const char *mesh_device_id(const Mesh *m) {
        return m->device_id;
}

const char *mesh_tenant(const Mesh *m) {
        return m->tenant;
}

/* ---- host listener: events ---------------------------------------------------------- */

/* Every load and unload is announced (docs/mesh.md, "Events"). */
static void on_plugin_loaded(Host *h, const PluginRecord *r, void *userdata) {
        Mesh *m = userdata;
        if (strv_contains(m->load_order, r->id))
                /* A new generation replaced the loaded one (reload, replacing
                 * install): the old one is unloaded.  It keeps its place. */
                mesh_event_plugin_unloaded(m, r->id);
        else
                (void) strv_extend(&m->load_order, r->id);
        mesh_update_names(m);
        mesh_event_plugin_loaded(m, r);
        mesh_advertisement_changed(m);
}

/* Loaded again with the same code: nothing changed but the announcement. */
static void on_plugin_loaded_again(Host *h, const PluginRecord *r, bool reloaded, void *userdata) {
        Mesh *m = userdata;
        if (reloaded)
                mesh_event_plugin_unloaded(m, r->id);
        mesh_event_plugin_loaded(m, r);
}

static void on_plugin_unloaded(Host *h, const char *id, void *userdata) {
        Mesh *m = userdata;
        strv_remove(m->load_order, id);
        mesh_update_names(m);
        mesh_event_plugin_unloaded(m, id);
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
        mesh_publish_event(m, event, p);
}

static const HostListener mesh_listener = {
        .plugin_loaded = on_plugin_loaded,
        .plugin_unloaded = on_plugin_unloaded,
        .plugin_event = on_plugin_event,
        .plugin_loaded_again = on_plugin_loaded_again,
};

/* ---- lifetime ------------------------------------------------------------------------- */

int mesh_new(sd_event *e, Host *h, Ops *ops, const HostConfig *c, Mesh **ret) {
        Mesh *m = calloc(1, sizeof *m);
        int r;

        assert(mesh_rpc_dispatch_complete()); /* every host RPC has a handler */
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(e);
        m->host = h;
        m->ops = ops;
        m->config = c;
        m->try_direct = mesh_try_direct;
        m->handle_request = mesh_handle_request;
        m->handle_probe = mesh_send_presence;
        m->connected = mesh_advertisement_changed;
        m->registration_params = mesh_registration_params;
        mesh_init_common(m);
        m->load_order = calloc(1, sizeof(char *));
        if (!m->load_order || nats_Open(-1) != NATS_OK) {
                mesh_free(m);
                return -ENOMEM;
        }
        r = mesh_configure(m);
        if (r >= 0)
                r = mesh_advert_timers(m);
        if (r >= 0)
                r = mesh_transport_open(m);
        if (r < 0) {
                mesh_free(m);
                return r;
        }
        mesh_advert_first_heartbeat(m);
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
        r = mesh_advert_start(m);
        if (r < 0)
                return r;
        log_struct(LOG_INFO, 0, NULL,
                   LOG_FIELDS(LF("DC_DEVICE_ID", m->device_id), LF("DC_TENANT", m->tenant), LF("DC_MESH_MODE", m->d2d ? "d2d" : "infra")),
                   "Serving the mesh as %s in tenant %s", m->device_id, m->tenant);
        mesh_transport_release_held(m);
        return 0;
}

Mesh *mesh_free(Mesh *m) {
        if (!m)
                return NULL;
        if (m->started) {
                host_remove_listener(m->host, &mesh_listener, m);
                /* As upstream, shutdown unloads every plugin once: said
                 * while the connection can still carry it. */
                for (char **id = m->load_order; id && *id; id++)
                        mesh_event_plugin_unloaded(m, *id);
        }
        mesh_advert_stop(m);
        mesh_transport_close(m); /* no delivery callback after this */
        mesh_advert_free(m);     /* joins the registrar */
        mesh_fetch_wait_all(m);
        mesh_transport_free(m); /* posted work is released, never run */
        strv_free(m->load_order);
        mesh_names_clear(m);
        sd_event_unref(m->event);
        mesh_free_common(m);
        /* No nats_Close(): it tears down library state (TLS included) that
         * other threads and the rest of shutdown may still touch; the
         * process is about to exit anyway. */
        return NULL;
}
