/* SPDX-License-Identifier: MIT */
#include "worker-process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "plugin-id.h"
#include "worker-proto.h"

/* After a call's timeout the worker may still return it (a handler that
 * polls cancelled()); past this it is stuck and killed. */
#define CANCEL_GRACE_USEC (1000u * 1000u)
/* Frames handled per wake-up, so that one chatty worker cannot hold the loop. */
#define FRAMES_PER_WAKE 64
/* Calls and routines queued towards one worker (bytes), beyond which calls are refused. */
#define OUTPUT_MAX (64u * 1024u * 1024u)
#define READ_CHUNK (64u * 1024u)

typedef struct PendingCall {
        struct PendingCall *next;
        uint64_t id;
        worker_reply_fn cb;
        void *userdata;
        sd_event_source *timeout;
        uint64_t timeout_usec;
        bool answered; /* timed out: the caller has its answer */
} PendingCall;

typedef struct OutBuf {
        struct OutBuf *next;
        size_t len, done;
        int fd; /* passed with the first byte (SCM_RIGHTS), then closed; -1: none */
        char data[];
} OutBuf;

struct WorkerProcess {
        sd_event *event;
        char *id;
        pid_t pid;
        int control, notice;
        sd_event_source *control_source, *notice_source, *child_source, *kill_timer;
        const WorkerCallbacks *cb;
        void *userdata;

        /* input: a header, then its payload */
        WorkerFrameHeader hdr;
        size_t hdr_have;
        char *payload;
        size_t payload_have;

        OutBuf *out_head, *out_tail;
        size_t out_bytes;

        PendingCall *pending;
        unsigned n_pending;
        uint64_t next_id;
        uint64_t spawned_usec, start_usec; /* CLOCK_MONOTONIC; start: spawn → WORKER_READY */
        bool ready, stopping, dead;
        const char *cause;
};

/* ---- spawning ------------------------------------------------------------------- */

static int pidfd_open_(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static int spawn(const char *binary, const char *id, int control_child, int notice_child, pid_t *ret) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        char parent[32];
        int r;

        snprintf(parent, sizeof parent, "%d", (int) getpid());
        char *const argv[] = { (char *) binary, (char *) id, parent, NULL };
        char *const envp[] = { NULL }; /* nothing of the daemon's environment */

        sigemptyset(&none);
        sigfillset(&all);
        if ((r = posix_spawn_file_actions_init(&fa)) != 0)
                return -r;
        if ((r = posix_spawnattr_init(&attr)) != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        /* Only the two sockets cross: fds 3 and 4, everything else closed. */
        r = posix_spawn_file_actions_adddup2(&fa, control_child, WORKER_FD_CONTROL);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, notice_child, WORKER_FD_NOTICE);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_FD_NOTICE + 1);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
        if (r == 0)
                r = posix_spawn(ret, binary, &fa, &attr, argv, envp);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        return -r;
}

/* ---- answering calls -------------------------------------------------------------- */

static PendingCall *pending_take(WorkerProcess *w, uint64_t id) {
        for (PendingCall **i = &w->pending; *i; i = &(*i)->next)
                if ((*i)->id == id) {
                        PendingCall *c = *i;
                        *i = c->next;
                        w->n_pending--;
                        return c;
                }
        return NULL;
}

static bool pending_timed_out(const WorkerProcess *w) {
        for (const PendingCall *c = w->pending; c; c = c->next)
                if (c->answered)
                        return true;
        return false;
}

static void pending_finish(PendingCall *c, int error, int handler_r, const char *result, const char *message) {
        c->timeout = sd_event_source_disable_unref(c->timeout);
        if (!c->answered)
                c->cb(error, handler_r, result, message, c->userdata);
        free(c);
}

static void fail_pending(WorkerProcess *w, const char *message) {
        while (w->pending) {
                PendingCall *c = w->pending;
                w->pending = c->next;
                w->n_pending--;
                pending_finish(c, HOST_ERR_CRASHED, 0, NULL, message);
        }
}

/* ---- ending ------------------------------------------------------------------------- */

