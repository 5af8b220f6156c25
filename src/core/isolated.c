/* SPDX-License-Identifier: MIT */
#include "isolated.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "call.h"
#include "descriptor.h"
#include "escape.h"
#include "json-util.h"
#include "log.h"
#include "names.h"
#include "plugin-text.h"
#include "worker-process.h"

#define RESTART_DELAY_MIN_USEC (100u * 1000u)
#define RESTART_DELAY_MAX_USEC (30u * 1000u * 1000u)

struct Isolated {
        Host *h;
        Plugin *p; /* once the first start succeeded; p owns this */
        WorkerProcess *w;
        int image_fd; /* the sealed image, for restarts */
        char *id, *version, *init_json, *description;
        char digest[DIGEST_STRING_MAX];
        const IsolatedCallbacks *cb;
        void *userdata;
        sd_event_source *init_timer, *restart_timer;
        unsigned restarts;
        bool answered; /* the first start's outcome went to cb->started */
        bool restarting, stopping;
        /* the sandbox the worker reported */
        bool no_new_privs, rlimits, seccomp;
        int landlock_abi;
        unsigned long denied;
        char *last_exit; /* "killed by SIGSEGV" */
};

static const WorkerCallbacks worker_callbacks;

/* ---- the worker's settings ---------------------------------------------------------- */

/* Tasks (threads) of our user: RLIMIT_NPROC counts them all, so a worker
 * may add worker_max_threads to what exists.  Root is not limited. */
static uint64_t user_tasks(void) {
        uid_t me = geteuid();
        uint64_t n = 0;
        DIR *d;
        struct dirent *de;

        if (me == 0 || !(d = opendir("/proc")))
                return 0;
        while ((de = readdir(d))) {
                char path[300], line[256];
                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                snprintf(path, sizeof path, "/proc/%s/status", de->d_name);
                FILE *f = fopen(path, "re");
                if (!f)
                        continue;
                unsigned uid = (unsigned) -1, threads = 0;
                while (fgets(line, sizeof line, f))
                        if (sscanf(line, "Uid: %*u %u", &uid) == 1 || sscanf(line, "Threads: %u", &threads) == 1)
                                continue;
                fclose(f);
                if (uid == me)
                        n += threads;
        }
        closedir(d);
        return n;
}

static char *plugin_data_dir(Host *h, const char *id) {
        char *dir = NULL, *path = NULL;
        if (!h->config->state_dir || asprintf(&dir, "%s/plugin-data", h->config->state_dir) < 0)
                return NULL;
        (void) mkdir(dir, 0700);
        if (asprintf(&path, "%s/%s", dir, id) < 0)
                path = NULL;
        free(dir);
        if (path && mkdir(path, 0700) < 0 && errno != EEXIST) {
                free(path);
                path = NULL;
        }
        return path;
}

static char *init_settings(Host *h, const Candidate *c, const char *config_json, bool network) {
        const HostConfig *cfg = h->config;
        _cleanup_json_ struct json_object *o = json_object_new_object();
        struct json_object *rd = json_object_new_array(), *wr = json_object_new_array();
        _cleanup_free_ char *folder = NULL, *data = plugin_data_dir(h, c->id);

        if (!o || !rd || !wr) {
                json_object_put(rd);
                json_object_put(wr);
                return NULL;
        }
        if (c->layout == LAYOUT_FOLDER && asprintf(&folder, "%s/%s", c->root, c->id) >= 0)
                json_object_array_add(rd, json_object_new_string(folder));
        if (data)
                json_object_array_add(wr, json_object_new_string(data));
        uint64_t tasks = user_tasks();
        json_object_object_add(o, "id", json_object_new_string(c->id));
        const char *version = candidate_expected_version(c);
        json_object_object_add(o, "version", version ? json_object_new_string(version) : NULL);
        json_object_object_add(o, "config", json_object_new_string(config_json));
        json_object_object_add(o, "threads", json_object_new_int64(cfg->worker_threads));
        json_object_object_add(o, "address_space", json_object_new_int64((int64_t) cfg->worker_memory_max));
        json_object_object_add(o, "cpu_sec", json_object_new_int64(cfg->worker_cpu_sec));
        json_object_object_add(o, "nofile", json_object_new_int64(cfg->worker_max_files));
        json_object_object_add(o, "nproc", json_object_new_int64(tasks ? (int64_t) (tasks + cfg->worker_max_threads) : 0));
        json_object_object_add(o, "read_paths", rd);
        json_object_object_add(o, "write_paths", wr);
        json_object_object_add(o, "network", json_object_new_boolean(network));
        return strdup(json_to_string_compact(o));
}

