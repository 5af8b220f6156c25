/* SPDX-License-Identifier: MIT */
/*
 * Who is out there (dc-plugin-hostctl --mesh hosts, rollout --all): the
 * plugin hosts of the tenant, from the registry (discovery/listDevices),
 * D2D presence (answering a probe) and heartbeats, each asked for its
 * get_status at once (docs/mesh.md, "Fleet operations").  Every value a
 * peer sends is type-checked.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "json-util.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "names.h"
#include "strv.h"

enum { SRC_REGISTRY = 1, SRC_PRESENCE = 2, SRC_HEARTBEAT = 4 };

#define REGISTRY_PAGE 25                 /* registrations are ~10 KB: a page stays far below max_payload */
#define PRESENCE_WINDOW_USEC 250000ull   /* D2D hosts answer a probe at once */
#define HEARTBEAT_WINDOW_USEC 5500000ull /* one heartbeat period at the default ttl, and some */
#define STATUS_MAX_USEC 2000000ull

typedef struct Found {
        char *device_id;
        unsigned sources;
        int type; /* 1 plugin_host, 0 unknown (a heartbeat), -1 another device type */
        double last_seen;
        struct json_object *status; /* get_status result */
        char *error;
        bool answered;
} Found;

typedef struct Discovery {
        Mesh *m;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Found *found;
        size_t n_found, cap;
        bool presence_seen;
        bool closed; /* no more devices: the status round runs on found[] */
        size_t pending;
        char *inbox;
} Discovery;

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Under d->lock. */
static Found *found_get(Discovery *d, const char *id) {
        for (size_t i = 0; i < d->n_found; i++)
                if (streq(d->found[i].device_id, id))
                        return &d->found[i];
        if (d->closed)
                return NULL;
        if (d->n_found == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 64;
                Found *n = realloc(d->found, cap * sizeof *n);
                if (!n)
                        return NULL;
                d->found = n;
                d->cap = cap;
        }
        Found *f = &d->found[d->n_found];
        *f = (Found){ .device_id = strdup(id), .last_seen = NAN };
        if (!f->device_id)
                return NULL;
        d->n_found++;
        return f;
}

static void note(Discovery *d, const char *id, unsigned source, int type, double seen) {
        pthread_mutex_lock(&d->lock);
        Found *f = found_get(d, id);
        if (f) {
                f->sources |= source;
                if (type != 0)
                        f->type = type;
                if (!isnan(seen) && (isnan(f->last_seen) || seen > f->last_seen))
                        f->last_seen = seen;
                if (source == SRC_PRESENCE)
                        d->presence_seen = true;
        }
        pthread_mutex_unlock(&d->lock);
}

/* "ts" as float epoch seconds (heartbeat, presence), else NaN. */
static double epoch_of(struct json_object *o) {
        struct json_object *ts;
        if (!json_object_object_get_ex(o, "ts", &ts))
                return NAN;
        if (json_object_is_type(ts, json_type_double) || json_object_is_type(ts, json_type_int))
                return json_object_get_double(ts);
        return NAN;
}

static int type_of(struct json_object *doc) {
        struct json_object *ident;
        const char *t = NULL;
        if (json_member_object(doc, "identity", &ident) < 0 || json_member_string(ident, "device_type", &t) < 0 || !t)
                return 0;
        return streq(t, DC_MESH_DEVICE_TYPE) ? 1 : -1;
}