void worker_process_kill(WorkerProcess *w, const char *cause) {
        if (w->dead)
                return;
        if (!w->cause)
                w->cause = cause;
        /* The exit is reported by the child source (on_child). */
        (void) sd_event_source_send_child_signal(w->child_source, SIGKILL, NULL, 0);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        WorkerProcess *w = userdata;
        WorkerExit how = { .code = si->si_code, .status = si->si_status, .cause = w->cause };
        char message[160];

        w->dead = true;
        w->control_source = sd_event_source_disable_unref(w->control_source);
        w->notice_source = sd_event_source_disable_unref(w->notice_source);
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        if (si->si_code == CLD_EXITED)
                snprintf(message, sizeof message, "the plugin's worker process exited with status %d%s%s",
                         si->si_status, w->cause ? ": " : "", w->cause ? w->cause : "");
        else
                snprintf(message, sizeof message, "the plugin's worker process was killed by signal %s%s%s",
                         sigabbrev_np(si->si_status) ? sigabbrev_np(si->si_status) : "?", w->cause ? ": " : "",
                         w->cause ? w->cause : "");
        fail_pending(w, message);
        if (w->cb->exited)
                w->cb->exited(w, &how, w->userdata); /* may free w */
        return 0;
}

/* ---- output ------------------------------------------------------------------------- */

static int flush_output(WorkerProcess *w) {
        while (w->out_head) {
                OutBuf *b = w->out_head;
                struct iovec iov = { b->data + b->done, b->len - b->done };
                char cbuf[CMSG_SPACE(sizeof(int))] = {};
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                if (b->fd >= 0) {
                        mh.msg_control = cbuf;
                        mh.msg_controllen = sizeof cbuf;
                        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(c), &b->fd, sizeof(int));
                }
                ssize_t k = sendmsg(w->control, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                b->fd = safe_close(b->fd);
                b->done += (size_t) k;
                if (b->done < b->len)
                        continue;
                w->out_head = b->next;
                if (!w->out_head)
                        w->out_tail = NULL;
                w->out_bytes -= b->len;
                free(b);
        }
        uint32_t events = EPOLLIN | (w->out_head ? EPOLLOUT : 0);
        return sd_event_source_set_io_events(w->control_source, events);
}

