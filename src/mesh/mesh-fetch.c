/* SPDX-License-Identifier: MIT */
/*
 * Installs from another host's artifact store over the mesh (dc-mesh://
 * URLs, docs/mesh.md "Roll-outs without HTTP"): the artifact is read in
 * chunks with read_plugin_artifact requests on a thread of its own, within
 * a total deadline and a byte budget shared by every download in progress.
 */
#include <sys/mman.h>
#include <time.h>

#include "json-util.h"
#include "log.h"
#include "mesh-artifact-reply.h"
#include "mesh-internal.h"
#include "mesh-jsonrpc.h"
#include "names.h"
#include "strv.h"

#define CHUNK_REQUEST_TIMEOUT_MS 30000

typedef struct MeshFetch {
        Mesh *m;
        char *subject, *artifact_id, *filename;
        uint64_t max;         /* bytes m->fetch_reserved from the budget */
        uint64_t deadline_ns; /* CLOCK_MONOTONIC */
        int fd;               /* memfd with the bytes */
        char *error;          /* set on failure */
        mesh_fetch_done_fn done;
        void *userdata;
} MeshFetch;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void fetch_free(MeshFetch *f) {
        free(f->subject);
        free(f->artifact_id);
        free(f->filename);
        free(f->error);
        safe_close(f->fd);
        free(f);
}

static void fetch_finished(Mesh *m, void *userdata, bool cancelled) {
        MeshFetch *f = userdata;
        int fd = -1;
        if (!f->error && !cancelled) {
                (void) lseek(f->fd, 0, SEEK_SET);
                fd = TAKE_FD(f->fd);
        }
        f->done(m, fd, f->error, f->userdata, cancelled);
        fetch_free(f);
}

static void fetch_loop(MeshFetch *f) {
        Mesh *m = f->m;
        int64_t offset = 0;

        for (unsigned i = 0; !f->error; i++) {
                uint64_t now = now_ns();
                if (now >= f->deadline_ns) {
                        (void) asprintf(&f->error, "download failed: the artifact did not arrive within %llu s",
                                        (unsigned long long) (m->config->install_timeout_usec / 1000000));
                        break;
                }
                int64_t timeout_ms = MIN((int64_t) ((f->deadline_ns - now) / 1000000), CHUNK_REQUEST_TIMEOUT_MS);
                struct json_object *params = json_object_new_object();
                char id[32];
                snprintf(id, sizeof id, "fetch-%u", i);
                mesh_add_str(params, "plugin_id", f->artifact_id);
                mesh_add_str(params, "filename", f->filename);
                json_object_object_add(params, "offset", json_object_new_int64(offset));
                _cleanup_json_ struct json_object *req = jsonrpc_request(id, "read_plugin_artifact", params);
                natsMsg *reply = NULL;
                natsStatus s = req ? natsConnection_RequestString(&reply, m->nc, f->subject,
                                                                   json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
                                                                   timeout_ms)
                                   : NATS_NO_MEMORY;
                if (s == NATS_TIMEOUT && timeout_ms < CHUNK_REQUEST_TIMEOUT_MS) {
                        f->deadline_ns = 0; /* this request ran into the deadline: its message */
                        continue;
                }
                if (s != NATS_OK) {
                        (void) asprintf(&f->error, "download failed: %s",
                                        s == NATS_NO_RESPONDERS ? "the publishing host is not on the mesh" : natsStatus_GetText(s));
                        break;
                }
                ArtifactChunk c;
                _cleanup_free_ char *why = NULL;
                int k = artifact_chunk_parse(natsMsg_GetData(reply), (size_t) natsMsg_GetDataLength(reply), offset, &c, &why);
                natsMsg_Destroy(reply);
                if (k < 0) {
                        f->error = why ? TAKE_PTR(why) : strdup("download failed: invalid reply");
                        break;
                }
                if ((uint64_t) offset + c.size > f->max)
                        (void) asprintf(&f->error, "artifact exceeds max size (%llu bytes)", (unsigned long long) f->max);
                else if (pwrite(f->fd, c.data, c.size, offset) != (ssize_t) c.size)
                        (void) asprintf(&f->error, "download failed: %s", strerror(errno));
                else if (!c.eof && c.size == 0)
                        (void) asprintf(&f->error, "download failed: empty chunk before the end");
                offset += (int64_t) c.size;
                bool eof = c.eof;
                artifact_chunk_done(&c);
                if (eof)
                        break;
        }
}

