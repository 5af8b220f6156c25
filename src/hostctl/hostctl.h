/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl: what every command file shares.  The command line as
 * parsed (HostctlArgs), the connection a command runs with (Hostctl) and
 * the exit statuses of dc-plugin-hostctl(1), EXIT STATUS.
 *
 * A command returns 0, a negative errno (exit status 1, after a message)
 * or one of the statuses below (after a message).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

enum {
        HOSTCTL_EXIT_SUCCESS = 0,
        HOSTCTL_EXIT_FAILURE = 1,        /* the operation failed */
        HOSTCTL_EXIT_USAGE = 2,          /* invalid command line */
        HOSTCTL_EXIT_NOT_RUNNING = 3,    /* no bus, or dc-plugin-hostd is not on it */
        HOSTCTL_EXIT_ACCESS_DENIED = 4,  /* polkit, the bus policy or file permissions */
        HOSTCTL_EXIT_NO_SUCH_PLUGIN = 5, /* the host knows no plugin of that id */
        HOSTCTL_EXIT_REJECTED = 6,       /* the trust policy or the archive rules refuse the plugin */
};

/* D-Bus calls wait this long unless --timeout= says otherwise: more than
 * the daemon's CallTimeoutSec= (30 s) plus its PolkitTimeoutSec= (25 s). */
#define HOSTCTL_BUS_TIMEOUT_USEC (90ull * 1000000)
/* Installs and publishing: a download (InstallTimeoutSec=, 120 s), staging and polkit. */
#define HOSTCTL_INSTALL_TIMEOUT_USEC (300ull * 1000000)
/* Replies over the mesh. */
#define HOSTCTL_MESH_TIMEOUT_USEC (60ull * 1000000)

typedef struct HostctlArgs {
        bool ask_password;
        const char *host;      /* -H: [USER@]HOST, over ssh */
        uint64_t timeout_usec; /* --timeout=; 0: the command's default */
        /* verify, --mesh */
        const char *config;
        bool daemon, content_only;
        /* install */
        const char *plugin_id, *digest, *format;
        bool load, replace, allow_downgrade;
        /* --mesh */
        bool mesh;
        const char *device, *tenant, *creds, *nats_url;
        /* --mesh rollout */
        const char *from, *to; /* the source host; the targets, comma-separated */
        bool all, keep_going, dry_run;
        unsigned parallel; /* 0: the default */
} HostctlArgs;

typedef struct Hostctl {
        const HostctlArgs *arg;
        sd_bus *bus; /* NULL for the commands that need no daemon */
} Hostctl;

/* The timeout of one call: --timeout= or the default given. */
static inline uint64_t hostctl_timeout(const Hostctl *c, uint64_t dflt) {
        return c->arg->timeout_usec > 0 ? c->arg->timeout_usec : dflt;
}
