/* SPDX-License-Identifier: MIT */
#include "hostctl-output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostctl-pager.h"

static JsonFormat json_format = JSON_FORMAT_OFF;
static bool legend = true, pager = true;

static const char *const json_format_table[_JSON_FORMAT_MAX] = {
        [JSON_FORMAT_OFF] = "off",
        [JSON_FORMAT_SHORT] = "short",
        [JSON_FORMAT_PRETTY] = "pretty",
};

int json_format_from_string(const char *s) {
        for (int i = 0; i < _JSON_FORMAT_MAX; i++)
                if (s && streq(s, json_format_table[i]))
                        return i;
        return -EINVAL;
}

void output_setup(JsonFormat json, bool with_legend, bool with_pager) {
        json_format = json;
        legend = with_legend;
        pager = with_pager;
}

bool output_json_enabled(void) {
        return json_format != JSON_FORMAT_OFF;
}

bool output_legend(void) {
        return legend;
}

void output_begin(void) {
        if (pager)
                (void) pager_open();
}

void output_end(void) {
        fflush(stdout);
        pager_close();
}

int output_json(struct json_object *o) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE;
        flags |= json_format == JSON_FORMAT_SHORT ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
        const char *s = json_object_to_json_string_ext(o, flags);
        if (!s)
                return -ENOMEM;
        puts(s);
        return 0;
}

/* ---- tables -------------------------------------------------------------------- */

struct Table {
        unsigned n_columns;
        char **cells; /* rows * n_columns, the headers first */
        size_t n_rows; /* with the header row */
};

Table *table_new_v(unsigned n_columns, const char *const *headers) {
        Table *t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        t->n_columns = n_columns;
        t->cells = calloc(n_columns, sizeof(char *));
        if (!t->cells)
                return table_free(t);
        t->n_rows = 1;
        for (unsigned i = 0; i < n_columns; i++)
                if (!(t->cells[i] = strdup(headers[i])))
                        return table_free(t);
        return t;
}

/* The n strings of a va_list as an array (the caller frees). */
static const char **va_strings(unsigned n, va_list ap) {
        const char **v = calloc(MAX(n, 1u), sizeof(char *));
        for (unsigned i = 0; v && i < n; i++)
                v[i] = va_arg(ap, const char *);
        return v;
}

Table *table_new(unsigned n_columns, ...) {
        va_list ap;
        va_start(ap, n_columns);
        _cleanup_free_ const char **headers = va_strings(n_columns, ap);
        va_end(ap);
        return headers ? table_new_v(n_columns, headers) : NULL;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; t->cells && i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

int table_add_row_v(Table *t, const char *const *cells) {
        char **all = reallocarray(t->cells, (t->n_rows + 1) * t->n_columns, sizeof(char *));
        if (!all)
                return -ENOMEM;
        t->cells = all;
        char **row = all + t->n_rows * t->n_columns;
        memset(row, 0, t->n_columns * sizeof(char *));
        t->n_rows++; /* from here the row is the table's to free */
        for (unsigned i = 0; i < t->n_columns; i++)
                if (!(row[i] = strdup(isempty(cells[i]) ? "-" : cells[i])))
                        return -ENOMEM;
        return 0;
}

int table_add_row(Table *t, ...) {
        va_list ap;
        va_start(ap, t);
        _cleanup_free_ const char **cells = va_strings(t->n_columns, ap);
        va_end(ap);
        return cells ? table_add_row_v(t, cells) : -ENOMEM;
}

size_t table_n_rows(const Table *t) {
        return t->n_rows - 1;
}

/* Display width of UTF-8 text: one column per character (no wide scripts here). */
static size_t text_width(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += ((unsigned char) *s & 0xc0) != 0x80;
        return n;
}

int table_print(Table *t) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));
        if (!width)
                return -ENOMEM;
        for (size_t r = 0; r < t->n_rows; r++)
                for (unsigned c = 0; c < t->n_columns; c++)
                        width[c] = MAX(width[c], text_width(t->cells[r * t->n_columns + c]));
        for (size_t r = legend ? 0 : 1; r < t->n_rows; r++) {
                for (unsigned c = 0; c < t->n_columns; c++) {
                        const char *s = t->cells[r * t->n_columns + c];
                        if (c + 1 == t->n_columns)
                                printf("%s\n", s);
                        else
                                printf("%s%*s ", s, (int) (width[c] - text_width(s)), "");
                }
        }
        return 0;
}

const char *digest_short(const char *digest, char buf[static 32]) {
        if (isempty(digest))
                return "-";
        snprintf(buf, 32, "%.19s%s", digest, strlen(digest) > 19 ? "…" : "");
        return buf;
}
