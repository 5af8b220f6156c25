/* SPDX-License-Identifier: MIT */
#include "check.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "fs-check.h"
#include "json-util.h"
#include "log.h"
#include "names.h"

typedef struct RootVerdict {
        const char *verdict; /* ok, missing, refused, unreadable, unset */
        char *message;       /* why, for refused and unreadable */
        size_t n_plugins;
} RootVerdict;

static bool root_is_bad(const RootVerdict *v) {
        return streq(v->verdict, "refused") || streq(v->verdict, "unreadable");
}

/* The directory and its parents, with the owner rules of its kind: what the
 * scan refused with a log line only. */
static int check_root(Host *h, size_t i, RootVerdict *ret) {
        const char *path = host_roots(h)[i];
        _cleanup_free_ char *inner = NULL;

        *ret = (RootVerdict){ .verdict = "ok" };
        if (isempty(path)) {
                ret->verdict = "unset";
                return 0;
        }
        OwnerRule rule = host_owner_rule(h, (int) i == host_store_index(h) ? ROOT_STORE : ROOT_READONLY);
        int fd = root_open_checked(path, &rule, &inner);
        if (fd >= 0) {
                close(fd);
                for (size_t k = 0; k < host_n_records(h); k++)
                        ret->n_plugins += streq_ptr(host_record(h, k)->root, path);
                for (size_t k = 0; k < host_n_shadowed(h); k++)
                        ret->n_plugins += streq_ptr(host_shadowed(h, k)->root, path);
                return 0;
        }
        if (fd == -ENOENT) {
                ret->verdict = "missing"; /* nothing to load; the store is created by the first install */
                return 0;
        }
        ret->verdict = fd == -EPERM ? "refused" : "unreadable";
        if (fd == -EPERM && inner)
                ret->message = TAKE_PTR(inner);
        else if (asprintf(&ret->message, "cannot open: %s", strerror(-fd)) < 0)
                return -ENOMEM;
        return 0;
}

static const char *verdict_of(const PluginRecord *r) {
        switch (r->state) {
        case PLUGIN_STATE_AVAILABLE:
        case PLUGIN_STATE_LOADED:
                return "ok";
        case PLUGIN_STATE_DISABLED:
                return "disabled";
        case PLUGIN_STATE_REJECTED:
                return "rejected";
        default:
                return "failed";
        }
}

static bool plugin_is_bad(const PluginRecord *r) {
        return r->state == PLUGIN_STATE_REJECTED || r->state == PLUGIN_STATE_FAILED;
}

static void print_plugin(const PluginRecord *r) {
        printf("%-32s %-9s %-28s %s\n", r->id, verdict_of(r), r->reason ? reason_to_string(r->reason) : "-",
               r->digest[0] ? r->digest : "-");
        if (r->message && plugin_is_bad(r))
                printf("    %s\n", r->message);
}

static int print_json(Host *h, const RootVerdict *roots, bool ok, const char *config_file, const char *as_user) {
        _cleanup_json_ struct json_object *o = host_describe(h);
        struct json_object *list, *conf = json_object_new_object(), *as = json_object_new_object();
        if (!o || !conf || !as) {
                json_object_put(conf);
                json_object_put(as);
                return -ENOMEM;
        }
        json_object_object_add(o, "ok", json_object_new_boolean(ok));
        json_object_object_add(conf, "file", json_object_new_string(config_file));
        json_object_object_add(conf, "found", json_object_new_boolean(access(config_file, F_OK) >= 0));
        json_object_object_add(o, "configuration", conf);
        json_object_object_add(as, "uid", json_object_new_int64((int64_t) host_config(h)->self_uid));
        json_object_object_add(as, "user", as_user ? json_object_new_string(as_user) : NULL);
        json_object_object_add(o, "checked_as", as);
        /* Describe's roots, in host_roots() order, with their verdicts. */
        if (json_object_object_get_ex(o, "roots", &list))
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                        struct json_object *r = json_object_array_get_idx(list, i);
                        json_object_object_add(r, "verdict", json_object_new_string(roots[i].verdict));
                        json_object_object_add(r, "message", roots[i].message ? json_object_new_string(roots[i].message) : NULL);
                        json_object_object_add(r, "plugins", json_object_new_int((int) roots[i].n_plugins));
                }
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

static void print_text(Host *h, const RootVerdict *roots, size_t n_roots, const char *config_file, const char *as_user) {
        printf("%-32s %-9s %-28s %s\n", "ID", "VERDICT", "REASON", "DIGEST");
        for (size_t i = 0; i < host_n_records(h); i++)
                print_plugin(host_record(h, i));
        for (size_t i = 0; i < host_n_shadowed(h); i++)
                print_plugin(host_shadowed(h, i));

        printf("\n%-42s %-9s %-10s %s\n", "DIRECTORY", "KIND", "VERDICT", "PLUGINS");
        for (size_t i = 0; i < n_roots; i++) {
                const char *path = host_roots(h)[i];
                printf("%-42s %-9s %-10s ", isempty(path) ? "-" : path,
                       (int) i == host_store_index(h) ? "store" : "read-only", roots[i].verdict);
                if (streq(roots[i].verdict, "ok"))
                        printf("%zu\n", roots[i].n_plugins);
                else
                        printf("-\n");
                if (roots[i].message)
                        printf("    %s\n", roots[i].message);
        }
        printf("\n%zu plugin(s) checked, signature policy: %s\n", host_n_records(h) + host_n_shadowed(h),
               signature_mode_to_string(host_policy(h)->mode));
        printf("Configuration: %s%s\n", config_file, access(config_file, F_OK) >= 0 ? "" : " (not found: built-in defaults)");
        printf("Checked as: uid %u%s%s%s\n", (unsigned) host_config(h)->self_uid, as_user ? " (" : "",
               as_user ? as_user : "", as_user ? ")" : "");
}

int check_run(Host *h, HostConfig *config, const char *config_file, bool json) {
        _cleanup_free_ RootVerdict *roots = NULL;
        _cleanup_free_ char *as_user = NULL;
        struct passwd *pw;
        size_t n_roots = 0;
        bool bad = false;
        int r;

        /* The service runs as its own user: its uid owns the store, and a
         * read-only root it owns is refused.  Root's view would differ. */
        if (geteuid() == 0 && (pw = getpwnam(DC_SERVICE_USER)))
                config->self_uid = pw->pw_uid;
        if ((pw = getpwuid(config->self_uid)) && !(as_user = strdup(pw->pw_name)))
                return log_oom();

        r = host_check(h);
        if (r < 0)
                return log_error_errno(r, "Failed to check plugins: %m");

        while (host_roots(h)[n_roots])
                n_roots++;
        roots = calloc(n_roots + 1, sizeof(RootVerdict));
        if (!roots)
                return log_oom();
        for (size_t i = 0; i < n_roots && r >= 0; i++) {
                r = check_root(h, i, &roots[i]);
                bad = bad || (r >= 0 && root_is_bad(&roots[i]));
        }
        for (size_t i = 0; i < host_n_records(h); i++)
                bad = bad || plugin_is_bad(host_record(h, i));
        bad = bad || host_n_shadowed(h) > 0 || host_policy(h)->mode == SIGNATURES_INVALID;

        if (r >= 0) {
                if (json)
                        r = print_json(h, roots, !bad, config_file, as_user);
                else
                        print_text(h, roots, n_roots, config_file, as_user);
        }
        for (size_t i = 0; i < n_roots; i++)
                free(roots[i].message);
        if (r < 0)
                return log_oom();
        return bad ? -EPERM : 0;
}
