/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl --mesh rollout PLUGIN[@VERSION] --from HOST
 * --to HOST,…|--all: publish the plugin on the source host (or reuse the
 * artifact it published before), install it with its digest on every
 * target, --parallel at a time, check that the version asked for is what
 * loaded, and say how each host ended (docs/dc-plugin-hostctl.1.md).
 *
 * A target is never left half-installed by us: each install is the host's
 * one atomic install operation (the old version stays until the new one
 * loaded).  A request that gets no answer (a server going away) is sent
 * again: installing the same bytes twice is harmless.
 */
#include <pthread.h>
#include <time.h>

#include "escape.h"
#include "hostctl-mesh.h"
#include "hostctl-output.h"
#include "json-util.h"
#include "log.h"
#include "mesh.h"
#include "plugin-id.h"
#include "strv.h"

#define DEFAULT_PARALLEL 16
#define ATTEMPTS 3

typedef enum TargetResult { T_PENDING, T_OK, T_FAILED, T_SKIPPED } TargetResult;

typedef struct Target {
        char *device;
        TargetResult result;
        char *message, *reason, *version;
        uint64_t usec;
        unsigned attempts;
} Target;

typedef struct Rollout {
        Mesh *m;
        const MeshCliArgs *a;
        const char *source;
        char *plugin, *version, *digest, *url;
        int64_t size;
        bool published; /* by this run (else reused) */
        Target *targets;
        size_t n, next, done, failed;
        bool stop;
        pthread_mutex_t lock;
} Rollout;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* A host RPC's result object, or NULL with *error (the peer's text, escaped). */
static struct json_object *call(Rollout *ro, const char *device, const char *method, struct json_object *params,
                                unsigned flags, char **error) {
        _cleanup_json_ struct json_object *reply = NULL;
        struct json_object *res, *err;
        *error = NULL;
        int r = mesh_client_call(ro->m, device, method, params, flags, ro->a->timeout_usec, &reply, error);
        if (r < 0) {
                if (!*error)
                        *error = strdup(strerror(-r));
                return NULL;
        }
        if (json_member_object(reply, "error", &err) >= 0 && err) {
                *error = escape_untrusted(json_get_string(err, "message") ? json_get_string(err, "message") : "error",
                                          256);
                return NULL;
        }
        if (json_member_object(reply, "result", &res) < 0 || !res) {
                *error = strdup("malformed reply");
                return NULL;
        }
        return json_object_get(res);
}

static struct json_object *pid_params(const char *plugin, const char *version) {
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "plugin_id", json_object_new_string(plugin));
        if (version)
                json_object_object_add(p, "version", json_object_new_string(version));
        return p;
}

static int take_artifact(Rollout *ro, struct json_object *res) {
        struct json_object *art, *size;
        const char *url, *digest;
        if (json_member_object(res, "artifact", &art) < 0 || !art || !(url = json_get_string(art, "url")) ||
            !(digest = json_get_string(art, "digest")))
                return log_error_errno(EBADMSG, "%s sent an artifact record without url or digest", ro->source);
        ro->url = strdup(url);
        ro->digest = strdup(digest);
        ro->size = json_object_object_get_ex(art, "size", &size) && json_object_is_type(size, json_type_int)
                           ? json_object_get_int64(size)
                           : -1;
        if (!ro->version && json_get_string(art, "version"))
                ro->version = strdup(json_get_string(art, "version"));
        return ro->url && ro->digest ? 0 : log_oom();
}

/* The artifact to roll out: the one the source published of that version
 * before, else a fresh publish of the version it runs. */