static struct json_object *parse_msg(natsMsg *msg) {
        struct json_object *o = NULL;
        if (json_parse_strict(natsMsg_GetData(msg), (size_t) natsMsg_GetDataLength(msg), &o, NULL) < 0 ||
            !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static void on_heartbeat(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *userdata) {
        _cleanup_json_ struct json_object *o = parse_msg(msg);
        const char *id = NULL;
        if (o && json_member_string(o, "device_id", &id) >= 0 && id)
                note(userdata, id, SRC_HEARTBEAT, 0, epoch_of(o));
        natsMsg_Destroy(msg);
}

static void on_presence(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *userdata) {
        _cleanup_json_ struct json_object *o = parse_msg(msg);
        const char *id = NULL;
        struct json_object *dep;
        if (o && json_member_string(o, "device_id", &id) >= 0 && id &&
            !(json_object_object_get_ex(o, "departing", &dep) && json_object_get_boolean(dep)))
                note(userdata, id, SRC_PRESENCE, type_of(o), epoch_of(o));
        natsMsg_Destroy(msg);
}

/* The registry's pages: 0 when it answered, -EHOSTUNREACH when there is none. */
static int ask_registry(Discovery *d, uint64_t timeout_usec) {
        _cleanup_free_ char *subject = NULL;
        int64_t offset = 0;

        if (asprintf(&subject, DC_MESH_SUBJECT_DISCOVERY_FMT, d->m->tenant) < 0)
                return -ENOMEM;
        for (unsigned page = 0; page < 10000; page++) {
                char id[32];
                natsMsg *reply = NULL;
                mesh_random_hex(id, 12);
                _cleanup_json_ struct json_object *params = json_object_new_object();
                json_object_object_add(params, "device_type", json_object_new_string(DC_MESH_DEVICE_TYPE));
                json_object_object_add(params, "offset", json_object_new_int64(offset));
                json_object_object_add(params, "limit", json_object_new_int(REGISTRY_PAGE));
                _cleanup_json_ struct json_object *req = jsonrpc_request(id, "discovery/listDevices", json_object_get(params));
                if (!req)
                        return -ENOMEM;
                natsStatus s = natsConnection_RequestString(&reply, d->m->nc, subject, json_to_string_compact(req),
                                                            (int64_t) (timeout_usec / 1000));
                if (s != NATS_OK)
                        return s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT ? (page == 0 ? -EHOSTUNREACH : 0) : -EIO;
                _cleanup_json_ struct json_object *o = parse_msg(reply);
                natsMsg_Destroy(reply);
                struct json_object *res, *devs, *next;
                if (!o || json_member_object(o, "result", &res) < 0 || !res ||
                    !json_object_object_get_ex(res, "devices", &devs) || !json_object_is_type(devs, json_type_array))
                        return page == 0 ? -EBADMSG : 0;
                for (size_t i = 0; i < json_object_array_length(devs); i++) {
                        struct json_object *dev = json_object_array_get_idx(devs, i), *st = NULL;
                        const char *dev_id = NULL;
                        if (json_member_string(dev, "device_id", &dev_id) < 0 || !dev_id)
                                continue;
                        (void) json_member_object(dev, "status", &st);
                        /* upstream merges each heartbeat into status: ts is its float epoch */
                        note(d, dev_id, SRC_REGISTRY, type_of(dev), epoch_of(st));
                }
                if (!json_object_object_get_ex(res, "next_offset", &next) || !json_object_is_type(next, json_type_int))
                        return 0; /* the last page, or a registry without paging */
                int64_t n = json_object_get_int64(next);
                if (n <= offset)
                        return 0;
                offset = n;
        }
        return 0;
}

static void on_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *userdata) {
        Discovery *d = userdata;
        const char *subject = natsMsg_GetSubject(msg), *dot = strrchr(subject, '.');
        char *end;
        unsigned long i = dot ? strtoul(dot + 1, &end, 10) : ULONG_MAX;
        _cleanup_json_ struct json_object *o = natsMsg_IsNoResponders(msg) ? NULL : parse_msg(msg);
        struct json_object *res = NULL;
        pthread_mutex_lock(&d->lock);
        if (i < d->n_found && !d->found[i].answered) {
                Found *f = &d->found[i];
                f->answered = true;
                if (natsMsg_IsNoResponders(msg))
                        f->error = strdup("not on the mesh");
                else if (o && json_member_object(o, "result", &res) >= 0 && res)
                        f->status = json_object_get(res);
                else
                        f->error = strdup("invalid get_status reply");
                if (--d->pending == 0)
                        pthread_cond_broadcast(&d->cond);
        }
        pthread_mutex_unlock(&d->lock);
        natsMsg_Destroy(msg);
}

/* Wait (under d->lock) until done() or the monotonic deadline. */
static void wait_until(Discovery *d, uint64_t deadline, bool (*done)(Discovery *d)) {
        while (!done(d) && now_usec(CLOCK_MONOTONIC) < deadline) {
                uint64_t until = now_usec(CLOCK_REALTIME) + (deadline - now_usec(CLOCK_MONOTONIC));
                struct timespec ts = { .tv_sec = (time_t) (until / 1000000), .tv_nsec = (long) (until % 1000000) * 1000 };
                (void) pthread_cond_timedwait(&d->cond, &d->lock, &ts);
        }
}

static bool never(Discovery *d) {
        return false;
}

static bool all_answered(Discovery *d) {
        return d->pending == 0;
}

/* No callback of sub runs after this returns (they touch the Discovery). */
static void stop_subscription(natsSubscription *sub) {
        if (!sub)
                return;
        if (natsSubscription_Drain(sub) == NATS_OK)
                (void) natsSubscription_WaitForDrainCompletion(sub, 2000);
        natsSubscription_Destroy(sub);
}

static int ask_status(Discovery *d, uint64_t timeout_usec) {
        natsSubscription *sub = NULL;
        natsInbox *inbox = NULL;
        _cleanup_free_ char *wild = NULL;
        int r = 0;

        if (natsInbox_Create(&inbox) != NATS_OK)
                return -ENOMEM;
        if (asprintf(&wild, "%s.*", (const char *) inbox) < 0 ||
            natsConnection_Subscribe(&sub, d->m->nc, wild, on_status, d) != NATS_OK) {
                natsInbox_Destroy(inbox);
                return -ENOMEM;
        }
        (void) natsSubscription_SetPendingLimits(sub, -1, -1);
        pthread_mutex_lock(&d->lock);
        d->closed = true;
        size_t n = d->n_found;
        pthread_mutex_unlock(&d->lock);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *subject = NULL, *reply = NULL;
                char id[32];
                if (d->found[i].type < 0)
                        continue;
                mesh_random_hex(id, 12);
                _cleanup_json_ struct json_object *req = jsonrpc_request(id, "get_status", NULL);
                if (!req || asprintf(&subject, DC_MESH_SUBJECT_CMD_FMT, d->m->tenant, d->found[i].device_id) < 0 ||
                    asprintf(&reply, "%s.%zu", (const char *) inbox, i) < 0) {
                        r = -ENOMEM;
                        break;
                }
                pthread_mutex_lock(&d->lock);
                d->pending++;
                pthread_mutex_unlock(&d->lock);
                if (natsConnection_PublishRequestString(d->m->nc, subject, reply, json_to_string_compact(req)) != NATS_OK) {
                        pthread_mutex_lock(&d->lock);
                        d->pending--;
                        d->found[i].answered = true;
                        d->found[i].error = strdup("cannot send get_status");
                        pthread_mutex_unlock(&d->lock);
                }
        }
        (void) natsConnection_Flush(d->m->nc);
        pthread_mutex_lock(&d->lock);
        wait_until(d, now_usec(CLOCK_MONOTONIC) + timeout_usec, all_answered);
        pthread_mutex_unlock(&d->lock);
        stop_subscription(sub);
        natsInbox_Destroy(inbox);
        return r;
}

