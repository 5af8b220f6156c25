/* SPDX-License-Identifier: MIT */
/* status, list, show: what Manager.Describe says, as text or JSON. */
#include <stdio.h>

#include "hostctl-bus.h"
#include "hostctl-output.h"
#include "hostctl-verbs.h"
#include "json-util.h"
#include "log.h"

static struct json_object *jarray(struct json_object *o, const char *key) {
        struct json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array) ? v : NULL;
}

int verb_status(Hostctl *c, char **args, int n) {
        _cleanup_json_ struct json_object *d = NULL;
        struct json_object *policy = NULL, *roots, *plugins;
        int r = hostctl_describe(c, &d);
        if (r != 0)
                return r;
        output_begin();
        if (output_json_enabled())
                return output_json(d);
        json_object_object_get_ex(d, "policy", &policy);
        roots = jarray(d, "roots");
        plugins = jarray(d, "plugins");
        size_t loaded = 0, known = plugins ? json_object_array_length(plugins) : 0;
        for (size_t i = 0; i < known; i++)
                loaded += streq(json_get_string_or_empty(json_object_array_get_idx(plugins, i), "state"), "loaded");
        if (c->arg->host)
                printf("          Host: %s\n", c->arg->host);
        printf("       Version: %s\n     API level: %d\n", json_get_string_or_empty(d, "version"),
               json_get_int_or_zero(d, "api_level"));
        printf("Signature mode: %s%s\n", json_get_string_or_empty(policy, "mode"),
               json_object_get_boolean(json_object_object_get(policy, "require_signatures")) ? " (signatures required)"
                                                                                             : "");
        if (!isempty(json_get_string_or_empty(policy, "invalid_reason")))
                printf("                %s\n", json_get_string_or_empty(policy, "invalid_reason"));
        printf("          Pins: %d\n  Trusted keys: %d\n", json_get_int_or_zero(policy, "pins"),
               json_get_int_or_zero(policy, "trusted_keys"));
        for (size_t i = 0; roots && i < json_object_array_length(roots); i++) {
                struct json_object *root = json_object_array_get_idx(roots, i);
                printf("%s %s (%s)\n", i == 0 ? "   Directories:" : "               ",
                       json_get_string_or_empty(root, "path"), json_get_string_or_empty(root, "kind"));
        }
        printf("       Plugins: %zu loaded, %zu known\n", loaded, known);
        return 0;
}

int verb_list(Hostctl *c, char **args, int n) {
        _cleanup_json_ struct json_object *d = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        struct json_object *plugins;
        int r = hostctl_describe(c, &d);
        if (r != 0)
                return r;
        plugins = jarray(d, "plugins");
        if (!plugins)
                return log_error_errno(EBADMSG, "The plugin host sent no plugin list.");
        output_begin();
        if (output_json_enabled())
                return output_json(plugins);
        t = table_new(5, "ID", "STATE", "REASON", "VERSION", "DIGEST");
        if (!t)
                return log_oom();
        for (size_t i = 0; i < json_object_array_length(plugins); i++) {
                struct json_object *p = json_object_array_get_idx(plugins, i);
                char buf[32];
                if (table_add_row(t, json_get_string_or_empty(p, "id"), json_get_string_or_empty(p, "state"),
                                  json_get_string_or_empty(p, "reason"), json_get_string_or_empty(p, "version"),
                                  digest_short(json_get_string_or_empty(p, "digest"), buf)) < 0)
                        return log_oom();
        }
        table_print(t);
        if (output_legend())
                printf("\n%zu plugin(s).\n", table_n_rows(t));
        return 0;
}

/* "  Isolation: process (pid 4242, 0 restarts; seccomp, Landlock ABI 4, no_new_privs, rlimits)" */
static void print_isolation(struct json_object *p) {
        struct json_object *w, *v;
        printf("  Isolation: %s", json_get_string_or_empty(p, "isolation"));
        if (json_object_object_get_ex(p, "worker", &w) && json_object_is_type(w, json_type_object)) {
                printf(" (pid %d, %d restarts; ", json_get_int_or_zero(w, "pid"), json_get_int_or_zero(w, "restarts"));
                bool any = false;
                if (json_object_object_get_ex(w, "seccomp", &v) && json_object_get_boolean(v))
                        printf("%sseccomp", any ? ", " : ""), any = true;
                if (json_get_int_or_zero(w, "landlock_abi") > 0)
                        printf("%sLandlock ABI %d", any ? ", " : "", json_get_int_or_zero(w, "landlock_abi")), any = true;
                if (json_object_object_get_ex(w, "no_new_privs", &v) && json_object_get_boolean(v))
                        printf("%sno_new_privs", any ? ", " : ""), any = true;
                if (json_object_object_get_ex(w, "rlimits", &v) && json_object_get_boolean(v))
                        printf("%srlimits", any ? ", " : ""), any = true;
                printf("%s)", any ? "" : "no sandbox layer");
        }
        printf("\n");
}

int verb_show(Hostctl *c, char **args, int n) {
        _cleanup_json_ struct json_object *d = NULL;
        struct json_object *p, *x;
        int r = hostctl_describe(c, &d);
        if (r != 0)
                return r;
        p = hostctl_describe_find(d, "plugins", args[0]);
        if (!p) {
                log_error("No plugin '%s'.", args[0]);
                return HOSTCTL_EXIT_NO_SUCH_PLUGIN;
        }
        output_begin();
        if (output_json_enabled())
                return output_json(p);
        printf("         Id: %s\n       Name: %s\n    Version: %s\nDescription: %s\n      State: %s\n",
               json_get_string_or_empty(p, "id"), json_get_string_or_empty(p, "name"),
               json_get_string_or_empty(p, "version"), json_get_string_or_empty(p, "description"),
               json_get_string_or_empty(p, "state"));
        if (*json_get_string_or_empty(p, "isolation"))
                print_isolation(p);
        if (*json_get_string_or_empty(p, "reason"))
                printf(" Last error: %s: %s\n", json_get_string_or_empty(p, "reason"),
                       json_get_string_or_empty(p, "message"));
        printf("     Digest: %s\n       Root: %s (%s)\n",
               *json_get_string_or_empty(p, "digest") ? json_get_string_or_empty(p, "digest") : "-",
               json_get_string_or_empty(p, "root"), json_get_string_or_empty(p, "layout"));
        if ((x = jarray(p, "functions")))
                for (size_t i = 0; i < json_object_array_length(x); i++) {
                        struct json_object *f = json_object_array_get_idx(x, i);
                        printf("%s %s — %s\n", i == 0 ? "  Functions:" : "            ",
                               json_get_string_or_empty(f, "name"), json_get_string_or_empty(f, "description"));
                }
        if ((x = jarray(p, "events")))
                for (size_t i = 0; i < json_object_array_length(x); i++)
                        printf("%s %s\n", i == 0 ? "     Events:" : "            ",
                               json_get_string_or_empty(json_object_array_get_idx(x, i), "name"));
        return 0;
}
