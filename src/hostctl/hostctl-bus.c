/* SPDX-License-Identifier: MIT */
#include "hostctl-bus.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "bus-errors.h"
#include "escape.h"
#include "hostctl-agent.h"
#include "json-util.h"
#include "log.h"
#include "names.h"

int hostctl_bus_open(const HostctlArgs *a, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (a->host)
                r = sd_bus_open_system_remote(&bus, a->host);
        else
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                if (a->host)
                        log_error_errno(r, "Cannot reach the system bus of %s over ssh: %m", a->host);
                else
                        log_error_errno(r, "Failed to connect to the system bus: %m");
                return r == -EINVAL && a->host ? HOSTCTL_EXIT_USAGE : HOSTCTL_EXIT_NOT_RUNNING;
        }
        (void) sd_bus_set_allow_interactive_authorization(bus, a->ask_password);
        (void) sd_bus_error_add_map(dc_bus_error_map);
        *ret = TAKE_PTR(bus);
        return 0;
}

int hostctl_bus_message(Hostctl *c, const char *method, sd_bus_message **ret) {
        int r = sd_bus_message_new_method_call(c->bus, ret, DC_BUS_NAME, DC_BUS_PATH_ROOT, DC_BUS_IFACE_MANAGER, method);
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(*ret, c->arg->ask_password);
        return r < 0 ? log_error_errno(r, "Cannot build the request: %m") : 0;
}

int hostctl_bus_call(Hostctl *c, sd_bus_message *m, bool authorize, uint64_t default_usec, const char *what,
                     sd_bus_message **reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        uint64_t timeout = hostctl_timeout(c, default_usec);
        /* As systemctl: an agent on this terminal, for the local bus only. */
        bool agent = authorize && c->arg->ask_password && !c->arg->host;
        int r;

        if (agent)
                (void) polkit_agent_open(timeout);
        r = sd_bus_call(c->bus, m, timeout, &e, reply);
        if (agent)
                polkit_agent_close();
        return r < 0 ? hostctl_bus_error(c, what, &e, r, timeout) : 0;
}

int hostctl_bus_call_method(Hostctl *c, const char *method, bool authorize, const char *what, sd_bus_message **reply,
                            const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r = hostctl_bus_message(c, method, &m);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return log_error_errno(r, "Cannot build the request: %m");
        }
        return hostctl_bus_call(c, m, authorize, HOSTCTL_BUS_TIMEOUT_USEC, what, reply);
}

/* "Authorization failed: Action org.x.y is not registered" (polkitd's text) → "org.x.y". */
static char *unregistered_action(const char *msg) {
        const char *a = msg ? strstr(msg, "Action ") : NULL, *end = a ? strstr(a, " is not registered") : NULL;
        return a && end ? strndup(a + 7, (size_t) (end - a - 7)) : NULL;
}

static int explain_access_denied(const Hostctl *c, const char *what, const char *msg) {
        bool remote = c->arg->host;
        _cleanup_free_ char *action = unregistered_action(msg);

        if (msg && strncmp(msg, "Rejected send message", 21) == 0) {
                /* dbus-daemon itself: our bus policy is not in force. */
                bool missing = !remote && access(DC_BUS_POLICY_FILE, F_OK) < 0 && errno == ENOENT;
                log_error("%s: the system bus refused the call: its policy does not let this caller reach %s.", what,
                          DC_BUS_NAME);
                log_error("The bus policy %s%s%s %s; install it (it comes with the dc-plugin-host package), then reload "
                          "the bus: systemctl reload dbus.",
                          DC_BUS_POLICY_FILE, remote ? " on " : "", remote ? c->arg->host : "",
                          missing ? "is missing" : "is missing or has not been loaded");
                return HOSTCTL_EXIT_ACCESS_DENIED;
        }
        /* polkitd without our .policy: "Action … is not registered", or, since the
         * daemon passes details as the action's owner, "Only trusted callers …". */
        if (action || (msg && strstr(msg, "Only trusted callers"))) {
                log_error("%s: polkit does not know the action%s%s: %s%s%s is missing or polkitd has not read it; "
                          "install it (it comes with the dc-plugin-host package).",
                          what, action ? " " : "", action ? action : "", DC_POLKIT_POLICY_FILE, remote ? " on " : "",
                          remote ? c->arg->host : "");
                return HOSTCTL_EXIT_ACCESS_DENIED;
        }
        if (msg && strncmp(msg, "Authorization is not available", 30) == 0) {
                /* "(polkit: <error name>)": absent, or too slow for PolkitTimeoutSec= */
                if (strstr(msg, "NoReply") || strstr(msg, "Timeout"))
                        log_error("%s: access denied: polkit did not answer in time (the daemon's PolkitTimeoutSec=).",
                                  what);
                else
                        log_error("%s: access denied: polkit is not running%s%s, so only root may do this.", what,
                                  remote ? " on " : "", remote ? c->arg->host : "");
                return HOSTCTL_EXIT_ACCESS_DENIED;
        }
        log_error("%s: %s", what, msg ? msg : "Access denied");
        log_error("Only root, or a user that a polkit rule allows, may do this (org.deviceconnect.PluginHost(5), "
                  "AUTHORIZATION).");
        return HOSTCTL_EXIT_ACCESS_DENIED;
}

