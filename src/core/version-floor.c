/* SPDX-License-Identifier: MIT */
#include "version-floor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs-check.h"
#include "macro.h"
#include "plugin-id.h"

#define FLOOR_DIR "version-floor.d"
#define FLOOR_MAX 256

static bool all_digits(const char *s, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) s[i]))
                        return false;
        return true;
}

/* One part: numbers as numbers (never overflowing), else as text. */
static int compare_part(const char *a, size_t na, const char *b, size_t nb) {
        if (all_digits(a, na) && all_digits(b, nb)) {
                while (na > 1 && *a == '0')
                        a++, na--;
                while (nb > 1 && *b == '0')
                        b++, nb--;
                if (na != nb)
                        return na < nb ? -1 : 1;
                return strncmp(a, b, na);
        }
        int c = strncmp(a, b, MIN(na, nb));
        return c != 0 ? c : na == nb ? 0 : na < nb ? -1 : 1;
}

/* Dot-separated parts of a[0..na) and b[0..nb); a missing part sorts first. */
static int compare_dotted(const char *a, size_t na, const char *b, size_t nb) {
        const char *ea = a + na, *eb = b + nb;
        while (a < ea || b < eb) {
                if (a >= ea)
                        return -1;
                if (b >= eb)
                        return 1;
                const char *da = memchr(a, '.', (size_t) (ea - a)), *db = memchr(b, '.', (size_t) (eb - b));
                size_t la = da ? (size_t) (da - a) : (size_t) (ea - a), lb = db ? (size_t) (db - b) : (size_t) (eb - b);
                int c = compare_part(a, la, b, lb);
                if (c != 0)
                        return c;
                a += la + (da ? 1 : 0);
                b += lb + (db ? 1 : 0);
        }
        return 0;
}

int version_compare(const char *a, const char *b) {
        assert(a && b);
        /* core[-pre-release][+build]: build metadata never orders */
        size_t la = strcspn(a, "+"), lb = strcspn(b, "+");
        const char *pa = memchr(a, '-', la), *pb = memchr(b, '-', lb);
        size_t ca = pa ? (size_t) (pa - a) : la, cb = pb ? (size_t) (pb - b) : lb;
        int c = compare_dotted(a, ca, b, cb);
        if (c != 0)
                return c;
        if (!pa || !pb) /* a release sorts after its pre-releases */
                return !pa && !pb ? 0 : !pa ? 1 : -1;
        return compare_dotted(pa + 1, la - ca - 1, pb + 1, lb - cb - 1);
}

static int floor_path(const char *state_dir, const char *id, char **ret) {
        if (!state_dir || !plugin_id_is_valid(id))
                return -EINVAL;
        return asprintf(ret, "%s/" FLOOR_DIR "/%s", state_dir, id) < 0 ? -ENOMEM : 0;
}

int version_floor_get(const char *state_dir, const char *id, char **ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len;
        int r = floor_path(state_dir, id, &path);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = read_fd_full(fd, FLOOR_MAX, &text, &len);
        if (r < 0)
                return r;
        text[strcspn(text, "\n")] = 0;
        if (isempty(text))
                return -ENOENT;
        *ret = TAKE_PTR(text);
        return 0;
}

int version_floor_raise(const char *state_dir, const char *id, const char *version) {
        _cleanup_free_ char *path = NULL, *dir = NULL, *tmp = NULL, *old = NULL;
        int r = floor_path(state_dir, id, &path);
        if (r < 0)
                return r;
        if (isempty(version) || strlen(version) >= FLOOR_MAX)
                return -EINVAL;
        if (version_floor_get(state_dir, id, &old) >= 0 && version_compare(version, old) <= 0)
                return 0;
        if (asprintf(&dir, "%s/" FLOOR_DIR, state_dir) < 0 || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        size_t n = strlen(version);
        if (write(fd, version, n) != (ssize_t) n || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return rename(tmp, path) < 0 ? -errno : 0;
}
