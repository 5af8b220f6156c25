/* SPDX-License-Identifier: MIT */
#include "inprocess.h"

#include <pthread.h>

#include "crash-marker.h"
#include "log.h"

typedef enum { JOB_START, JOB_CLEANUP } JobKind;

typedef struct PluginThread {
        MailboxItem item; /* first */
        Host *h;
        JobKind kind;
        char *id;
        Candidate c;      /* JOB_START */
        LoaderContext lc; /* JOB_START */
        Plugin *p;        /* the instance: made (START) or cleaned up (CLEANUP) */
        Verdict v;
        int r;
        sd_event_source *timer;
        bool late; /* its time was up: the loop no longer waits for it */
        inprocess_started_fn started;
        inprocess_cleaned_fn cleaned;
        void *userdata;
} PluginThread;

static LoaderContext loader_context(Host *h) {
        return (LoaderContext){
                .host = h,
                .config = h->config,
                .plugin_config_dir = h->config->plugin_config_dir,
                .config_rule = { .kind = ROOT_READONLY, .self_uid = h->config->self_uid,
                                 .trusted_uid = h->config->trusted_uid },
        };
}

static void plugin_thread_free(PluginThread *t) {
        sd_event_source_disable_unref(t->timer);
        candidate_done(&t->c);
        verdict_clear(&t->v);
        free(t->id);
        free(t);
}

static void *thread_main(void *arg) {
        PluginThread *t = arg;
        crash_marker_enter(t->id, t->kind == JOB_START ? "init" : "cleanup");
        if (t->kind == JOB_START) {
                t->r = plugin_instantiate(&t->lc, &t->c, &t->p, &t->v);
                if (t->r >= 0)
                        t->r = plugin_init(t->p, &host_api_table, &t->v);
        } else
                t->r = t->p->desc.cleanup(t->p->ctx);
        crash_marker_leave();
        loop_mailbox_post(t->h->mailbox, &t->item);
        return NULL;
}

/* Back on the loop: the thread is done. */
static void thread_done(MailboxItem *item, bool cancelled) {
        PluginThread *t = (PluginThread *) item;
        Host *h = t->h;

        assert(h->n_plugin_threads > 0);
        h->n_plugin_threads--;
        if (t->late) {
                assert(h->n_stuck_threads > 0);
                h->n_stuck_threads--;
                log_struct(LOG_WARNING, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", t->id)),
                           "Plugin %s: %s returned after its time was up; the instance is discarded", t->id,
                           t->kind == JOB_START ? "init()" : "cleanup()");
                if (t->kind == JOB_START && t->p) {
                        if (t->p->ctx_handed_out)
                                (void) ctx_list_add(&h->ctxs, t->p->ctx);
                        __atomic_store_n(&t->p->ctx->dead, 1, __ATOMIC_RELEASE);
                        plugin_unref(t->p);
                }
                plugin_thread_free(t);
                return;
        }
        if (cancelled) {
                /* The host is going away: nobody to tell. */
                if (t->kind == JOB_START && t->p)
                        plugin_unref(t->p);
                plugin_thread_free(t);
                return;
        }
        if (t->kind == JOB_START) {
                Plugin *p = TAKE_PTR(t->p);
                if (p && p->ctx_handed_out && ctx_list_add(&h->ctxs, p->ctx) < 0)
                        p->ctx_handed_out = false; /* keep ownership: freed with the plugin */
                if (t->r < 0 && p) {
                        __atomic_store_n(&p->ctx->dead, 1, __ATOMIC_RELEASE);
                        p = plugin_unref(p);
                }
                t->started(h, p, t->r, &t->v, t->userdata);
        } else {
                if (t->r < 0)
                        log_struct(LOG_WARNING, t->r, NULL, LOG_FIELDS(LF("PLUGIN_ID", t->id)),
                                   "Error during plugin cleanup: %s", t->id);
                t->cleaned(h, t->p, t->userdata);
        }
        plugin_thread_free(t);
}