static int send_frame(WorkerProcess *w, uint16_t type, uint64_t id, const char *a, size_t a_len, const char *b,
                      size_t b_len, int fd) {
        if (w->dead)
                return -ESRCH;
        OutBuf *o = malloc(sizeof *o + sizeof(WorkerFrameHeader) + a_len + b_len);
        if (!o)
                return -ENOMEM;
        WorkerFrameHeader h = { .length = (uint32_t) (a_len + b_len), .type = type, .id = id };
        *o = (OutBuf){ .len = sizeof h + a_len + b_len, .fd = -1 };
        memcpy(o->data, &h, sizeof h);
        if (a_len)
                memcpy(o->data + sizeof h, a, a_len);
        if (b_len)
                memcpy(o->data + sizeof h + a_len, b, b_len);
        if (fd >= 0 && (o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
                free(o);
                return -errno;
        }
        if (w->out_tail)
                w->out_tail->next = o;
        else
                w->out_head = o;
        w->out_tail = o;
        w->out_bytes += o->len;
        int r = flush_output(w);
        if (r < 0) {
                log_debug("Worker of %s: cannot write to its control socket: %s", w->id, strerror(-r));
                worker_process_kill(w, "its control socket failed");
        }
        return 0;
}

/* ---- input ----------------------------------------------------------------------- */

static bool priority_ok(int32_t p) {
        return p >= 0 && p <= 7;
}

/* One frame from the worker.  false: the worker broke the protocol. */
static bool handle_frame(WorkerProcess *w, const WorkerFrameHeader *h, char *payload) {
        switch (h->type) {
        case WORKER_READY: {
                _cleanup_json_ struct json_object *o = NULL;
                if (w->ready || json_parse_strict(payload, h->length, &o, NULL) < 0 ||
                    !json_object_is_type(o, json_type_object))
                        return false;
                w->ready = true;
                (void) sd_event_now(w->event, CLOCK_MONOTONIC, &w->start_usec);
                w->start_usec -= MIN(w->start_usec, w->spawned_usec);
                if (w->cb->ready)
                        w->cb->ready(w, o, w->userdata);
                return true;
        }
        case WORKER_REPLY: {
                if (!w->ready || h->id >= w->next_id)
                        return false;
                PendingCall *c = pending_take(w, h->id);
                if (!c)
                        return true; /* timed out and answered already */
                if (h->flags & WORKER_REPLY_RESULT)
                        pending_finish(c, 0, h->arg, payload, NULL);
                else
                        pending_finish(c, HOST_ERR_HANDLER_FAILED, h->arg, NULL, h->length ? payload : NULL);
                /* Every timed-out call came back within its grace: the
                 * plugin honoured cancelled(), its worker may live on. */
                if (w->kill_timer && !pending_timed_out(w))
                        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
                return true;
        }
        case WORKER_EVENT: {
                size_t n = strnlen(payload, h->length);
                if (!w->ready || n == h->length || !plugin_symbol_name_is_valid(payload))
                        return false;
                if (w->cb->event)
                        w->cb->event(w, payload, payload + n + 1, w->userdata);
                return true;
        }
        case WORKER_LOG:
                if (!priority_ok(h->arg))
                        return false;
                if (w->cb->log)
                        w->cb->log(w, h->arg, payload, w->userdata);
                return true;
        case WORKER_ROUTINE_DONE:
                if (!w->ready)
                        return false;
                if (w->cb->routine_done)
                        w->cb->routine_done(w, (unsigned) MIN(h->id, (uint64_t) UINT32_MAX), w->userdata);
                return true;
        case WORKER_STOPPED:
                return w->stopping;
        default:
                return false;
        }
}

static int on_control(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        WorkerProcess *w = userdata;

        if (revents & EPOLLOUT) {
                int r = flush_output(w);
                if (r < 0) {
                        log_debug("Worker of %s: cannot write to its control socket: %s", w->id, strerror(-r));
                        worker_process_kill(w, "its control socket failed");
                        return 0;
                }
        }
        for (unsigned frames = 0; frames < FRAMES_PER_WAKE && !w->dead;) {
                ssize_t k;
                if (w->hdr_have < sizeof w->hdr) {
                        k = recv(fd, (char *) &w->hdr + w->hdr_have, sizeof w->hdr - w->hdr_have, MSG_DONTWAIT);
                        if (k > 0) {
                                w->hdr_have += (size_t) k;
                                if (w->hdr_have < sizeof w->hdr)
                                        continue;
                                if (w->hdr.length > WORKER_MAX_FROM_WORKER) {
                                        worker_process_kill(w, "it sent an oversized frame");
                                        return 0;
                                }
                                w->payload = malloc((size_t) w->hdr.length + 1);
                                if (!w->payload) {
                                        worker_process_kill(w, "out of memory");
                                        return 0;
                                }
                                w->payload_have = 0;
                                continue;
                        }
                } else {
                        size_t want = MIN((size_t) w->hdr.length - w->payload_have, (size_t) READ_CHUNK);
                        k = want ? recv(fd, w->payload + w->payload_have, want, MSG_DONTWAIT) : 0;
                        if (want == 0 || k > 0) {
                                w->payload_have += (size_t) MAX(k, (ssize_t) 0);
                                if (w->payload_have < w->hdr.length)
                                        continue;
                                w->payload[w->hdr.length] = 0;
                                WorkerFrameHeader h = w->hdr;
                                _cleanup_free_ char *p = TAKE_PTR(w->payload);
                                w->hdr_have = 0;
                                frames++;
                                if (!handle_frame(w, &h, p)) {
                                        worker_process_kill(w, "it broke the worker protocol");
                                        return 0;
                                }
                                continue;
                        }
                }
                if (k == 0) {
                        /* Closed its end: nothing more can come.  A worker that
                         * lives on without it is of no use. */
                        worker_process_kill(w, w->stopping ? NULL : "it closed its control socket");
                        return 0;
                }
                if (errno == EAGAIN || errno == EINTR)
                        break;
                log_debug("Worker of %s: cannot read its control socket: %m", w->id);
                worker_process_kill(w, "its control socket failed");
                return 0;
        }
        return 0;
}

static int on_notice(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        WorkerProcess *w = userdata;
        for (unsigned i = 0; i < FRAMES_PER_WAKE; i++) {
                WorkerNotice n;
                ssize_t k = recv(fd, &n, sizeof n, MSG_DONTWAIT);
                if (k != (ssize_t) sizeof n) {
                        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
                                w->notice_source = sd_event_source_disable_unref(w->notice_source);
                        break;
                }
                if (w->cb->denied)
                        w->cb->denied(w, n.syscall_nr, w->userdata);
        }
        return 0;
}

/* ---- the public part ------------------------------------------------------------- */

int worker_process_spawn(sd_event *e, const char *binary, const char *id, int image_fd, const char *init_json,
                         const WorkerCallbacks *cb, void *userdata, WorkerProcess **ret) {
        int control[2] = { -1, -1 }, notice[2] = { -1, -1 };
        int r;

        assert(e && binary && id && image_fd >= 0 && init_json && cb && ret);
        WorkerProcess *w = calloc(1, sizeof *w);
        if (!w || !(w->id = strdup(id))) {
                free(w);
                return -ENOMEM;
        }
        w->event = sd_event_ref(e);
        w->control = w->notice = -1;
        w->cb = cb;
        w->userdata = userdata;
        w->next_id = 1;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) < 0 ||
            socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notice) < 0) {
                r = -errno;
                goto fail;
        }
        /* Above the target numbers, so that placing one cannot clobber the other. */
        int cc = fcntl(control[1], F_DUPFD_CLOEXEC, WORKER_FD_NOTICE + 1),
            nc = fcntl(notice[1], F_DUPFD_CLOEXEC, WORKER_FD_NOTICE + 1);
        safe_close(control[1]);
        safe_close(notice[1]);
        control[1] = cc;
        notice[1] = nc;
        if (cc < 0 || nc < 0) {
                r = -errno;
                goto fail;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        w->spawned_usec = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        r = spawn(binary, id, cc, nc, &w->pid);
        control[1] = safe_close(control[1]);
        notice[1] = safe_close(notice[1]);
        if (r < 0)
                goto fail;
        w->control = TAKE_FD(control[0]);
        w->notice = TAKE_FD(notice[0]);

        int pidfd = pidfd_open_(w->pid);
        if (pidfd >= 0) {
                r = sd_event_add_child_pidfd(e, &w->child_source, pidfd, WEXITED, on_child, w);
                if (r < 0)
                        safe_close(pidfd);
                else
                        (void) sd_event_source_set_child_pidfd_own(w->child_source, true);
        } else
                /* no pidfd_open() (e.g. under valgrind): the SIGCHLD-based source */
                r = sd_event_add_child(e, &w->child_source, w->pid, WEXITED, on_child, w);
        if (r < 0) {
                (void) kill(w->pid, SIGKILL);
                (void) waitpid(w->pid, NULL, 0);
                goto fail;
        }
        /* Ours: killed (SIGKILL) and reaped with the source. */
        (void) sd_event_source_set_child_process_own(w->child_source, true);
        r = sd_event_add_io(e, &w->control_source, w->control, EPOLLIN, on_control, w);
        if (r >= 0)
                r = sd_event_add_io(e, &w->notice_source, w->notice, EPOLLIN, on_notice, w);
        if (r >= 0)
                r = send_frame(w, WORKER_INIT, 0, init_json, strlen(init_json), NULL, 0, image_fd);
        if (r < 0)
                goto fail;
        *ret = w;
        return 0;
fail:
        safe_close(control[0]);
        safe_close(control[1]);
        safe_close(notice[0]);
        safe_close(notice[1]);
        w->cb = &(const WorkerCallbacks){};
        worker_process_free(w);
        return r;
}

