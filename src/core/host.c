/* SPDX-License-Identifier: MIT */
/*
 * The host façade: creation and shutdown, start-up, the trust policy, and
 * the operations by plugin id that front ends, installs and tests call.
 */
#include <fcntl.h>

#include "host-internal.h"
#include "lifecycle.h"
#include "strv.h"
#include "crash-marker.h"
#include "log.h"
#include "names.h"
#include "plugin-id.h"
#include "scan.h"
#include "store.h"

#define SIGNATURES_FILE_MAX (1024u * 1024u)

/* ---- policy ----------------------------------------------------------------- */

/* The signatures file wins over the environment (and must be root-owned). */
static int read_signatures(Host *h, char **text, char **source, char **forced_invalid) {
        const HostConfig *c = h->config;
        OwnerRule rule = { .kind = ROOT_READONLY, .self_uid = c->self_uid, .trusted_uid = UID_INVALID };
        Verdict v = {};
        int r;

        *text = *source = *forced_invalid = NULL;
        if (c->signatures_file) {
                _cleanup_close_ int fd = open(c->signatures_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd >= 0 || errno != ENOENT) {
                        struct stat st;
                        *source = strdup(c->signatures_file);
                        if (!*source)
                                return -ENOMEM;
                        if (fd < 0 || fstat(fd, &st) < 0)
                                r = asprintf(forced_invalid, "cannot open: %s", strerror(errno));
                        else if (check_plugin_file_stat(&st, &rule, SIGNATURES_FILE_MAX, "signatures file", &v) < 0)
                                r = asprintf(forced_invalid, "%s", v.message);
                        else if ((r = read_fd_full(fd, SIGNATURES_FILE_MAX, text, NULL)) < 0)
                                r = asprintf(forced_invalid, "cannot read: %s", strerror(-r));
                        else
                                r = 0;
                        verdict_clear(&v);
                        if (r < 0)
                                return -ENOMEM;
                        if (c->signatures_env)
                                log_warning("%s is ignored: %s exists and takes precedence", DC_ENV_SIGNATURES,
                                            c->signatures_file);
                        return 0;
                }
        }
        if (c->signatures_env && !(*text = strdup(c->signatures_env)))
                return -ENOMEM;
        return 0;
}

int host_reload_policy(Host *h) {
        _cleanup_free_ char *text = NULL, *source = NULL, *forced = NULL;
        Policy *p;
        int r;

        r = read_signatures(h, &text, &source, &forced);
        if (r < 0)
                return r;
        PolicySettings s = {
                .signatures = forced ? "null" : text,
                .signatures_source = source,
                .trusted_keys_dir = h->config->trusted_keys_dir,
                .require_signatures = h->config->require_signatures,
                .production = h->config->production,
                .allow_unverified = h->config->allow_unverified,
                .allowed_needed = h->config->allowed_libraries,
                .strict_elf = h->config->strict_elf,
                .max_plugin_size = h->config->max_plugin_size,
                .trusted_uid = h->config->trusted_uid,
                .self_uid = h->config->self_uid,
                .image_mode = h->config->image_mode,
        };
        if (forced)
                log_error("%s is unusable: %s", source, forced);
        r = policy_new(&s, &p);
        if (r < 0)
                return r;
        bool had = h->policy;
        policy_unref(h->policy);
        h->policy = p; /* loads in progress keep their own reference */
        if (had)
                registry_notify_policy_changed(&h->registry);
        return 0;
}

/* ---- lifetime ----------------------------------------------------------------- */

int host_new(sd_event *e, const HostConfig *config, Host **ret) {
        _cleanup_(host_freep) Host *h = calloc(1, sizeof(Host));
        int r;

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(e);
        h->config = config;
        registry_init(&h->registry, h);
        r = roots_init(h);
        if (r < 0)
                return r;
        r = loop_mailbox_new(e, "host-mailbox", NULL, NULL, &h->mailbox);
        if (r < 0)
                return r;
        r = direct_table_new(lifecycle_direct_drained, h, &h->direct);
        if (r < 0)
                return r;
        r = worker_pool_new(e, config->workers, config->max_queued_calls, &h->pool);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}