static int resolve_artifact(Rollout *ro) {
        _cleanup_free_ char *error = NULL;
        _cleanup_json_ struct json_object *list = NULL, *found = NULL, *pub = NULL;
        struct json_object *loaded = NULL, *p = NULL, *man = NULL;
        const char *running = NULL;

        list = call(ro, ro->source, "list_plugins", NULL, 0, &error);
        if (!list)
                return log_error_errno(EIO, "Cannot ask %s for its plugins: %s", ro->source, error);
        if (json_member_object(list, "loaded", &loaded) >= 0 && json_member_object(loaded, ro->plugin, &p) >= 0 && p &&
            json_member_object(p, "manifest", &man) >= 0)
                running = json_get_string(man, "version");
        const char *want = ro->version ? ro->version : running;
        if (!want && !p)
                return log_error_errno(ENOENT, "%s is not loaded on %s: name the version to roll out (%s@VERSION)",
                                       ro->plugin, ro->source, ro->plugin);
        _cleanup_json_ struct json_object *params = pid_params(ro->plugin, want);
        found = call(ro, ro->source, "get_plugin_artifact_url", params, 0, &error);
        if (found && streq(json_get_string(found, "status") ?: "", "success"))
                return take_artifact(ro, found);
        free(error);
        error = NULL;
        if (!p || (ro->version && running && !streq(ro->version, running)))
                return log_error_errno(ENOENT, "%s has published no %s %s%s%s", ro->source, ro->plugin, want,
                                       running ? " and runs " : "", running ? running : "");
        if (ro->a->dry_run) {
                ro->version = ro->version ? ro->version : (want ? strdup(want) : NULL);
                return 0; /* would publish */
        }
        _cleanup_json_ struct json_object *pp = pid_params(ro->plugin, NULL);
        pub = call(ro, ro->source, "publish_plugin_artifact", pp, MESH_CALL_ADMIN, &error);
        if (!pub || !streq(json_get_string(pub, "status") ?: "", "success")) {
                _cleanup_free_ char *msg =
                        pub ? escape_untrusted(json_get_string(pub, "message") ?: "error", 256) : NULL;
                return log_error_errno(EIO, "Cannot publish %s on %s: %s", ro->plugin, ro->source, msg ? msg : error);
        }
        ro->published = true;
        return take_artifact(ro, pub);
}

static int add_target(Rollout *ro, const char *device) {
        if (streq(device, ro->source))
                return 0;
        for (size_t i = 0; i < ro->n; i++)
                if (streq(ro->targets[i].device, device))
                        return 0;
        Target *t = realloc(ro->targets, (ro->n + 1) * sizeof *t);
        if (!t)
                return log_oom();
        ro->targets = t;
        ro->targets[ro->n] = (Target){ .device = strdup(device) };
        return ro->targets[ro->n++].device ? 0 : log_oom();
}

static int find_targets(Rollout *ro) {
        if (ro->a->to) {
                _cleanup_strv_free_ char **list = strv_split(ro->a->to, ",");
                if (!list)
                        return log_oom();
                for (char **d = list; *d; d++)
                        if (**d && add_target(ro, *d) < 0)
                                return -ENOMEM;
                return 0;
        }
        _cleanup_json_ struct json_object *hosts = NULL;
        int r = mesh_client_discover(ro->m, ro->a->timeout_usec, &hosts);
        if (r < 0)
                return log_error_errno(-r, "Cannot list the plugin hosts: %m");
        for (size_t i = 0; i < json_object_array_length(hosts); i++)
                if (add_target(ro, json_get_string(json_object_array_get_idx(hosts, i), "device_id")) < 0)
                        return -ENOMEM;
        return 0;
}

/* Worth another attempt: no answer, or the download from the source broke. */
static bool transient(int r, const char *reason) {
        return r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -EIO ||
               (reason && (streq(reason, "download-failed") || streq(reason, "shutting-down") || streq(reason, "busy")));
}

static void install_on(Rollout *ro, Target *t) {
        uint64_t t0 = now_usec();
        _cleanup_json_ struct json_object *params = json_object_new_object();
        json_object_object_add(params, "url", json_object_new_string(ro->url));
        json_object_object_add(params, "digest", json_object_new_string(ro->digest));
        json_object_object_add(params, "replace", json_object_new_boolean(true));
        json_object_object_add(params, "load", json_object_new_boolean(true));
        for (t->attempts = 1; t->attempts <= ATTEMPTS; t->attempts++) {
                _cleanup_json_ struct json_object *reply = NULL;
                _cleanup_free_ char *error = NULL;
                struct json_object *res = NULL, *lr, *plugin, *man;
                free(t->message), free(t->reason), free(t->version);
                t->message = t->reason = t->version = NULL;
                int r = mesh_client_call(ro->m, t->device, "install_plugin_from_url", params, MESH_CALL_ADMIN,
                                         ro->a->timeout_usec, &reply, &error);
                if (r >= 0 && json_member_object(reply, "result", &res) >= 0 && res) {
                        const char *status = json_get_string(res, "status");
                        t->reason = json_get_string(res, "error") ? strdup(json_get_string(res, "error")) : NULL;
                        if (status && streq(status, "success") && json_member_object(res, "load_result", &lr) >= 0 && lr &&
                            json_member_object(lr, "plugin", &plugin) >= 0 && plugin &&
                            json_member_object(plugin, "manifest", &man) >= 0) {
                                const char *v = json_get_string(man, "version");
                                t->version = v ? strdup(v) : NULL;
                                if (!ro->version || (v && streq(v, ro->version)))
                                        t->result = T_OK;
                                else
                                        (void) asprintf(&t->message, "version %s loaded, not %s", v ? v : "?", ro->version);
                        } else
                                t->message = escape_untrusted(
                                        json_get_string(res, "message") ?: (status ?: "malformed reply"), 256);
                } else if (r >= 0) {
                        struct json_object *err = NULL;
                        (void) json_member_object(reply, "error", &err);
                        t->message = escape_untrusted(json_get_string(err, "message") ?: "malformed reply", 256);
                } else
                        t->message = TAKE_PTR(error);
                if (t->result == T_OK || !transient(r, t->reason))
                        break;
                if (r == -EHOSTUNREACH || r == -EIO)
                        (void) nanosleep(&(struct timespec){ .tv_nsec = 500 * 1000 * 1000 }, NULL); /* reconnecting */
        }
        if (t->attempts > ATTEMPTS)
                t->attempts = ATTEMPTS;
        if (t->result != T_OK)
                t->result = T_FAILED;
        t->usec = now_usec() - t0;
}

