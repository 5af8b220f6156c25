/* SPDX-License-Identifier: MIT */
#include "plugin-output.h"

#include <time.h>

#include "escape.h"
#include "host-internal.h"
#include "json-util.h"
#include "log.h"
#include "schema.h"

/* Events of one plugin waiting for the loop, whatever the rate allows. */
#define MAX_QUEUED_EVENTS 1024u
#define REPORT_INTERVAL_USEC (10u * 1000u * 1000u)

struct PluginOutput {
        unsigned n_ref; /* atomic */
        char *id;
        const HostConfig *config;
        pthread_mutex_t lock;
        double event_tokens, log_tokens; /* < 0: full on first use */
        uint64_t refilled_usec;
        unsigned queued_events; /* posted to the loop, not yet taken */
        unsigned long dropped_events, dropped_lines, invalid_events;
        uint64_t reported_usec;
};

PluginOutput *plugin_output_new(const char *plugin_id, const HostConfig *config) {
        PluginOutput *o = calloc(1, sizeof *o);
        if (!o || !(o->id = strdup(plugin_id))) {
                free(o);
                return NULL;
        }
        o->n_ref = 1;
        o->config = config;
        o->event_tokens = o->log_tokens = -1;
        pthread_mutex_init(&o->lock, NULL);
        return o;
}

PluginOutput *plugin_output_ref(PluginOutput *o) {
        __atomic_add_fetch(&o->n_ref, 1, __ATOMIC_RELAXED);
        return o;
}

PluginOutput *plugin_output_unref(PluginOutput *o) {
        if (!o || __atomic_sub_fetch(&o->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        pthread_mutex_destroy(&o->lock);
        free(o->id);
        free(o);
        return NULL;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static bool take(double *tokens, unsigned per_second, double elapsed_s) {
        double burst = 2.0 * per_second;
        *tokens = *tokens < 0 ? burst : MIN(burst, *tokens + elapsed_s * per_second);
        if (*tokens < 1.0)
                return false;
        *tokens -= 1.0;
        return true;
}

/* Under o->lock: a summary of what was dropped, at most every REPORT_INTERVAL_USEC. */
static void maybe_report(PluginOutput *o, uint64_t now) {
        if (!o->dropped_events && !o->dropped_lines && !o->invalid_events)
                return;
        if (o->reported_usec && now - o->reported_usec < REPORT_INTERVAL_USEC)
                return;
        unsigned long de = o->dropped_events, dl = o->dropped_lines, ie = o->invalid_events;
        o->dropped_events = o->dropped_lines = o->invalid_events = 0;
        o->reported_usec = now;
        log_struct(LOG_WARNING, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", o->id)),
                   "Plugin %s: dropped %lu event(s) and %lu log line(s) over its limits, and %lu invalid event(s)",
                   o->id, de, dl, ie);
}

/* Why a token: 0 event, 1 log line; false when over the limit (counted). */
static bool admit(PluginOutput *o, int what) {
        const HostConfig *c = o->config;
        uint64_t now = now_usec();
        bool ok;

        pthread_mutex_lock(&o->lock);
        double elapsed = o->refilled_usec ? (double) (now - o->refilled_usec) / 1e6 : 0;
        /* both buckets refill on every use, so one clock serves both */
        double *mine = what == 0 ? &o->event_tokens : &o->log_tokens, *other = what == 0 ? &o->log_tokens : &o->event_tokens;
        unsigned rate = what == 0 ? c->plugin_events_per_second : c->plugin_log_lines_per_second,
                 other_rate = what == 0 ? c->plugin_log_lines_per_second : c->plugin_events_per_second;
        if (*other >= 0)
                *other = MIN(2.0 * other_rate, *other + elapsed * other_rate);
        ok = take(mine, rate, elapsed);
        o->refilled_usec = now;
        if (ok && what == 0 && o->queued_events >= MAX_QUEUED_EVENTS)
                ok = false;
        if (ok && what == 0)
                o->queued_events++;
        if (!ok && what == 0)
                o->dropped_events++;
        else if (!ok)
                o->dropped_lines++;
        maybe_report(o, now);
        pthread_mutex_unlock(&o->lock);
        return ok;
}

/* ---- events: to the loop, where the front ends hear about them ---- */

typedef struct QueuedEvent {
        MailboxItem item; /* first */
        PluginOutput *output;
        Registry *registry;
        char *name, *payload;
} QueuedEvent;

static void queued_event_run(MailboxItem *item, bool cancelled) {
        QueuedEvent *e = (QueuedEvent *) item;
        if (e->output) {
                pthread_mutex_lock(&e->output->lock);
                e->output->queued_events--;
                pthread_mutex_unlock(&e->output->lock);
                if (!cancelled)
                        registry_notify_event(e->registry, e->output->id, e->name, e->payload);
                plugin_output_unref(e->output);
        }
        free(e->name);
        free(e->payload);
        free(e);
}

static void count_invalid(PluginOutput *o) {
        pthread_mutex_lock(&o->lock);
        o->invalid_events++;
        maybe_report(o, now_usec());
        pthread_mutex_unlock(&o->lock);
}

int plugin_output_event(Plugin *p, const char *name, const char *payload_json) {
        _cleanup_json_ struct json_object *o = NULL;
        _cleanup_free_ char *err = NULL;
        const PluginEvent *e;

        if (!name || !(e = plugin_find_event(p, name)))
                return -EINVAL;
        if (!payload_json)
                payload_json = "{}";
        if (plugin_json_parse(payload_json, true, &o) < 0 || schema_validate(e->schema, o, &err) < 0) {
                count_invalid(p->output);
                return -EINVAL;
        }
        if (!admit(p->output, 0))
                return -ENOBUFS;
        /* The slot taken by admit() is given back when the loop takes the event. */
        QueuedEvent *q = calloc(1, sizeof(QueuedEvent));
        if (q) {
                q->item.run = queued_event_run;
                q->registry = &p->host->registry;
                q->output = plugin_output_ref(p->output);
                q->name = strdup(name);
                q->payload = strdup(json_to_string_compact(o));
        }
        if (!q) {
                pthread_mutex_lock(&p->output->lock);
                p->output->queued_events--;
                pthread_mutex_unlock(&p->output->lock);
                return -ENOMEM;
        }
        if (!q->name || !q->payload) {
                queued_event_run(&q->item, true);
                return -ENOMEM;
        }
        loop_mailbox_post(p->host->mailbox, &q->item);
        return 0;
}

void plugin_output_log(Plugin *p, int priority, const char *message) {
        if (!message || !admit(p->output, 1))
                return;
        if (priority < LOG_ERR)
                priority = LOG_ERR; /* plugins cannot raise emergencies */
        if (priority > LOG_DEBUG)
                priority = LOG_DEBUG;
        /* A plugin's text is untrusted: escaped, and one line is at most
         * PLUGIN_LOG_LINE_MAX bytes. */
        _cleanup_free_ char *safe = escape_untrusted(message, PLUGIN_LOG_LINE_MAX);
        log_struct(priority, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", p->id)), "%s: %s", p->id,
                   safe ? safe : "(out of memory)");
}