/* The outcome of the first start, exactly once. */
static void answer_start(Isolated *i, Plugin *p, int r, const Verdict *v) {
        if (i->answered)
                return;
        i->answered = true;
        i->cb->started(i->h, p, r, v, i->userdata);
}

/* ---- starting a worker ------------------------------------------------------------- */

static int on_init_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Isolated *i = userdata;
        i->init_timer = sd_event_source_disable_unref(i->init_timer);
        worker_process_kill(i->w, "init() did not return in time");
        return 0;
}

static int spawn_worker(Isolated *i) {
        int r = worker_process_spawn(i->h->event, i->h->config->worker_binary, i->id, i->image_fd, i->init_json,
                                     &worker_callbacks, i, &i->w);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(i->h->event, &i->init_timer, CLOCK_MONOTONIC, i->h->config->init_timeout_usec, 0,
                                       on_init_timeout, i);
        if (r < 0)
                i->w = worker_process_free(i->w);
        return r;
}

/* The worker's description, checked again here, becomes the daemon's Plugin. */
static int make_plugin(Isolated *i, struct json_object *description, Plugin **ret, Verdict *v) {
        Plugin *p = calloc(1, sizeof(Plugin));
        if (!p)
                return -ENOMEM;
        p->n_ref = 1;
        p->host = i->h;
        p->id = strdup(i->id);
        p->ctx = calloc(1, sizeof(struct dc_plugin_ctx));
        p->output = plugin_output_new(i->id, i->h->config);
        if (!p->id || !p->ctx || !p->output) {
                plugin_unref(p);
                return -ENOMEM;
        }
        p->ctx->plugin = p;
        memcpy(p->digest, i->digest, sizeof p->digest);
        int r = descriptor_from_json(p, description, i->id, i->version, v);
        if (r < 0) {
                plugin_unref(p);
                return r;
        }
        *ret = p;
        return 0;
}

static void read_sandbox(Isolated *i, struct json_object *ready) {
        struct json_object *sb, *x;
        if (!json_object_object_get_ex(ready, "sandbox", &sb) || !json_object_is_type(sb, json_type_object))
                return;
        i->no_new_privs = json_object_object_get_ex(sb, "no_new_privs", &x) && json_object_get_boolean(x);
        i->rlimits = json_object_object_get_ex(sb, "rlimits", &x) && json_object_get_boolean(x);
        i->seccomp = json_object_object_get_ex(sb, "seccomp", &x) && json_object_get_boolean(x);
        i->landlock_abi = json_object_object_get_ex(sb, "landlock_abi", &x) && json_object_is_type(x, json_type_int)
                                  ? (int) json_object_get_int(x)
                                  : 0;
}

static void on_ready(WorkerProcess *w, struct json_object *ready, void *userdata) {
        Isolated *i = userdata;
        struct json_object *d, *err;
        Verdict v = {};
        int r;

        i->init_timer = sd_event_source_disable_unref(i->init_timer);
        if (json_object_object_get_ex(ready, "error", &err)) {
                /* init() refused, or the image did not map: the worker exits by itself */
                const char *code = json_get_string(ready, "reason");
                Reason reason = reason_from_string(code);
                _cleanup_free_ char *msg = escape_untrusted(json_object_get_string(err), 1024);
                (void) verdict_set(&v, -EIO, reason != REASON_NONE ? reason : REASON_LOAD_FAILED, "%s",
                                   msg ? msg : "the plugin's worker failed");
                if (!i->p)
                        answer_start(i, NULL, -EIO, &v);
                else
                        log_struct(LOG_ERR, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", i->id)),
                                   "Plugin %s: its restarted worker failed: %s", i->id, v.message);
                verdict_clear(&v);
                worker_process_kill(w, NULL);
                return;
        }
        read_sandbox(i, ready);
        if (!json_object_object_get_ex(ready, "description", &d)) {
                worker_process_kill(w, "it sent no description");
                return;
        }
        const char *text = json_to_string_compact(d);
        if (i->p) {
                /* A restart of the same bytes must describe the same plugin. */
                if (!streq(text, i->description)) {
                        worker_process_kill(w, "its restarted worker described another plugin");
                        return;
                }
                i->restarting = false;
                log_struct(LOG_NOTICE, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", i->id)),
                           "Plugin %s: worker restarted (pid %d, restart %u)", i->id, (int) worker_process_pid(w),
                           i->restarts);
                return;
        }
        Plugin *p = NULL;
        r = make_plugin(i, d, &p, &v);
        if (r >= 0 && !(i->description = strdup(text)))
                r = -ENOMEM;
        if (r < 0) {
                if (p)
                        plugin_unref(p);
                if (r == -ENOMEM && v.reason == REASON_NONE)
                        (void) verdict_set(&v, r, REASON_OUT_OF_MEMORY, "out of memory");
                answer_start(i, NULL, r, &v);
                verdict_clear(&v);
                worker_process_kill(w, "its description was refused");
                return;
        }
        i->p = p;
        p->isolated = i;
        p->isolated_free = isolated_free;
        answer_start(i, p, 0, NULL);
}

