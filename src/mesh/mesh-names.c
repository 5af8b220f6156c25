/* SPDX-License-Identifier: MIT */
/*
 * Bare function names: a plugin's function is callable as "<id>.<fn>" and,
 * when no earlier loaded plugin exports the same name, as "<fn>" (as the
 * Python host does).  Host RPC names can never be taken by a plugin.
 */
#include "mesh-internal.h"
#include "mesh-rpc-catalog.h"

const PluginRecord *mesh_bare_owner(Mesh *m, const char *fn) {
        for (char **id = m->load_order; id && *id; id++) {
                const PluginRecord *r = host_find(m->host, *id);
                for (size_t i = 0; r && r->plugin && i < plugin_n_functions(r); i++)
                        if (streq(plugin_function_name(r, i), fn))
                                return r;
        }
        return NULL;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(((const MeshName *) a)->name, ((const MeshName *) b)->name);
}

static int name_order_cmp(const void *a, const void *b) {
        const MeshName *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void names_free(MeshName *names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i].name);
        free(names);
}

static int names_build(Mesh *m, MeshName **ret, size_t *ret_n) {
        MeshName *names = NULL;
        size_t n = 0, cap = 0, kept = 0;
        unsigned order = 0;

        for (char **id = m->load_order; id && *id; id++, order++) {
                const PluginRecord *r = host_find(m->host, *id);
                for (size_t i = 0; r && r->plugin && i < plugin_n_functions(r); i++) {
                        const char *fn = plugin_function_name(r, i);
                        if (mesh_is_host_rpc(fn))
                                continue;
                        MeshName *t = n < cap ? names : realloc(names, (cap = cap ? cap * 2 : 32) * sizeof *t);
                        char *copy = t ? strdup(fn) : NULL;
                        if (t)
                                names = t;
                        if (!copy) {
                                names_free(names, n);
                                return -ENOMEM;
                        }
                        names[n] = (MeshName){ .name = copy, .order = order };
                        snprintf(names[n++].owner, sizeof names->owner, "%s", r->id);
                }
        }
        if (n > 1)
                qsort(names, n, sizeof *names, name_order_cmp);
        for (size_t i = 0; i < n; i++) /* the first of each name wins */
                if (kept > 0 && streq(names[kept - 1].name, names[i].name))
                        free(names[i].name);
                else
                        names[kept++] = names[i];
        *ret = names;
        *ret_n = kept;
        return 0;
}

/*
 * The delivery threads' copy of mesh_bare_owner()'s answers (the same rule:
 * the earliest loaded plugin exporting the name).  A hint only: a stale or
 * missing entry sends the call to the loop, which asks the registry.
 * Without memory it is emptied, and bare names all take the loop.
 */
void mesh_update_names(Mesh *m) {
        MeshName *names = NULL, *old;
        size_t n = 0, n_old;

        (void) names_build(m, &names, &n);
        pthread_mutex_lock(&m->names_lock);
        old = m->names;
        n_old = m->n_names;
        m->names = names;
        m->n_names = n;
        pthread_mutex_unlock(&m->names_lock);
        names_free(old, n_old);
}

void mesh_names_clear(Mesh *m) {
        names_free(m->names, m->n_names);
        m->names = NULL;
        m->n_names = 0;
}

bool mesh_lookup_owner(Mesh *m, const char *fn, char owner[static PLUGIN_ID_MAX + 1]) {
        MeshName key = { .name = (char *) fn }, *hit;
        pthread_mutex_lock(&m->names_lock);
        hit = m->names ? bsearch(&key, m->names, m->n_names, sizeof key, name_cmp) : NULL;
        if (hit)
                memcpy(owner, hit->owner, PLUGIN_ID_MAX + 1);
        pthread_mutex_unlock(&m->names_lock);
        return hit != NULL;
}

