/* SPDX-License-Identifier: MIT */
/*
 * A plugin's descriptor: read from the mapped object and checked (the loader
 * in the daemon, and dc-plugin-worker), and the JSON description a worker
 * sends the daemon, which checks it again: a worker is as hostile as the
 * plugin inside it.
 */
#include "descriptor.h"

#include <dlfcn.h>
#include <link.h>
#include <stddef.h>

#include "json-util.h"
#include "plugin-id.h"
#include "schema.h"
#include "strv.h"

#define NOT_IMPLEMENTED "invalid plugin: missing required fields or interface: 'dc_plugin_descriptor' symbol does not implement dc_plugin interface"
#define MAX_TABLE 1024

/* The ABI 1.0 sizes, frozen: whatever a later minor appends comes after
 * these members (include/dc-plugin-host/plugin.h, "Versioning"). */
#define DESCRIPTOR_SIZE_1_0 offsetof(struct dc_plugin_descriptor, function_size)
#define FUNCTION_SIZE_1_0 (offsetof(dc_plugin_function, handler) + sizeof(dc_plugin_handler))
#define EVENT_SIZE_1_0 (offsetof(dc_plugin_event, payload_schema) + sizeof(const char *))
#define ROUTINE_SIZE_1_0 (offsetof(dc_plugin_routine, run) + sizeof(void (*)(dc_plugin_ctx *)))
#define ELEMENT_SIZE_MAX 4096u
#define DESCRIPTOR_SIZE_MAX 65536u

#define SYMBOL_NAME_RULE "^[A-Za-z_][A-Za-z0-9_]{0,63}$"

static bool optional_text_ok(const char *s) {
        return !s || utf8_is_valid_text(s, 4096);
}

/* Why a function, event or routine name is refused, naming the field; the
 * name itself is not repeated, it may be anything. */
static const char *symbol_name_problem(const char *name) {
        return !name ? "'name' is NULL" : "'name' is not a valid name (" SYMBOL_NAME_RULE ")";
}

/* One element of a plugin's table, as this host knows the struct: copied
 * up to the plugin's element size (stride), the rest zero. */
static const void *element(const void *base, size_t stride, size_t i) {
        return (const char *) base + i * stride;
}

/* The element size the plugin was built with: its own (1.2+) or 1.0's. */
static int element_size(uint32_t declared, size_t size_1_0, const char *field, size_t *ret, Verdict *v) {
        size_t s = declared ? declared : size_1_0;
        if (s < size_1_0 || s > ELEMENT_SIZE_MAX)
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   NOT_IMPLEMENTED ": '%s' is %zu, the ABI 1.0 element has %zu bytes", field, s, size_1_0);
        *ret = s;
        return 0;
}

