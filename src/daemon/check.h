/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "host.h"

/*
 * `dc-plugin-hostd --check` (like sshd -t): verify every plugin directory,
 * the install store and every plugin without running plugin code, and print
 * a verdict for each.  Run as root, the checks apply the owner rules of the
 * service user, as the running service would (config->self_uid is set to
 * its uid before the policy is built).  config_file: the configuration file
 * read, for the report.  0: everything passes; -EPERM: a directory, the
 * store or a plugin is refused (or the policy is invalid); another negative
 * errno: the check itself failed (logged).
 */
int check_run(Host *h, HostConfig *config, const char *config_file, bool json);
