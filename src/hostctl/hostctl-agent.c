/* SPDX-License-Identifier: MIT */
#include "hostctl-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-login.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static pid_t agent_pid;

/* The child: the terminal on 0-2 (the prompt reaches it even when stdout
 * is a pipe), the notification pipe on 3, nothing else. */
_Noreturn static void run_agent(int notify_fd, bool fallback) {
        sigset_t all;
        int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

        if (tty >= 0) {
                if (!isatty(STDOUT_FILENO))
                        (void) dup2(tty, STDOUT_FILENO);
                if (!isatty(STDERR_FILENO))
                        (void) dup2(tty, STDERR_FILENO);
        }
        if (notify_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(notify_fd, 3) < 0)
                _exit(EXIT_FAILURE);
        (void) close_range(4, ~0U, 0);
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        execl(POLKIT_AGENT_BINARY_PATH, POLKIT_AGENT_BINARY_PATH, "--notify-fd", "3", fallback ? "--fallback" : NULL,
              (char *) NULL);
        _exit(EXIT_FAILURE);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

int polkit_agent_open(uint64_t timeout_usec) {
        int pipe_fd[2];

        if (agent_pid > 0)
                return 1;
        /* Root needs no authorization; without a terminal nobody could answer. */
        if (geteuid() == 0 || !isatty(STDIN_FILENO))
                return 0;
        if (access(POLKIT_AGENT_BINARY_PATH, X_OK) < 0) {
                log_debug("No polkit agent: %s: %m", POLKIT_AGENT_BINARY_PATH);
                return 0;
        }
        /* polkitd asks a --fallback agent only when the caller has a login
         * session (and no agent of its own, such as the desktop's); without
         * a session (su, a container without logind) it is the only agent. */
        _cleanup_free_ char *session = NULL;
        bool fallback = sd_pid_get_session(0, &session) >= 0;
        if (pipe2(pipe_fd, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(pipe_fd[0]);
                close(pipe_fd[1]);
                return r;
        }
        if (pid == 0)
                run_agent(pipe_fd[1], fallback);
        close(pipe_fd[1]);
        agent_pid = pid;

        /* pkttyagent closes its end once it is registered (or exits when it
         * cannot be): the call must not reach polkit before. */
        uint64_t deadline = now_usec() + timeout_usec;
        for (;;) {
                struct pollfd p = { .fd = pipe_fd[0], .events = POLLIN };
                uint64_t now = now_usec();
                if (now >= deadline) {
                        log_debug("The polkit agent did not register in time");
                        break;
                }
                int n = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n != 0) /* POLLHUP, or an error: either way no more waiting */
                        break;
        }
        close(pipe_fd[0]);
        return 1;
}

void polkit_agent_close(void) {
        if (agent_pid <= 0)
                return;
        (void) kill(agent_pid, SIGTERM);
        (void) kill(agent_pid, SIGCONT);
        while (waitpid(agent_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        agent_pid = 0;
}
