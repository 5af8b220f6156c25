/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/stat.h>

#include "descriptor.h"
#include "fs-check.h"
#include "json-util.h"
#include "log.h"
#include "plugin-id.h"
#include "plugin-instance.h"
#include "schema.h"
#include "strv.h"

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
        strv_free(p->strings);
        plugin_output_unref(p->output);
        free(p->id);
        /* p->dl is never closed (RTLD_NODELETE); p->ctx belongs to the host. */
        free(p);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Plugin *, plugin_unref);

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
        /* 18-20. */
        r = descriptor_read(sym, &desc, v);
        if (r < 0)
                return r;
        const struct dc_plugin_descriptor *d = &desc;
        r = descriptor_check_metadata(d, c->id, candidate_expected_version(c), v);
        if (r < 0)
                return r;
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
        p->output = plugin_output_new(d->id, lc->config);
        if (!p->id || !p->ctx || !p->output) {
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
        r = descriptor_check_tables(p, v);
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
