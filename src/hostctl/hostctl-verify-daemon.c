/* SPDX-License-Identifier: MIT */
/*
 * verify --daemon: the running daemon's verdict on a plugin (Describe: its
 * state, reason, digest and root, and the daemon's own policy), with the
 * local copy compared when a path is given.  Nothing is re-checked here.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "hostctl-bus.h"
#include "hostctl-output.h"
#include "hostctl-path.h"
#include "hostctl-verbs.h"
#include "image.h"
#include "json-util.h"
#include "log.h"

/* The .so of a local plugin folder or the .so itself: its digest, or NULL. */
static char *local_digest(const char *path, const char *id, const struct stat *st) {
        _cleanup_free_ char *so = NULL;
        uint8_t d[SHA256_DIGEST_SIZE];
        char s[DIGEST_STRING_MAX];
        if (S_ISDIR(st->st_mode) ? asprintf(&so, "%s/%s.so", path, id) < 0 : !(so = strdup(path)))
                return NULL;
        _cleanup_close_ int fd = open(so, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || sha256_fd(fd, d) < 0)
                return NULL;
        digest_format(d, s);
        return strdup(s);
}

int verb_verify_daemon(Hostctl *c, char **args, int n) {
        _cleanup_json_ struct json_object *d = NULL, *o = NULL;
        _cleanup_free_ char *id = NULL, *digest = NULL, *parent = NULL, *name = NULL;
        struct json_object *p, *shadow, *policy = NULL, *daemon;
        const char *arg = args[0], *base = strrchr(arg, '/');
        struct stat st;
        int r;

        /* An id, or a local copy (a folder or <id>.so) named by a path. */
        bool local = (base || endswith(arg, ".so") || !c->arg->host) && stat(arg, &st) >= 0;
        if (local) {
                r = hostctl_split_path(arg, &parent, &name);
                if (r < 0)
                        return log_error_errno(r, "Cannot resolve %s: %m", arg);
        }
        base = local ? name : base ? base + 1 : arg;
        id = endswith(base, ".so") ? strndup(base, strlen(base) - 3) : strdup(base);
        if (!id)
                return log_oom();
        if (local)
                digest = local_digest(arg, id, &st);

        r = hostctl_describe(c, &d);
        if (r != 0)
                return r;
        json_object_object_get_ex(d, "policy", &policy);
        p = hostctl_describe_find(d, "plugins", id);
        shadow = hostctl_describe_find(d, "shadowed", id);
        if (!p) {
                log_error("The daemon%s%s knows no plugin '%s' in its plugin directories (one just added: "
                          "dc-plugin-hostctl rescan).", c->arg->host ? " on " : "", c->arg->host ? c->arg->host : "", id);
                return HOSTCTL_EXIT_NO_SUCH_PLUGIN;
        }
        const char *state = json_get_string_or_empty(p, "state"), *root = json_get_string_or_empty(p, "root");
        bool ok = streq(state, "available") || streq(state, "loaded");

        if (json_object_deep_copy(p, &o, NULL) < 0 || !(daemon = json_object_new_object()))
                return log_oom();
        json_object_object_add(o, "ok", json_object_new_boolean(ok));
        json_object_object_add(daemon, "version", json_object_new_string(json_get_string_or_empty(d, "version")));
        json_object_object_add(daemon, "policy", policy ? json_object_get(policy) : NULL);
        json_object_object_add(o, "daemon", daemon);
        json_object_object_add(o, "shadowed", shadow ? json_object_get(shadow) : NULL);
        if (local) {
                struct json_object *l = json_object_new_object();
                if (!l)
                        return log_oom();
                json_object_object_add(l, "path", json_object_new_string(arg));
                json_object_object_add(l, "digest", digest ? json_object_new_string(digest) : NULL);
                json_object_object_add(o, "local", l);
        }

        output_begin();
        if (output_json_enabled())
                output_json(o);
        else {
                if (output_legend()) {
                        printf("       Daemon: dc-plugin-hostd %s%s%s; policy %s%s, %d pin(s), %d trusted key(s)\n",
                               json_get_string_or_empty(d, "version"), c->arg->host ? " on " : "",
                               c->arg->host ? c->arg->host : "", json_get_string_or_empty(policy, "mode"),
                               json_object_get_boolean(json_object_object_get(policy, "require_signatures"))
                                       ? ", signatures required"
                                       : "",
                               json_get_int_or_zero(policy, "pins"), json_get_int_or_zero(policy, "trusted_keys"));
                        printf("    Directory: %s (%s)\n", root, json_get_string_or_empty(p, "layout"));
                }
                if (ok)
                        printf("%s: ok (%s)\n", id, state);
                else
                        printf("%s: %s%s%s\n", id,
                               *json_get_string_or_empty(p, "reason") ? json_get_string_or_empty(p, "reason") : state,
                               *json_get_string_or_empty(p, "message") ? " — " : "",
                               json_get_string_or_empty(p, "message"));
                if (*json_get_string_or_empty(p, "digest"))
                        printf("digest: %s\n", json_get_string_or_empty(p, "digest"));
        }
        /* What the verdict is about: maybe not the copy the caller has in mind. */
        if (shadow)
                log_warning("Another %s in %s lost to this one: %s", id, json_get_string_or_empty(shadow, "root"),
                            json_get_string_or_empty(shadow, "message"));
        if (local && parent && !c->arg->host && !streq(parent, root))
                log_warning("%s is not where the daemon reads %s from (%s): the verdict is about that copy.", arg, id,
                            root);
        else if (digest && *json_get_string_or_empty(p, "digest") &&
                 !streq(digest, json_get_string_or_empty(p, "digest")))
                log_warning("%s has digest %s, the daemon checked %s: dc-plugin-hostctl %s %s re-reads it.", arg,
                            digest, json_get_string_or_empty(p, "digest"), streq(state, "loaded") ? "reload" : "load",
                            id);
        if (ok)
                return 0;
        return streq(state, "disabled") ? HOSTCTL_EXIT_FAILURE : HOSTCTL_EXIT_REJECTED;
}
