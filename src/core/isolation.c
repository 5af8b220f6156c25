/* SPDX-License-Identifier: MIT */
#include "isolation.h"

#include "macro.h"
#include "strv.h"

static const char *const isolation_table[_PLUGIN_ISOLATION_MAX] = {
        [PLUGIN_ISOLATION_IN_PROCESS] = "in-process",
        [PLUGIN_ISOLATION_PROCESS] = "process",
};

const char *plugin_isolation_to_string(PluginIsolation i) {
        return i >= 0 && i < _PLUGIN_ISOLATION_MAX ? isolation_table[i] : NULL;
}

int isolation_override(const HostConfig *c, const char *id, PluginIsolation *ret) {
        size_t n = strlen(id);
        for (char **i = c->plugin_isolation; i && *i; i++)
                if (strncmp(*i, id, n) == 0 && (*i)[n] == ':') {
                        *ret = streq(*i + n + 1, "in-process") ? PLUGIN_ISOLATION_IN_PROCESS : PLUGIN_ISOLATION_PROCESS;
                        return 0;
                }
        return -ENOENT;
}

PluginIsolation isolation_decide(const HostConfig *c, const Policy *p, const char *id, const Manifest *m, bool crashed) {
        PluginIsolation o;

        /* The administrator's word for this id is final, except that a
         * plugin the daemon crashed in is not run in the daemon again
         * (quarantine.c refuses that load instead). */
        if (isolation_override(c, id, &o) == 0)
                return o;
        if (crashed)
                return PLUGIN_ISOLATION_PROCESS;
        /* Asking for more isolation is always granted. */
        if (m && m->isolation && streq(m->isolation, "process"))
                return PLUGIN_ISOLATION_PROCESS;
        switch (c->default_isolation) {
        case ISOLATION_DEFAULT_PROCESS:
                return PLUGIN_ISOLATION_PROCESS;
        case ISOLATION_DEFAULT_IN_PROCESS:
                return PLUGIN_ISOLATION_IN_PROCESS;
        default:
                /* auto: only code the trust policy verified (pins or
                 * signatures) runs inside the daemon. */
                return p && (p->mode != SIGNATURES_PERMISSIVE || p->require_signatures) ? PLUGIN_ISOLATION_IN_PROCESS
                                                                                         : PLUGIN_ISOLATION_PROCESS;
        }
}

bool isolation_network_allowed(const HostConfig *c, const char *id, const Manifest *m) {
        return m && m->network && strv_contains(c->plugin_network, id);
}
