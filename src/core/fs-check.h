/* SPDX-License-Identifier: MIT */
/* Directory, owner and permission rules for plugin roots and files
 * (docs/plugin-security.md, "Directories"). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "reason.h"

#define UID_INVALID ((uid_t) -1)

typedef enum RootKind {
        ROOT_READONLY, /* packaged/admin roots: root (or trusted uid), never the daemon uid */
        ROOT_STORE,    /* the daemon's install store: the daemon uid or root */
} RootKind;

typedef struct OwnerRule {
        RootKind kind;
        uid_t self_uid;    /* the daemon's euid */
        uid_t trusted_uid; /* extra trusted owner for read-only roots, or UID_INVALID */
} OwnerRule;

bool owner_rule_allows(const OwnerRule *rule, uid_t uid);
/* "root", "root or uid 990", "uid 990 (the daemon) or root" */
void owner_rule_describe(const OwnerRule *rule, char *buf, size_t size);

/*
 * Open a configured plugin root (canonical path) with O_DIRECTORY|O_NOFOLLOW
 * and check it and every ancestor.  Returns the fd, -ENOENT when missing,
 * another negative errno when it cannot be read, or -EPERM when insecure
 * (*inner then holds Charon's inner message, e.g. "directory is
 * world-writable (mode: 777) - this is a security risk").
 */
int root_open_checked(const char *path, const OwnerRule *rule, char **inner);

/* Check a directory's or file's fstat result against the rule.  Sets *v. */
int check_plugin_dir_stat(const struct stat *st, const OwnerRule *rule, Verdict *v);
int check_plugin_file_stat(const struct stat *st, const OwnerRule *rule, uint64_t max_size, const char *what,
                           Verdict *v);

/* Open name below dirfd with O_NOFOLLOW, as a regular file checked by
 * check_plugin_file_stat().  -ENOENT if absent (no verdict set). */
int openat_plugin_file(int dirfd, const char *name, const OwnerRule *rule, uint64_t max_size, const char *what,
                       struct stat *ret_st, Verdict *v);

/* Read a small checked file fully (NUL-terminated). */
int read_fd_full(int fd, size_t max, char **ret, size_t *ret_len);