static struct json_object *host_json(const Found *f) {
        struct json_object *o = json_object_new_object(), *src = json_object_new_array(), *x;
        json_object_object_add(o, "device_id", json_object_new_string(f->device_id));
        if (f->sources & SRC_REGISTRY)
                json_object_array_add(src, json_object_new_string("registry"));
        if (f->sources & SRC_PRESENCE)
                json_object_array_add(src, json_object_new_string("presence"));
        if (f->sources & SRC_HEARTBEAT)
                json_object_array_add(src, json_object_new_string("heartbeat"));
        json_object_object_add(o, "sources", src);
        json_object_object_add(o, "answered", json_object_new_boolean(f->status != NULL));
        const char *v = NULL;
        (void) json_member_string(f->status, "version", &v);
        json_object_object_add(o, "version", v ? json_object_new_string(v) : NULL);
        json_object_object_add(o, "loaded_count", f->status && json_object_object_get_ex(f->status, "loaded_count", &x) &&
                                                                  json_object_is_type(x, json_type_int)
                                                          ? json_object_get(x)
                                                          : NULL);
        json_object_object_add(o, "loaded_plugins", f->status && json_object_object_get_ex(f->status, "loaded_plugins", &x) &&
                                                                    json_object_is_type(x, json_type_array)
                                                            ? json_object_get(x)
                                                            : NULL);
        json_object_object_add(o, "last_seen", isnan(f->last_seen) ? NULL : json_object_new_double(f->last_seen));
        json_object_object_add(o, "error", f->error ? json_object_new_string(f->error)
                                                   : f->status ? NULL : json_object_new_string("no answer"));
        return o;
}