static void *worker(void *userdata) {
        Rollout *ro = userdata;
        for (;;) {
                pthread_mutex_lock(&ro->lock);
                if (ro->stop || ro->next == ro->n) {
                        pthread_mutex_unlock(&ro->lock);
                        return NULL;
                }
                Target *t = &ro->targets[ro->next++];
                pthread_mutex_unlock(&ro->lock);
                install_on(ro, t);
                pthread_mutex_lock(&ro->lock);
                ro->done++;
                if (t->result == T_FAILED) {
                        ro->failed++;
                        ro->stop = ro->stop || !ro->a->keep_going;
                }
                fprintf(stderr, "[%*zu/%zu] %-24s %s %s (%.0f ms%s)\n", ro->n >= 100 ? 3 : 2, ro->done, ro->n, t->device,
                        t->result == T_OK ? "ok" : "FAILED:", t->result == T_OK ? (t->version ?: "") : t->message,
                        (double) t->usec / 1000, t->attempts > 1 ? ", retried" : "");
                pthread_mutex_unlock(&ro->lock);
        }
}

static const char *result_name(TargetResult r) {
        return r == T_OK ? "ok" : r == T_FAILED ? "failed" : r == T_SKIPPED ? "skipped" : "pending";
}

static int summary_json(Rollout *ro, double seconds, size_t ok, size_t failed, size_t skipped) {
        _cleanup_json_ struct json_object *o = json_object_new_object(), *hosts = json_object_new_array();
        if (!o || !hosts)
                return log_oom();
        json_object_object_add(o, "plugin_id", json_object_new_string(ro->plugin));
        json_object_object_add(o, "version", ro->version ? json_object_new_string(ro->version) : NULL);
        json_object_object_add(o, "digest", ro->digest ? json_object_new_string(ro->digest) : NULL);
        json_object_object_add(o, "url", ro->url ? json_object_new_string(ro->url) : NULL);
        json_object_object_add(o, "size", json_object_new_int64(ro->size));
        json_object_object_add(o, "source", json_object_new_string(ro->source));
        json_object_object_add(o, "published", json_object_new_boolean(ro->published));
        json_object_object_add(o, "dry_run", json_object_new_boolean(ro->a->dry_run));
        for (size_t i = 0; i < ro->n; i++) {
                Target *t = &ro->targets[i];
                struct json_object *h = json_object_new_object();
                json_object_object_add(h, "device_id", json_object_new_string(t->device));
                json_object_object_add(h, "result", json_object_new_string(ro->a->dry_run ? "planned" : result_name(t->result)));
                json_object_object_add(h, "version", t->version ? json_object_new_string(t->version) : NULL);
                json_object_object_add(h, "ms", json_object_new_double((double) t->usec / 1000));
                json_object_object_add(h, "attempts", json_object_new_int((int) t->attempts));
                json_object_object_add(h, "error", t->reason ? json_object_new_string(t->reason) : NULL);
                json_object_object_add(h, "message", t->message ? json_object_new_string(t->message) : NULL);
                json_object_array_add(hosts, h);
        }
        json_object_object_add(o, "hosts", json_object_get(hosts));
        json_object_object_add(o, "succeeded", json_object_new_int((int) ok));
        json_object_object_add(o, "failed", json_object_new_int((int) failed));
        json_object_object_add(o, "skipped", json_object_new_int((int) skipped));
        json_object_object_add(o, "seconds", json_object_new_double(seconds));
        return output_json(o);
}

