/* SPDX-License-Identifier: MIT */
/*
 * The worker's sandbox (docs/plugin-security.md, "Process isolation"):
 * resource limits, no new privileges, Landlock for the file system (and TCP
 * when the kernel has it), and a seccomp filter that traps what a plugin
 * never needs.  Every layer is applied before the plugin is mapped, so even
 * its constructors run inside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "macro.h"
#include "worker-proto.h"
#include "worker.h"

/* Access rights newer than Debian 12's kernel headers (linux/landlock.h). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#define LL_ACCESS_NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define LL_ACCESS_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */

/* struct landlock_ruleset_attr grew handled_access_net in ABI 4. */
struct ll_ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
};

#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_EXECUTE)

static int set_limit(int resource, uint64_t value) {
        if (value == 0)
                return 0;
        struct rlimit rl = { (rlim_t) value, (rlim_t) value };
        return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

static int apply_rlimits(const WorkerSettings *s) {
        int r = 0;
#if !defined(__SANITIZE_ADDRESS__)
        /* AddressSanitizer reserves terabytes of shadow memory: no RLIMIT_AS there. */
        if (r >= 0)
                r = set_limit(RLIMIT_AS, s->address_space);
#endif
        if (r >= 0)
                r = set_limit(RLIMIT_CPU, s->cpu_sec);
        if (r >= 0)
                r = set_limit(RLIMIT_NOFILE, s->nofile);
        if (r >= 0)
                r = set_limit(RLIMIT_NPROC, s->nproc);
        (void) set_limit(RLIMIT_CORE, 1); /* best effort: no core files of plugin memory */
        return r;
}

/* ---- Landlock ---------------------------------------------------------------- */

static int ll_add_path(int ruleset, const char *path, uint64_t access) {
        int fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno; /* a missing path needs no rule */
        struct stat st;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return -errno;
        }
        /* Files take only file rights. */
        if (!S_ISDIR(st.st_mode))
                access &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_EXECUTE |
                          LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV;
        struct landlock_path_beneath_attr pb = { .allowed_access = access, .parent_fd = fd };
        int r = (int) syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
        int e = errno;
        close(fd);
        return r < 0 ? -e : 0;
}

static int apply_landlock(const WorkerSettings *s, int *ret_abi) {
        int abi = (int) syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        *ret_abi = 0;
        if (abi <= 0)
                return 0; /* not in this kernel (or disabled): reported, not fatal */

        uint64_t fs = LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                      LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
                      LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                      LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
        if (abi >= 2)
                fs |= LANDLOCK_ACCESS_FS_REFER;
        if (abi >= 3)
                fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
        if (abi >= 5)
                fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
        struct ll_ruleset_attr attr = { .handled_access_fs = fs };
        size_t attr_size = sizeof(uint64_t);
        if (abi >= 4 && !s->network) {
                attr.handled_access_net = LL_ACCESS_NET_BIND_TCP | LL_ACCESS_NET_CONNECT_TCP;
                attr_size = sizeof attr;
        }
        int ruleset = (int) syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
        if (ruleset < 0)
                return -errno;

        /* The shared libraries a plugin may need (ld.so reads them), its own
         * folder; /dev/null and the random devices; its state directory. */
        static const char *const system_read[] = { "/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime", NULL };
        static const char *const devices[] = { "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", NULL };
        int r = 0;
        for (const char *const *p = system_read; r >= 0 && *p; p++)
                r = ll_add_path(ruleset, *p, LL_READ);
        for (const char *const *p = devices; r >= 0 && *p; p++)
                r = ll_add_path(ruleset, *p, LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE);
        for (char **p = s->read_paths; r >= 0 && p && *p; p++)
                r = ll_add_path(ruleset, *p, LL_READ);
        for (char **p = s->write_paths; r >= 0 && p && *p; p++)
                r = ll_add_path(ruleset, *p, fs);
        if (r >= 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
                r = -errno;
        close(ruleset);
        if (r >= 0)
                *ret_abi = abi;
        return r;
}

/* ---- seccomp ------------------------------------------------------------------- */

/* A trapped call: tell the daemon (async-signal-safe: one datagram) and
 * make it fail with EPERM, as a denied call should. */
static void on_sigsys(int sig, siginfo_t *si, void *context) {
        ucontext_t *uc = context;
        WorkerNotice n = { .syscall_nr = si->si_syscall, .arch = si->si_arch };
        int saved = errno;
        (void) send(WORKER_FD_NOTICE, &n, sizeof n, MSG_DONTWAIT | MSG_NOSIGNAL);
        errno = saved;
#if defined(__x86_64__)
        uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
        uc->uc_mcontext.regs[0] = (unsigned long long) -EPERM;
#else
        (void) uc;
#endif
}

/* What no plugin needs to compute, log and use its own files. */
static const char *const denied[] = {
        /* processes and other programs */
        "fork", "vfork", "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
        "pidfd_getfd", "process_madvise",
        /* name spaces, mounts, roots */
        "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
        "fsconfig", "fsmount", "fspick", "mount_setattr",
        /* the kernel and the machine */
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff",
        "bpf", "perf_event_open", "userfaultfd", "acct", "quotactl", "syslog", "sethostname", "setdomainname",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm", "name_to_handle_at",
        "open_by_handle_at", "lookup_dcookie", "vhangup",
        /* keyrings */
        "keyctl", "add_key", "request_key",
};

static int apply_seccomp(const WorkerSettings *s) {
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_NODEFER };
        if (sigaction(SIGSYS, &sa, NULL) < 0)
                return -errno;

        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        int r = 0;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(denied); i++) {
                int nr = seccomp_syscall_resolve_name(denied[i]);
                if (nr == __NR_SCMP_ERROR)
                        continue; /* not on this architecture */
                r = seccomp_rule_add(ctx, SCMP_ACT_TRAP, nr, 0);
        }
        /* Threads yes, processes no.  clone3 passes its flags in memory that
         * a filter cannot read: ENOSYS makes glibc use clone. */
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        /* The network: IP sockets only when the manifest asks and the
         * administrator allows; never other families (netlink, packet, …)
         * nor Unix sockets (the system bus, journald). */
        if (r >= 0) {
                if (s->network) {
                        /* every family but AF_INET (2) and AF_INET6 (10) */
                        r = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_LT, AF_INET));
                        for (int f = AF_INET + 1; r >= 0 && f < AF_INET6; f++)
                                r = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, f));
                        if (r >= 0)
                                r = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(socket), 1,
                                                     SCMP_A0(SCMP_CMP_GT, AF_INET6));
                } else
                        r = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(socket), 0);
        }
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(socketpair), 0);
        /* A handler of the plugin's own would hide denials from the daemon. */
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(rt_sigaction), 1,
                                     SCMP_A0(SCMP_CMP_EQ, SIGSYS));
        if (r >= 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        return r;
}

int sandbox_apply(const WorkerSettings *s, SandboxStatus *st) {
        int r;

        *st = (SandboxStatus){};
        r = apply_rlimits(s);
        if (r < 0) {
                st->error = strdup("resource limits");
                return r;
        }
        st->rlimits = true;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                st->error = strdup("no_new_privs");
                return -errno;
        }
        st->no_new_privs = true;
        r = apply_landlock(s, &st->landlock_abi);
        if (r < 0) {
                st->error = strdup("landlock");
                return r;
        }
        r = apply_seccomp(s);
        if (r < 0) {
                st->error = strdup("seccomp");
                return r;
        }
        st->seccomp = true;
        return 0;
}
