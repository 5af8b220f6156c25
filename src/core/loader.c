/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/stat.h>

#include "fs-check.h"
#include "json-util.h"
#include "log.h"
#include "plugin-id.h"
#include "plugin-instance.h"
#include "schema.h"

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
#define PLUGIN_CONFIG_MAX (64u * 1024u)

static const char *host_toolchain(void) {
        return DC_PLUGIN_TOOLCHAIN;
}

/*
 * Every object ever mapped in this process, with the fd it was mapped from.
 * Process-wide on purpose: RTLD_NODELETE keeps the mapping until exit, and
 * glibc recognises loaded objects by path, so an fd number (and with it
 * "/proc/self/fd/N") must never be reused while the process lives, whatever
 * Host object asked for the load.
 */
typedef struct MappedImage {
        void *dl;
        int fd;
} MappedImage;

static pthread_mutex_t mapped_lock = PTHREAD_MUTEX_INITIALIZER;
static MappedImage *mapped;
static size_t n_mapped;

static bool image_is_mapped(void *dl) {
        bool found = false;
        pthread_mutex_lock(&mapped_lock);
        for (size_t i = 0; i < n_mapped && !found; i++)
                found = mapped[i].dl == dl;
        pthread_mutex_unlock(&mapped_lock);
        return found;
}

static int image_pin(void *dl, int fd) {
        pthread_mutex_lock(&mapped_lock);
        MappedImage *n = realloc(mapped, (n_mapped + 1) * sizeof(MappedImage));
        if (n) {
                mapped = n;
                mapped[n_mapped++] = (MappedImage){ dl, fd };
        }
        pthread_mutex_unlock(&mapped_lock);
        return n ? 0 : -ENOMEM;
}

Plugin *plugin_ref(Plugin *p) {
        if (p)
                p->n_ref++;
        return p;
}

Plugin *plugin_unref(Plugin *p) {
        if (!p || --p->n_ref > 0)
                return NULL;
        for (size_t i = 0; i < p->n_functions; i++) {
                json_object_put(p->functions[i].schema);
                free(p->functions[i].schema_text);
        }
        for (size_t i = 0; i < p->n_events; i++) {
                json_object_put(p->events[i].schema);
                free(p->events[i].schema_text);
        }
        for (size_t i = 0; i < p->n_routines; i++)
                sd_event_source_disable_unref(p->routines[i].source);
        free(p->functions);
        free(p->events);
        free(p->routines);
        free(p->config_json);
        free(p->id);
        /* p->dl is never closed (RTLD_NODELETE); p->ctx belongs to the host. */
        free(p);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Plugin *, plugin_unref);

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

static bool optional_text_ok(const char *s) {
        return !s || utf8_is_valid_text(s, 4096);
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
static int check_tables(Plugin *p, Verdict *v) {
        const struct dc_plugin_descriptor *d = &p->desc;
        _cleanup_free_ char *err = NULL;
        size_t fs = 0, es = 0, rs = 0;
        int r;

        if (d->n_functions > MAX_TABLE || d->n_events > MAX_TABLE || d->n_routines > MAX_TABLE)
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   NOT_IMPLEMENTED ": more than %u functions, events or routines", MAX_TABLE);
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
                if (!plugin_symbol_name_is_valid(f->name) || !f->handler || !optional_text_ok(f->description))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: function #%zu has an invalid name or no handler", i);
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
                if (!plugin_symbol_name_is_valid(e->name) || !optional_text_ok(e->description))
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: event #%zu has an invalid name", i);
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
                if (!plugin_symbol_name_is_valid(rt.name) || !rt.run || rt.interval_ms == 0)
                        return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                           "invalid plugin: routine #%zu needs a name, a function and an interval", i);
                p->routines[i] = (RoutineTimer){ .plugin = p, .def = rt };
                p->n_routines++;
        }
        return 0;
}

void ctx_list_done(CtxList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
        *l = (CtxList){};
}