/* The plan (--dry-run) or how each host ended: a table, or JSON. */
static int summary(Rollout *ro, double seconds) {
        _cleanup_(table_freep) Table *t = NULL;
        size_t ok = 0, failed = 0, skipped = 0;
        for (size_t i = 0; i < ro->n; i++) {
                ok += ro->targets[i].result == T_OK;
                failed += ro->targets[i].result == T_FAILED;
                skipped += ro->targets[i].result == T_SKIPPED;
        }
        output_begin();
        if (output_json_enabled())
                return summary_json(ro, seconds, ok, failed, skipped);
        if (ro->a->dry_run) {
                if (output_legend())
                        printf("Would roll out %s %s (%s, %s) from %s to %zu host(s):\n", ro->plugin, ro->version ?: "?",
                               ro->digest ?: "published first", ro->url ?: "not published yet", ro->source, ro->n);
                for (size_t i = 0; i < ro->n; i++)
                        printf("%s%s\n", output_legend() ? "  " : "", ro->targets[i].device);
                return 0;
        }
        t = table_new(5, "HOST", "RESULT", "VERSION", "TIME", "MESSAGE");
        if (!t)
                return log_oom();
        for (size_t i = 0; i < ro->n; i++) {
                Target *x = &ro->targets[i];
                _cleanup_free_ char *message = NULL;
                char ms[32];
                snprintf(ms, sizeof ms, "%.0f ms", (double) x->usec / 1000);
                if (asprintf(&message, "%s%s%s", x->message ?: "", x->message && x->reason ? " " : "", x->reason ?: "") < 0 ||
                    table_add_row(t, x->device, result_name(x->result), x->version, ms, message) < 0)
                        return log_oom();
        }
        table_print(t);
        if (output_legend())
                printf("\nRolled out %s %s (%s) from %s to %zu host(s) in %.2f s: %zu succeeded, %zu failed, %zu skipped.\n",
                       ro->plugin, ro->version ?: "?", ro->digest, ro->source, ro->n, seconds, ok, failed, skipped);
        return 0;
}

int hostctl_rollout(Mesh *m, const MeshCliArgs *a, const char *spec) {
        Rollout ro = { .m = m, .a = a, .source = a->from, .size = -1 };
        const char *at = strchr(spec, '@');
        unsigned parallel = a->parallel ? a->parallel : DEFAULT_PARALLEL;
        pthread_t threads[256];
        size_t n_threads = 0;
        int r;

        ro.plugin = at ? strndup(spec, (size_t) (at - spec)) : strdup(spec);
        ro.version = at && at[1] ? strdup(at + 1) : NULL;
        if (!ro.plugin || (at && at[1] && !ro.version))
                return log_oom();
        pthread_mutex_init(&ro.lock, NULL);
        if (!plugin_id_is_valid(ro.plugin)) {
                r = log_error_errno(EINVAL, "Invalid plugin id \"%s\"", ro.plugin);
                goto finish;
        }
        uint64_t t0 = now_usec();
        r = resolve_artifact(&ro);
        if (r >= 0)
                r = find_targets(&ro);
        if (r < 0)
                goto finish;
        if (ro.n == 0) {
                r = log_error_errno(ENOENT, "No target hosts (besides %s)", ro.source);
                goto finish;
        }
        if (!a->dry_run) {
                fprintf(stderr, "Rolling out %s %s (%s, %" PRIi64 " bytes, %s by %s) to %zu host(s), %u at a time\n",
                        ro.plugin, ro.version ?: "?", ro.digest, ro.size, ro.published ? "published" : "published before",
                        ro.source, ro.n, parallel);
                for (; n_threads < parallel && n_threads < ro.n && n_threads < ELEMENTSOF(threads); n_threads++)
                        if (pthread_create(&threads[n_threads], NULL, worker, &ro) != 0)
                                break;
                if (n_threads == 0)
                        worker(&ro);
                for (size_t i = 0; i < n_threads; i++)
                        pthread_join(threads[i], NULL);
                for (size_t i = 0; i < ro.n; i++)
                        if (ro.targets[i].result == T_PENDING)
                                ro.targets[i].result = T_SKIPPED;
        }
        r = summary(&ro, (double) (now_usec() - t0) / 1e6);
        if (r >= 0)
                r = a->dry_run || (ro.failed == 0 && ro.done == ro.n) ? 0 : -EIO;
finish:
        for (size_t i = 0; i < ro.n; i++) {
                free(ro.targets[i].device);
                free(ro.targets[i].message);
                free(ro.targets[i].reason);
                free(ro.targets[i].version);
        }
        free(ro.targets);
        free(ro.plugin);
        free(ro.version);
        free(ro.digest);
        free(ro.url);
        pthread_mutex_destroy(&ro.lock);
        return r;
}