static void on_event(WorkerProcess *w, const char *name, const char *payload, void *userdata) {
        Isolated *i = userdata;
        if (i->p)
                (void) plugin_output_event(i->p, name, payload);
}

static void on_log(WorkerProcess *w, int priority, const char *line, void *userdata) {
        Isolated *i = userdata;
        if (i->p)
                plugin_output_log(i->p, priority, line);
        else
                log_struct(LOG_DEBUG, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", i->id)), "Plugin %s (starting): %s", i->id,
                           line); /* escaped by the log sink */
}

static void on_routine_done(WorkerProcess *w, unsigned index, void *userdata) {
        Isolated *i = userdata;
        if (i->p && index < i->p->n_routines && i->p->routines[index].busy)
                i->cb->routine_done(i->p, &i->p->routines[index]);
}

static void on_denied(WorkerProcess *w, int nr, void *userdata) {
        Isolated *i = userdata;
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        i->denied++;
        log_ratelimit_full(LOG_WARNING, "Plugin %s: the sandbox refused the system call %s() (%lu so far)", i->id,
                           name ? name : "?", i->denied);
        free(name);
}

/* ---- crashes and restarts ------------------------------------------------------------- */

static int on_restart(sd_event_source *s, uint64_t usec, void *userdata) {
        Isolated *i = userdata;
        i->restart_timer = sd_event_source_disable_unref(i->restart_timer);
        i->restarts++;
        int r = spawn_worker(i);
        if (r < 0) {
                log_struct(LOG_ERR, r, NULL, LOG_FIELDS(LF("PLUGIN_ID", i->id)),
                           "Plugin %s: cannot start its worker again: %s", i->id, strerror(-r));
                i->cb->quarantine(i->h, i->p, "its worker process could not be started again");
        }
        return 0;
}

static void describe_exit(const WorkerExit *how, char *buf, size_t n) {
        if (how->code == CLD_EXITED)
                snprintf(buf, n, "exited with status %d", how->status);
        else
                snprintf(buf, n, "killed by SIG%s", sigabbrev_np(how->status) ? sigabbrev_np(how->status) : "?");
}

static void release_routines(Isolated *i) {
        for (size_t k = 0; i->p && k < i->p->n_routines; k++)
                if (i->p->routines[k].busy)
                        i->cb->routine_done(i->p, &i->p->routines[k]);
}

