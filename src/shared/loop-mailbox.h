/* SPDX-License-Identifier: MIT */
/*
 * The one way from another thread to the event loop: any thread posts an
 * item, the loop thread runs it.  Items are intrusive (embed MailboxItem),
 * so posting never allocates and never fails; they run in the order they
 * were posted.  The worker pool's completions, plugin events, finished
 * direct calls and the mesh's NATS messages all come through one of these.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

typedef struct MailboxItem MailboxItem;
struct MailboxItem {
        MailboxItem *next;
        /* Loop thread.  cancelled: the mailbox is being freed (release only). */
        void (*run)(MailboxItem *item, bool cancelled);
};

typedef struct LoopMailbox LoopMailbox;

/* wake: optional, runs on the loop after the items of each wake-up (for
 * state a thread flags without an item, e.g. "reconnected"). */
int loop_mailbox_new(sd_event *e, const char *description, void (*wake)(void *userdata), void *userdata,
                     LoopMailbox **ret);
/* Runs every item still posted with cancelled = true. */
LoopMailbox *loop_mailbox_free(LoopMailbox *mb);
/* Any thread. */
void loop_mailbox_post(LoopMailbox *mb, MailboxItem *item);
/* Any thread: run the wake callback soon, without an item. */
void loop_mailbox_kick(LoopMailbox *mb);
/* Loop thread: run what is posted now (shutdown paths). */
void loop_mailbox_dispatch(LoopMailbox *mb);
