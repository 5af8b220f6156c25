/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous polkit checks (CheckAuthorization), never blocking the event
 * loop: the handler returns, and a continuation runs when polkit answers.
 * Root callers (uid from the bus, never from /proc) skip polkit, as in
 * systemd's own daemons.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef struct PolkitQueue PolkitQueue;

/* authorized: 1 yes; 0 no (error holds AccessDenied or
 * InteractiveAuthorizationRequired); the continuation must reply to msg. */
typedef void (*polkit_done_fn)(sd_bus_message *msg, int authorized, const sd_bus_error *error, void *userdata);

typedef struct PolkitLimits {
        unsigned max_pending;            /* checks waiting for polkit, all callers */
        unsigned max_pending_per_caller; /* one connection, and one uid (at most half of max_pending) */
        uint64_t max_bytes_per_caller;   /* request bytes one uid may have waiting */
        uint64_t timeout_usec;           /* an unanswered check is denied after this */
} PolkitLimits;

int polkit_queue_new(sd_bus *bus, const PolkitLimits *limits, PolkitQueue **ret);
/* Cancels pending checks (their userdata is released with free_userdata). */
PolkitQueue *polkit_queue_free(PolkitQueue *q);

/*
 * Returns 1 when the caller is authorized right away (done is NOT called),
 * 0 when the check is pending (done is called exactly once later), or a
 * negative errno with *error set (LimitsExceeded when the caller, by
 * connection or uid, has too many checks or bytes waiting); then done is
 * not called either.  details: NULL-terminated key/value list for the
 * a{ss}.  bytes: what the request holds while it waits (its arguments).
 */
int polkit_check_async(PolkitQueue *q, sd_bus_message *msg, const char *action, const char *const *details,
                       size_t bytes, polkit_done_fn done, void *userdata, void (*free_userdata)(void *),
                       sd_bus_error *error);
unsigned polkit_queue_pending(PolkitQueue *q);
/* The caller's uid as the bus vouches for it (cached per unique name). */
int polkit_sender_uid(PolkitQueue *q, sd_bus_message *msg, uid_t *ret);
