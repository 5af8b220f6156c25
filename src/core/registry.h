/* SPDX-License-Identifier: MIT */
/*
 * The registry: one record per plugin id (sorted), the candidates that lost
 * to an earlier root (shadowed), and the listeners that hear about every
 * change.  Loop thread only.  It calls nothing above it: the files that
 * change records (scan.c, lifecycle.c) tell it what happened.
 */
#pragma once

#include "host.h"
#include "verify.h"

typedef struct ListenerSlot {
        const HostListener *l;
        void *userdata;
} ListenerSlot;

typedef struct Registry {
        Host *host; /* handed to listeners */
        PluginRecord **records; /* sorted by id */
        size_t n_records;
        PluginRecord **shadowed;
        size_t n_shadowed;
        ListenerSlot *listeners;
        size_t n_listeners;
} Registry;

void registry_init(Registry *reg, Host *host);
void registry_done(Registry *reg);

PluginRecord *registry_find(const Registry *reg, const char *id);
/* The record of id, created (and announced) if new; NULL without memory. */
PluginRecord *registry_get_or_add(Registry *reg, const char *id, const char *root, PluginLayout layout);
/* Announce, then forget r. */
void registry_remove(Registry *reg, PluginRecord *r);
/* New state, reason and message (digest unless NULL); announced. */
void registry_set(Registry *reg, PluginRecord *r, PluginState state, Reason reason, const char *message,
                  const char *digest);
/* Keep the state, record why the last operation failed; announced. */
void registry_set_error(Registry *reg, PluginRecord *r, Reason reason, const char *message);
/* Name, version, description and manifest from the candidate (and the live instance, if any). */
void registry_fill_metadata(PluginRecord *r, const Candidate *c, const Plugin *p);
/* Start a scan or a single lookup: nothing was seen yet. */
void registry_clear_seen(Registry *reg);
size_t registry_n_loaded(const Registry *reg);

int registry_add_shadowed(Registry *reg, const Candidate *c, const Verdict *v);
void registry_clear_shadowed(Registry *reg);

int registry_add_listener(Registry *reg, const HostListener *l, void *userdata);
void registry_remove_listener(Registry *reg, const HostListener *l, void *userdata);
void registry_notify_loaded(Registry *reg, const PluginRecord *r);
void registry_notify_unloaded(Registry *reg, const char *id);
void registry_notify_loaded_again(Registry *reg, const PluginRecord *r, bool reloaded);
void registry_notify_policy_changed(Registry *reg);
void registry_notify_event(Registry *reg, const char *plugin_id, const char *event, const char *payload_json);

PluginState state_for_reason(Reason reason);
uint64_t now_realtime_usec(void);
