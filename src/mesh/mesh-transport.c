/* SPDX-License-Identifier: MIT */
/*
 * The connection to the mesh: connect (nats.c retries a server that is
 * down; a connection it gives up on for good is replaced every 5 s),
 * subscribe cmd, publish within the server's max_payload, and bring what
 * nats.c delivers on its threads to the event loop.
 */
#include "json-util.h"
#include "log.h"
#include "mesh-internal.h"

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

/* ---- to the loop ------------------------------------------------------------ */

typedef struct QueuedMsg {
        MailboxItem item; /* first */
        Mesh *m;
        natsMsg *msg;
        struct QueuedMsg *next_held;
} QueuedMsg;

/* Bounded: past it, requests before the start are dropped (their callers time out). */
#define HELD_MAX 4096u

static void queued_msg_run(MailboxItem *item, bool cancelled) {
        QueuedMsg *q = (QueuedMsg *) item;
        Mesh *m = q->m;
        if (!cancelled && !m->started && m->n_held < HELD_MAX) {
                q->next_held = NULL;
                if (m->held_tail)
                        m->held_tail->next_held = q;
                else
                        m->held_head = q;
                m->held_tail = q;
                m->n_held++;
                return;
        }
        if (!cancelled && m->started) {
                if (m->probe_sub && streq(natsMsg_GetSubject(q->msg), m->subj_probe))
                        m->handle_probe(m);
                else
                        m->handle_request(m, q->msg);
        }
        natsMsg_Destroy(q->msg);
        free(q);
}

typedef struct MeshTask {
        MailboxItem item; /* first */
        Mesh *m;
        void (*run)(Mesh *m, void *userdata, bool cancelled);
        void *userdata;
} MeshTask;

static void task_run(MailboxItem *item, bool cancelled) {
        MeshTask *t = (MeshTask *) item;
        t->run(t->m, t->userdata, cancelled);
        free(t);
}

int mesh_post(Mesh *m, void (*fn)(Mesh *m, void *userdata, bool cancelled), void *userdata) {
        MeshTask *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        *t = (MeshTask){ .item.run = task_run, .m = m, .run = fn, .userdata = userdata };
        loop_mailbox_post(m->mailbox, &t->item);
        return 0;
}

/* After the items of a wake-up: a (re)connect reported by nats.c. */
static void on_wake(void *userdata) {
        Mesh *m = userdata;
        pthread_mutex_lock(&m->lock);
        bool reconnected = m->reconnected;
        m->reconnected = false;
        pthread_mutex_unlock(&m->lock);
        if (reconnected) {
                log_info("Connected to the mesh server; refreshing the registration");
                m->connected(m);
        }
}

/* A delivery thread of nats.c (one per subscription). */
static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        Mesh *m = closure;
        bool done = false;

        pthread_mutex_lock(&m->lock);
        if (m->closing) {
                pthread_mutex_unlock(&m->lock);
                natsMsg_Destroy(msg);
                return;
        }
        m->active++;
        pthread_mutex_unlock(&m->lock);

        /* Most calls end here: no hand-off to the loop and a worker. */
        if (streq(natsMsg_GetSubject(msg), m->subj_cmd) || streq(natsMsg_GetSubject(msg), m->subj_admin))
                done = m->try_direct(m, nc, msg);
        if (done)
                natsMsg_Destroy(msg);
        else {
                QueuedMsg *q = malloc(sizeof *q);
                if (q) {
                        *q = (QueuedMsg){ .item.run = queued_msg_run, .m = m, .msg = msg };
                        loop_mailbox_post(m->mailbox, &q->item);
                } else
                        natsMsg_Destroy(msg); /* out of memory: the caller times out */
        }

        pthread_mutex_lock(&m->lock);
        if (--m->active == 0 && m->closing)
                pthread_cond_broadcast(&m->idle);
        pthread_mutex_unlock(&m->lock);
}

static void on_reconnected(natsConnection *nc, void *closure) {
        Mesh *m = closure;
        pthread_mutex_lock(&m->lock);
        m->reconnected = true;
        pthread_mutex_unlock(&m->lock);
        loop_mailbox_kick(m->mailbox);
}

/* ---- connecting ---------------------------------------------------------------- */