static int by_id(const void *a, const void *b) {
        return strcmp(((const Found *) a)->device_id, ((const Found *) b)->device_id);
}

int mesh_client_discover(Mesh *m, uint64_t timeout_usec, struct json_object **ret) {
        Discovery d = { .m = m };
        natsSubscription *hb = NULL, *pr = NULL;
        _cleanup_free_ char *hb_subject = NULL, *pr_subject = NULL, *probe = NULL;
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        int r = 0;

        pthread_mutex_init(&d.lock, NULL);
        pthread_cond_init(&d.cond, NULL);
        if (asprintf(&hb_subject, DC_MESH_SUBJECT_ALL_HEARTBEATS_FMT, m->tenant) < 0 ||
            asprintf(&pr_subject, DC_MESH_SUBJECT_ALL_PRESENCE_FMT, m->tenant) < 0 ||
            asprintf(&probe, "{\"probe\":true,\"ts\":%.6f}", (double) now_usec(CLOCK_REALTIME) / 1e6) < 0 ||
            natsConnection_Subscribe(&hb, m->nc, hb_subject, on_heartbeat, &d) != NATS_OK ||
            natsConnection_Subscribe(&pr, m->nc, pr_subject, on_presence, &d) != NATS_OK ||
            natsConnection_Flush(m->nc) != NATS_OK) {
                r = -EIO;
                goto finish;
        }
        (void) mesh_publish_text(m->nc, m->subj_probe, probe, strlen(probe));
        int reg = ask_registry(&d, timeout_usec < 1000000 ? timeout_usec : 1000000);
        if (reg == -ENOMEM) {
                r = reg;
                goto finish;
        }
        pthread_mutex_lock(&d.lock);
        wait_until(&d, start + PRESENCE_WINDOW_USEC, never);
        /* No registry and no D2D host: the heartbeats are all there is. */
        if (reg < 0 && !d.presence_seen)
                wait_until(&d, start + HEARTBEAT_WINDOW_USEC, never);
        pthread_mutex_unlock(&d.lock);
        stop_subscription(TAKE_PTR(hb));
        stop_subscription(TAKE_PTR(pr));

        r = ask_status(&d, timeout_usec < STATUS_MAX_USEC ? timeout_usec : STATUS_MAX_USEC);
        if (r < 0)
                goto finish;
        qsort(d.found, d.n_found, sizeof *d.found, by_id);
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; a && i < d.n_found; i++) {
                Found *f = &d.found[i];
                const char *type = NULL;
                (void) json_member_string(f->status, "device_type", &type);
                /* a heartbeat alone says nothing of the type: its get_status does */
                if (f->type > 0 || (type && streq(type, DC_MESH_DEVICE_TYPE)))
                        json_object_array_add(a, host_json(f));
        }
        *ret = a;
        r = a ? 0 : -ENOMEM;
finish:
        stop_subscription(hb);
        stop_subscription(pr);
        for (size_t i = 0; i < d.n_found; i++) {
                free(d.found[i].device_id);
                free(d.found[i].error);
                json_object_put(d.found[i].status);
        }
        free(d.found);
        pthread_mutex_destroy(&d.lock);
        pthread_cond_destroy(&d.cond);
        return r;
}
