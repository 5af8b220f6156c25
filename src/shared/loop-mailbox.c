/* SPDX-License-Identifier: MIT */
#include "loop-mailbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

struct LoopMailbox {
        pthread_mutex_t lock;
        MailboxItem *head; /* newest first */
        int efd;
        sd_event_source *source;
        void (*wake)(void *userdata);
        void *userdata;
};

static void run_list(MailboxItem *list, bool cancelled) {
        MailboxItem *fifo = NULL;
        while (list) { /* posted newest first: run oldest first */
                MailboxItem *n = list->next;
                list->next = fifo;
                fifo = list;
                list = n;
        }
        while (fifo) {
                MailboxItem *n = fifo->next;
                fifo->next = NULL;
                fifo->run(fifo, cancelled);
                fifo = n;
        }
}

void loop_mailbox_dispatch(LoopMailbox *mb) {
        pthread_mutex_lock(&mb->lock);
        MailboxItem *list = TAKE_PTR(mb->head);
        pthread_mutex_unlock(&mb->lock);
        run_list(list, false);
        if (mb->wake)
                mb->wake(mb->userdata);
}

static int on_efd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint64_t v;
        if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
                return log_error_errno(errno, "Failed to read a mailbox eventfd: %m");
        loop_mailbox_dispatch(userdata);
        return 0;
}

int loop_mailbox_new(sd_event *e, const char *description, void (*wake)(void *userdata), void *userdata,
                     LoopMailbox **ret) {
        assert(e && ret);
        LoopMailbox *mb = calloc(1, sizeof *mb);
        if (!mb)
                return -ENOMEM;
        pthread_mutex_init(&mb->lock, NULL);
        mb->wake = wake;
        mb->userdata = userdata;
        mb->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int r = mb->efd < 0 ? -errno : sd_event_add_io(e, &mb->source, mb->efd, EPOLLIN, on_efd, mb);
        if (r < 0) {
                loop_mailbox_free(mb);
                return r;
        }
        (void) sd_event_source_set_description(mb->source, description);
        *ret = mb;
        return 0;
}

LoopMailbox *loop_mailbox_free(LoopMailbox *mb) {
        if (!mb)
                return NULL;
        run_list(TAKE_PTR(mb->head), true);
        sd_event_source_disable_unref(mb->source);
        safe_close(mb->efd);
        pthread_mutex_destroy(&mb->lock);
        free(mb);
        return NULL;
}

void loop_mailbox_kick(LoopMailbox *mb) {
        uint64_t one = 1;
        /* EAGAIN: the counter is saturated, a wake-up is pending anyway. */
        if (write(mb->efd, &one, sizeof one) < 0 && errno != EAGAIN)
                log_error_errno(errno, "Failed to wake the event loop: %m");
}

void loop_mailbox_post(LoopMailbox *mb, MailboxItem *item) {
        assert(mb && item && item->run);
        pthread_mutex_lock(&mb->lock);
        bool was_empty = !mb->head;
        item->next = mb->head;
        mb->head = item;
        pthread_mutex_unlock(&mb->lock);
        /* Only the first item of a batch needs a wake-up. */
        if (was_empty)
                loop_mailbox_kick(mb);
}
