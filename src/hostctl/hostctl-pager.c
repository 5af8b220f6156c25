/* SPDX-License-Identifier: MIT */
#include "hostctl-pager.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"

static pid_t pager_pid;
static int saved_stdout = -1, saved_stderr = -1;

/* Root's rights, a user's environment: sudo, pkexec or a set-uid binary. */
static bool pager_secure(void) {
        return geteuid() == 0 && (getuid() != 0 || getenv("SUDO_UID") || getenv("PKEXEC_UID"));
}

static const char *pager_wanted(void) {
        const char *p = getenv("SYSTEMD_PAGER");
        return p ? p : getenv("PAGER");
}

/* The child: the pipe becomes stdin, the terminal stays stdout. */
_Noreturn static void run_pager(int fd, const char *pager, bool secure) {
        const char *less = getenv("SYSTEMD_LESS");
        char buf[4096];
        ssize_t n;

        if (dup2(fd, STDIN_FILENO) < 0)
                _exit(EXIT_FAILURE);
        if (fd != STDIN_FILENO)
                close(fd);
        (void) setenv("LESS", less ? less : "FRSXMK", 1);
        if (secure)
                (void) setenv("LESSSECURE", "1", 1);
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (!secure && pager) {
                /* A command line goes to the shell; a plain name is run
                 * directly, so that a missing one falls back to less. */
                if (strpbrk(pager, " \t\n|&;<>()$`\\\"'*?[]#~=%"))
                        execl("/bin/sh", "sh", "-c", pager, (char *) NULL);
                else
                        execlp(pager, pager, (char *) NULL);
        }
        execlp("less", "less", (char *) NULL);
        if (!secure)
                execlp("more", "more", (char *) NULL);
        /* No pager at all: the output still reaches the terminal. */
        while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
                if (write(STDOUT_FILENO, buf, (size_t) n) != n)
                        break;
        _exit(EXIT_SUCCESS);
}

int pager_open(void) {
        const char *pager = pager_wanted();
        bool secure = pager_secure();
        int fd[2];

        if (pager_pid > 0)
                return 1;
        if (!isatty(STDOUT_FILENO))
                return 0;
        if (pager && (isempty(pager) || streq(pager, "cat")))
                return 0;
        fflush(stdout);
        fflush(stderr);
        if (pipe2(fd, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(fd[0]);
                close(fd[1]);
                return r;
        }
        if (pid == 0) {
                close(fd[1]);
                run_pager(fd[0], pager, secure);
        }
        close(fd[0]);
        saved_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (isatty(STDERR_FILENO))
                saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        if (saved_stdout < 0 || dup2(fd[1], STDOUT_FILENO) < 0 ||
            (saved_stderr >= 0 && dup2(fd[1], STDERR_FILENO) < 0)) {
                int r = -errno;
                close(fd[1]);
                pager_pid = pid;
                pager_close();
                return r;
        }
        close(fd[1]);
        pager_pid = pid;
        return 1;
}

void pager_close(void) {
        if (pager_pid <= 0)
                return;
        fflush(stdout);
        fflush(stderr);
        /* The pager reads to the end once nobody holds the pipe any more. */
        if (saved_stdout >= 0) {
                (void) dup2(saved_stdout, STDOUT_FILENO);
                saved_stdout = safe_close(saved_stdout);
        }
        if (saved_stderr >= 0) {
                (void) dup2(saved_stderr, STDERR_FILENO);
                saved_stderr = safe_close(saved_stderr);
        }
        (void) kill(pager_pid, SIGCONT);
        while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        pager_pid = 0;
}

bool pager_running(void) {
        return pager_pid > 0;
}
