/* SPDX-License-Identifier: MIT */
#include "quarantine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-check.h"
#include "macro.h"
#include "plugin-id.h"

#define WHY_MAX 1024u

bool crash_history_add(CrashHistory *h, uint64_t now, unsigned limit, uint64_t interval) {
        h->at[h->next] = now;
        h->next = (h->next + 1) % CRASH_HISTORY_MAX;
        if (h->n < CRASH_HISTORY_MAX)
                h->n++;
        return crash_history_recent(h, now, interval) >= MIN(limit, CRASH_HISTORY_MAX);
}

unsigned crash_history_recent(const CrashHistory *h, uint64_t now, uint64_t interval) {
        unsigned n = 0;
        for (unsigned i = 0; i < h->n; i++)
                if (now - h->at[i] < interval)
                        n++;
        return n;
}

#define QUARANTINE_DIR "quarantine.d"
#define CRASHED_DIR    "crashed-in-process.d"

static int path_for(const char *state_dir, const char *kind, const char *id, char **dir, char **path) {
        if (!state_dir)
                return -EROFS;
        if (!plugin_id_is_valid(id))
                return -EINVAL;
        if (asprintf(dir, "%s/%s", state_dir, kind) < 0)
                return -ENOMEM;
        if (asprintf(path, "%s/%s", *dir, id) < 0)
                return -ENOMEM;
        return 0;
}

static int note_set(const char *state_dir, const char *kind, const char *id, const char *why) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *tmp = NULL;
        int r = path_for(state_dir, kind, id, &dir, &path);
        if (r < 0)
                return r;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        size_t n = strnlen(why, WHY_MAX);
        if (write(fd, why, n) != (ssize_t) n || fsync(fd) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static int note_clear(const char *state_dir, const char *kind, const char *id) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        int r = path_for(state_dir, kind, id, &dir, &path);
        if (r < 0)
                return r;
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static int note_get(const char *state_dir, const char *kind, const char *id, char **why) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
        size_t len;
        int r = path_for(state_dir, kind, id, &dir, &path);
        if (r < 0)
                return r == -EROFS ? -ENOENT : r;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        r = read_fd_full(fd, WHY_MAX, &text, &len);
        if (r < 0)
                return r;
        if (!utf8_is_valid_text(text, WHY_MAX))
                return (*why = strdup(kind)) ? 0 : -ENOMEM;
        *why = TAKE_PTR(text);
        return 0;
}

int quarantine_set(const char *state_dir, const char *id, const char *why) {
        return note_set(state_dir, QUARANTINE_DIR, id, why);
}

int quarantine_clear(const char *state_dir, const char *id) {
        return note_clear(state_dir, QUARANTINE_DIR, id);
}

int quarantine_get(const char *state_dir, const char *id, char **why) {
        return note_get(state_dir, QUARANTINE_DIR, id, why);
}

int crashed_in_process_set(const char *state_dir, const char *id) {
        return note_set(state_dir, CRASHED_DIR, id, "the daemon ended inside this plugin's code");
}

int crashed_in_process_clear(const char *state_dir, const char *id) {
        return note_clear(state_dir, CRASHED_DIR, id);
}

bool crashed_in_process_get(const char *state_dir, const char *id) {
        _cleanup_free_ char *why = NULL;
        return note_get(state_dir, CRASHED_DIR, id, &why) == 0;
}
