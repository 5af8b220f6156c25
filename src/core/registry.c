/* SPDX-License-Identifier: MIT */
#include "registry.h"

#include <time.h>

#include "plugin-instance.h"

static const char *const state_table[_PLUGIN_STATE_MAX] = {
        [PLUGIN_STATE_UNKNOWN] = "unknown",   [PLUGIN_STATE_AVAILABLE] = "available",
        [PLUGIN_STATE_LOADING] = "loading",   [PLUGIN_STATE_LOADED] = "loaded",
        [PLUGIN_STATE_FAILED] = "failed",     [PLUGIN_STATE_DISABLED] = "disabled",
        [PLUGIN_STATE_REJECTED] = "rejected", [PLUGIN_STATE_QUARANTINED] = "quarantined",
};

const char *plugin_state_to_string(PluginState s) {
        return s >= 0 && s < _PLUGIN_STATE_MAX ? state_table[s] : "unknown";
}

uint64_t now_realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

PluginState state_for_reason(Reason reason) {
        if (reason == REASON_DISABLED)
                return PLUGIN_STATE_DISABLED;
        if (reason == REASON_QUARANTINED)
                return PLUGIN_STATE_QUARANTINED;
        return reason_is_rejection(reason) ? PLUGIN_STATE_REJECTED : PLUGIN_STATE_FAILED;
}

#define NOTIFY(reg, member, ...)                                                              \
        do {                                                                                  \
                for (size_t _i = 0; _i < (reg)->n_listeners; _i++)                            \
                        if ((reg)->listeners[_i].l->member)                                   \
                                (reg)->listeners[_i].l->member((reg)->host, __VA_ARGS__,     \
                                                               (reg)->listeners[_i].userdata); \
        } while (0)

void registry_init(Registry *reg, Host *host) {
        *reg = (Registry){ .host = host };
}

static PluginRecord *record_free(PluginRecord *r) {
        if (!r)
                return NULL;
        free(r->id);
        free(r->root);
        free(r->message);
        free(r->name);
        free(r->version);
        free(r->description);
        free(r->manifest_json);
        free(r);
        return NULL;
}

void registry_clear_shadowed(Registry *reg) {
        for (size_t i = 0; i < reg->n_shadowed; i++)
                record_free(reg->shadowed[i]);
        reg->n_shadowed = 0;
}

void registry_done(Registry *reg) {
        for (size_t i = 0; i < reg->n_records; i++)
                record_free(reg->records[i]);
        free(reg->records);
        registry_clear_shadowed(reg);
        free(reg->shadowed);
        free(reg->listeners);
        *reg = (Registry){};
}

int registry_add_listener(Registry *reg, const HostListener *l, void *userdata) {
        ListenerSlot *n = realloc(reg->listeners, (reg->n_listeners + 1) * sizeof(ListenerSlot));
        if (!n)
                return -ENOMEM;
        reg->listeners = n;
        reg->listeners[reg->n_listeners++] = (ListenerSlot){ l, userdata };
        return 0;
}

void registry_remove_listener(Registry *reg, const HostListener *l, void *userdata) {
        for (size_t i = 0; i < reg->n_listeners; i++)
                if (reg->listeners[i].l == l && reg->listeners[i].userdata == userdata) {
                        memmove(reg->listeners + i, reg->listeners + i + 1,
                                (reg->n_listeners - i - 1) * sizeof(ListenerSlot));
                        reg->n_listeners--;
                        return;
                }
}

void registry_notify_loaded(Registry *reg, const PluginRecord *r) {
        NOTIFY(reg, plugin_loaded, r);
}

void registry_notify_unloaded(Registry *reg, const char *id) {
        NOTIFY(reg, plugin_unloaded, id);
}

void registry_notify_loaded_again(Registry *reg, const PluginRecord *r, bool reloaded) {
        NOTIFY(reg, plugin_loaded_again, r, reloaded);
}

void registry_notify_policy_changed(Registry *reg) {
        for (size_t i = 0; i < reg->n_listeners; i++)
                if (reg->listeners[i].l->policy_changed)
                        reg->listeners[i].l->policy_changed(reg->host, reg->listeners[i].userdata);
}

void registry_notify_event(Registry *reg, const char *plugin_id, const char *event, const char *payload_json) {
        NOTIFY(reg, plugin_event, plugin_id, event, payload_json);
}

