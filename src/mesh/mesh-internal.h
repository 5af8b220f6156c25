/* SPDX-License-Identifier: MIT */
/*
 * What the mesh front end's files share.  Each file has one job and calls
 * only downwards (docs/architecture.md):
 *
 *   mesh.c          lifecycle, host listener, wiring of the callbacks below
 *   mesh-events.c   plugin_loaded, plugin_unloaded and plugin events
 *   mesh-advert.c   registration, heartbeat, presence
 *   mesh-client.c, mesh-discover.c   dc-plugin-hostctl --mesh: requests, hosts
 *   mesh-rpc-dispatch.c → mesh-rpc-{plugins,install,artifacts}.c, mesh-authoring.c
 *   mesh-fetch.c    dc-mesh:// downloads       mesh-names.c  bare function names
 *   mesh-request.c  a request's life and reply  mesh-rpc-catalog.c  host RPC table
 *   mesh-transport.c  connection, publish, the loop mailbox
 *   mesh-config.c   identity and credentials    mesh-jsonrpc.c  envelopes (pure)
 */
#pragma once

#include <json-c/json.h>
#include <nats/nats.h>
#include <pthread.h>

#include "loop-mailbox.h"
#include "mesh.h"
#include "ops.h"
#include "plugin-id.h"

typedef struct MeshName {
        char *name;
        char owner[PLUGIN_ID_MAX + 1];
        unsigned order; /* position of the owner in load_order */
} MeshName;

struct Mesh {
        sd_event *event;
        Host *host;
        Ops *ops;
        const HostConfig *config;
        char *tenant, *device_id;
        bool d2d;
        bool started; /* mesh_start() ran: listening to the host */
        /* Requests that came before mesh_start(), while the plugins start:
         * answered once they are loaded (as the first advertisement lists them). */
        struct QueuedMsg *held_head, *held_tail;
        unsigned n_held;
        char *subj_cmd, *subj_admin, *subj_registry, *subj_heartbeat, *subj_presence, *subj_probe, *subj_own_prefix;

        natsOptions *opts;
        natsConnection *nc;
        natsSubscription *cmd_sub, *admin_sub, *probe_sub;
        struct {
                natsConnection *nc;
                natsSubscription *cmd, *admin, *probe;
        } stale[8]; /* connections nats.c closed for good */
        size_t n_stale;
        char *jwt, *seed; /* from a .creds.json (nats.c has no in-memory credentials call) */

        /* Set by mesh.c: where the transport hands what arrives (so that it
         * calls nothing above itself). */
        bool (*try_direct)(Mesh *m, natsConnection *nc, natsMsg *msg); /* delivery thread */
        void (*handle_request)(Mesh *m, natsMsg *msg);                 /* loop thread */
        void (*handle_probe)(Mesh *m);
        void (*connected)(Mesh *m);
        struct json_object *(*registration_params)(Mesh *m);

        /* nats.c delivers on its own threads: non-blocking plugin calls are
         * answered there, other messages handed to the loop. */
        pthread_mutex_t lock;
        pthread_cond_t idle;  /* active dropped to 0 while closing */
        unsigned active;      /* delivery callbacks running, under lock */
        bool closing;         /* under lock: callbacks drop their messages */
        bool reconnected;     /* under lock */
        LoopMailbox *mailbox;
        pthread_mutex_t names_lock;
        MeshName *names; /* bare function name -> owner, sorted by name */
        size_t n_names;

        sd_event_source *heartbeat, *refresh, *presence, *retry;
        unsigned presence_burst; /* fast presence ticks left */
        unsigned in_flight;       /* requests being served (Req) */
        unsigned in_flight_calls; /* of which plugin calls: they leave the host RPCs a reserve */
        char **load_order; /* loaded plugin ids, oldest first (bare-name ownership) */
        unsigned n_fetchers;     /* artifact fetch threads alive, under lock */
        uint64_t fetch_reserved; /* bytes their downloads may still take, under lock */

