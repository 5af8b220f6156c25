/* SPDX-License-Identifier: MIT */
#include "bus-polkit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "names.h"

#define POLKIT_SERVICE "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
#define SENDER_CACHE 64

typedef struct Pending {
        struct Pending *next, *prev;
        PolkitQueue *q;
        sd_bus_message *msg;
        sd_bus_slot *slot;
        polkit_done_fn done;
        void *userdata;
        void (*free_userdata)(void *);
        char *sender; /* unique name of the caller */
        uid_t uid;
        size_t bytes;
} Pending;

/* Unique names are never reused on a bus: their uid can be cached. */
typedef struct SenderUid {
        char *name;
        uid_t uid;
} SenderUid;

struct PolkitQueue {
        sd_bus *bus;
        PolkitLimits limits;
        unsigned n_pending;
        Pending *pending;
        SenderUid cache[SENDER_CACHE];
        unsigned cache_next;
};

int polkit_queue_new(sd_bus *bus, const PolkitLimits *limits, PolkitQueue **ret) {
        assert(bus && limits && limits->max_pending > 0);
        PolkitQueue *q = calloc(1, sizeof(PolkitQueue));
        if (!q)
                return -ENOMEM;
        q->bus = sd_bus_ref(bus);
        q->limits = *limits;
        /* One caller never takes more than half of the slots: others keep theirs. */
        unsigned half = limits->max_pending > 1 ? limits->max_pending / 2 : 1;
        if (q->limits.max_pending_per_caller == 0 || q->limits.max_pending_per_caller > half)
                q->limits.max_pending_per_caller = half;
        *ret = q;
        return 0;
}

static void pending_unlink(Pending *p) {
        PolkitQueue *q = p->q;
        if (p->prev)
                p->prev->next = p->next;
        else
                q->pending = p->next;
        if (p->next)
                p->next->prev = p->prev;
        q->n_pending--;
}

/* Slot destroy callback: the one place a Pending is freed. */
static void pending_destroy(void *userdata) {
        Pending *p = userdata;
        pending_unlink(p);
        if (p->free_userdata && p->userdata)
                p->free_userdata(p->userdata);
        sd_bus_message_unref(p->msg);
        free(p->sender);
        free(p);
}

PolkitQueue *polkit_queue_free(PolkitQueue *q) {
        if (!q)
                return NULL;
        /* Shutdown: every caller still waiting for polkit hears why. */
        while (q->pending) {
                (void) sd_bus_reply_method_errorf(q->pending->msg, DC_BUS_ERROR_SHUTTING_DOWN,
                                                  "The plugin host is shutting down");
                sd_bus_slot_unref(q->pending->slot); /* runs pending_destroy */
        }
        for (unsigned i = 0; i < SENDER_CACHE; i++)
                free(q->cache[i].name);
        sd_bus_unref(q->bus);
        free(q);
        return NULL;
}

unsigned polkit_queue_pending(PolkitQueue *q) {
        return q->n_pending;
}

int polkit_sender_uid(PolkitQueue *q, sd_bus_message *msg, uid_t *ret) {
        const char *sender = sd_bus_message_get_sender(msg);
        sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        if (!sender)
                return -ENXIO;
        for (unsigned i = 0; i < SENDER_CACHE; i++)
                if (q->cache[i].name && streq(q->cache[i].name, sender)) {
                        *ret = q->cache[i].uid;
                        return 0;
                }
        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        /* Only trust what the bus itself vouches for, never /proc. */
        if (sd_bus_creds_get_augmented_mask(creds) & SD_BUS_CREDS_EUID) {
                sd_bus_creds_unref(creds);
                return -EPERM;
        }
        r = sd_bus_creds_get_euid(creds, &uid);
        sd_bus_creds_unref(creds);
        if (r < 0)
                return r;
        SenderUid *slot = &q->cache[q->cache_next++ % SENDER_CACHE];
        free(slot->name);
        slot->name = strdup(sender);
        slot->uid = uid;
        *ret = uid;
        return 0;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0, r;

        if (e) {
                /* No polkit on the bus (or it hung until our timeout): deny. */
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                           SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT, SD_BUS_ERROR_DISCONNECTED))
                        sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED,
                                          "Authorization is not available (polkit: %s)", e->name);
                else
                        sd_bus_error_setf(&error, SD_BUS_ERROR_ACCESS_DENIED, "Authorization failed: %s",
                                          e->message ? e->message : e->name);
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0) {
                        authorized = 0;
                        sd_bus_error_set(&error, SD_BUS_ERROR_ACCESS_DENIED, "Malformed reply from polkit");
                } else if (!authorized && challenge)
                        sd_bus_error_set(&error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Interactive authentication required.");
                else if (!authorized)
                        sd_bus_error_set(&error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied");
        }
        /* The continuation owns the reply; userdata is released afterwards. */
        polkit_done_fn done = p->done;
        void *ud = TAKE_PTR(p->userdata); /* now the continuation's */
        p->done = NULL;
        done(p->msg, authorized, authorized ? NULL : &error, ud);
        sd_bus_slot_unref(p->slot); /* → pending_destroy */
        return 0;
}