PluginRecord *registry_find(const Registry *reg, const char *id) {
        size_t lo = 0, hi = reg->n_records;
        assert(id);
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(reg->records[mid]->id, id);
                if (c == 0)
                        return reg->records[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

PluginRecord *registry_get_or_add(Registry *reg, const char *id, const char *root, PluginLayout layout) {
        PluginRecord *r = registry_find(reg, id), **n;
        size_t pos = 0;

        if (r)
                return r;
        r = calloc(1, sizeof(PluginRecord));
        if (!r)
                return NULL;
        r->id = strdup(id);
        r->root = strdup(root);
        r->layout = layout;
        n = realloc(reg->records, (reg->n_records + 1) * sizeof(PluginRecord *));
        if (!r->id || !r->root || !n) {
                if (n)
                        reg->records = n;
                return record_free(r);
        }
        reg->records = n;
        while (pos < reg->n_records && strcmp(reg->records[pos]->id, id) < 0)
                pos++;
        memmove(reg->records + pos + 1, reg->records + pos, (reg->n_records - pos) * sizeof(PluginRecord *));
        reg->records[pos] = r;
        reg->n_records++;
        r->changed_usec = now_realtime_usec();
        NOTIFY(reg, record_added, r);
        return r;
}

void registry_remove(Registry *reg, PluginRecord *r) {
        /* Listeners hear about it while the record still exists (D-Bus
         * needs the object to build InterfacesRemoved). */
        NOTIFY(reg, record_removed, r->id);
        for (size_t i = 0; i < reg->n_records; i++)
                if (reg->records[i] == r) {
                        memmove(reg->records + i, reg->records + i + 1, (reg->n_records - i - 1) * sizeof(PluginRecord *));
                        reg->n_records--;
                        break;
                }
        record_free(r);
}

static int set_str(char **dst, const char *s) {
        char *c = NULL;
        if (s && !(c = strdup(s)))
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

void registry_set(Registry *reg, PluginRecord *r, PluginState state, Reason reason, const char *message,
                  const char *digest) {
        r->state = state;
        r->reason = reason;
        (void) set_str(&r->message, message);
        if (digest)
                snprintf(r->digest, sizeof r->digest, "%s", digest);
        r->changed_usec = now_realtime_usec();
        NOTIFY(reg, record_changed, r);
}

void registry_set_error(Registry *reg, PluginRecord *r, Reason reason, const char *message) {
        r->reason = reason;
        (void) set_str(&r->message, message);
        NOTIFY(reg, record_changed, r);
}

void registry_fill_metadata(PluginRecord *r, const Candidate *c, const Plugin *p) {
        const Manifest *m = &c->manifest;
        (void) set_str(&r->version, p && p->desc.version ? p->desc.version : m->version);
        (void) set_str(&r->description, p && p->desc.description ? p->desc.description : m->description);
        (void) set_str(&r->name, p ? p->desc.name : NULL);
        (void) set_str(&r->manifest_json, m->json);
        (void) set_str(&r->root, c->root);
        r->layout = c->layout;
}

void registry_clear_seen(Registry *reg) {
        for (size_t i = 0; i < reg->n_records; i++)
                reg->records[i]->seen = false;
}

size_t registry_n_loaded(const Registry *reg) {
        size_t n = 0;
        for (size_t i = 0; i < reg->n_records; i++)
                n += reg->records[i]->plugin != NULL;
        return n;
}

int registry_add_shadowed(Registry *reg, const Candidate *c, const Verdict *v) {
        PluginRecord *r = calloc(1, sizeof(PluginRecord)), **n;
        if (!r)
                return -ENOMEM;
        r->id = strdup(c->id);
        r->root = strdup(c->root);
        r->message = v->message ? strdup(v->message) : NULL;
        n = realloc(reg->shadowed, (reg->n_shadowed + 1) * sizeof(PluginRecord *));
        if (!r->id || !r->root || !n) {
                if (n)
                        reg->shadowed = n;
                record_free(r);
                return -ENOMEM;
        }
        r->state = PLUGIN_STATE_REJECTED;
        r->reason = REASON_DUPLICATE_ID;
        r->layout = c->layout;
        snprintf(r->digest, sizeof r->digest, "%s", c->digest);
        r->changed_usec = now_realtime_usec();
        reg->shadowed = n;
        reg->shadowed[reg->n_shadowed++] = r;
        return 0;
}
