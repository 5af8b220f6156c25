/* SPDX-License-Identifier: MIT */
#include "hostctl-path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

int hostctl_split_path(const char *path, char **ret_dir, char **ret_name) {
        _cleanup_free_ char *copy = NULL, *dir = NULL, *name = NULL;

        if (isempty(path))
                return -EINVAL;
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
                copy[strlen(copy) - 1] = 0;
        char *slash = strrchr(copy, '/');
        const char *last = slash ? slash + 1 : copy;
        if (streq(copy, "/"))
                return -EISDIR; /* no name */
        if (streq(last, ".") || streq(last, "..")) {
                char *abs = realpath(copy, NULL);
                if (!abs)
                        return -errno;
                free(copy);
                copy = abs;
                if (streq(copy, "/"))
                        return -EISDIR;
                slash = strrchr(copy, '/');
                last = slash + 1;
        }
        name = strdup(last);
        if (!name)
                return -ENOMEM;
        if (slash)
                *slash = 0;
        dir = realpath(slash ? (slash == copy ? "/" : copy) : ".", NULL);
        if (!dir)
                return -errno;
        *ret_dir = TAKE_PTR(dir);
        *ret_name = TAKE_PTR(name);
        return 0;
}