static void on_exited(WorkerProcess *w, const WorkerExit *how, void *userdata) {
        Isolated *i = userdata;
        char what[64], secs[32];

        i->init_timer = sd_event_source_disable_unref(i->init_timer);
        i->w = worker_process_free(i->w);
        describe_exit(how, what, sizeof what);
        release_routines(i);
        if (i->stopping) {
                i->cb->stopped(i->h, i->p);
                return;
        }
        if (!i->p) {
                /* The first start failed: say so (unless said already), and
                 * this object is nobody's. */
                Verdict v = {};
                (void) verdict_set(&v, -EIO, how->cause && strstr(how->cause, "in time") ? REASON_INIT_TIMEOUT
                                                                                          : REASON_INIT_FAILED,
                                   "the plugin's worker process %s%s%s during initialization", what,
                                   how->cause ? ": " : "", how->cause ? how->cause : "");
                answer_start(i, NULL, -EIO, &v);
                verdict_clear(&v);
                isolated_free(i);
                return;
        }

        /* A crash (or a kill for a hang) of a running plugin. */
        PluginRecord *rec = registry_find(&i->h->registry, i->id);
        free(i->last_exit);
        i->last_exit = strdup(what);
        bool hung = how->cause && strstr(how->cause, "timeout");
        log_struct(LOG_ERR, 0, hung ? DC_MESSAGE_PLUGIN_HUNG : DC_MESSAGE_PLUGIN_CRASHED,
                   LOG_FIELDS(LF("PLUGIN_ID", i->id), LF("DC_WORKER_EXIT", what), LF("DC_CAUSE", how->cause)),
                   "Plugin %s: its worker process %s%s%s", i->id, what, how->cause ? ": " : "",
                   how->cause ? how->cause : "");
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        const HostConfig *c = i->h->config;
        if (rec && crash_history_add(&rec->crashes, now, c->crash_limit, c->crash_interval_usec)) {
                _cleanup_free_ char *why = NULL;
                snprintf(secs, sizeof secs, "%.3g", (double) c->crash_interval_usec / 1e6);
                if (asprintf(&why, "crashed %u times within %s s; last: worker %s%s%s", c->crash_limit, secs, what,
                             how->cause ? ": " : "", how->cause ? how->cause : "") < 0)
                        why = NULL;
                i->cb->quarantine(i->h, i->p, why ? why : "crashed too often");
                return;
        }
        unsigned recent = rec ? crash_history_recent(&rec->crashes, now, c->crash_interval_usec) : 1;
        uint64_t delay = RESTART_DELAY_MIN_USEC << MIN(recent > 0 ? recent - 1 : 0, 16u);
        i->restarting = true;
        if (sd_event_add_time_relative(i->h->event, &i->restart_timer, CLOCK_MONOTONIC,
                                       MIN(delay, (uint64_t) RESTART_DELAY_MAX_USEC), 0, on_restart, i) < 0)
                i->cb->quarantine(i->h, i->p, "its worker process could not be started again");
}

static const WorkerCallbacks worker_callbacks = {
        .ready = on_ready,
        .event = on_event,
        .log = on_log,
        .routine_done = on_routine_done,
        .denied = on_denied,
        .exited = on_exited,
};

/* ---- the public part ----------------------------------------------------------------- */

int isolated_start(Host *h, Candidate *c, bool network, const IsolatedCallbacks *cb, void *userdata, Verdict *v) {
        _cleanup_free_ char *config_json = NULL;
        LoaderContext lc = {
                .host = h,
                .config = h->config,
                .plugin_config_dir = h->config->plugin_config_dir,
                .config_rule = { .kind = ROOT_READONLY, .self_uid = h->config->self_uid,
                                 .trusted_uid = h->config->trusted_uid },
        };
        int r = plugin_config_read(&lc, c->id, &config_json, v);
        if (r < 0)
                return r;
        if (access(h->config->worker_binary, X_OK) < 0)
                return verdict_set(v, -errno, REASON_ISOLATION_UNAVAILABLE,
                                   "failed to load plugin: it must run in a worker process, and %s cannot be run: %m",
                                   h->config->worker_binary);

        Isolated *i = calloc(1, sizeof *i);
        if (!i)
                return -ENOMEM;
        i->h = h;
        i->cb = cb;
        i->userdata = userdata;
        i->image_fd = -1;
        i->id = strdup(c->id);
        const char *version = candidate_expected_version(c);
        i->version = version ? strdup(version) : NULL;
        i->init_json = init_settings(h, c, config_json, network);
        memcpy(i->digest, c->digest, sizeof i->digest);
        if (!i->id || (version && !i->version) || !i->init_json) {
                isolated_free(i);
                return -ENOMEM;
        }
        i->image_fd = TAKE_FD(c->image.fd);
        plugin_image_unmap(&c->image);
        r = spawn_worker(i);
        if (r < 0) {
                isolated_free(i);
                return verdict_set(v, r, REASON_ISOLATION_UNAVAILABLE, "failed to start the plugin's worker process: %s",
                                   strerror(-r));
        }
        return 0;
}

