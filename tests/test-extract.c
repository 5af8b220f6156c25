/* SPDX-License-Identifier: MIT */
/*
 * archive_extract() against sparse tar members (GNU tar --sparse in the gnu
 * format and the three pax GNU.sparse versions): the logical size, holes
 * included, counts against the per-member, total and ratio caps, so a few
 * kilobytes of archive cannot become gigabytes of files (issue #6).
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "extract.h"
#include "test-util.h"

typedef struct Fixture {
        char *tmp;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        f->tmp = tu_tmpdir();
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        tu_rm_rf(f->tmp);
        g_free(f->tmp);
}

static const char *const formats[] = {
        "-H gnu",
        "-H pax --sparse-version=0.0",
        "-H pax --sparse-version=0.1",
        "-H pax --sparse-version=1.0",
};

/* <tmp>/src/<name>: n sparse files of `logical` bytes with one byte of data
 * in the middle, packed with `tar --sparse <format>` into <tmp>/<out>. */
static char *make_sparse_tar(Fixture *f, const char *format, unsigned n, uint64_t logical, const char *out) {
        g_autofree char *src = g_build_filename(f->tmp, "src", NULL);
        g_autofree char *cmd = NULL;
        tu_rm_rf(src);
        g_assert_cmpint(mkdir(src, 0755), ==, 0);
        for (unsigned i = 0; i < n; i++) {
                g_autofree char *p = g_strdup_printf("%s/s%u", src, i);
                int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                g_assert_cmpint(fd, >=, 0);
                g_assert_cmpint(ftruncate(fd, (off_t) logical), ==, 0);
                g_assert_cmpint(pwrite(fd, "z", 1, (off_t) (logical / 2)), ==, 1);
                close(fd);
        }
        char *path = g_build_filename(f->tmp, out, NULL);
        cmd = g_strdup_printf("tar --sparse %s -C %s -cf %s .", format, src, path);
        g_autofree char *err = NULL;
        int status;
        g_assert_true(g_spawn_command_line_sync(cmd, NULL, &err, &status, NULL));
        if (!g_spawn_check_wait_status(status, NULL))
                g_error("%s: %s", cmd, err);
        return path;
}

/* Extract into a fresh <tmp>/x; returns the error, *v set. */
static int extract(Fixture *f, const char *archive, const ArchiveLimits *l, Verdict *v, uint64_t *ret_size) {
        g_autofree char *x = g_build_filename(f->tmp, "x", NULL);
        tu_rm_rf(x);
        g_assert_cmpint(mkdir(x, 0755), ==, 0);
        int dfd = open(x, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = open(archive, O_RDONLY | O_CLOEXEC);
        struct stat st;
        g_assert_cmpint(fstat(fd, &st), ==, 0);
        *ret_size = (uint64_t) st.st_size;
        int r = archive_extract(fd, (uint64_t) st.st_size, PACKAGE_FORMAT_TAR_GZ, dfd, l, v);
        close(fd);
        close(dfd);
        return r;
}

static void expect_limit(int r, Verdict *v, const char *text) {
        g_assert_cmpint(r, ==, -EBADMSG);
        g_assert_cmpstr(reason_to_string(v->reason), ==, reason_to_string(REASON_ARCHIVE_LIMIT_EXCEEDED));
        if (!strstr(v->message, text))
                g_error("expected \"%s\" in \"%s\"", text, v->message);
        verdict_clear(v);
}

/* Eight members of 200 KiB, each within the member cap, 1.6 MiB in all. */
static void test_sparse_total(Fixture *f, gconstpointer data) {
        ArchiveLimits l = { .max_extracted = 1024 * 1024, .max_member = 256 * 1024, .max_members = 64,
                            .max_depth = ARCHIVE_DEPTH_MAX, .max_ratio = 1000000 };
        for (size_t i = 0; i < G_N_ELEMENTS(formats); i++) {
                g_autofree char *tar = make_sparse_tar(f, formats[i], 8, 200 * 1024, "many.tar");
                Verdict v = {};
                uint64_t size;
                g_test_message("%s", formats[i]);
                expect_limit(extract(f, tar, &l, &v, &size), &v, "archive expands beyond the limit (1048576 bytes)");
                g_assert_cmpuint(size, <, 100 * 1024);
        }
}

/* One 13 GB member in a few KB: refused up front, by the member cap with the
 * defaults and by the ratio cap when the caps are that large. */
static void test_sparse_bomb(Fixture *f, gconstpointer data) {
        ArchiveLimits l = { .max_extracted = 64ull << 30, .max_member = 64ull << 30, .max_members = 64,
                            .max_depth = ARCHIVE_DEPTH_MAX, .max_ratio = ARCHIVE_RATIO_MAX };
        for (size_t i = 0; i < G_N_ELEMENTS(formats); i++) {
                g_autofree char *tar = make_sparse_tar(f, formats[i], 1, 13ull * 1000 * 1000 * 1000, "bomb.tar");
                Verdict v = {};
                uint64_t size;
                g_test_message("%s", formats[i]);
                expect_limit(extract(f, tar, &l, &v, &size), &v, "compression ratio exceeds 200:1");
                g_assert_cmpuint(size, <, 64 * 1024);
                l.max_member = 64ull << 20;
                expect_limit(extract(f, tar, &l, &v, &size), &v, "exceeds the size limit (67108864 bytes)");
                l.max_member = 64ull << 30;
        }
}

/* Within the caps a sparse member extracts to its full length, data in place. */
static void test_sparse_within_caps(Fixture *f, gconstpointer data) {
        ArchiveLimits l = { .max_extracted = 1024 * 1024, .max_member = 256 * 1024, .max_members = 64,
                            .max_depth = ARCHIVE_DEPTH_MAX, .max_ratio = 1000000 };
        for (size_t i = 0; i < G_N_ELEMENTS(formats); i++) {
                g_autofree char *tar = make_sparse_tar(f, formats[i], 4, 200 * 1024, "ok.tar");
                Verdict v = {};
                uint64_t size;
                g_assert_cmpint(extract(f, tar, &l, &v, &size), ==, 0);
                g_autofree char *p = g_build_filename(f->tmp, "x", "s3", NULL);
                g_autofree char *bytes = NULL;
                gsize n;
                g_assert_true(g_file_get_contents(p, &bytes, &n, NULL));
                g_assert_cmpuint(n, ==, 200 * 1024);
                g_assert_cmpint(bytes[100 * 1024], ==, 'z');
                g_assert_cmpint(bytes[0], ==, 0);
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        tu_init();
        g_test_add("/extract/sparse-total", Fixture, NULL, fixture_setup, test_sparse_total, fixture_teardown);
        g_test_add("/extract/sparse-bomb", Fixture, NULL, fixture_setup, test_sparse_bomb, fixture_teardown);
        g_test_add("/extract/sparse-within-caps", Fixture, NULL, fixture_setup, test_sparse_within_caps,
                   fixture_teardown);
        return g_test_run();
}
