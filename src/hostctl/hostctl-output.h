/* SPDX-License-Identifier: MIT */
/*
 * The one formatter of dc-plugin-hostctl: every command prints its result
 * either as text (tables with a legend) or as JSON in the --json= format,
 * on a pager when stdout is a terminal (--no-pager turns it off).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "macro.h"

typedef enum JsonFormat {
        JSON_FORMAT_OFF,
        JSON_FORMAT_SHORT,  /* one line */
        JSON_FORMAT_PRETTY, /* indented */
        _JSON_FORMAT_MAX,
} JsonFormat;

/* "off", "short", "pretty"; -EINVAL otherwise. */
int json_format_from_string(const char *s);

void output_setup(JsonFormat json, bool legend, bool pager);
/* --json=short or pretty: print the result with output_json(). */
bool output_json_enabled(void);
/* Column headers, footers and context lines (not with --no-legend). */
bool output_legend(void);

/* A command's main output starts: page it from here on (a terminal, and
 * the pager not turned off).  Idempotent. */
void output_begin(void);
/* Flush and wait for the pager (at exit). */
void output_end(void);

/* o in the --json= format; pretty when --json is off (for commands whose
 * only output is JSON, such as invoke).  Takes no reference. */
int output_json(struct json_object *o);

/* A text table: columns padded to their widest cell, the last one not.
 * The header row is printed only with the legend. */
typedef struct Table Table;
Table *table_new(unsigned n_columns, ...); /* the headers */
Table *table_new_v(unsigned n_columns, const char *const *headers);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
/* One row of n_columns cells (NULL or "" print as "-"). */
int table_add_row(Table *t, ...);
int table_add_row_v(Table *t, const char *const *cells);
size_t table_n_rows(const Table *t);
int table_print(Table *t);

/* "sha256:0123456789ab…": a digest cut for tables. */
const char *digest_short(const char *digest, char buf[static 32]);