void isolated_free(Isolated *i) {
        if (!i)
                return;
        i->cb = &(const IsolatedCallbacks){};
        i->w = worker_process_free(i->w);
        i->init_timer = sd_event_source_disable_unref(i->init_timer);
        i->restart_timer = sd_event_source_disable_unref(i->restart_timer);
        safe_close(i->image_fd);
        free(i->id);
        free(i->version);
        free(i->init_json);
        free(i->description);
        free(i->last_exit);
        free(i);
}

typedef struct IsolatedCall {
        Host *h;
        Plugin *p;
        host_invoke_cb cb;
        void *userdata;
} IsolatedCall;

static void on_reply(int error, int handler_r, const char *result, const char *message, void *userdata) {
        IsolatedCall *c = userdata;
        _cleanup_free_ char *safe = NULL;

        if (error == 0 && plugin_json_parse(result, false, NULL) < 0) {
                error = HOST_ERR_HANDLER_FAILED;
                message = "the plugin returned invalid JSON";
        } else if (error == HOST_ERR_HANDLER_FAILED) {
                /* Text from the plugin: escaped and bounded, as in process. */
                const char *e = handler_r < 0 ? strerrordesc_np(-handler_r) : NULL;
                safe = message ? escape_untrusted(message, PLUGIN_LOG_LINE_MAX) : NULL;
                message = safe ? safe : e ? e : "plugin call failed";
        }
        c->cb(c->h, error, error == 0 ? result : NULL, error == 0 ? NULL : message, c->userdata);
        plugin_unref(c->p);
        free(c);
}

int isolated_call(Plugin *p, const PluginFunction *fn, const char *params, uint64_t timeout_usec,
                  host_invoke_cb cb, void *userdata, char **error_message) {
        Isolated *i = p->isolated;
        assert(i);
        if (!i->w || i->restarting || !worker_process_alive(i->w))
                return call_error(error_message, HOST_ERR_CRASHED, "plugin %s is restarting after its worker process %s",
                                  p->id, i->last_exit ? i->last_exit : "ended");
        if (worker_process_pending(i->w) >= i->h->config->max_calls_per_plugin)
                return call_error(error_message, HOST_ERR_BUSY, "too many calls of plugin %s in progress (at most %u)",
                                  p->id, i->h->config->max_calls_per_plugin);
        IsolatedCall *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        *c = (IsolatedCall){ .h = i->h, .p = plugin_ref(p), .cb = cb, .userdata = userdata };
        int r = worker_process_call(i->w, fn->def.name, params, timeout_usec, on_reply, c);
        if (r < 0) {
                plugin_unref(c->p);
                free(c);
                return call_error(error_message, r, "cannot pass the call to plugin %s's worker: %s", p->id,
                                  strerror(-r));
        }
        return 0;
}

int isolated_routine(Plugin *p, RoutineTimer *t) {
        Isolated *i = p->isolated;
        if (!i->w || i->restarting)
                return -ESRCH;
        return worker_process_routine(i->w, (unsigned) (t - p->routines));
}

void isolated_stop(Plugin *p) {
        Isolated *i = p->isolated;
        i->stopping = true;
        i->restart_timer = sd_event_source_disable_unref(i->restart_timer);
        if (!i->w || worker_process_stop(i->w, i->h->config->stop_timeout_usec) < 0) {
                /* no worker (it crashed and was waiting for its restart) */
                i->w = worker_process_free(i->w);
                i->cb->stopped(i->h, p);
        }
}

struct json_object *isolated_describe(const Plugin *p) {
        const Isolated *i = p->isolated;
        struct json_object *o = json_object_new_object();
        if (!o || !i)
                return o;
        json_object_object_add(o, "pid", i->w ? json_object_new_int(worker_process_pid(i->w)) : NULL);
        json_object_object_add(o, "restarts", json_object_new_int64(i->restarts));
        if (i->w)
                json_object_object_add(o, "start_ms", json_object_new_double((double) worker_process_start_usec(i->w) / 1e3));
        json_object_object_add(o, "no_new_privs", json_object_new_boolean(i->no_new_privs));
        json_object_object_add(o, "rlimits", json_object_new_boolean(i->rlimits));
        json_object_object_add(o, "seccomp", json_object_new_boolean(i->seccomp));
        json_object_object_add(o, "landlock_abi", json_object_new_int(i->landlock_abi));
        json_object_object_add(o, "denied_syscalls", json_object_new_int64((int64_t) i->denied));
        if (i->last_exit)
                json_object_object_add(o, "last_exit", json_object_new_string(i->last_exit));
        return o;
}
