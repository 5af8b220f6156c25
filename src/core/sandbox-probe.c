/* SPDX-License-Identifier: MIT */
#include "sandbox-probe.h"

#include <errno.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *isolation_default_name(unsigned d) {
        return d == ISOLATION_DEFAULT_PROCESS ? "process" : d == ISOLATION_DEFAULT_IN_PROCESS ? "in-process" : "auto";
}

struct json_object *sandbox_probe(const HostConfig *c) {
        struct json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
        /* seccomp filters: the kernel answers EFAULT for a NULL program when it has them */
        bool seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
                       (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL) < 0 && errno == EFAULT);
        json_object_object_add(o, "landlock_abi", json_object_new_int(abi > 0 ? (int) abi : 0));
        json_object_object_add(o, "seccomp", json_object_new_boolean(seccomp));
        json_object_object_add(o, "no_new_privs", json_object_new_boolean(true));
        json_object_object_add(o, "default_isolation", json_object_new_string(isolation_default_name(c->default_isolation)));
        json_object_object_add(o, "worker", json_object_new_string(c->worker_binary));
        json_object_object_add(o, "worker_available", json_object_new_boolean(access(c->worker_binary, X_OK) == 0));
        return o;
}
