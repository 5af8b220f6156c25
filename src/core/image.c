/* SPDX-License-Identifier: MIT */
#include "image.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <linux/stat.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "macro.h"

#define CHUNK (64u * 1024u)
/* Up to this size the image is read, hashed and written in one piece and
 * the checks run on that heap copy: no mapping to set up or tear down
 * (munmap() with worker threads alive means TLB shootdowns on every CPU). */
#define SMALL_IMAGE (1024u * 1024u)

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif


static int memfd_new_exec(const char *id) {
        char name[96];
        int fd;

        snprintf(name, sizeof name, "dc-plugin:%s", id);
        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
        if (fd < 0 && errno == EINVAL) /* kernels before 6.3 know no MFD_EXEC */
                fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        return fd < 0 ? -errno : fd;
}

/* Read into dst until len bytes or EOF; returns bytes read. */
static ssize_t read_full(int fd, uint8_t *dst, size_t len) {
        size_t n = 0;
        while (n < len) {
                ssize_t k = read(fd, dst + n, len - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        return (ssize_t) n;
}

/* Explicitly fetched once per process: OpenSSL 3's implicit fetch in every
 * EVP_DigestInit_ex(…, EVP_sha256(), …) costs more than hashing a small plugin. */
static const EVP_MD *fetch_md(EVP_MD **cache, const char *name) {
        EVP_MD *m = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
        if (!m) {
                EVP_MD *fresh = EVP_MD_fetch(NULL, name, NULL), *expected = NULL;
                if (fresh && !__atomic_compare_exchange_n(cache, &expected, fresh, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                        EVP_MD_free(fresh), fresh = expected;
                m = fresh;
        }
        return m;
}

static const EVP_MD *md_sha256(void) {
        static EVP_MD *md;
        return fetch_md(&md, "SHA256");
}

static const EVP_MD *md_blake2b(void) {
        static EVP_MD *md;
        return fetch_md(&md, "BLAKE2B-512");
}

static int hashers_new(bool want_blake2b, EVP_MD_CTX **sha, EVP_MD_CTX **b2) {
        *sha = EVP_MD_CTX_new();
        if (!*sha || !md_sha256() || EVP_DigestInit_ex(*sha, md_sha256(), NULL) != 1)
                return -ENOMEM;
        if (want_blake2b) {
                *b2 = EVP_MD_CTX_new();
                if (!*b2 || !md_blake2b() || EVP_DigestInit_ex(*b2, md_blake2b(), NULL) != 1)
                        return -ENOMEM;
        }
        return 0;
}

static int hashers_update(EVP_MD_CTX *sha, EVP_MD_CTX *b2, const uint8_t *p, size_t n) {
        if (EVP_DigestUpdate(sha, p, n) != 1)
                return -EIO;
        if (b2 && EVP_DigestUpdate(b2, p, n) != 1)
                return -EIO;
        return 0;
}

static int hashers_final(EVP_MD_CTX *sha, EVP_MD_CTX *b2, PluginImage *img) {
        if (EVP_DigestFinal_ex(sha, img->sha256, NULL) != 1)
                return -EIO;
        if (b2) {
                if (EVP_DigestFinal_ex(b2, img->blake2b, NULL) != 1)
                        return -EIO;
                img->have_blake2b = true;
        }
        return 0;
}

/*
 * Fallback (docs/plugin-security.md, "Why the loader cannot be fooled"): load the original file only if nobody but a
 * trusted owner could ever change it: read-only mount or fs-verity.
 */
static bool file_is_immutable(int fd, const struct stat *st, bool trusted_owner) {
        struct statvfs sv;
        struct statx sx;

        if (!trusted_owner || (st->st_mode & 022))
                return false;
        if (fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY))
                return true;
        if (statx(fd, "", AT_EMPTY_PATH, 0, &sx) == 0 && (sx.stx_attributes_mask & STATX_ATTR_VERITY) &&
            (sx.stx_attributes & STATX_ATTR_VERITY))
                return true;
        return false;
}

static int load_fallback(int src_fd, uint64_t max_size, bool want_blake2b, bool trusted_owner, PluginImage *img,
                         Verdict *v) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *sha = NULL, *b2 = NULL;
        struct stat st;
        void *map;

        if (fstat(src_fd, &st) < 0)
                return verdict_set(v, -errno, REASON_READ_FAILED, "failed to compute signature: %s", strerror(errno));
        if (!file_is_immutable(src_fd, &st, trusted_owner))
                return verdict_set(v, -EPERM, REASON_IMMUTABLE_IMAGE_UNAVAILABLE,
                                   "plugin rejected: cannot guarantee immutable image");
        if ((uint64_t) st.st_size > max_size)
                return verdict_set(v, -EFBIG, REASON_TOO_LARGE, "plugin rejected: too-large: larger than %llu bytes",
                                   (unsigned long long) max_size);
        if (st.st_size == 0)
                return verdict_set(v, -EBADMSG, REASON_ELF_INVALID, "plugin rejected: elf-invalid: empty file");
        map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, src_fd, 0);
        if (map == MAP_FAILED)
                return verdict_set(v, -errno, REASON_READ_FAILED, "failed to compute signature: %s", strerror(errno));
        img->map = map;
        img->size = (size_t) st.st_size;
        if (hashers_new(want_blake2b, &sha, &b2) < 0 || hashers_update(sha, b2, map, img->size) < 0 ||
            hashers_final(sha, b2, img) < 0)
                return verdict_set(v, -EIO, REASON_READ_FAILED, "failed to compute signature: hashing failed");
        img->fd = fcntl(src_fd, F_DUPFD_CLOEXEC, 3);
        if (img->fd < 0)
                return verdict_set(v, -errno, REASON_READ_FAILED, "failed to compute signature: %s", strerror(errno));
        img->sealed = false;
        return 0;
}

/*
 * Large images: a copier thread reads each chunk and writes it into the
 * memfd while this thread hashes the same buffer, so the copy hides behind
 * the hash.  A slot is reused only after it was both written and hashed:
 * the hashed bytes are exactly the bytes in the memfd.
 */
#define PIPE_SLOTS 4
#define PIPE_CHUNK (64u * 1024u)

typedef struct CopyPipe {
        int src, dst;
        size_t size;
        uint8_t *slots[PIPE_SLOTS];
        size_t len[PIPE_SLOTS];
        size_t produced, consumed; /* chunk counters */
        size_t n_chunks;
        int error;
        bool abort;
        pthread_mutex_t lock;
        pthread_cond_t cond;
} CopyPipe;

static void *copier_main(void *arg) {
        CopyPipe *p = arg;
        size_t off = 0;
        sigset_t all;

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        for (size_t i = 0; i < p->n_chunks; i++) {
                pthread_mutex_lock(&p->lock);
                while (!p->abort && p->produced - p->consumed >= PIPE_SLOTS)
                        pthread_cond_wait(&p->cond, &p->lock);
                bool stop = p->abort;
                pthread_mutex_unlock(&p->lock);
                if (stop)
                        return NULL;

                size_t want = p->size - off < PIPE_CHUNK ? p->size - off : PIPE_CHUNK;
                uint8_t *slot = p->slots[i % PIPE_SLOTS];
                int r = 0;
                ssize_t k = read_full(p->src, slot, want);
                if (k < 0)
                        r = (int) k;
                else if ((size_t) k < want)
                        r = -ESTALE;
                else {
                        ssize_t w = write(p->dst, slot, want);
                        r = w < 0 ? -errno : (size_t) w != want ? -EIO : 0;
                }
                off += want;

                pthread_mutex_lock(&p->lock);
                if (r < 0)
                        p->error = r;
                else {
                        p->len[i % PIPE_SLOTS] = want;
                        p->produced++;
                }
                pthread_cond_broadcast(&p->cond);
                pthread_mutex_unlock(&p->lock);
                if (r < 0)
                        return NULL;
        }
        return NULL;
}

static int copy_and_hash_pipelined(int src_fd, int memfd, size_t size, EVP_MD_CTX *sha, EVP_MD_CTX *b2) {
        CopyPipe p = { .src = src_fd, .dst = memfd, .size = size, .n_chunks = (size + PIPE_CHUNK - 1) / PIPE_CHUNK };
        pthread_t thread;
        int r = 0;

        for (size_t i = 0; i < PIPE_SLOTS; i++)
                if (!(p.slots[i] = malloc(PIPE_CHUNK)))
                        r = -ENOMEM;
        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.cond, NULL);
        if (r >= 0 && (r = -pthread_create(&thread, NULL, copier_main, &p)) >= 0) {
                for (size_t i = 0; i < p.n_chunks && r >= 0; i++) {
                        pthread_mutex_lock(&p.lock);
                        while (p.produced <= i && p.error == 0)
                                pthread_cond_wait(&p.cond, &p.lock);
                        bool ready = p.produced > i;
                        r = ready ? 0 : p.error;
                        pthread_mutex_unlock(&p.lock);
                        if (r < 0)
                                break;
                        r = hashers_update(sha, b2, p.slots[i % PIPE_SLOTS], p.len[i % PIPE_SLOTS]);
                        pthread_mutex_lock(&p.lock);
                        p.consumed++;
                        pthread_cond_broadcast(&p.cond);
                        pthread_mutex_unlock(&p.lock);
                }
                pthread_mutex_lock(&p.lock);
                p.abort = true;
                pthread_cond_broadcast(&p.cond);
                pthread_mutex_unlock(&p.lock);
                pthread_join(thread, NULL);
                if (r >= 0 && p.error < 0)
                        r = p.error;
        }
        for (size_t i = 0; i < PIPE_SLOTS; i++)
                free(p.slots[i]);
        pthread_cond_destroy(&p.cond);
        pthread_mutex_destroy(&p.lock);
        return r;
}

