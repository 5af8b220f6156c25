/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-worker PLUGIN-ID DAEMON-PID: run one plugin for dc-plugin-hostd
 * in this process (docs/architecture.md, "Plugin processes").  Started by
 * the daemon only, with the control socket on fd 3 and the notice socket on
 * fd 4; it receives the verified, sealed image in WORKER_INIT, puts itself
 * in its sandbox, maps the image, and serves calls until WORKER_STOP or
 * until the daemon goes away.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "descriptor.h"
#include "json-util.h"
#include "plugin-id.h"
#include "strv.h"
#include "worker-proto.h"
#include "worker.h"

#define INIT_MAX (4u * 1024u * 1024u)
#define THREADS_MAX 64u

static Plugin *plugin;
static struct dc_plugin_ctx plugin_ctx;

/* Calls and routine runs waiting for a thread, and those running (for CANCEL). */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static WorkerCall *queue_head, *queue_tail, *running;
static unsigned n_running;
static bool stopping;

static void call_free(WorkerCall *c) {
        free(c->params);
        free(c->result);
        free(c->error);
        free(c);
}

static _Noreturn void fail_ready(const char *reason, const char *message) {
        _cleanup_json_ struct json_object *o = json_object_new_object();
        if (o) {
                json_object_object_add(o, "error", json_object_new_string(message));
                json_object_object_add(o, "reason", json_object_new_string(reason));
                const char *t = json_to_string_compact(o);
                (void) output_send(WORKER_READY, 0, 0, 0, t, strlen(t), NULL, 0, false);
        }
        output_stop();
        _exit(0);
}

static void run_one(WorkerCall *c) {
        if (c->routine >= 0) {
                plugin->routines[c->routine].def.run(&plugin_ctx);
                (void) output_send(WORKER_ROUTINE_DONE, 0, 0, (uint64_t) c->routine, NULL, 0, NULL, 0, false);
                return;
        }
        int r = c->fn->def.handler(&plugin_ctx, (dc_call *) c, c->params);
        if (r >= 0 && !c->error) {
                const char *res = c->result ? c->result : "null";
                (void) output_send(WORKER_REPLY, WORKER_REPLY_RESULT, r, c->id, res, strlen(res), NULL, 0, false);
        } else
                (void) output_send(WORKER_REPLY, 0, r, c->id, c->error, c->error ? strlen(c->error) : 0, NULL, 0,
                                   false);
}

static void *call_thread(void *arg) {
        (void) arg;
        pthread_mutex_lock(&queue_lock);
        for (;;) {
                while (!queue_head && !stopping)
                        pthread_cond_wait(&queue_cond, &queue_lock);
                if (stopping)
                        break;
                WorkerCall *c = queue_head;
                queue_head = c->next;
                if (!queue_head)
                        queue_tail = NULL;
                c->next = running;
                running = c;
                n_running++;
                pthread_mutex_unlock(&queue_lock);

                run_one(c);

                pthread_mutex_lock(&queue_lock);
                for (WorkerCall **i = &running; *i; i = &(*i)->next)
                        if (*i == c) {
                                *i = c->next;
                                break;
                        }
                n_running--;
                pthread_cond_broadcast(&queue_cond);
                call_free(c);
        }
        pthread_mutex_unlock(&queue_lock);
        return NULL;
}

static void enqueue(WorkerCall *c) {
        pthread_mutex_lock(&queue_lock);
        if (queue_tail)
                queue_tail->next = c;
        else
                queue_head = c;
        queue_tail = c;
        pthread_cond_signal(&queue_cond);
        pthread_mutex_unlock(&queue_lock);
}

static void cancel(uint64_t id) {
        pthread_mutex_lock(&queue_lock);
        for (WorkerCall *l[2] = { queue_head, running }, **k = l; k < l + 2; k++)
                for (WorkerCall *c = *k; c; c = c->next)
                        if (c->routine < 0 && c->id == id)
                                __atomic_store_n(&c->cancelled, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&queue_lock);
}

static void on_call(const WorkerFrameHeader *h, char *payload) {
        size_t name_len = strnlen(payload, h->length);
        const PluginFunction *fn = name_len < h->length ? plugin_find_function(plugin, payload) : NULL;
        if (!fn) {
                static const char msg[] = "no such function";
                (void) output_send(WORKER_REPLY, 0, -EBADRQC, h->id, msg, sizeof msg - 1, NULL, 0, false);
                return;
        }
        WorkerCall *c = calloc(1, sizeof *c);
        if (!c || !(c->params = strdup(payload + name_len + 1))) {
                free(c);
                (void) output_send(WORKER_REPLY, 0, -ENOMEM, h->id, NULL, 0, NULL, 0, false);
                return;
        }
        c->id = h->id;
        c->fn = fn;
        c->routine = -1;
        enqueue(c);
}