WorkerProcess *worker_process_free(WorkerProcess *w) {
        if (!w)
                return NULL;
        fail_pending(w, "the plugin's worker process was stopped");
        /* Owned by the source: killed (SIGKILL) and reaped here. */
        w->child_source = sd_event_source_disable_unref(w->child_source);
        w->control_source = sd_event_source_disable_unref(w->control_source);
        w->notice_source = sd_event_source_disable_unref(w->notice_source);
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        safe_close(w->control);
        safe_close(w->notice);
        while (w->out_head) {
                OutBuf *b = w->out_head;
                w->out_head = b->next;
                safe_close(b->fd);
                free(b);
        }
        free(w->payload);
        sd_event_unref(w->event);
        free(w->id);
        free(w);
        return NULL;
}

typedef struct TimeoutCtx {
        WorkerProcess *w;
        PendingCall *c;
} TimeoutCtx;

static int on_grace_over(sd_event_source *s, uint64_t usec, void *userdata) {
        WorkerProcess *w = userdata;
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        worker_process_kill(w, "a call did not return after its timeout");
        return 0;
}

static int on_pending_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        TimeoutCtx *t = userdata;
        WorkerProcess *w = t->w;
        PendingCall *c = t->c;
        char msg[128];

        c->timeout = sd_event_source_disable_unref(c->timeout);
        c->answered = true;
        snprintf(msg, sizeof msg, "plugin call timed out after %.3g s", (double) c->timeout_usec / 1e6);
        c->cb(HOST_ERR_TIMEOUT, 0, NULL, msg, c->userdata);
        (void) send_frame(w, WORKER_CANCEL, c->id, NULL, 0, NULL, 0, -1);
        /* A handler that never returns would hold the worker forever. */
        if (!w->kill_timer)
                (void) sd_event_add_time_relative(w->event, &w->kill_timer, CLOCK_MONOTONIC, CANCEL_GRACE_USEC, 0,
                                                  on_grace_over, w);
        return 0;
}