Host *host_free(Host *h) {
        if (!h)
                return NULL;
        /* host_shutdown() ran and finished: nothing of a plugin is left but
         * what failed to start (and unit tests that skip it: drain here). */
        assert(!host_stuck(h));
        for (size_t i = 0; i < h->registry.n_records; i++) {
                PluginRecord *r = h->registry.records[i];
                if (r->plugin) {
                        Plugin *p = TAKE_PTR(r->plugin);
                        r->draining = true;
                        lifecycle_begin_drain(p, NULL, NULL);
                }
        }
        h->pool = worker_pool_free(h->pool);
        h->mailbox = loop_mailbox_free(h->mailbox); /* finished direct drains; events are dropped */
        h->direct = direct_table_free(h->direct);
        registry_done(&h->registry);
        ctx_list_done(&h->ctxs);
        roots_done(h);
        policy_unref(h->policy);
        strv_free(h->crashed_in_process);
        strv_free(h->sidecars);
        if (h->owns_crash_marker)
                crash_marker_close();
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

int host_start(Host *h) {
        int r;

        log_info("Initializing plugin system...");
        r = host_reload_policy(h);
        if (r < 0)
                return r;
        /* An install interrupted by a crash leaves only staging behind. */
        int store = host_store_index(h);
        if (store >= 0) {
                OwnerRule rule = host_rule_for(h, ROOT_STORE);
                (void) store_clean_staging(h->roots[store], &rule);
        }
        /* Plugins the daemon died in last time run in a worker now. */
        if (!h->owns_crash_marker) {
                r = crash_marker_open(h->config->state_dir, &h->crashed_in_process);
                if (r < 0)
                        log_warning_errno(r, "Cannot keep the in-process crash marker in %s: %m",
                                          h->config->state_dir ? h->config->state_dir : "(none)");
                else
                        h->owns_crash_marker = true;
                for (char **i = h->crashed_in_process; i && *i; i++) {
                        (void) crashed_in_process_set(h->config->state_dir, *i);
                        log_struct(LOG_ERR, 0, DC_MESSAGE_PLUGIN_CRASHED,
                                   LOG_FIELDS(LF("PLUGIN_ID", *i), LF("DC_CAUSE", "previous run")),
                                   "dc-plugin-hostd ended inside plugin %s's code during its previous run; the plugin "
                                   "runs in a worker process from now on, until an administrator loads it explicitly",
                                   *i);
                }
        }
        if (h->config->auto_load) {
                r = scan_all(h);
                if (r < 0)
                        return r;
        }
        log_info("Plugin system initialized");
        return 0;
}

int host_check(Host *h) {
        int r = host_reload_policy(h);
        if (r < 0)
                return r;
        h->dry_run = true;
        r = scan_all(h);
        h->dry_run = false;
        return r;
}

int host_rescan(Host *h) {
        log_struct(LOG_INFO, 0, NULL, LOG_FIELDS(LF("DC_OPERATION", "rescan")), "Rescanning plugin directories");
        return scan_all(h);
}

/* ---- operations by id ------------------------------------------------------------- */

int host_set_disabled(Host *h, const char *id, bool disabled) {
        return state_set_disabled(h->config->state_dir, id, disabled);
}

int host_load(Host *h, const char *id, Verdict *v, host_loaded_cb cb, void *userdata) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginLayout layout;
        PluginRecord *r;
        size_t idx;
        int k;

        if (!plugin_id_is_valid(id))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "invalid plugin id");
        r = registry_find(&h->registry, id);
        if (r && (r->draining || r->starting))
                return -EBUSY;
        if (r && r->plugin)
                return -EALREADY;
        if (h->shutting_down)
                return -ESHUTDOWN;
        k = scan_locate(h, id, &idx, &fd, &layout, &name, &error);
        if (k == -ENOENT)
                return -ENOENT;
        if (k < 0)
                return verdict_set(v, k, REASON_INSECURE_DIRECTORY, "%s", error ? error : strerror(-k));
        /* An explicit Load clears a persisted "disabled" and a quarantine. */
        (void) host_set_disabled(h, id, false);
        if (quarantine_clear(h->config->state_dir, id) >= 0 && crashed_in_process_clear(h->config->state_dir, id) >= 0)
                (void) strv_remove(h->crashed_in_process, id);
        if (r)
                r->crashes = (CrashHistory){};
        registry_clear_seen(&h->registry);
        k = lifecycle_load_entry(h, idx, fd, name, layout, v, cb, userdata);
        return k > 0 ? 0 : k;
}

