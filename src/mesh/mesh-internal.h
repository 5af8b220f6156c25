/* SPDX-License-Identifier: MIT */
/* Shared state of the mesh front end's files (mesh.c, mesh-rpc.c, mesh-advert.c). */
#pragma once

#include <json-c/json.h>
#include <nats/nats.h>
#include <pthread.h>

#include "mesh.h"
#include "plugin-id.h"

struct Mesh {
        sd_event *event;
        Host *host;
        const HostConfig *config;
        char *tenant, *device_id;
        bool d2d;
        bool started; /* mesh_start() ran: listening to the host */
        char *subj_cmd, *subj_registry, *subj_heartbeat, *subj_presence, *subj_probe;

        natsOptions *opts;
        natsConnection *nc;
        natsSubscription *cmd_sub, *probe_sub;
        struct {
                natsConnection *nc;
                natsSubscription *cmd, *probe;
        } stale[8]; /* connections nats.c closed for good */
        size_t n_stale;
        char *jwt, *seed; /* from a .creds.json (nats.c has no in-memory credentials call) */

        /* nats.c delivers on its own threads; non-blocking plugin calls are
         * answered there (mesh_try_direct), other messages handed to the loop. */
        pthread_mutex_t lock;
        pthread_cond_t idle;  /* active dropped to 0 while closing */
        unsigned active;      /* delivery callbacks running, under lock */
        bool closing;         /* under lock: callbacks drop their messages */
        pthread_mutex_t names_lock;
        struct MeshName *names; /* bare function name -> owner, sorted by name */
        size_t n_names;
        natsMsg **queue;
        size_t n_queue, queue_cap;
        bool reconnected;
        int efd;
        sd_event_source *efd_source;

        sd_event_source *heartbeat, *refresh, *presence, *retry;
        unsigned presence_burst; /* fast presence ticks left */
        unsigned in_flight;
        double op_tokens;        /* token bucket of the install/load RPCs */
        uint64_t op_tokens_usec; /* last refill */
        char **load_order; /* loaded plugin ids, oldest first (bare-name ownership) */

        /* work finished on other threads, run on the loop (mesh_post) */
        struct MeshTask *tasks;
        unsigned n_fetchers; /* artifact fetch threads alive */

        /* registrar thread (infra mode) */
        pthread_t registrar;
        bool registrar_running;
        pthread_cond_t cond;
        char *pending_doc;
        bool stop;
        char *registration_id;
        unsigned registrations; /* successful registerDevice calls */
};

typedef struct MeshName {
        char *name;
        char owner[PLUGIN_ID_MAX + 1];
        unsigned order; /* position of the owner in load_order */
} MeshName;

typedef struct MeshTask {
        struct MeshTask *next;
        void (*run)(Mesh *m, void *userdata, bool cancelled);
        void *userdata;
} MeshTask;

/* mesh.c */
/* Any thread: run fn on the loop thread (cancelled=true at shutdown). */
int mesh_post(Mesh *m, void (*fn)(Mesh *m, void *userdata, bool cancelled), void *userdata);
int mesh_publish_json(Mesh *m, const char *subject, struct json_object *o);
/* Any thread; -EMSGSIZE over the server's max_payload. */
int mesh_publish_json_on(natsConnection *nc, const char *subject, struct json_object *o);
int mesh_publish_text(natsConnection *nc, const char *subject, const char *text, size_t len);
void mesh_advertisement_changed(Mesh *m);

/* mesh-rpc.c */
void mesh_handle_request(Mesh *m, natsMsg *msg);
/* Delivery thread: answer a call of a non-blocking plugin function on
 * the spot.  False: hand the message to the loop. */
bool mesh_try_direct(Mesh *m, natsConnection *nc, natsMsg *msg);
/* Loop thread: refresh the bare-name snapshot the delivery threads use. */
void mesh_update_names(Mesh *m);
void mesh_names_clear(Mesh *m); /* no delivery thread left */
/* The host RPC table for the advertisement: name, description, params schema. */
size_t mesh_n_host_rpcs(void);
const char *mesh_host_rpc_name(size_t i);
const char *mesh_host_rpc_description(size_t i);
struct json_object *mesh_host_rpc_schema(size_t i);
bool mesh_is_host_rpc(const char *name);
/* Which plugin answers a bare function name (first loaded owner). */
const PluginRecord *mesh_bare_owner(Mesh *m, const char *fn);

/* mesh-advert.c */
struct json_object *mesh_registration_params(Mesh *m);
struct json_object *mesh_presence(Mesh *m);
char *mesh_iso_now(void);       /* YYYY-MM-DDTHH:MM:SSZ */
double mesh_epoch_now(void);
void mesh_random_hex(char *out, size_t n_hex);