int worker_process_call(WorkerProcess *w, const char *function, const char *params, uint64_t timeout_usec,
                        worker_reply_fn cb, void *userdata) {
        if (w->dead || w->stopping || !w->ready)
                return -ESRCH;
        if (w->out_bytes > OUTPUT_MAX)
                return HOST_ERR_BUSY;
        PendingCall *c = calloc(1, sizeof *c + sizeof(TimeoutCtx));
        if (!c)
                return -ENOMEM;
        TimeoutCtx *t = (TimeoutCtx *) (c + 1);
        *c = (PendingCall){ .id = w->next_id++, .cb = cb, .userdata = userdata, .timeout_usec = timeout_usec };
        *t = (TimeoutCtx){ w, c };
        int r = sd_event_add_time_relative(w->event, &c->timeout, CLOCK_MONOTONIC, timeout_usec,
                                           MAX(timeout_usec / 100, (uint64_t) 1000), on_pending_timeout, t);
        if (r >= 0)
                r = send_frame(w, WORKER_CALL, c->id, function, strlen(function) + 1, params, strlen(params), -1);
        if (r < 0) {
                sd_event_source_disable_unref(c->timeout);
                free(c);
                return r;
        }
        c->next = w->pending;
        w->pending = c;
        w->n_pending++;
        return 0;
}

int worker_process_routine(WorkerProcess *w, unsigned index) {
        if (w->dead || w->stopping || !w->ready)
                return -ESRCH;
        return send_frame(w, WORKER_ROUTINE, index, NULL, 0, NULL, 0, -1);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        WorkerProcess *w = userdata;
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        worker_process_kill(w, "it did not stop in time");
        return 0;
}

int worker_process_stop(WorkerProcess *w, uint64_t timeout_usec) {
        if (w->dead)
                return -ESRCH;
        if (w->stopping)
                return 0;
        w->stopping = true;
        w->kill_timer = sd_event_source_disable_unref(w->kill_timer);
        int r = sd_event_add_time_relative(w->event, &w->kill_timer, CLOCK_MONOTONIC, timeout_usec, 0, on_stop_timeout,
                                           w);
        if (r < 0) {
                worker_process_kill(w, "it could not be stopped");
                return r;
        }
        if (!w->ready) {
                worker_process_kill(w, NULL); /* still starting: nothing to clean up */
                return 0;
        }
        return send_frame(w, WORKER_STOP, 0, NULL, 0, NULL, 0, -1);
}

pid_t worker_process_pid(const WorkerProcess *w) {
        return w->pid;
}

unsigned worker_process_pending(const WorkerProcess *w) {
        return w->n_pending;
}

uint64_t worker_process_start_usec(const WorkerProcess *w) {
        return w->start_usec;
}

bool worker_process_alive(const WorkerProcess *w) {
        return w && !w->dead;
}