/* Locate a loaded plugin's folder again and restart it from what is on disk now. */
static int restart_from_disk(Host *h, PluginRecord *r, bool placement_changed, Verdict *v, host_loaded_cb cb,
                             void *userdata) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginLayout layout;
        size_t idx;

        int k = scan_locate(h, r->id, &idx, &fd, &layout, &name, &error);
        if (k == -ENOENT)
                return verdict_set(v, -ENOENT, REASON_MANIFEST_MISSING, "plugin files are gone from disk");
        if (k < 0)
                return verdict_set(v, k, REASON_INSECURE_DIRECTORY, "%s", error ? error : strerror(-k));
        return lifecycle_reload_entry(h, r, idx, fd, name, layout, placement_changed, v, cb, userdata);
}

int host_reload(Host *h, const char *id, Verdict *v, host_loaded_cb cb, void *userdata) {
        PluginRecord *r = registry_find(&h->registry, id);

        if (!r)
                return -ENOENT;
        if (r->draining || r->starting)
                return -EBUSY;
        if (!r->plugin)
                return host_load(h, id, v, cb, userdata);
        if (h->shutting_down)
                return -ESHUTDOWN;
        return restart_from_disk(h, r, false, v, cb, userdata);
}

int host_set_isolated(Host *h, const char *id, bool isolated, Verdict *v, host_loaded_cb cb, void *userdata) {
        PluginRecord *r = registry_find(&h->registry, id);

        if (!r)
                return -ENOENT;
        if (r->draining || r->starting)
                return -EBUSY;
        if (h->shutting_down)
                return -ESHUTDOWN;
        bool was_sidecar = strv_contains(h->sidecars, id);
        if (isolated) {
                if (!was_sidecar && strv_extend(&h->sidecars, id) < 0)
                        return -ENOMEM;
        } else if (!was_sidecar)
                return 1; /* not moved by deploy_sidecar: where the configuration put it */
        else
                (void) strv_remove(h->sidecars, id);
        if (!r->plugin)
                return isolated ? host_load(h, id, v, cb, userdata) : 1;
        bool in_worker = r->plugin->isolated != NULL;
        if (isolated && in_worker)
                return 1; /* already where it belongs */
        return restart_from_disk(h, r, true, v, cb, userdata);
}

int host_recheck(Host *h, const char *id, Verdict *v) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginRecord *r = registry_find(&h->registry, id);
        PluginLayout layout;
        size_t idx;

        if (!r || !r->plugin || r->draining)
                return -ESRCH;
        int k = scan_locate(h, id, &idx, &fd, &layout, &name, &error);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                if (k == -ENOENT)
                        (void) verdict_set(v, k, REASON_MANIFEST_MISSING, "plugin files are gone from disk");
                else
                        (void) verdict_set(v, k, REASON_INSECURE_DIRECTORY, "%s", error ? error : strerror(-k));
                return 0;
        }
        return lifecycle_recheck_entry(h, r, idx, fd, name, layout, v);
}

int host_refresh(Host *h, const char *id) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginRecord *rec = registry_find(&h->registry, id);
        PluginLayout layout;
        Verdict v = {};
        size_t idx;
        int k;

        if (rec && (rec->plugin || rec->draining || rec->starting))
                return -EBUSY;
        k = scan_locate(h, id, &idx, &fd, &layout, &name, &error);
        if (k == -ENOENT) {
                if (rec)
                        registry_remove(&h->registry, rec);
                return 0;
        }
        if (k < 0)
                return k;
        registry_clear_seen(&h->registry);
        h->dry_run = true;
        k = lifecycle_load_entry(h, idx, fd, name, layout, &v, NULL, NULL);
        h->dry_run = false;
        verdict_clear(&v);
        return k == -ENOMEM ? k : 0;
}

