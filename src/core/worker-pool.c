/* SPDX-License-Identifier: MIT */
#include "worker-pool.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "macro.h"

struct WorkerPool {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Job *queue_head, *queue_tail; /* FIFO of waiting jobs */
        LoopMailbox *done;            /* finished, to complete on the loop */
        unsigned n_queued, max_queued;
        const void **running_keys;    /* serial keys currently running */
        pthread_t *threads;
        unsigned n_threads, n_threads_max;
        bool stop;
};

void job_cancel(Job *j) {
        __atomic_store_n(&j->cancelled, 1, __ATOMIC_RELEASE);
}

bool job_is_cancelled(Job *j) {
        return __atomic_load_n(&j->cancelled, __ATOMIC_ACQUIRE);
}

static bool key_running(WorkerPool *p, const void *key) {
        for (unsigned i = 0; i < p->n_threads; i++)
                if (p->running_keys[i] == key)
                        return true;
        return false;
}

/* First job whose plugin is free to run; called with the lock held. */
static Job *take_runnable(WorkerPool *p) {
        Job *prev = NULL;
        for (Job *j = p->queue_head; j; prev = j, j = j->next) {
                if (j->serial_key && key_running(p, j->serial_key))
                        continue;
                if (prev)
                        prev->next = j->next;
                else
                        p->queue_head = j->next;
                if (p->queue_tail == j)
                        p->queue_tail = prev;
                j->next = NULL;
                p->n_queued--;
                return j;
        }
        return NULL;
}

static void job_done_run(MailboxItem *item, bool cancelled) {
        Job *j = (Job *) ((char *) item - offsetof(Job, done));
        if (cancelled)
                job_cancel(j);
        j->complete(j);
}

static void push_done(WorkerPool *p, Job *j) {
        j->done.run = job_done_run;
        loop_mailbox_post(p->done, &j->done);
}

static void *worker_main(void *arg) {
        WorkerPool *p = arg;
        unsigned slot = UINT32_MAX;
        sigset_t all;

        /* Signals belong to the event loop (signalfd): a worker thread with
         * SIGTERM unblocked would take the default action and kill us. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);

        pthread_mutex_lock(&p->lock);
        for (unsigned i = 0; i < p->n_threads; i++)
                if (pthread_equal(p->threads[i], pthread_self()))
                        slot = i;
        for (;;) {
                Job *j = NULL;
                while (!p->stop && !(j = take_runnable(p)))
                        pthread_cond_wait(&p->cond, &p->lock);
                if (p->stop)
                        break;
                p->running_keys[slot] = j->serial_key;
                pthread_mutex_unlock(&p->lock);

                if (!job_is_cancelled(j)) {
                        j->ran = true;
                        j->run(j);
                }

                pthread_mutex_lock(&p->lock);
                p->running_keys[slot] = NULL;
                push_done(p, j);
                /* A serialised plugin just became free: others may now run. */
                pthread_cond_broadcast(&p->cond);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int worker_pool_new(sd_event *e, unsigned n_threads, unsigned max_queued, WorkerPool **ret) {
        WorkerPool *p;
        int r;

        if (n_threads == 0 || max_queued == 0)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        p->max_queued = max_queued;
        p->threads = calloc(n_threads, sizeof(pthread_t));
        p->running_keys = calloc(n_threads, sizeof(void *));
        r = p->threads && p->running_keys ? loop_mailbox_new(e, "worker-pool", NULL, NULL, &p->done) : -ENOMEM;
        if (r < 0) {
                worker_pool_free(p);
                return r;
        }

        /* Threads start with the first job (see worker_pool_submit): a
         * start-up scan or --check never pays for them. */
        p->n_threads_max = n_threads;
        *ret = p;
        return 0;
}

WorkerPool *worker_pool_free(WorkerPool *p) {
        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);

        /* Finished jobs first, in order; then everything still queued,
         * which never ran: complete it as cancelled. */
        if (p->done)
                loop_mailbox_dispatch(p->done);
        for (Job *j = p->queue_head, *n; j; j = n) {
                n = j->next;
                job_cancel(j);
                j->complete(j);
        }
        p->queue_head = p->queue_tail = NULL;
        p->done = loop_mailbox_free(p->done);
        free(p->threads);
        free(p->running_keys);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

static int start_threads(WorkerPool *p) {
        /* Called with the lock held; workers look up their slot under it. */
        while (p->n_threads < p->n_threads_max) {
                int r = -pthread_create(&p->threads[p->n_threads], NULL, worker_main, p);
                if (r < 0)
                        return p->n_threads > 0 ? 0 : r;
                p->n_threads++;
        }
        return 0;
}

int worker_pool_submit(WorkerPool *p, Job *j) {
        pthread_mutex_lock(&p->lock);
        if (p->n_threads < p->n_threads_max) {
                int r = start_threads(p);
                if (r < 0) {
                        pthread_mutex_unlock(&p->lock);
                        return r;
                }
        }
        if (p->stop || p->n_queued >= p->max_queued) {
                pthread_mutex_unlock(&p->lock);
                return p->stop ? -ESHUTDOWN : -EBUSY;
        }
        j->next = NULL;
        if (p->queue_tail)
                p->queue_tail->next = j;
        else
                p->queue_head = j;
        p->queue_tail = j;
        p->n_queued++;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

unsigned worker_pool_queued(WorkerPool *p) {
        unsigned n;
        pthread_mutex_lock(&p->lock);
        n = p->n_queued;
        pthread_mutex_unlock(&p->lock);
        return n;
}
