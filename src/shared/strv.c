/* SPDX-License-Identifier: MIT */
#include "strv.h"

char **strv_free(char **l) {
        if (l)
                for (char **i = l; *i; i++)
                        free(*i);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

bool strv_contains(char *const *l, const char *s) {
        if (l)
                for (char *const *i = l; *i; i++)
                        if (streq(*i, s))
                                return true;
        return false;
}

int strv_consume(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **nl;

        if (!s)
                return -ENOMEM;
        nl = realloc(*l, (n + 2) * sizeof(char *));
        if (!nl) {
                free(s);
                return -ENOMEM;
        }
        nl[n] = s;
        nl[n + 1] = NULL;
        *l = nl;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        return strv_consume(l, strdup(s));
}

char **strv_split(const char *s, const char *separators) {
        char **l = calloc(1, sizeof(char *));
        if (!l)
                return NULL;
        while (s && *s) {
                size_t skip = strspn(s, separators);
                s += skip;
                size_t n = strcspn(s, separators);
                if (n == 0)
                        break;
                if (strv_consume(&l, strndup(s, n)) < 0)
                        return strv_free(l);
                s += n;
        }
        return l;
}

char **strv_copy(char *const *l) {
        char **c = calloc(1, sizeof(char *));
        if (!c)
                return NULL;
        if (l)
                for (char *const *i = l; *i; i++)
                        if (strv_extend(&c, *i) < 0)
                                return strv_free(c);
        return c;
}

char **strv_remove(char **l, const char *s) {
        char **w = l;
        if (!l)
                return NULL;
        for (char **r = l; *r; r++)
                if (streq(*r, s))
                        free(*r);
                else
                        *w++ = *r;
        *w = NULL;
        return l;
}

char *strv_join(char *const *l, const char *separator) {
        size_t n = 1, k = strlen(separator);
        for (char *const *i = l; i && *i; i++)
                n += strlen(*i) + k;
        char *out = malloc(n), *o = out;
        if (!out)
                return NULL;
        for (char *const *i = l; i && *i; i++) {
                if (i != l)
                        o = stpcpy(o, separator);
                o = stpcpy(o, *i);
        }
        *o = 0;
        return out;
}
