/* SPDX-License-Identifier: MIT */
/*
 * The daemon's writable state: the install store with its private staging
 * directory (docs/plugin-security.md, "Installing plugins"), and the
 * persisted "disabled" marks below the state directory.
 */
#pragma once

#include <stdbool.h>

#include "fs-check.h"
#include "reason.h"

#define STORE_STAGING_DIR ".staging"

/* Open (create: mkdir if missing) the store root under the owner rule;
 * an fd, or < 0 with *v set (read-only, insecure, ...). */
int store_open(const char *path, const OwnerRule *rule, bool create, Verdict *v);
/* <store>/.staging, created 0700 and checked to be the daemon's own. */
int store_open_staging(int store_fd, const char *store_path, Verdict *v);
/* A fresh directory "<prefix>-<random>" below staging: its fd, *ret_name. */
int store_make_job_dir(int staging_fd, const char *prefix, char **ret_name);
/* Empty what a crashed install left in <store>/.staging (start-up). */
int store_clean_staging(const char *store_path, const OwnerRule *rule);

/* <state_dir>/disabled.d/<id>: honoured at start-up, cleared by an explicit load. */
int state_set_disabled(const char *state_dir, const char *id, bool disabled);
bool state_is_disabled(const char *state_dir, const char *id);
