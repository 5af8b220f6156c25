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
        const void **running_keys;    /* per thread: the serial key of its job */
        const void **running_owners;  /* per thread: the owner of its job */
        Job **running_jobs;           /* per thread */
        bool *abandoned;              /* per thread: its job was given up on */
        pthread_t *threads;
        unsigned n_threads, n_threads_max, n_threads_cap, n_abandoned;
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

/* One owner never holds more than half the threads (at least one). */
static bool owner_at_limit(WorkerPool *p, const void *owner) {
        unsigned n = 0, limit = MAX(p->n_threads_max / 2, 1u);
        for (unsigned i = 0; i < p->n_threads; i++)
                if (p->running_owners[i] == owner)
                        n++;
        return n >= limit;
}

/* First job whose plugin is free to run; called with the lock held. */
static Job *take_runnable(WorkerPool *p) {
        Job *prev = NULL;
        for (Job *j = p->queue_head; j; prev = j, j = j->next) {
                if (j->serial_key && key_running(p, j->serial_key))
                        continue;
                if (j->owner && owner_at_limit(p, j->owner))
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
                p->running_owners[slot] = j->owner;
                p->running_jobs[slot] = j;
                j->slot = slot;
                pthread_mutex_unlock(&p->lock);

                if (!job_is_cancelled(j)) {
                        j->ran = true;
                        j->run(j);
                }

                pthread_mutex_lock(&p->lock);
                p->running_keys[slot] = NULL;
                p->running_owners[slot] = NULL;
                p->running_jobs[slot] = NULL;
                push_done(p, j);
                /* A serialised plugin just became free: others may now run. */
                pthread_cond_broadcast(&p->cond);
                if (p->abandoned[slot]) {
                        /* Back after all: one thread too many now, unless another hangs. */
                        p->abandoned[slot] = false;
                        p->n_abandoned--;
                        if (p->n_threads - p->n_abandoned > p->n_threads_max) {
                                p->running_keys[slot] = p->running_owners[slot] = &p->stop; /* retired slot */
                                break;
                        }
                }
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
        p->n_threads_cap = MIN(n_threads * 4, 1024u);
        p->threads = calloc(p->n_threads_cap, sizeof(pthread_t));
        p->running_keys = calloc(p->n_threads_cap, sizeof(void *));
        p->running_owners = calloc(p->n_threads_cap, sizeof(void *));
        p->running_jobs = calloc(p->n_threads_cap, sizeof(Job *));
        p->abandoned = calloc(p->n_threads_cap, sizeof(bool));
        r = p->threads && p->running_keys && p->running_owners && p->running_jobs && p->abandoned
                    ? loop_mailbox_new(e, "worker-pool", NULL, NULL, &p->done)
                    : -ENOMEM;
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
        free(p->running_owners);
        free(p->running_jobs);
        free(p->abandoned);
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

static int add_thread(WorkerPool *p) {
        /* Called with the lock held; the new worker looks up its slot under it. */
        if (p->n_threads >= p->n_threads_cap)
                return -EAGAIN;
        int r = -pthread_create(&p->threads[p->n_threads], NULL, worker_main, p);
        if (r >= 0)
                p->n_threads++;
        return r;
}

void worker_pool_abandon(WorkerPool *p, Job *j) {
        job_cancel(j);
        pthread_mutex_lock(&p->lock);
        /* Still queued: out of the queue now, so it holds no place there. */
        for (Job **i = &p->queue_head, *prev = NULL; *i; prev = *i, i = &(*i)->next)
                if (*i == j) {
                        *i = j->next;
                        if (p->queue_tail == j)
                                p->queue_tail = prev;
                        j->next = NULL;
                        p->n_queued--;
                        push_done(p, j);
                        pthread_mutex_unlock(&p->lock);
                        return;
                }
        /* Running: its thread may never come back. */
        if (j->ran && j->slot < p->n_threads && p->running_jobs[j->slot] == j && !p->abandoned[j->slot]) {
                p->abandoned[j->slot] = true;
                p->n_abandoned++;
                if (p->n_threads - p->n_abandoned < p->n_threads_max && add_thread(p) < 0)
                        log_debug("Worker pool: no thread to replace one held by a call that timed out");
        }
        pthread_mutex_unlock(&p->lock);
}

unsigned worker_pool_queued(WorkerPool *p) {
        unsigned n;
        pthread_mutex_lock(&p->lock);
        n = p->n_queued;
        pthread_mutex_unlock(&p->lock);
        return n;
}