static void on_routine(const WorkerFrameHeader *h) {
        if (h->id >= plugin->n_routines)
                return;
        WorkerCall *c = calloc(1, sizeof *c);
        if (!c)
                return;
        c->routine = (int) h->id;
        enqueue(c);
}

static char **json_strv(struct json_object *o, const char *key) {
        struct json_object *a;
        char **l = calloc(1, sizeof(char *));
        if (!l || !json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return l;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                struct json_object *x = json_object_array_get_idx(a, i);
                if (json_object_is_type(x, json_type_string) && strv_extend(&l, json_object_get_string(x)) < 0)
                        return strv_free(l);
        }
        return l;
}

static uint64_t json_u64(struct json_object *o, const char *key) {
        struct json_object *x;
        return json_object_object_get_ex(o, key, &x) && json_object_is_type(x, json_type_int) &&
                               json_object_get_int64(x) > 0
                       ? (uint64_t) json_object_get_int64(x)
                       : 0;
}

static int read_settings(WorkerSettings *s) {
        WorkerFrameHeader h;
        _cleanup_free_ char *payload = NULL;
        _cleanup_json_ struct json_object *o = NULL;
        struct json_object *x;
        int fd = -1;

        int r = worker_read_frame(WORKER_FD_CONTROL, INIT_MAX, &h, &payload, &fd);
        if (r < 0)
                return r;
        if (h.type != WORKER_INIT || fd < 0 || json_parse_strict(payload, h.length, &o, NULL) < 0 ||
            !json_object_is_type(o, json_type_object)) {
                if (fd >= 0)
                        close(fd);
                return -EBADMSG;
        }
        *s = (WorkerSettings){ .image_fd = fd };
        s->id = strdup(json_get_string(o, "id"));
        if (json_object_object_get_ex(o, "version", &x) && json_object_is_type(x, json_type_string))
                s->version = strdup(json_object_get_string(x));
        s->config_json = strdup(json_object_object_get_ex(o, "config", &x) && json_object_is_type(x, json_type_string)
                                        ? json_object_get_string(x)
                                        : "{}");
        s->threads = (unsigned) MIN(json_u64(o, "threads"), THREADS_MAX);
        if (s->threads == 0)
                s->threads = 1;
        s->address_space = json_u64(o, "address_space");
        s->cpu_sec = json_u64(o, "cpu_sec");
        s->nofile = json_u64(o, "nofile");
        s->nproc = json_u64(o, "nproc");
        s->read_paths = json_strv(o, "read_paths");
        s->write_paths = json_strv(o, "write_paths");
        s->network = json_object_object_get_ex(o, "network", &x) && json_object_get_boolean(x);
        return s->id && s->config_json && s->read_paths && s->write_paths ? 0 : -ENOMEM;
}

/* Map the image and check its descriptor as the daemon's loader would. */
static int open_plugin(const WorkerSettings *s, Verdict *v) {
        char path[64];
        struct dc_plugin_descriptor desc;

        snprintf(path, sizeof path, "/proc/self/fd/%d", s->image_fd);
        void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!dl)
                return verdict_set(v, -EIO, REASON_LOAD_FAILED, "failed to load plugin: %s", dlerror());
        (void) dlerror();
        const void *sym = dlsym(dl, DC_PLUGIN_DESCRIPTOR_SYMBOL);
        if (!sym)
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_MISSING,
                                   "invalid plugin: missing required fields or interface: missing 'dc_plugin_descriptor' symbol");
        int r = descriptor_read(sym, &desc, v);
        if (r >= 0)
                r = descriptor_check_metadata(&desc, s->id, s->version, v);
        if (r < 0)
                return r;
        plugin = calloc(1, sizeof(Plugin));
        if (!plugin)
                return -ENOMEM;
        plugin->n_ref = 1;
        plugin->dl = dl;
        plugin->desc = desc;
        plugin->thread_safe = desc.flags & DC_PLUGIN_FLAG_THREAD_SAFE;
        plugin->id = strdup(s->id);
        plugin_ctx.plugin = plugin;
        plugin->ctx = &plugin_ctx;
        if (!plugin->id)
                return -ENOMEM;
        return descriptor_check_tables(plugin, v);
}