static void *fetch_main(void *userdata) {
        MeshFetch *f = userdata;
        Mesh *m = f->m;
        uint64_t max = f->max;

        fetch_loop(f);
        if (mesh_post(m, fetch_finished, f) < 0)
                fetch_free(f); /* cannot report: out of memory */
        pthread_mutex_lock(&m->lock);
        m->fetch_reserved -= max;
        m->n_fetchers--;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

int mesh_fetch_start(Mesh *m, const char *url, uint64_t max_size, mesh_fetch_done_fn done, void *userdata,
                     const char **refusal, Reason *reason) {
        _cleanup_strv_free_ char **parts = strv_split(url + strlen(DC_MESH_URL_SCHEME), "/");
        pthread_t t;

        /* dc-mesh://<tenant>/<device>/artifacts/<plugin_id>/<file> */
        size_t n = strv_length(parts);
        if (n != 5 || !streq(parts[2], "artifacts") || !plugin_id_is_valid(parts[3]) ||
            !artifact_filename_is_valid(parts[4]) || !plugin_id_is_valid(parts[1])) {
                *reason = REASON_URL_INVALID;
                *refusal = "invalid URL: expected " DC_MESH_URL_SCHEME "<tenant>/<device>/artifacts/<id>/<file>.tgz";
                return -EINVAL;
        }
        if (!streq(parts[0], m->tenant)) {
                *reason = REASON_URL_NOT_ALLOWED;
                *refusal = "mesh URLs must name this host's tenant";
                return -EPERM;
        }
        pthread_mutex_lock(&m->lock);
        bool over = m->fetch_reserved + max_size > m->config->mesh.download_budget;
        if (!over) {
                m->fetch_reserved += max_size;
                m->n_fetchers++;
        }
        pthread_mutex_unlock(&m->lock);
        if (over) {
                *reason = REASON_LIMIT_EXCEEDED;
                *refusal = "too many mesh downloads in progress (MeshDownloadBudget= exhausted)";
                return -EBUSY;
        }

        MeshFetch *f = calloc(1, sizeof *f);
        if (!f)
                goto oom;
        *f = (MeshFetch){
                .m = m,
                .max = max_size,
                .deadline_ns = now_ns() + m->config->install_timeout_usec * 1000,
                .fd = memfd_create("dc-plugin-mesh-fetch", MFD_CLOEXEC),
                .done = done,
                .userdata = userdata,
                .artifact_id = strdup(parts[3]),
                .filename = strdup(parts[4]),
        };
        if (f->fd < 0 || !f->artifact_id || !f->filename ||
            asprintf(&f->subject, DC_MESH_SUBJECT_CMD_FMT, parts[0], parts[1]) < 0 ||
            pthread_create(&t, NULL, fetch_main, f) != 0) {
                fetch_free(f);
                goto oom;
        }
        pthread_detach(t);
        return 0;
oom:
        pthread_mutex_lock(&m->lock);
        m->fetch_reserved -= max_size;
        m->n_fetchers--;
        pthread_mutex_unlock(&m->lock);
        *reason = REASON_OUT_OF_MEMORY;
        *refusal = "out of memory";
        return -ENOMEM;
}

/* Fetch threads end once the closed connection fails their requests. */
void mesh_fetch_wait_all(Mesh *m) {
        pthread_mutex_lock(&m->lock);
        while (m->n_fetchers > 0)
                pthread_cond_wait(&m->cond, &m->lock);
        pthread_mutex_unlock(&m->lock);
}