/*
 * Connect and subscribe cmd first (docs/mesh.md: a device answers before it
 * registers).  A server that is down is retried by nats.c; a connection
 * nats.c gives up on at once (TLS or authentication failure) is retried by
 * us every 5 s: the mesh never stops the daemon, and the log says why it
 * is not connected.
 */
static int connect_now(Mesh *m) {
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
            natsConnection_Subscribe(&m->admin_sub, nc, m->subj_admin, on_message, m) != NATS_OK ||
            (m->d2d && natsConnection_Subscribe(&m->probe_sub, nc, m->subj_probe, on_message, m) != NATS_OK)) {
                /* nats.c gave up meanwhile (e.g. the TLS handshake failed) */
                bool closed = natsConnection_IsClosed(nc);
                log_warning("Cannot subscribe to %s: %s%s", m->subj_cmd, nats_GetLastError(NULL),
                            closed ? "; retrying every 5 s" : "");
                natsSubscription_Destroy(m->cmd_sub);
                natsSubscription_Destroy(m->admin_sub);
                natsSubscription_Destroy(m->probe_sub);
                m->cmd_sub = m->admin_sub = m->probe_sub = NULL;
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
                        m->stale[m->n_stale].admin = m->admin_sub;
                        m->stale[m->n_stale++].probe = m->probe_sub;
                }
                m->nc = NULL;
                m->cmd_sub = m->admin_sub = m->probe_sub = NULL;
                pthread_mutex_unlock(&m->lock);
        }
        if (m->nc || connect_now(m) < 0)
                return 0;
        log_info("Connected to the mesh server");
        m->connected(m);
        return 0;
}

static void on_connected(natsConnection *nc, void *closure) {
        on_reconnected(nc, closure); /* first connect after a failed start: register */
}

int mesh_transport_open(Mesh *m) {
        int r;

        assert(m->try_direct && m->handle_request && m->handle_probe && m->connected);
        r = loop_mailbox_new(m->event, "mesh-mailbox", on_wake, m, &m->mailbox);
        if (r < 0)
                return r;
        if (natsOptions_SetReconnectedCB(m->opts, on_reconnected, m) != NATS_OK ||
            natsOptions_SetRetryOnFailedConnect(m->opts, true, on_connected, m) != NATS_OK)
                return -ENOMEM;
        r = connect_now(m);
        if (r == -ENOMEM)
                return r;
        r = sd_event_add_time_relative(m->event, &m->retry, CLOCK_MONOTONIC, 5000000, 100000, on_connect_retry, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->retry, SD_EVENT_ON);
        return r;
}

void mesh_transport_close(Mesh *m) {
        if (m->cmd_sub)
                natsSubscription_Unsubscribe(m->cmd_sub);
        if (m->admin_sub)
                natsSubscription_Unsubscribe(m->admin_sub);
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
                natsConnection_Close(m->nc); /* wakes a registrar or fetch blocked in a request */
        }
}

void mesh_transport_release_held(Mesh *m) {
        while (m->held_head) {
                QueuedMsg *q = m->held_head;
                m->held_head = q->next_held;
                if (!m->held_head)
                        m->held_tail = NULL;
                m->n_held--;
                queued_msg_run(&q->item, false);
        }
}

void mesh_transport_free(Mesh *m) {
        /* Messages and tasks still posted or held: released, never run. */
        while (m->held_head) {
                QueuedMsg *q = m->held_head;
                m->held_head = q->next_held;
                natsMsg_Destroy(q->msg);
                free(q);
        }
        m->held_tail = NULL;
        m->n_held = 0;
        m->mailbox = loop_mailbox_free(m->mailbox);
        natsSubscription_Destroy(m->cmd_sub);
        natsSubscription_Destroy(m->admin_sub);
        natsSubscription_Destroy(m->probe_sub);
        natsConnection_Destroy(m->nc);
        for (size_t i = 0; i < m->n_stale; i++) {
                natsSubscription_Destroy(m->stale[i].cmd);
                natsSubscription_Destroy(m->stale[i].admin);
                natsSubscription_Destroy(m->stale[i].probe);
                natsConnection_Destroy(m->stale[i].nc);
        }
        natsOptions_Destroy(m->opts);
        sd_event_source_disable_unref(m->retry);
}
