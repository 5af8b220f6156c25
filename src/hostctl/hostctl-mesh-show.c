/* SPDX-License-Identifier: MIT */
/*
 * dc-plugin-hostctl --mesh: a remote host's replies shown like the local
 * commands show theirs (status, list and show as tables, one line for the
 * others), or the result as JSON with --json.  A failure is said once: on
 * stderr, or as the JSON result.  Every value comes from a peer and is
 * type-checked; text is escaped before it reaches the terminal.  All of it
 * through hostctl-output.h: --json=, --no-legend and the pager apply.
 */
#include <inttypes.h>

#include "escape.h"
#include "hostctl-mesh.h"
#include "hostctl-output.h"
#include "json-util.h"
#include "log.h"

/* A string member, escaped for the terminal ("" when absent or not a
 * string); the caller frees. */
static char *S(struct json_object *o, const char *key) {
        const char *v = NULL;
        char *e = NULL;
        if (o && json_member_string(o, key, &v) >= 0 && v)
                e = escape_untrusted(v, 512);
        e = e ? e : strdup("");
        if (!e)
                abort(); /* out of memory while printing */
        return e;
}

static long long num(struct json_object *o, const char *key) {
        struct json_object *x;
        return json_object_object_get_ex(o, key, &x) && json_object_is_type(x, json_type_int) ? json_object_get_int64(x) : -1;
}

static bool flag(struct json_object *o, const char *key) {
        struct json_object *x;
        return json_object_object_get_ex(o, key, &x) && json_object_is_type(x, json_type_boolean) && json_object_get_boolean(x);
}

static void print_status(struct json_object *res, const char *device, const char *tenant) {
        _cleanup_free_ char *version = S(res, "version"), *mode = S(res, "signature_mode"), *dir = S(res, "capabilities_dir");
        struct json_object *plugins;
        long long api = num(res, "api_level"), loaded = num(res, "loaded_count");
        printf("        Device: %s (tenant %s)\n", device, tenant);
        printf("       Version: %s\n", *version ? version : "- (not dc-plugin-hostd)");
        if (api >= 0)
                printf("     API level: %lld\n", api);
        if (*mode)
                printf("Signature mode: %s\n", mode);
        printf("     Connected: %s\n", flag(res, "connected") ? "yes" : "no");
        printf("   Plugin root: %s\n", *dir ? dir : "-");
        printf("       Plugins: %lld loaded", loaded < 0 ? 0 : loaded);
        if (json_object_object_get_ex(res, "loaded_plugins", &plugins) && json_object_is_type(plugins, json_type_array))
                for (size_t i = 0; i < json_object_array_length(plugins); i++) {
                        struct json_object *p = json_object_array_get_idx(plugins, i);
                        if (json_object_is_type(p, json_type_string)) {
                                _cleanup_free_ char *e = escape_untrusted(json_object_get_string(p), 128);
                                printf("%s%s", i == 0 ? ": " : ", ", e ? e : "?");
                        }
                }
        putchar('\n');
}

/* One plugin of list_plugins: upstream's keys, and ours where the host
 * sends them (state, reason, digest, version, signer, isolation). */
typedef struct Row {
        char *id, *state, *reason, *message, *version, *digest, *signer, *isolation, *path, *description;
        struct json_object *loaded; /* list_plugins' loaded[id], or NULL */
} Row;

static void row_done(Row *r) {
        free(r->id), free(r->state), free(r->reason), free(r->message), free(r->version), free(r->digest);
        free(r->signer), free(r->isolation), free(r->path), free(r->description);
}

static void row_fill(Row *row, struct json_object *entry, struct json_object *loaded_map) {
        struct json_object *man = NULL, *x = NULL;
        row->id = S(entry, "id");
        row->loaded = json_member_object(loaded_map, row->id, &x) >= 0 ? x : NULL;
        row->state = S(entry, "state");
        if (!*row->state) { /* the Python host: no state, only "loaded" */
                free(row->state);
                row->state = strdup(flag(entry, "loaded") ? "loaded" : "available");
        }
        row->reason = S(entry, "reason");
        row->message = S(entry, "message");
        (void) json_member_object(entry, "manifest", &man);
        row->version = S(entry, "version");
        if (!*row->version) {
                free(row->version);
                row->version = S(man, "version");
        }
        row->description = S(entry, "description");
        if (!*row->description) {
                free(row->description);
                row->description = S(man, "description");
        }
        row->digest = S(entry, "digest");
        row->signer = S(entry, "signer");
        row->isolation = S(entry, "isolation");
        row->path = S(entry, "path");
}

