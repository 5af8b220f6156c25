/* SPDX-License-Identifier: MIT */
/*
 * The commands of dc-plugin-hostctl, one group per file:
 *   hostctl-query.c    status, list, show (Manager.Describe)
 *   hostctl-manage.c   load, unload, reload, rescan, reload-config, invoke
 *   hostctl-install.c  install (a file, a folder or an https:// URL), remove, publish, artifacts
 *   hostctl-verify.c   verify (in place, --content-only), hash
 *   hostctl-verify-daemon.c   verify --daemon
 * Each returns 0, a negative errno or an exit status (hostctl.h).
 */
#pragma once

#include <stdbool.h>

#include "hostctl.h"

int verb_status(Hostctl *c, char **args, int n);
int verb_list(Hostctl *c, char **args, int n);
int verb_show(Hostctl *c, char **args, int n);

int verb_load(Hostctl *c, char **args, int n);
int verb_unload(Hostctl *c, char **args, int n);
int verb_reload(Hostctl *c, char **args, int n);
int verb_rescan(Hostctl *c, char **args, int n);
int verb_reload_config(Hostctl *c, char **args, int n);
int verb_invoke(Hostctl *c, char **args, int n);

int verb_install(Hostctl *c, char **args, int n);
int verb_remove(Hostctl *c, char **args, int n);
int verb_publish(Hostctl *c, char **args, int n);
int verb_artifacts(Hostctl *c, char **args, int n);
/* The archive to send: the file itself, or a folder packed into a memfd.
 * An fd, or a negative errno after a message. */
int hostctl_open_archive(const char *path);
/* "https://…" and other URLs: installed by the daemon from there. */
bool hostctl_is_url(const char *s);

int verb_hash(Hostctl *c, char **args, int n);
int verb_verify(Hostctl *c, char **args, int n);
int verb_verify_daemon(Hostctl *c, char **args, int n);
