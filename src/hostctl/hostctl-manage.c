/* SPDX-License-Identifier: MIT */
/* load, unload, reload, rescan, reload-config and invoke: the polkit-checked
 * operations on plugins that are already on the host. */
#include <stdio.h>
#include <string.h>

#include "hostctl-bus.h"
#include "hostctl-output.h"
#include "hostctl-verbs.h"
#include "json-util.h"
#include "log.h"
#include "strv.h"

/* With --json: the plugin as the host sees it after the operation. */
static int print_plugin_after(Hostctl *c, const char *id) {
        _cleanup_json_ struct json_object *p = NULL;
        if (!output_json_enabled())
                return 0;
        int r = hostctl_plugin_json(c, id, &p);
        if (r != 0)
                return r;
        if (!p) {
                log_error("The plugin host no longer knows plugin '%s'.", id);
                return HOSTCTL_EXIT_NO_SUCH_PLUGIN;
        }
        return output_json(p);
}

static int plugin_operation(Hostctl *c, const char *method, const char *verb, const char *id) {
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "Failed to %s %s", verb, id) < 0)
                return log_oom();
        int r = hostctl_bus_call_method(c, method, true, what, NULL, "st", id, (uint64_t) 0);
        return r != 0 ? r : print_plugin_after(c, id);
}

int verb_load(Hostctl *c, char **args, int n) {
        return plugin_operation(c, "LoadPlugin", "load", args[0]);
}

int verb_unload(Hostctl *c, char **args, int n) {
        return plugin_operation(c, "UnloadPlugin", "unload", args[0]);
}

int verb_reload(Hostctl *c, char **args, int n) {
        return plugin_operation(c, "ReloadPlugin", "reload", args[0]);
}

int verb_rescan(Hostctl *c, char **args, int n) {
        _cleanup_json_ struct json_object *d = NULL;
        struct json_object *plugins;
        int r = hostctl_bus_call_method(c, "Rescan", true, "Failed to rescan the plugin directories", NULL, "t",
                                        (uint64_t) 0);
        if (r != 0 || !output_json_enabled())
                return r;
        /* --json: every plugin as the rescan left it */
        r = hostctl_describe(c, &d);
        if (r != 0)
                return r;
        if (!json_object_object_get_ex(d, "plugins", &plugins))
                return log_error_errno(EBADMSG, "The plugin host sent no plugin list.");
        return output_json(plugins);
}

static struct json_object *strv_to_json(char **l) {
        struct json_object *a = json_object_new_array();
        for (char **i = l; a && i && *i; i++)
                if (json_object_array_add(a, json_object_new_string(*i)) < 0) {
                        json_object_put(a);
                        return NULL;
                }
        return a;
}

int verb_reload_config(Hostctl *c, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **unloaded = NULL, **restart = NULL;
        int r = hostctl_bus_call_method(c, "ReloadConfiguration", true, "Failed to reload the configuration", &reply, "t",
                                        (uint64_t) 0);
        if (r != 0)
                return r;
        if ((r = sd_bus_message_read_strv(reply, &unloaded)) < 0 || (r = sd_bus_message_read_strv(reply, &restart)) < 0)
                return log_error_errno(r, "Malformed reply: %m");
        if (output_json_enabled()) {
                _cleanup_json_ struct json_object *o = json_object_new_object();
                if (!o || json_object_object_add(o, "unloaded_plugins", strv_to_json(unloaded)) < 0 ||
                    json_object_object_add(o, "restart_needed", strv_to_json(restart)) < 0)
                        return log_oom();
                return output_json(o);
        }
        for (char **i = unloaded; i && *i; i++)
                printf("Unloaded %s: the trust policy no longer allows it (see: dc-plugin-hostctl show %s)\n", *i, *i);
        for (char **i = restart; i && *i; i++)
                printf("%s= changed; it takes effect after a restart\n", *i);
        return 0;
}

int verb_invoke(Hostctl *c, char **args, int n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_ struct json_object *o = NULL;
        _cleanup_free_ char *what = NULL;
        const char *result;
        int r;

        if (asprintf(&what, "Failed to invoke %s.%s", args[0], args[1]) < 0)
                return log_oom();
        /* The daemon bounds the call (CallTimeoutSec=); the client waits longer by default. */
        r = hostctl_bus_call_method(c, "Invoke", true, what, &reply, "sss", args[0], args[1], n > 2 ? args[2] : "{}");
        if (r != 0)
                return r;
        r = sd_bus_message_read(reply, "s", &result);
        if (r < 0)
                return log_error_errno(r, "Malformed reply: %m");
        output_begin();
        if (json_parse_strict(result, strlen(result), &o, NULL) >= 0 && o)
                return output_json(o);
        puts(result);
        return 0;
}