typedef struct UnloadOp {
        char *id;
        host_done_cb cb;
        void *userdata;
} UnloadOp;

static void unload_finished(Host *h, int error, void *userdata) {
        UnloadOp *op = userdata;
        PluginRecord *r = registry_find(&h->registry, op->id);

        if (r && r->draining) {
                r->draining = false;
                r->isolation = NULL;
                registry_set(&h->registry, r, PLUGIN_STATE_AVAILABLE, REASON_NONE, NULL, NULL);
        }
        registry_notify_unloaded(&h->registry, op->id);
        if (op->cb)
                op->cb(h, error, op->userdata);
        free(op->id);
        free(op);
}

int host_unload(Host *h, const char *id, host_done_cb cb, void *userdata) {
        PluginRecord *r = registry_find(&h->registry, id);
        UnloadOp *op;

        if (!r)
                return -ENOENT;
        if (r->draining || r->starting)
                return -EBUSY;
        if (!r->plugin)
                return -ESRCH;
        op = calloc(1, sizeof(UnloadOp));
        if (!op || !(op->id = strdup(id))) {
                free(op);
                return -ENOMEM;
        }
        op->cb = cb;
        op->userdata = userdata;
        Plugin *p = TAKE_PTR(r->plugin); /* no new calls from here on */
        r->draining = true;
        lifecycle_begin_drain(p, unload_finished, op);
        return 0;
}

void host_notify_loaded_again(Host *h, const char *id, bool reloaded) {
        PluginRecord *r = registry_find(&h->registry, id);
        if (r && r->plugin)
                registry_notify_loaded_again(&h->registry, r, reloaded);
}

/* ---- accessors ------------------------------------------------------------------ */

int host_add_listener(Host *h, const HostListener *l, void *userdata) {
        return registry_add_listener(&h->registry, l, userdata);
}
void host_remove_listener(Host *h, const HostListener *l, void *userdata) {
        registry_remove_listener(&h->registry, l, userdata);
}
PluginRecord *host_find(Host *h, const char *id) {
        return registry_find(&h->registry, id);
}
size_t host_n_records(Host *h) {
        return h->registry.n_records;
}
PluginRecord *host_record(Host *h, size_t i) {
        return i < h->registry.n_records ? h->registry.records[i] : NULL;
}
size_t host_n_loaded(Host *h) {
        return registry_n_loaded(&h->registry);
}
unsigned host_n_queued_calls(Host *h) {
        return worker_pool_queued(h->pool);
}
const Policy *host_policy(Host *h) {
        return h->policy;
}
const HostConfig *host_config(Host *h) {
        return h->config;
}
char *const *host_roots(Host *h) {
        return h->roots;
}
size_t host_n_shadowed(Host *h) {
        return h->registry.n_shadowed;
}
const PluginRecord *host_shadowed(Host *h, size_t i) {
        return i < h->registry.n_shadowed ? h->registry.shadowed[i] : NULL;
}
int host_store_index(Host *h) {
        for (size_t i = 0; i < h->n_roots; i++)
                if (h->root_kinds[i] == ROOT_STORE && !isempty(h->roots[i]))
                        return (int) i;
        return -ENOENT;
}
int host_locate_root(Host *h, const char *id) {
        _cleanup_free_ char *error = NULL, *name = NULL;
        _cleanup_close_ int fd = -1;
        PluginLayout layout;
        size_t idx;
        int k = scan_locate(h, id, &idx, &fd, &layout, &name, &error);
        return k < 0 ? k : (int) idx;
}
WorkerPool *host_pool(Host *h) {
        return h->pool;
}
Policy *host_policy_ref(Host *h) {
        return policy_ref(h->policy);
}
OwnerRule host_owner_rule(Host *h, RootKind kind) {
        return host_rule_for(h, kind);
}
sd_event *host_event(Host *h) {
        return h->event;
}