/* Functions, events and routines: names, handlers, schemas, no duplicates. */
int descriptor_check_tables(Plugin *p, Verdict *v) {
        const struct dc_plugin_descriptor *d = &p->desc;
        _cleanup_free_ char *err = NULL;
        size_t fs = 0, es = 0, rs = 0;
        int r;

        if (d->n_functions > MAX_TABLE || d->n_events > MAX_TABLE || d->n_routines > MAX_TABLE)
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, NOT_IMPLEMENTED ": '%s' is %zu, at most %u",
                                   d->n_functions > MAX_TABLE ? "n_functions"
                                   : d->n_events > MAX_TABLE  ? "n_events"
                                                              : "n_routines",
                                   d->n_functions > MAX_TABLE ? d->n_functions
                                   : d->n_events > MAX_TABLE  ? d->n_events
                                                              : d->n_routines,
                                   MAX_TABLE);
        if ((d->n_functions && !d->functions) || (d->n_events && !d->events) || (d->n_routines && !d->routines))
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   NOT_IMPLEMENTED ": '%s' is NULL but its count is not 0",
                                   d->n_functions && !d->functions ? "functions"
                                   : d->n_events && !d->events     ? "events"
                                                                   : "routines");
        if ((r = element_size(d->function_size, FUNCTION_SIZE_1_0, "function_size", &fs, v)) < 0 ||
            (r = element_size(d->event_size, EVENT_SIZE_1_0, "event_size", &es, v)) < 0 ||
            (r = element_size(d->routine_size, ROUTINE_SIZE_1_0, "routine_size", &rs, v)) < 0)
                return r;

        p->functions = calloc(d->n_functions + 1, sizeof(PluginFunction));
        p->events = calloc(d->n_events + 1, sizeof(PluginEvent));
        p->routines = calloc(d->n_routines + 1, sizeof(RoutineTimer));
        if (!p->functions || !p->events || !p->routines)
                return -ENOMEM;

        for (size_t i = 0; i < d->n_functions; i++) {
                dc_plugin_function *f = &p->functions[i].def;
                memcpy(f, element(d->functions, fs, i), MIN(fs, sizeof *f));
                if (!plugin_symbol_name_is_valid(f->name))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, "invalid plugin: function #%zu: %s", i,
                                           symbol_name_problem(f->name));
                if (!f->handler)
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: function \"%s\": 'handler' is NULL", f->name);
                if (!optional_text_ok(f->description))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: function \"%s\": 'description' is not UTF-8 text of at most 4096 bytes",
                                           f->name);
                for (size_t j = 0; j < i; j++)
                        if (streq(p->functions[j].def.name, f->name))
                                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                                   "invalid plugin: function \"%s\" is declared twice", f->name);
                if (schema_compile(f->params_schema, &p->functions[i].schema, &err) < 0)
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: function \"%s\": %s", f->name, err);
                p->n_functions++;
                if (!(p->functions[i].schema_text = strdup(json_to_string_compact(p->functions[i].schema))))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_events; i++) {
                dc_plugin_event *e = &p->events[i].def;
                memcpy(e, element(d->events, es, i), MIN(es, sizeof *e));
                if (!plugin_symbol_name_is_valid(e->name))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, "invalid plugin: event #%zu: %s", i,
                                           symbol_name_problem(e->name));
                if (!optional_text_ok(e->description))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: event \"%s\": 'description' is not UTF-8 text of at most 4096 bytes",
                                           e->name);
                for (size_t j = 0; j < i; j++)
                        if (streq(p->events[j].def.name, e->name))
                                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                                   "invalid plugin: event \"%s\" is declared twice", e->name);
                if (schema_compile(e->payload_schema, &p->events[i].schema, &err) < 0)
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, "invalid plugin: event \"%s\": %s",
                                           e->name, err);
                p->n_events++;
                if (!(p->events[i].schema_text = strdup(json_to_string_compact(p->events[i].schema))))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_routines; i++) {
                dc_plugin_routine rt = {};
                memcpy(&rt, element(d->routines, rs, i), MIN(rs, sizeof rt));
                if (!plugin_symbol_name_is_valid(rt.name))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, "invalid plugin: routine #%zu: %s", i,
                                           symbol_name_problem(rt.name));
                if (!rt.run || rt.interval_ms == 0)
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, "invalid plugin: routine \"%s\": %s",
                                           rt.name, !rt.run ? "'run' is NULL" : "'interval_ms' is 0");
                p->routines[i] = (RoutineTimer){ .plugin = p, .def = rt };
                p->n_routines++;
        }
        return 0;
}

/*
 * Steps 18 and 22: magic, ABI major and size first (a descriptor of another
 * major has another layout), then the copy this host works with: read up to
 * the plugin's struct_size, never past the object the symbol names.
 */
