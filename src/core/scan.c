/* SPDX-License-Identifier: MIT */
#include "scan.h"

#include <dirent.h>
#include <fcntl.h>

#include "lifecycle.h"
#include "log.h"
#include "strv.h"

int roots_init(Host *h) {
        const HostConfig *config = h->config;
        size_t n = strv_length(config->plugin_dirs) + (config->store_dir ? 1 : 0);

        h->roots = calloc(n + 1, sizeof(char *));
        h->root_kinds = calloc(n + 1, sizeof(RootKind));
        if (!h->roots || !h->root_kinds)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                bool store = config->store_dir && i == n - 1;
                const char *path = store ? config->store_dir : config->plugin_dirs[i];
                char *canon = isempty(path) ? NULL : realpath(path, NULL);
                h->roots[i] = canon ? canon : strdup(path);
                if (!h->roots[i])
                        return -ENOMEM;
                h->root_kinds[i] = store ? ROOT_STORE : ROOT_READONLY;
                h->n_roots++;
        }
        return 0;
}

void roots_done(Host *h) {
        h->roots = strv_free(h->roots);
        h->root_kinds = (free(h->root_kinds), NULL);
        h->n_roots = 0;
}

/* Classify a directory entry without following links. */
static int classify_entry(int rootfd, const char *name, PluginLayout *layout) {
        struct stat st;
        size_t l = strlen(name);
        bool dotso = l > 3 && streq(name + l - 3, ".so");

        if (name[0] == '.')
                return 0;
        if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if (S_ISDIR(st.st_mode)) {
                *layout = LAYOUT_FOLDER;
                return 1;
        }
        if (dotso && S_ISREG(st.st_mode)) {
                *layout = LAYOUT_FLAT;
                return 1;
        }
        /* A symlink (or FIFO …) where a plugin would be: record the refusal. */
        if (S_ISLNK(st.st_mode) || (dotso && !S_ISREG(st.st_mode))) {
                *layout = dotso ? LAYOUT_FLAT : LAYOUT_FOLDER;
                return 1;
        }
        return 0; /* readme.txt, plugin.dll: not plugins */
}

static int open_root(Host *h, size_t idx, char **error) {
        _cleanup_free_ char *inner = NULL;
        OwnerRule rule = host_rule_for(h, h->root_kinds[idx]);
        int fd = root_open_checked(h->roots[idx], &rule, &inner);

        if (fd == -EPERM && inner) {
                if (asprintf(error, "plugin directory has insecure permissions: %s", inner) < 0)
                        return -ENOMEM;
        } else if (fd < 0 && fd != -ENOENT) {
                if (asprintf(error, "failed to read plugin directory: %s", strerror(-fd)) < 0)
                        return -ENOMEM;
        }
        return fd;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* One root, its entries in name order.  A returned error aborts this root only. */
static int scan_root(Host *h, size_t idx, unsigned *n_loaded, unsigned *n_failed, char **error) {
        _cleanup_close_ int rootfd = -1;
        _cleanup_strv_free_ char **names = NULL;
        DIR *d;
        struct dirent *de;

        if (isempty(h->roots[idx])) {
                log_info("Plugin directory not configured, skipping plugin loading");
                return 0;
        }
        rootfd = open_root(h, idx, error);
        if (rootfd == -ENOENT) {
                log_struct(LOG_INFO, 0, NULL, LOG_FIELDS(LF("DC_PLUGIN_ROOT", h->roots[idx])),
                           "Plugin directory does not exist, skipping plugin loading");
                return 0;
        }
        if (rootfd < 0)
                return rootfd;

        d = fdopendir(fcntl(rootfd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return -errno;
        names = calloc(1, sizeof(char *));
        while (names && (de = readdir(d)))
                if (strv_extend(&names, de->d_name) < 0)
                        names = strv_free(names);
        closedir(d);
        if (!names)
                return -ENOMEM;
        qsort(names, strv_length(names), sizeof(char *), cmp_str);

        for (char **n = names; *n; n++) {
                PluginLayout layout;
                Verdict v = {};
                if (classify_entry(rootfd, *n, &layout) <= 0)
                        continue;
                /* Live plugins stay as they are; Reload is the way to swap code. */
                _cleanup_free_ char *id = layout == LAYOUT_FLAT ? strndup(*n, strlen(*n) - 3) : strdup(*n);
                PluginRecord *rec = id ? registry_find(&h->registry, id) : NULL;
                if (rec && (rec->plugin || rec->draining || rec->starting) && streq(rec->root, h->roots[idx])) {
                        rec->seen = true;
                        continue;
                }
                int r = lifecycle_load_entry(h, idx, rootfd, *n, layout, &v, NULL, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0)
                        (*n_loaded)++;
                else if (v.reason != REASON_DISABLED)
                        (*n_failed)++;
                verdict_clear(&v);
        }
        return 0;
}

int scan_all(Host *h) {
        unsigned n_loaded = 0, n_failed = 0;

        registry_clear_shadowed(&h->registry);
        registry_clear_seen(&h->registry);
        for (size_t i = 0; i < h->n_roots; i++) {
                _cleanup_free_ char *error = NULL;
                int r = scan_root(h, i, &n_loaded, &n_failed, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_struct(LOG_WARNING, r, NULL,
                                   LOG_FIELDS(LF("DC_ERROR", error ? error : strerror(-r)), LF("DC_PLUGIN_ROOT", h->roots[i])),
                                   "Failed to load external plugins");
        }
        /* Forget candidates that are gone from disk (live ones stay). */
        Registry *reg = &h->registry;
        for (size_t i = reg->n_records; i > 0; i--) {
                PluginRecord *r = reg->records[i - 1];
                if (!r->seen && !r->plugin && !r->draining && !r->starting)
                        registry_remove(reg, r);
        }
        log_info("%s %u external plugins (%u failed)", h->dry_run ? "Verified" : "Starting", n_loaded, n_failed);
        return 0;
}

int scan_locate(Host *h, const char *id, size_t *ret_idx, int *ret_fd, PluginLayout *ret_layout, char **ret_name,
                char **error) {
        _cleanup_free_ char *flat = NULL;

        if (asprintf(&flat, "%s.so", id) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_roots; i++) {
                struct stat st;
                if (isempty(h->roots[i]))
                        continue;
                _cleanup_close_ int fd = open_root(h, i, error);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return fd;
                if (fstatat(fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        *ret_layout = LAYOUT_FOLDER;
                        *ret_name = strdup(id);
                } else if (fstatat(fd, flat, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        *ret_layout = LAYOUT_FLAT;
                        *ret_name = TAKE_PTR(flat);
                } else
                        continue;
                if (!*ret_name)
                        return -ENOMEM;
                *ret_idx = i;
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        return -ENOENT;
}