        /* registrar thread (infra mode) */
        pthread_t registrar;
        bool registrar_running;
        pthread_cond_t cond;
        char *pending_doc;
        bool stop;
        char *registration_id;
        unsigned registrations; /* successful registerDevice calls */
};

/* One request of a caller, from its envelope until its one reply. */
typedef struct Req {
        Mesh *m;
        char *reply;            /* reply subject, NULL: nobody listens */
        struct json_object *id; /* echoed verbatim */
        char *method;
        char *plugin_id;
        bool isolate; /* deploy_sidecar / undeploy_sidecar */
        char *url;
        bool load;
        bool plugin_call; /* counted in in_flight_calls */
} Req;

/* The mesh's identity as an operation caller (ops.h). */
extern const OpCaller mesh_caller;

/* ---- mesh-config.c ---- */
/* Options, credentials, identity and subjects from the configuration. */
int mesh_configure(Mesh *m);
void mesh_init_common(Mesh *m);
void mesh_free_common(Mesh *m);

/* ---- mesh-transport.c ---- */
int mesh_transport_open(Mesh *m);   /* mailbox, connect (or retry), subscribe */
void mesh_transport_close(Mesh *m); /* no callback runs after this returns */
void mesh_transport_free(Mesh *m);
/* mesh_start(): the requests held until now are handled. */
void mesh_transport_release_held(Mesh *m);
/* Any thread; -EMSGSIZE over the server's max_payload. */
int mesh_publish_text(natsConnection *nc, const char *subject, const char *text, size_t len);
int mesh_publish_json_on(natsConnection *nc, const char *subject, struct json_object *o);
int mesh_publish_json(Mesh *m, const char *subject, struct json_object *o);
/* Any thread: run fn on the loop thread (cancelled=true at shutdown). */
int mesh_post(Mesh *m, void (*fn)(Mesh *m, void *userdata, bool cancelled), void *userdata);

/* ---- mesh-request.c ---- */
Req *mesh_req_new(Mesh *m, const char *reply, struct json_object *id, const char *method);
void mesh_req_free(Req *r);
/* The request is a plugin call (its slot is not one of the host RPCs' reserve). */
void mesh_req_count_call(Req *r);
/* Reply with a result (taken) / a JSON-RPC error, and free the request. */
void mesh_req_finish(Req *r, struct json_object *result);
void mesh_req_fail(Req *r, int code, const char *message);
/* The JSON-RPC replies, on the connection the request came on (any thread). */
void mesh_reply_result_text(natsConnection *nc, const char *reply, struct json_object *id, const char *result);
void mesh_reply_error(natsConnection *nc, const char *reply, struct json_object *id, int code, const char *fmt, ...)
        _printf_(5, 6);
/* A reply subject we may publish on: the configured inbox prefix, never one
 * of this device's own subjects (a caller must not make us speak there). */
bool mesh_reply_subject_ok(Mesh *m, const char *reply);
/* Host RPC results: {"status": ...} and the error envelope with a reason. */
struct json_object *mesh_status_obj(const char *status);
struct json_object *mesh_error_result(const char *plugin_id, const char *message, const char *reason);
void mesh_add_str(struct json_object *o, const char *k, const char *v);

/* ---- mesh-names.c ---- */
/* Which plugin answers a bare function name (first loaded owner). */
const PluginRecord *mesh_bare_owner(Mesh *m, const char *fn);
/* Loop thread: refresh the bare-name snapshot the delivery threads use. */
void mesh_update_names(Mesh *m);
void mesh_names_clear(Mesh *m); /* no delivery thread left */
/* Delivery thread: the owner of a bare name per the snapshot. */
bool mesh_lookup_owner(Mesh *m, const char *fn, char owner[static PLUGIN_ID_MAX + 1]);

/* ---- mesh-events.c ---- */
/* Publish an event (params taken) with event_id, ts and _trace_id. */
void mesh_publish_event(Mesh *m, const char *name, struct json_object *params);
void mesh_event_plugin_loaded(Mesh *m, const PluginRecord *r);
void mesh_event_plugin_unloaded(Mesh *m, const char *id);