int descriptor_read(const void *sym, struct dc_plugin_descriptor *ret, Verdict *v) {
        const struct dc_plugin_descriptor *d = sym;
        const ElfW(Sym) *es = NULL;
        Dl_info info;
        size_t object_size = 0;

        if (dladdr1(sym, &info, (void **) &es, RTLD_DL_SYMENT) && es)
                object_size = es->st_size;
        if (object_size < offsetof(struct dc_plugin_descriptor, flags))
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   NOT_IMPLEMENTED ": the symbol is %zu bytes, not a descriptor", object_size);
        if (d->magic != DC_PLUGIN_MAGIC)
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   NOT_IMPLEMENTED ": 'magic' is 0x%08x, expected 0x%08x", d->magic, DC_PLUGIN_MAGIC);
        if (d->abi_major != DC_PLUGIN_ABI_MAJOR)
                return verdict_set(v, -EPROTO, REASON_ABI_MISMATCH,
                                   "plugin interface version mismatch: plugin interface %u, host requires %u",
                                   (unsigned) d->abi_major, DC_PLUGIN_ABI_MAJOR);
        if (d->struct_size < DESCRIPTOR_SIZE_1_0 || d->struct_size > DESCRIPTOR_SIZE_MAX || d->struct_size > object_size)
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   NOT_IMPLEMENTED ": 'struct_size' is %u, the symbol %zu bytes, ABI 1.0 needs %zu",
                                   d->struct_size, object_size, (size_t) DESCRIPTOR_SIZE_1_0);
        *ret = (struct dc_plugin_descriptor){};
        memcpy(ret, d, MIN((size_t) d->struct_size, sizeof *ret));
        if (!ret->init || !ret->cleanup)
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, NOT_IMPLEMENTED ": %s",
                                   !ret->init && !ret->cleanup ? "'init' and 'cleanup' are NULL"
                                   : ret->init                 ? "'cleanup' is NULL"
                                                               : "'init' is NULL");
        return 0;
}

int descriptor_check_metadata(const struct dc_plugin_descriptor *d, const char *expected_id,
                              const char *expected_version, Verdict *v) {
        /* 19. */
        if (isempty(d->id) || isempty(d->name))
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   "invalid plugin: missing required fields or interface: invalid metadata ('%s' is %s)",
                                   isempty(d->id) ? "id" : "name", (isempty(d->id) ? d->id : d->name) ? "empty" : "NULL");
        const struct {
                const char *field, *text;
                size_t max;
        } texts[] = {
                { "name", d->name, 128 },           { "version", d->version, 4096 }, { "description", d->description, 4096 },
                { "author", d->author, 4096 },      { "toolchain", d->toolchain, 4096 },
        };
        for (size_t i = 0; i < ELEMENTSOF(texts); i++)
                if (texts[i].text && !utf8_is_valid_text(texts[i].text, texts[i].max))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: '%s' is not UTF-8 text of at most %zu bytes", texts[i].field,
                                           texts[i].max);
        /* 20. */
        if (!plugin_id_is_valid(d->id) || !streq(d->id, expected_id))
                return verdict_set(v, -EBADMSG, REASON_ID_MISMATCH,
                                   "plugin rejected: id-mismatch: descriptor id \"%s\" differs from \"%s\"", d->id,
                                   expected_id);
        if (expected_version && !d->version)
                return verdict_set(v, -EBADMSG, REASON_ID_MISMATCH,
                                   "plugin rejected: id-mismatch: descriptor 'version' is NULL, the manifest says \"%s\"",
                                   expected_version);
        if (expected_version && !streq(d->version, expected_version))
                return verdict_set(v, -EBADMSG, REASON_ID_MISMATCH,
                                   "plugin rejected: id-mismatch: descriptor version \"%s\" differs from \"%s\"",
                                   d->version, expected_version);
        return 0;
}

/* ---- lookups ---- */

const PluginFunction *plugin_find_function(const Plugin *p, const char *name) {
        for (size_t i = 0; i < p->n_functions; i++)
                if (streq(p->functions[i].def.name, name))
                        return &p->functions[i];
        return NULL;
}

const PluginEvent *plugin_find_event(const Plugin *p, const char *name) {
        for (size_t i = 0; i < p->n_events; i++)
                if (streq(p->events[i].def.name, name))
                        return &p->events[i];
        return NULL;
}

/* ---- the description a worker sends ------------------------------------------ */

