/* SPDX-License-Identifier: MIT */
/*
 * Anti-rollback (docs/plugin-security.md, "Installing plugins"): the highest
 * version ever installed of each plugin id, kept below the state directory;
 * an install or replace below it is refused unless an admin allows the
 * downgrade.
 */
#pragma once

/* <0, 0, >0 like strcmp: dotted numeric parts compare as numbers, other
 * parts as text, and a pre-release ("1.2.0-rc1") sorts before its release. */
int version_compare(const char *a, const char *b);

/* The floor of id (caller frees): 0, or -ENOENT when none is recorded. */
int version_floor_get(const char *state_dir, const char *id, char **ret);
/* Record version as id's floor if it is higher than the one recorded. */
int version_floor_raise(const char *state_dir, const char *id, const char *version);