static int rows_of(struct json_object *res, Row **ret, size_t *n_ret) {
        struct json_object *avail = NULL, *loaded = NULL;
        (void) json_member_object(res, "loaded", &loaded);
        if (!json_object_object_get_ex(res, "available", &avail) || !json_object_is_type(avail, json_type_array))
                return log_error_errno(EBADMSG, "Malformed list_plugins reply (available)");
        size_t n = json_object_array_length(avail);
        Row *rows = calloc(n + 1, sizeof *rows);
        if (!rows)
                return log_oom();
        for (size_t i = 0; i < n; i++)
                row_fill(&rows[i], json_object_array_get_idx(avail, i), loaded);
        *ret = rows;
        *n_ret = n;
        return 0;
}

/* As the local list: ID STATE REASON VERSION DIGEST, and SIGNER and
 * ISOLATION when the host reports them. */
static int print_list(Row *rows, size_t n) {
        const char *headers[7] = { "ID", "STATE", "REASON", "VERSION", "DIGEST" };
        unsigned n_columns = 5, signer = 0, isolation = 0;
        _cleanup_(table_freep) Table *t = NULL;
        for (size_t i = 0; i < n; i++) {
                signer = signer || *rows[i].signer;
                isolation = isolation || *rows[i].isolation;
        }
        if (signer)
                headers[signer = n_columns++] = "SIGNER";
        if (isolation)
                headers[isolation = n_columns++] = "ISOLATION";
        t = table_new_v(n_columns, headers);
        if (!t)
                return log_oom();
        for (size_t i = 0; i < n; i++) {
                Row *r = &rows[i];
                char buf[32];
                const char *cells[7] = { r->id, r->state, r->reason, r->version, digest_short(r->digest, buf) };
                if (signer)
                        cells[signer] = r->signer;
                if (isolation)
                        cells[isolation] = r->isolation;
                if (table_add_row_v(t, cells) < 0)
                        return log_oom();
        }
        table_print(t);
        if (output_legend())
                printf("\n%zu plugin(s).\n", n);
        return 0;
}

static void print_names(const char *label, struct json_object *o, const char *key) {
        struct json_object *a;
        if (!o || !json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                struct json_object *s = json_object_array_get_idx(a, i);
                _cleanup_free_ char *e = json_object_is_type(s, json_type_string) ? escape_untrusted(json_object_get_string(s), 128) : NULL;
                printf("%s %s\n", i == 0 ? label : "            ", e ? e : "?");
        }
}

static int print_show(Row *rows, size_t n, const char *id, const char *device) {
        for (size_t i = 0; i < n; i++) {
                Row *r = &rows[i];
                if (!streq(r->id, id))
                        continue;
                output_begin();
                printf("         Id: %s\n    Version: %s\nDescription: %s\n      State: %s\n", r->id, r->version,
                       r->description, r->state);
                if (*r->reason)
                        printf(" Last error: %s: %s\n", r->reason, r->message);
                printf("     Digest: %s\n", *r->digest ? r->digest : "-");
                if (*r->signer)
                        printf("     Signer: %s\n", r->signer);
                if (*r->isolation)
                        printf("  Isolation: %s\n", r->isolation);
                printf("       Path: %s\n", r->path);
                print_names("  Functions:", r->loaded, "functions");
                print_names("   Routines:", r->loaded, "routines");
                return 0;
        }
        return log_error_errno(ENOENT, "No plugin '%s' on %s.", id, device);
}

/* As the local artifacts, and the URL other hosts install it from. */
static int print_artifacts(struct json_object *res) {
        _cleanup_(table_freep) Table *t = table_new(7, "PLUGIN", "VERSION", "FILE", "SIZE", "CREATED", "DIGEST", "URL");
        struct json_object *list;
        if (!t)
                return log_oom();
        if (!json_object_object_get_ex(res, "artifacts", &list) || !json_object_is_type(list, json_type_array))
                return log_error_errno(EBADMSG, "Malformed list_plugin_artifacts reply (artifacts)");
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                struct json_object *a = json_object_array_get_idx(list, i);
                _cleanup_free_ char *pid = S(a, "plugin_id"), *version = S(a, "version"), *file = S(a, "filename"),
                                    *created = S(a, "created_at"), *digest = S(a, "digest"), *url = S(a, "url");
                char size[32] = "", buf[32];
                if (num(a, "size") >= 0)
                        snprintf(size, sizeof size, "%lld", num(a, "size"));
                if (table_add_row(t, pid, version, file, size, created, digest_short(digest, buf), url) < 0)
                        return log_oom();
        }
        table_print(t);
        if (output_legend())
                printf("\n%zu artifact(s).\n", table_n_rows(t));
        return 0;
}