static int on_time_up(sd_event_source *s, uint64_t usec, void *userdata) {
        PluginThread *t = userdata;
        Host *h = t->h;
        char secs[32];

        t->timer = sd_event_source_disable_unref(t->timer);
        t->late = true;
        h->n_stuck_threads++;
        snprintf(secs, sizeof secs, "%.3g", (double) (t->kind == JOB_START ? h->config->init_timeout_usec
                                                                             : h->config->stop_timeout_usec) / 1e6);
        log_struct(LOG_ERR, 0, NULL,
                   LOG_FIELDS(LF("PLUGIN_ID", t->id),
                              LF("PLUGIN_FUNCTION", t->kind == JOB_START ? "init" : "cleanup")),
                   "Plugin %s: %s did not return within %s s; the daemon carries on without it", t->id,
                   t->kind == JOB_START ? "init()" : "cleanup()", secs);
        if (t->kind == JOB_START) {
                Verdict v = {};
                (void) verdict_set(&v, -ETIMEDOUT, REASON_INIT_TIMEOUT,
                                   "plugin initialization did not finish within %s s", secs);
                t->started(h, NULL, -ETIMEDOUT, &v, t->userdata);
                verdict_clear(&v);
        } else
                t->cleaned(h, t->p, t->userdata);
        /* the thread still holds t (and the instance): freed when it returns */
        return 0;
}

static int run_thread(PluginThread *t, uint64_t timeout_usec) {
        pthread_attr_t attr;
        pthread_t thread;
        int r;

        t->item.run = thread_done;
        r = sd_event_add_time_relative(t->h->event, &t->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_time_up, t);
        if (r < 0)
                return r;
        r = -pthread_attr_init(&attr);
        if (r < 0)
                return r;
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = -pthread_create(&thread, &attr, thread_main, t);
        pthread_attr_destroy(&attr);
        if (r >= 0)
                t->h->n_plugin_threads++;
        return r;
}

int inprocess_start(Host *h, Candidate *c, inprocess_started_fn started, void *userdata) {
        PluginThread *t = calloc(1, sizeof *t);
        if (!t || !(t->id = strdup(c->id))) {
                free(t);
                return -ENOMEM;
        }
        /* The thread's own copy of what the loader needs: it may outlive the caller. */
        candidate_init(&t->c);
        t->c.id = strdup(c->id);
        t->c.layout = c->layout;
        memcpy(t->c.digest, c->digest, sizeof t->c.digest);
        const char *version = candidate_expected_version(c);
        char *vcopy = version ? strdup(version) : NULL;
        if (c->layout == LAYOUT_FOLDER)
                t->c.manifest.version = vcopy;
        else
                t->c.signed_version = vcopy;
        if (!t->c.id || (version && !vcopy)) {
                plugin_thread_free(t);
                return -ENOMEM;
        }
        t->h = h;
        t->kind = JOB_START;
        t->lc = loader_context(h);
        t->started = started;
        t->userdata = userdata;
        t->c.image = c->image; /* the sealed image moves to the thread */
        c->image = (PluginImage){ .fd = -1 };
        int r = run_thread(t, h->config->init_timeout_usec);
        if (r < 0) {
                c->image = t->c.image;
                t->c.image = (PluginImage){ .fd = -1 };
                plugin_thread_free(t);
        }
        return r;
}

int inprocess_cleanup(Host *h, Plugin *p, inprocess_cleaned_fn cleaned, void *userdata) {
        PluginThread *t = calloc(1, sizeof *t);
        if (!t || !(t->id = strdup(p->id))) {
                free(t);
                return -ENOMEM;
        }
        candidate_init(&t->c);
        t->h = h;
        t->kind = JOB_CLEANUP;
        t->p = p;
        t->cleaned = cleaned;
        t->userdata = userdata;
        int r = run_thread(t, h->config->stop_timeout_usec);
        if (r < 0)
                plugin_thread_free(t);
        return r;
}

unsigned inprocess_stuck(Host *h) {
        return h->n_stuck_threads;
}

unsigned inprocess_running(Host *h) {
        return h->n_plugin_threads;
}