static int ctx_list_add(CtxList *l, struct dc_plugin_ctx *ctx) {
        struct dc_plugin_ctx **n = realloc(l->items, (l->n + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        l->items = n;
        l->items[l->n++] = ctx;
        return 0;
}

/* <plugin-config dir>/<id>.json: handed to the plugin verbatim (validated). */
static int read_plugin_config(const LoaderContext *lc, Plugin *p, Verdict *v) {
        const char *dir = lc->plugin_config_dir;
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_json_ struct json_object *o = NULL;
        size_t len;

        if (!dir || asprintf(&path, "%s/%s.json", dir, p->id) < 0)
                return dir ? -ENOMEM : 0;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
                return (p->config_json = strdup("{}")) ? 0 : -ENOMEM;
        /* Configuration steers plugin code: the same owner/mode rule as key files. */
        OwnerRule rule = lc->config_rule;
        struct stat st;
        Verdict fv = {};
        if (fd >= 0 && (fstat(fd, &st) < 0 || check_plugin_file_stat(&st, &rule, PLUGIN_CONFIG_MAX, "configuration", &fv) < 0)) {
                int r = verdict_set(v, -EPERM, REASON_LOAD_FAILED,
                                    "failed to load plugin: its configuration %s is unsafe (%s)", path,
                                    fv.message ? fv.message : strerror(errno));
                verdict_clear(&fv);
                return r;
        }
        if (fd < 0 || read_fd_full(fd, PLUGIN_CONFIG_MAX, &text, &len) < 0 || json_parse_strict(text, len, &o, NULL) < 0 ||
            !json_object_is_type(o, json_type_object))
                return verdict_set(v, -EBADMSG, REASON_LOAD_FAILED,
                                   "failed to load plugin: its configuration %s is not a readable JSON object", path);
        p->config_json = strdup(json_to_string_compact(o));
        return p->config_json ? 0 : -ENOMEM;
}

/*
 * Steps 18 and 22: magic, ABI major and size first (a descriptor of another
 * major has another layout), then the copy this host works with: read up to
 * the plugin's struct_size, never past the object the symbol names.
 */
static int read_descriptor(const void *sym, struct dc_plugin_descriptor *ret, Verdict *v) {
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
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID, NOT_IMPLEMENTED ": '%s' is NULL",
                                   ret->init ? "cleanup" : "init");
        return 0;
}

int plugin_instantiate(const LoaderContext *lc, Candidate *c, Plugin **ret, Verdict *v) {
        _cleanup_(plugin_unrefp) Plugin *p = NULL;
        char path[64];
        void *dl;
        struct dc_plugin_descriptor desc;
        const void *sym;
        int r;

        /* 15. The verified bytes are the loaded bytes: map the sealed memfd. */
        snprintf(path, sizeof path, "/proc/self/fd/%d", c->image.fd);
        dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl)
                return verdict_set(v, -EIO, REASON_LOAD_FAILED, "failed to load plugin: %s", dlerror());
        /* 16. glibc dedups by path: an old object must never come back. */
        if (image_is_mapped(dl))
                return verdict_set(v, -EIO, REASON_LOAD_FAILED,
                                   "failed to load plugin: the dynamic loader returned an object that is already loaded");
        /* Mapped for good: the fd must never be reused for another image. */
        r = image_pin(dl, c->image.fd);
        if (r < 0)
                return r;
        c->image.fd = -1;
        plugin_image_unmap(&c->image);

        /* 17. */
        (void) dlerror();
        sym = dlsym(dl, DC_PLUGIN_DESCRIPTOR_SYMBOL);
        if (!sym) {
                const char *e = dlerror();
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_MISSING,
                                   "invalid plugin: missing required fields or interface: missing 'dc_plugin_descriptor' symbol: %s",
                                   e ? e : "symbol is NULL");
        }
        /* 18. */
        r = read_descriptor(sym, &desc, v);
        if (r < 0)
                return r;
        const struct dc_plugin_descriptor *d = &desc;
        /* 19. */
        if (isempty(d->id) || isempty(d->name))
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   "invalid plugin: missing required fields or interface: invalid metadata (missing id or name)");
        if (!utf8_is_valid_text(d->name, 128) || !optional_text_ok(d->version) || !optional_text_ok(d->description) ||
            !optional_text_ok(d->author) || !optional_text_ok(d->toolchain))
                return verdict_set(v, -EBADMSG, REASON_DESCRIPTOR_INVALID,
                                   "invalid plugin: descriptor text is not valid UTF-8 or too long");
        /* 20. */
        if (!plugin_id_is_valid(d->id) || !streq(d->id, c->id))
                return verdict_set(v, -EBADMSG, REASON_ID_MISMATCH,
                                   "plugin rejected: id-mismatch: descriptor id \"%s\" differs from \"%s\"", d->id, c->id);
        const char *expected_version = c->layout == LAYOUT_FOLDER ? c->manifest.version : c->signed_version;
        if (expected_version && !streq_ptr(d->version, expected_version))
                return verdict_set(v, -EBADMSG, REASON_ID_MISMATCH,
                                   "plugin rejected: id-mismatch: descriptor version \"%s\" differs from \"%s\"",
                                   d->version ? d->version : "", expected_version);
        /* 21. */
        if (d->toolchain && !streq(d->toolchain, host_toolchain()))
                log_struct(LOG_WARNING, 0, NULL, LOG_FIELDS(LF("PLUGIN_ID", d->id)),
                           "Plugin %s built with %s, host is %s - may cause compatibility issues", d->id, d->toolchain,
                           host_toolchain());

        p = calloc(1, sizeof(Plugin));
        if (!p)
                return -ENOMEM;
        p->n_ref = 1;
        p->host = lc->host;
        p->dl = dl;
        p->desc = desc;
        p->thread_safe = d->flags & DC_PLUGIN_FLAG_THREAD_SAFE;
        p->id = strdup(d->id);
        memcpy(p->digest, c->digest, sizeof p->digest);
        p->ctx = calloc(1, sizeof(struct dc_plugin_ctx));
        if (!p->id || !p->ctx) {
                free(p->ctx);
                p->ctx = NULL;
                return -ENOMEM;
        }
        p->ctx->plugin = p;
        r = ctx_list_add(lc->ctxs, p->ctx);
        if (r < 0) {
                free(p->ctx);
                p->ctx = NULL;
                return r;
        }
        r = check_tables(p, v);
        if (r < 0)
                return r;
        r = read_plugin_config(lc, p, v);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int plugin_init(Plugin *p, const dc_host_api *api, Verdict *v) {
        const char *error = NULL;
        int r;

        r = p->desc.init(p->ctx, api, &error);
        if (r < 0) {
                __atomic_store_n(&p->ctx->dead, 1, __ATOMIC_RELEASE);
                return verdict_set(v, -EIO, REASON_INIT_FAILED, "plugin initialization failed: %s",
                                   error && utf8_is_valid_text(error, 1024) ? error : strerror(-r));
        }
        p->initialized = true;
        return 0;
}