static void add_string(struct json_object *o, const char *key, const char *value) {
        json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

struct json_object *descriptor_to_json(const Plugin *p) {
        struct json_object *o = json_object_new_object(), *fns = json_object_new_array(),
                           *evs = json_object_new_array(), *rts = json_object_new_array();
        if (!o || !fns || !evs || !rts) {
                json_object_put(o);
                json_object_put(fns);
                json_object_put(evs);
                json_object_put(rts);
                return NULL;
        }
        add_string(o, "id", p->desc.id);
        add_string(o, "name", p->desc.name);
        add_string(o, "version", p->desc.version);
        add_string(o, "description", p->desc.description);
        add_string(o, "author", p->desc.author);
        add_string(o, "toolchain", p->desc.toolchain);
        json_object_object_add(o, "thread_safe", json_object_new_boolean(p->thread_safe));
        for (size_t i = 0; i < p->n_functions; i++) {
                struct json_object *f = json_object_new_object();
                if (!f)
                        continue;
                add_string(f, "name", p->functions[i].def.name);
                add_string(f, "description", p->functions[i].def.description);
                add_string(f, "params_schema", p->functions[i].def.params_schema);
                json_object_object_add(f, "flags", json_object_new_int64(p->functions[i].def.flags));
                json_object_array_add(fns, f);
        }
        for (size_t i = 0; i < p->n_events; i++) {
                struct json_object *e = json_object_new_object();
                if (!e)
                        continue;
                add_string(e, "name", p->events[i].def.name);
                add_string(e, "description", p->events[i].def.description);
                add_string(e, "payload_schema", p->events[i].def.payload_schema);
                json_object_array_add(evs, e);
        }
        for (size_t i = 0; i < p->n_routines; i++) {
                struct json_object *r = json_object_new_object();
                if (!r)
                        continue;
                add_string(r, "name", p->routines[i].def.name);
                json_object_object_add(r, "interval_ms", json_object_new_int64(p->routines[i].def.interval_ms));
                json_object_array_add(rts, r);
        }
        json_object_object_add(o, "functions", fns);
        json_object_object_add(o, "events", evs);
        json_object_object_add(o, "routines", rts);
        return o;
}

/* A string member that is absent, null, or text; kept by the plugin. */
static int take_text(Plugin *p, struct json_object *o, const char *key, size_t max, bool required, const char **ret) {
        struct json_object *x;
        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &x) || json_object_is_type(x, json_type_null))
                return required ? -EBADMSG : 0;
        if (!json_object_is_type(x, json_type_string) || !utf8_is_valid_text(json_object_get_string(x), max))
                return -EBADMSG;
        char *copy = strdup(json_object_get_string(x));
        if (!copy || strv_consume(&p->strings, copy) < 0)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

static int array_member(struct json_object *o, const char *key, struct json_object **ret, size_t *n) {
        if (!json_object_object_get_ex(o, key, ret) || !json_object_is_type(*ret, json_type_array))
                return -EBADMSG;
        *n = json_object_array_length(*ret);
        return *n > MAX_TABLE ? -EBADMSG : 0;
}

static int uint_member(struct json_object *o, const char *key, uint64_t max, uint32_t *ret) {
        struct json_object *x;
        if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int))
                return -EBADMSG;
        int64_t n = json_object_get_int64(x);
        if (n < 0 || (uint64_t) n > max)
                return -EBADMSG;
        *ret = (uint32_t) n;
        return 0;
}