/* A caller that never lets polkit answer (its own agent that never replies)
 * must not starve the others: count what it already has waiting. */
static int check_caller_limits(PolkitQueue *q, const char *sender, uid_t uid, size_t bytes, sd_bus_error *error) {
        unsigned by_sender = 0, by_uid = 0;
        uint64_t uid_bytes = bytes;

        for (Pending *p = q->pending; p; p = p->next) {
                by_sender += streq(p->sender, sender);
                if (p->uid == uid) {
                        by_uid++;
                        uid_bytes += p->bytes;
                }
        }
        if (by_sender >= q->limits.max_pending_per_caller || by_uid >= q->limits.max_pending_per_caller)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "Too many authorization requests pending for this caller (at most %u)",
                                         q->limits.max_pending_per_caller);
        if (q->limits.max_bytes_per_caller > 0 && uid_bytes > q->limits.max_bytes_per_caller)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "Too much request data pending authorization for this caller (at most %" PRIu64
                                         " bytes)",
                                         q->limits.max_bytes_per_caller);
        if (q->n_pending >= q->limits.max_pending)
                return sd_bus_error_set(error, SD_BUS_ERROR_LIMITS_EXCEEDED, "Too many authorization requests pending");
        return 0;
}

int polkit_check_async(PolkitQueue *q, sd_bus_message *msg, const char *action, const char *const *details,
                       size_t bytes, polkit_done_fn done, void *userdata, void (*free_userdata)(void *),
                       sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        const char *sender = sd_bus_message_get_sender(msg);
        uid_t uid;
        int r;

        r = polkit_sender_uid(q, msg, &uid);
        if (r >= 0 && uid == 0)
                return 1;
        if (r < 0 || !sender)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Cannot identify the caller");
        r = check_caller_limits(q, sender, uid, bytes, error);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_call(q->bus, &call, POLKIT_SERVICE, POLKIT_PATH, POLKIT_IFACE, "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s",
                                          sd_bus_message_get_sender(msg), action);
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{ss}");
        for (const char *const *d = details; r >= 0 && d && d[0] && d[1]; d += 2)
                r = sd_bus_message_append(call, "{ss}", d[0], d[1]);
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        /* The interactive flag comes from the caller's message header. */
        if (r >= 0)
                r = sd_bus_message_append(call, "us", (uint32_t) (sd_bus_message_get_allow_interactive_authorization(msg) > 0),
                                          "");
        if (r < 0)
                return sd_bus_error_set_errno(error, r);

        Pending *p = calloc(1, sizeof(Pending));
        if (!p)
                return sd_bus_error_set_errno(error, -ENOMEM);
        p->q = q;
        p->uid = uid;
        p->bytes = bytes;
        p->sender = strdup(sender);
        if (!p->sender) {
                free(p);
                return sd_bus_error_set_errno(error, -ENOMEM);
        }
        p->msg = sd_bus_message_ref(msg);
        p->done = done;
        p->userdata = userdata;
        p->free_userdata = free_userdata;
        r = sd_bus_call_async(q->bus, &p->slot, call, on_reply, p, q->limits.timeout_usec);
        if (r < 0) {
                sd_bus_message_unref(p->msg);
                free(p->sender);
                free(p);
                return sd_bus_error_set_errno(error, r);
        }
        p->next = q->pending;
        if (q->pending)
                q->pending->prev = p;
        q->pending = p;
        q->n_pending++;
        (void) sd_bus_slot_set_destroy_callback(p->slot, pending_destroy);
        return 0;
}