/* The one line of a successful admin RPC, or the result. */
static int print_done(const char *verb, char **args, struct json_object *res) {
        _cleanup_free_ char *id = S(res, "plugin_id"), *to = S(res, "installed_to");
        struct json_object *art;
        if (streq(verb, "install")) {
                printf("Installed plugin %s (%s)", id, to);
                if (json_object_object_get_ex(res, "load_result", &art))
                        printf(", loaded\n");
                else if (flag(res, "reload_required"))
                        printf("; the previous version keeps running until: dc-plugin-hostctl --mesh reload %s\n", id);
                else
                        printf(", %s\n", flag(res, "loaded") ? "loaded" : "not loaded");
        } else if (streq(verb, "remove"))
                printf("Removed plugin %s\n", args[0]);
        else if (streq(verb, "load") || streq(verb, "reload") || streq(verb, "unload"))
                printf("%s plugin %s\n", streq(verb, "unload") ? "Unloaded" : streq(verb, "load") ? "Loaded" : "Reloaded", args[0]);
        else if (streq(verb, "publish") && json_member_object(res, "artifact", &art) >= 0 && art) {
                _cleanup_free_ char *url = S(art, "url"), *digest = S(art, "digest");
                printf("Published %s as %s\n  digest: %s\n    size: %lld\n", args[0], url, digest, num(art, "size"));
        } else if (streq(verb, "artifacts"))
                return print_artifacts(res);
        else
                return output_json(res);
        return 0;
}

int hostctl_mesh_print(const char *verb, char **args, struct json_object *reply, const char *device, const char *tenant) {
        struct json_object *res, *err;
        const char *status = NULL;
        _cleanup_free_ char *what = NULL;
        int r = 0;

        if (asprintf(&what, "%s%s%s", verb, args && args[0] && !streq(verb, "install") ? " " : "",
                     args && args[0] && !streq(verb, "install") ? args[0] : "") < 0)
                return log_oom();
        if (json_member_object(reply, "error", &err) >= 0 && err) {
                _cleanup_free_ char *msg = S(err, "message");
                if (output_json_enabled()) {
                        output_begin();
                        output_json(reply);
                } else
                        log_error("Failed to %s on %s: %s", what, device, *msg ? msg : "error");
                return -EIO;
        }
        if (!json_object_object_get_ex(reply, "result", &res))
                return log_error_errno(EBADMSG, "Failed to %s on %s: malformed reply", what, device);
        /* host RPCs report failures as results (docs/mesh.md); a plugin
         * function's result is its own */
        if (!streq(verb, "invoke") && json_member_string(res, "status", &status) == -EBADMSG)
                return log_error_errno(EBADMSG, "Failed to %s on %s: malformed reply (status)", what, device);
        bool failed = status && !streq(status, "success");
        if (output_json_enabled() && !streq(verb, "show")) {
                output_begin();
                output_json(res);
                return failed ? -EIO : 0;
        }
        if (failed) {
                _cleanup_free_ char *msg = S(res, "message"), *reason = S(res, "error");
                log_error("Failed to %s on %s: %s%s%s%s", what, device, *msg ? msg : status, *reason ? " (" : "", reason,
                          *reason ? ")" : "");
                return -EIO;
        }
        /* show: a plugin the host does not know is said before the pager starts */
        if (!streq(verb, "show"))
                output_begin();
        if (streq(verb, "status"))
                print_status(res, device, tenant);
        else if (streq(verb, "list") || streq(verb, "show")) {
                Row *rows = NULL;
                size_t n = 0;
                r = rows_of(res, &rows, &n);
                if (r < 0)
                        return r;
                if (streq(verb, "list"))
                        r = print_list(rows, n);
                else if (output_json_enabled()) {
                        struct json_object *avail, *entry = NULL;
                        json_object_object_get_ex(res, "available", &avail);
                        for (size_t i = 0; i < n && !entry; i++)
                                if (streq(rows[i].id, args[0]))
                                        entry = json_object_array_get_idx(avail, i);
                        if (entry) {
                                output_begin();
                                output_json(entry);
                        } else
                                r = log_error_errno(ENOENT, "No plugin '%s' on %s.", args[0], device);
                } else
                        r = print_show(rows, n, args[0], device);
                for (size_t i = 0; i < n; i++)
                        row_done(&rows[i]);
                free(rows);
        } else
                r = print_done(verb, args, res);
        return r;
}