int plugin_image_load(int src_fd, const char *id, uint64_t max_size, bool want_blake2b, ImageMode mode,
                      bool trusted_owner, PluginImage *ret, Verdict *v) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *sha = NULL, *b2 = NULL;
        _cleanup_close_ int memfd = -1;
        PluginImage img = { .fd = -1 };
        struct stat st;
        size_t size;
        int r;

        if (fstat(src_fd, &st) < 0)
                return verdict_set(v, -errno, REASON_READ_FAILED, "failed to compute signature: %s", strerror(errno));
        if ((uint64_t) st.st_size > max_size)
                return verdict_set(v, -EFBIG, REASON_TOO_LARGE, "plugin rejected: too-large: larger than %llu bytes",
                                   (unsigned long long) max_size);
        size = (size_t) st.st_size;
        if (size == 0)
                return verdict_set(v, -EBADMSG, REASON_ELF_INVALID, "plugin rejected: elf-invalid: empty file");

        if (mode == IMAGE_FORCE_FALLBACK)
                memfd = -EACCES;
        else
                memfd = memfd_new_exec(id);
        if (memfd < 0) {
                /* vm.memfd_noexec=2 or an LSM: no executable memfd at all. */
                if (memfd == -EACCES || memfd == -EPERM || memfd == -ENOSYS) {
                        memfd = -1;
                        r = load_fallback(src_fd, max_size, want_blake2b, trusted_owner, &img, v);
                        if (r < 0) {
                                plugin_image_done(&img);
                                return r;
                        }
                        *ret = img;
                        return 0;
                }
                return verdict_set(v, memfd, REASON_READ_FAILED, "failed to compute signature: %s", strerror(-memfd));
        }

        /* One pass over the bytes: read, hash and write the very same
         * buffer into the memfd.  (Reading straight into a shared mapping
         * of the memfd is 3x slower: every page faults separately.) */
        bool small = size <= SMALL_IMAGE;
        _cleanup_free_ uint8_t *buf = small ? malloc(size) : NULL;
        if (small && !buf)
                return -ENOMEM;
        r = hashers_new(want_blake2b, &sha, &b2);
        if (r >= 0 && !small)
                r = copy_and_hash_pipelined(src_fd, memfd, size, sha, b2);
        else if (r >= 0) {
                ssize_t k = read_full(src_fd, buf, size);
                if (k < 0)
                        r = (int) k;
                else if ((size_t) k < size)
                        r = -ESTALE; /* file shrank while we read it */
                else if ((r = hashers_update(sha, b2, buf, size)) >= 0) {
                        ssize_t w = write(memfd, buf, size);
                        r = w < 0 ? -errno : (size_t) w != size ? -EIO : 0;
                }
        }
        if (r >= 0) {
                /* The file must not have grown either: one more byte means it changed. */
                uint8_t extra;
                ssize_t k = read_full(src_fd, &extra, 1);
                if (k != 0)
                        r = k < 0 ? (int) k : -ESTALE;
        }
        if (r >= 0)
                r = hashers_final(sha, b2, &img);
        if (r < 0)
                return verdict_set(v, r, REASON_READ_FAILED, "failed to compute signature: %s",
                                   r == -ESTALE ? "file changed while it was read" : strerror(-r));

        if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return verdict_set(v, -errno, REASON_READ_FAILED, "failed to compute signature: cannot seal: %s",
                                   strerror(errno));
        if (small) {
                /* The heap copy is exactly what went into the sealed memfd. */
                img.map = TAKE_PTR(buf);
                img.map_is_heap = true;
        } else {
                img.map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, memfd, 0);
                if (img.map == MAP_FAILED) {
                        img.map = NULL;
                        return verdict_set(v, -errno, REASON_READ_FAILED, "failed to compute signature: %s",
                                           strerror(errno));
                }
        }
        img.size = size;
        img.sealed = true;
        img.fd = TAKE_FD(memfd);
        *ret = img;
        return 0;
}

void plugin_image_unmap(PluginImage *img) {
        if (img->map && img->map_is_heap)
                free((void *) img->map);
        else if (img->map)
                munmap((void *) img->map, img->size);
        img->map = NULL;
        img->map_is_heap = false;
}

void plugin_image_done(PluginImage *img) {
        plugin_image_unmap(img);
        if (img->fd >= 0)
                close(img->fd);
        img->fd = -1;
}

int sha256_fd(int fd, uint8_t out[SHA256_DIGEST_SIZE]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);

        if (!ctx || !buf || !md_sha256() || EVP_DigestInit_ex(ctx, md_sha256(), NULL) != 1)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read_full(fd, buf, CHUNK);
                if (k < 0)
                        return (int) k;
                if (k == 0)
                        break;
                if (EVP_DigestUpdate(ctx, buf, (size_t) k) != 1)
                        return -EIO;
        }
        return EVP_DigestFinal_ex(ctx, out, NULL) == 1 ? 0 : -EIO;
}