static void send_ready(const SandboxStatus *st) {
        _cleanup_json_ struct json_object *o = json_object_new_object(), *sb = json_object_new_object();
        struct json_object *d = descriptor_to_json(plugin);
        if (!o || !sb || !d) {
                json_object_put(d);
                fail_ready("out-of-memory", "out of memory");
        }
        json_object_object_add(o, "description", d);
        json_object_object_add(sb, "no_new_privs", json_object_new_boolean(st->no_new_privs));
        json_object_object_add(sb, "rlimits", json_object_new_boolean(st->rlimits));
        json_object_object_add(sb, "seccomp", json_object_new_boolean(st->seccomp));
        json_object_object_add(sb, "landlock_abi", json_object_new_int(st->landlock_abi));
        json_object_object_add(o, "sandbox", json_object_get(sb));
        const char *t = json_to_string_compact(o);
        (void) output_send(WORKER_READY, 0, 0, 0, t, strlen(t), NULL, 0, false);
}

static bool is_socket(int fd) {
        struct stat st;
        return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int main(int argc, char *argv[]) {
        WorkerSettings s;
        SandboxStatus st;
        Verdict v = {};
        char *end;

        if (argc != 3 || !is_socket(WORKER_FD_CONTROL) || !is_socket(WORKER_FD_NOTICE)) {
                fprintf(stderr, "%s is started by dc-plugin-hostd only.\n", argv[0]);
                return 2;
        }
        /* Die with the daemon; it may already be gone. */
        long parent = strtol(argv[2], &end, 10);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || *end || getppid() != (pid_t) parent)
                return 1;
        if (output_start(WORKER_FD_CONTROL) < 0)
                return 1;
        if (read_settings(&s) < 0)
                _exit(1);
        if (sandbox_apply(&s, &st) < 0) {
                char msg[256];
                snprintf(msg, sizeof msg, "the plugin sandbox could not be set up (%s): %s", st.error ? st.error : "?",
                         strerror(errno));
                fail_ready("sandbox-failed", msg);
        }

        /* From here on plugin code may run: its constructors, then init(). */
        int r = open_plugin(&s, &v);
        if (r < 0)
                fail_ready(reason_to_string(v.reason != REASON_NONE ? v.reason : REASON_LOAD_FAILED),
                           v.message ? v.message : strerror(-r));
        worker_api_init(plugin, s.config_json);
        const char *error = NULL;
        r = plugin->desc.init(&plugin_ctx, &worker_api, &error);
        if (r < 0) {
                char msg[1100];
                snprintf(msg, sizeof msg, "plugin initialization failed: %.1024s",
                         error && utf8_is_valid_text(error, 1024) ? error : strerror(-r));
                fail_ready(reason_to_string(REASON_INIT_FAILED), msg);
        }
        send_ready(&st);

        unsigned n_threads = plugin->thread_safe ? s.threads : 1;
        pthread_t threads[THREADS_MAX];
        for (unsigned i = 0; i < n_threads; i++)
                if (pthread_create(&threads[i], NULL, call_thread, NULL) != 0) {
                        n_threads = i;
                        break;
                }
        if (n_threads == 0)
                _exit(1);

        for (;;) {
                WorkerFrameHeader h;
                _cleanup_free_ char *payload = NULL;
                r = worker_read_frame(WORKER_FD_CONTROL, WORKER_MAX_TO_WORKER, &h, &payload, NULL);
                if (r < 0)
                        _exit(0); /* the daemon is gone */
                if (h.type == WORKER_CALL)
                        on_call(&h, payload);
                else if (h.type == WORKER_CANCEL)
                        cancel(h.id);
                else if (h.type == WORKER_ROUTINE)
                        on_routine(&h);
                else if (h.type == WORKER_STOP)
                        break;
        }

        /* Calls still queued were answered by the daemon; running ones finish
         * (the daemon kills us if they do not, in time). */
        pthread_mutex_lock(&queue_lock);
        stopping = true;
        pthread_cond_broadcast(&queue_cond);
        pthread_mutex_unlock(&queue_lock);
        for (unsigned i = 0; i < n_threads; i++)
                pthread_join(threads[i], NULL);
        r = plugin->desc.cleanup(&plugin_ctx);
        (void) output_send(WORKER_STOPPED, 0, r, 0, NULL, 0, NULL, 0, false);
        output_stop();
        _exit(0);
}