/* ---- mesh-advert.c ---- */
struct json_object *mesh_registration_params(Mesh *m);
struct json_object *mesh_presence(Mesh *m);
int mesh_advert_timers(Mesh *m); /* heartbeat every max(1, ttl/3) s */
void mesh_advert_first_heartbeat(Mesh *m); /* the first one, once connected */
int mesh_advert_start(Mesh *m);  /* registrar or presence, first registration */
void mesh_advert_stop(Mesh *m);  /* D2D departure; the registrar is told to stop */
void mesh_advert_free(Mesh *m);  /* once the connection is closed */
/* Coalesce a burst of changes into one refresh; never on a reply's path. */
void mesh_advertisement_changed(Mesh *m);
void mesh_send_presence(Mesh *m);

/* ---- mesh-fetch.c ---- */
/* dc-mesh://<tenant>/<device>/artifacts/<id>/<file>: download in chunks on
 * a thread of its own, then done(m, fd or -1, error, userdata) on the loop. */
typedef void (*mesh_fetch_done_fn)(Mesh *m, int fd, const char *error, void *userdata, bool cancelled);
int mesh_fetch_start(Mesh *m, const char *url, uint64_t max_size, mesh_fetch_done_fn done, void *userdata,
                     const char **refusal, Reason *reason);
void mesh_fetch_wait_all(Mesh *m);

/* ---- mesh-rpc-*.c, mesh-authoring.c: the handlers of the dispatch table ---- */
int rpc_get_status(Req *r, struct json_object *p);
int rpc_list_plugins(Req *r, struct json_object *p);
int mesh_plugin_op(Req *r, struct json_object *p, OpKind kind, bool isolate, op_done_fn done);
int rpc_load_plugin(Req *r, struct json_object *p);
int rpc_unload_plugin(Req *r, struct json_object *p);
int rpc_reload_plugin(Req *r, struct json_object *p);
int rpc_install_plugin(Req *r, struct json_object *p);
int rpc_install_from_url(Req *r, struct json_object *p);
int rpc_install_from_bundle(Req *r, struct json_object *p);
int rpc_install_from_manifest(Req *r, struct json_object *p);
int rpc_publish_artifact(Req *r, struct json_object *p);
int rpc_list_artifacts(Req *r, struct json_object *p);
int rpc_get_artifact_url(Req *r, struct json_object *p);
int rpc_read_artifact(Req *r, struct json_object *p);
int rpc_authoring_guide(Req *r, struct json_object *p);
int rpc_template(Req *r, struct json_object *p);
int rpc_examples(Req *r, struct json_object *p);
int rpc_sidecars_disabled(Req *r, struct json_object *p);
int rpc_undeploy_sidecar(Req *r, struct json_object *p);
int rpc_deploy_sidecar(Req *r, struct json_object *p);
int rpc_remove_plugin(Req *r, struct json_object *p);
/* A plugin function by qualified or bare name (loop path). */
void mesh_invoke_plugin(Req *r, const char *plugin_id, const char *fn, struct json_object *params);
/* Delivery thread: answer a call of a non-blocking plugin function on the
 * spot.  False: hand the message to the loop. */
bool mesh_try_direct(Mesh *m, natsConnection *nc, natsMsg *msg);

/* mesh-rpc-plugins.c, for the install RPCs' replies */
struct json_object *mesh_plugin_info(const PluginRecord *r);
struct json_object *mesh_load_success(Mesh *m, const char *id);
struct json_object *mesh_load_failure(const char *id, const char *what, const OpResult *res);

/* ---- mesh-rpc-dispatch.c ---- */
void mesh_handle_request(Mesh *m, natsMsg *msg);
/* Slots of max_in_flight that plugin calls leave to host RPCs. */
unsigned mesh_host_rpc_reserve(unsigned max_in_flight);
/* Every host RPC of the catalog has a handler (checked at start-up). */
bool mesh_rpc_dispatch_complete(void);