int hostctl_bus_error(const Hostctl *c, const char *what, const sd_bus_error *e, int r, uint64_t timeout_usec) {
        const char *host = c->arg->host;
        bool named = e && sd_bus_error_is_set(e);
        bool oom = false;
        _cleanup_free_ char *safe = named && e->message ? escape_controls(e->message, &oom) : NULL;
        const char *msg = safe ? safe : named ? e->message : NULL;

        if (named && sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                log_error("%s: dc-plugin-hostd is not running (%s is not on the bus%s%s).", what, DC_BUS_NAME,
                          host ? " of " : "", host ? host : "");
                if (!host && access(DC_BUS_POLICY_FILE, F_OK) < 0 && errno == ENOENT)
                        log_error("The bus policy %s is missing: without it the daemon may not own its name.",
                                  DC_BUS_POLICY_FILE);
                return HOSTCTL_EXIT_NOT_RUNNING;
        }
        if (named && sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
                return explain_access_denied(c, what, msg);
        if (named && sd_bus_error_has_name(e, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED)) {
                log_error("%s: %s", what, msg ? msg : "Interactive authentication required.");
                if (host)
                        log_error("No password can be asked for over -H/--host: run it as root on %s, or allow it "
                                  "with a polkit rule (org.deviceconnect.PluginHost(5), AUTHORIZATION).", host);
                else
                        log_error("Run it on a terminal%s so that polkit can ask for a password, as root, or allow it "
                                  "with a polkit rule (org.deviceconnect.PluginHost(5), AUTHORIZATION).",
                                  c->arg->ask_password ? "" : " without --no-ask-password");
                return HOSTCTL_EXIT_ACCESS_DENIED;
        }
        /* sd-bus names its own failures too: look at the errno first. */
        if (r == -ETIMEDOUT) {
                log_error("%s: no reply within %llu s (--timeout=SEC waits longer).", what,
                          (unsigned long long) ((timeout_usec + 999999) / 1000000));
                return HOSTCTL_EXIT_FAILURE;
        }
        if (r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ECONNREFUSED) {
                if (host)
                        log_error_errno(r, "%s: cannot reach the system bus of %s over ssh: %m", what, host);
                else
                        log_error_errno(r, "%s: lost the connection to the system bus: %m", what);
                return HOSTCTL_EXIT_NOT_RUNNING;
        }
        if (named)
                log_error("%s: %s", what, msg ? msg : e->name);
        else
                log_error_errno(r, "%s: %m", what);
        if (named && sd_bus_error_has_name(e, DC_BUS_ERROR_NO_SUCH_PLUGIN))
                return HOSTCTL_EXIT_NO_SUCH_PLUGIN;
        if (named && sd_bus_error_has_names(e, DC_BUS_ERROR_REJECTED, DC_BUS_ERROR_INCOMPATIBLE,
                                            DC_BUS_ERROR_INVALID_PACKAGE))
                return HOSTCTL_EXIT_REJECTED;
        return HOSTCTL_EXIT_FAILURE;
}

int hostctl_describe(Hostctl *c, struct json_object **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r = hostctl_bus_call_method(c, "Describe", false, "Failed to query the plugin host", &reply, NULL);
        if (r != 0)
                return r;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return log_error_errno(r, "Malformed reply: %m");
        if (json_parse_strict(text, strlen(text), ret, NULL) < 0 || !json_object_is_type(*ret, json_type_object)) {
                json_object_put(*ret);
                *ret = NULL;
                return log_error_errno(EBADMSG, "The plugin host sent invalid JSON.");
        }
        return 0;
}

struct json_object *hostctl_describe_find(struct json_object *describe, const char *member, const char *id) {
        struct json_object *list;
        if (!json_object_object_get_ex(describe, member, &list) || !json_object_is_type(list, json_type_array))
                return NULL;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                struct json_object *p = json_object_array_get_idx(list, i);
                if (streq_ptr(json_get_string(p, "id"), id))
                        return p;
        }
        return NULL;
}

int hostctl_plugin_json(Hostctl *c, const char *id, struct json_object **ret) {
        _cleanup_json_ struct json_object *d = NULL;
        struct json_object *p, *copy = NULL;
        int r = hostctl_describe(c, &d);
        if (r != 0)
                return r;
        p = hostctl_describe_find(d, "plugins", id);
        if (p && json_object_deep_copy(p, &copy, NULL) < 0)
                return log_oom();
        *ret = copy;
        return 0;
}