/* The same rules as descriptor_check_tables(), on the worker's JSON. */
static int description_tables(Plugin *p, struct json_object *o, Verdict *v) {
        struct json_object *fns, *evs, *rts;
        size_t nf, ne, nr;
        _cleanup_free_ char *err = NULL;
        int r;

        if ((r = array_member(o, "functions", &fns, &nf)) < 0 || (r = array_member(o, "events", &evs, &ne)) < 0 ||
            (r = array_member(o, "routines", &rts, &nr)) < 0)
                return verdict_set(v, r, REASON_DESCRIPTOR_INVALID, "invalid plugin description from the worker");
        p->functions = calloc(nf + 1, sizeof(PluginFunction));
        p->events = calloc(ne + 1, sizeof(PluginEvent));
        p->routines = calloc(nr + 1, sizeof(RoutineTimer));
        if (!p->functions || !p->events || !p->routines)
                return -ENOMEM;
        for (size_t i = 0; i < nf; i++) {
                struct json_object *f = json_object_array_get_idx(fns, i);
                dc_plugin_function *d = &p->functions[i].def;
                if (!json_object_is_type(f, json_type_object) || take_text(p, f, "name", 64, true, &d->name) < 0 ||
                    take_text(p, f, "description", 4096, false, &d->description) < 0 ||
                    take_text(p, f, "params_schema", 1024 * 1024, false, &d->params_schema) < 0 ||
                    uint_member(f, "flags", UINT32_MAX, &d->flags) < 0 || !plugin_symbol_name_is_valid(d->name))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: function #%zu has an invalid name", i);
                for (size_t j = 0; j < i; j++)
                        if (streq(p->functions[j].def.name, d->name))
                                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                                   "invalid plugin: function \"%s\" is declared twice", d->name);
                if (schema_compile(d->params_schema, &p->functions[i].schema, &err) < 0)
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: function \"%s\": %s", d->name, err);
                p->n_functions++;
                if (!(p->functions[i].schema_text = strdup(json_to_string_compact(p->functions[i].schema))))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < ne; i++) {
                struct json_object *e = json_object_array_get_idx(evs, i);
                dc_plugin_event *d = &p->events[i].def;
                if (!json_object_is_type(e, json_type_object) || take_text(p, e, "name", 64, true, &d->name) < 0 ||
                    take_text(p, e, "description", 4096, false, &d->description) < 0 ||
                    take_text(p, e, "payload_schema", 1024 * 1024, false, &d->payload_schema) < 0 ||
                    !plugin_symbol_name_is_valid(d->name))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: event #%zu has an invalid name", i);
                for (size_t j = 0; j < i; j++)
                        if (streq(p->events[j].def.name, d->name))
                                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                                   "invalid plugin: event \"%s\" is declared twice", d->name);
                if (schema_compile(d->payload_schema, &p->events[i].schema, &err) < 0)
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, "invalid plugin: event \"%s\": %s",
                                           d->name, err);
                p->n_events++;
                if (!(p->events[i].schema_text = strdup(json_to_string_compact(p->events[i].schema))))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < nr; i++) {
                struct json_object *x = json_object_array_get_idx(rts, i);
                dc_plugin_routine rt = {};
                if (!json_object_is_type(x, json_type_object) || take_text(p, x, "name", 64, true, &rt.name) < 0 ||
                    uint_member(x, "interval_ms", UINT32_MAX, &rt.interval_ms) < 0 ||
                    !plugin_symbol_name_is_valid(rt.name) || rt.interval_ms == 0)
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: routine #%zu needs a name and an interval", i);
                p->routines[i] = (RoutineTimer){ .plugin = p, .def = rt };
                p->n_routines++;
        }
        return 0;
}

int descriptor_from_json(Plugin *p, struct json_object *o, const char *expected_id, const char *expected_version,
                         Verdict *v) {
        struct dc_plugin_descriptor *d = &p->desc;
        struct json_object *ts;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, "invalid plugin description from the worker");
        if ((r = take_text(p, o, "id", PLUGIN_ID_MAX, true, &d->id)) < 0 ||
            (r = take_text(p, o, "name", 128, true, &d->name)) < 0 ||
            (r = take_text(p, o, "version", 4096, false, &d->version)) < 0 ||
            (r = take_text(p, o, "description", 4096, false, &d->description)) < 0 ||
            (r = take_text(p, o, "author", 4096, false, &d->author)) < 0 ||
            (r = take_text(p, o, "toolchain", 4096, false, &d->toolchain)) < 0)
                return r == -ENOMEM ? r
                                    : verdict_set(v, r, REASON_DESCRIPTOR_INVALID,
                                                  "invalid plugin description from the worker");
        if (!json_object_object_get_ex(o, "thread_safe", &ts) || !json_object_is_type(ts, json_type_boolean))
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, "invalid plugin description from the worker");
        p->thread_safe = json_object_get_boolean(ts);
        r = descriptor_check_metadata(d, expected_id, expected_version, v);
        if (r < 0)
                return r;
        return description_tables(p, o, v);
}
