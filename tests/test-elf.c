/* SPDX-License-Identifier: MIT */
/*
 * ELF pre-flight against crafted shared objects (issue #7): built from
 * tests/elf/elf-fixture.c and patched here.  The dynamic section is read at
 * PT_DYNAMIC's address as ld.so reads it, a file whose offset view differs
 * is refused, segments that could map two ways are refused, no DT_NEEDED
 * may name a path, and strict ELF mode refuses IFUNC resolvers.
 */
#include <elf.h>

#include "build-config.h"
#include "elf-check.h"
#include "test-util.h"

typedef struct Image {
        uint8_t *data;
        size_t size;
} Image;

static Image load(const char *name) {
        g_autofree char *path = g_build_filename(g_getenv("DC_TEST_ELF_DIR"), name, NULL);
        gchar *bytes;
        gsize n;
        g_assert_true(g_file_get_contents(path, &bytes, &n, NULL));
        /* room to append, page-aligned like a sealed image */
        Image im = { .data = aligned_alloc(4096, (n + 8192 + 4095) / 4096 * 4096), .size = n };
        memcpy(im.data, bytes, n);
        g_free(bytes);
        /* A sanitizer build adds its module constructors to every object:
         * drop them (bytes only, nothing is loaded) so strict mode has only
         * the property under test to find. */
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *) im.data;
        const Elf64_Phdr *ph = (const Elf64_Phdr *) (im.data + eh->e_phoff);
        for (unsigned i = 0; i < eh->e_phnum; i++)
                if (ph[i].p_type == PT_DYNAMIC)
                        for (Elf64_Dyn *d = (Elf64_Dyn *) (im.data + ph[i].p_offset); d->d_tag != DT_NULL; d++)
                                if (d->d_tag == DT_INIT || d->d_tag == DT_INIT_ARRAY || d->d_tag == DT_INIT_ARRAYSZ)
                                        d->d_tag = DT_DEBUG;
        return im;
}

static Elf64_Ehdr *ehdr(Image *im) {
        return (Elf64_Ehdr *) im->data;
}

static Elf64_Phdr *phdr(Image *im, uint32_t type, unsigned nth) {
        Elf64_Phdr *ph = (Elf64_Phdr *) (im->data + ehdr(im)->e_phoff);
        for (unsigned i = 0; i < ehdr(im)->e_phnum; i++)
                if (ph[i].p_type == type && nth-- == 0)
                        return &ph[i];
        g_assert_not_reached();
}

static Elf64_Dyn *dynamic(Image *im) {
        return (Elf64_Dyn *) (im->data + phdr(im, PT_DYNAMIC, 0)->p_offset);
}

static Elf64_Dyn *dyn_find(Elf64_Dyn *d, int64_t tag) {
        for (; d->d_tag != DT_NULL; d++)
                if (d->d_tag == tag)
                        return d;
        return NULL;
}

/* File offset of the first DT_NEEDED name (the string table sits in the
 * first segment, where addresses equal offsets). */
static size_t first_needed(Image *im) {
        Elf64_Dyn *d = dynamic(im), *strtab = dyn_find(d, DT_STRTAB), *needed = dyn_find(d, DT_NEEDED);
        g_assert_nonnull(strtab);
        g_assert_nonnull(needed);
        g_assert_cmpuint(phdr(im, PT_LOAD, 0)->p_vaddr, ==, phdr(im, PT_LOAD, 0)->p_offset);
        return strtab->d_un.d_ptr + needed->d_un.d_val;
}

static int check(Image *im, bool strict, char *const *needed, Verdict *v) {
        /* libc, and the sanitizer runtimes of an ASan build */
        g_auto(GStrv) libs = g_strsplit("libc.so.6 " EXTRA_ALLOWED_NEEDED, " ", -1);
        ElfPolicy p = { .allowed_needed = needed ? needed : libs, .strict = strict,
                        .required_symbol = "dc_plugin_descriptor" };
        return elf_preflight(im->data, im->size, &p, v);
}

static void expect(Image *im, bool strict, char *const *needed, Reason reason, const char *text) {
        Verdict v = {};
        int r = check(im, strict, needed, &v);
        if (reason == REASON_NONE) {
                if (r < 0)
                        g_error("refused: %s", v.message);
                return;
        }
        if (r >= 0)
                g_error("accepted, expected %s (%s)", reason_to_string(reason), text);
        g_assert_cmpstr(reason_to_string(v.reason), ==, reason_to_string(reason));
        if (!strstr(v.message, text))
                g_error("expected \"%s\" in \"%s\"", text, v.message);
        verdict_clear(&v);
}

static void test_fixtures(void) {
        Image im = load("elf-base.so");
        expect(&im, false, NULL, REASON_NONE, NULL);
        expect(&im, true, NULL, REASON_NONE, NULL);
        free(im.data);
        im = load("elf-runpath.so");
        expect(&im, false, NULL, REASON_ELF_RPATH, "elf-rpath: has an RPATH or RUNPATH");
        free(im.data);
}

/*
 * Append a copy of the dynamic array with `tag` turned into DT_DEBUG and
 * point PT_DYNAMIC's p_offset at it; p_vaddr (what ld.so uses) still names
 * the original.  A reader of p_offset sees a clean file.
 */
static void hide_from_offset_readers(Image *im, int64_t tag) {
        Elf64_Phdr *dp = phdr(im, PT_DYNAMIC, 0);
        size_t at = (im->size + 7) & ~(size_t) 7;
        memset(im->data + im->size, 0, at - im->size);
        memcpy(im->data + at, im->data + dp->p_offset, dp->p_filesz);
        Elf64_Dyn *copy = (Elf64_Dyn *) (im->data + at);
        Elf64_Dyn *d = dyn_find(copy, tag);
        g_assert_nonnull(d);
        d->d_tag = DT_DEBUG;
        d->d_un.d_val = 0;
        im->size = at + dp->p_filesz;
        dp->p_offset = at;
}

static void test_dynamic_by_address(void) {
        /* a RUNPATH ($ORIGIN) only ld.so would see */
        Image im = load("elf-runpath.so");
        hide_from_offset_readers(&im, DT_RUNPATH);
        expect(&im, false, NULL, REASON_ELF_INVALID, "PT_DYNAMIC's file offset and address name different bytes");
        free(im.data);

        /* a DT_NEEDED only ld.so would see */
        static char *const none[] = { NULL };
        im = load("elf-base.so");
        expect(&im, false, none, REASON_ELF_NEEDED_NOT_ALLOWED, "links against ");
        hide_from_offset_readers(&im, DT_NEEDED);
        expect(&im, false, none, REASON_ELF_INVALID, "PT_DYNAMIC's file offset and address name different bytes");
        free(im.data);

        /* a second PT_DYNAMIC (ld.so takes the last) in place of PT_GNU_RELRO */
        im = load("elf-base.so");
        *phdr(&im, PT_GNU_RELRO, 0) = *phdr(&im, PT_DYNAMIC, 0);
        expect(&im, false, NULL, REASON_ELF_INVALID, "more than one PT_DYNAMIC");
        free(im.data);
}

static void test_needed_paths(void) {
        static const char *const names[] = { "./evil.so", "$ORIGIN/x", "/tmp/x.so" };
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                Image im = load("elf-base.so");
                size_t at = first_needed(&im);
                g_assert_cmpuint(strlen((char *) im.data + at), >=, strlen(names[i]));
                memcpy(im.data + at, names[i], strlen(names[i]) + 1);
                /* refused even when the allowlist names it */
                g_autofree char *list = g_strdup_printf("%s %s", names[i], EXTRA_ALLOWED_NEEDED);
                g_auto(GStrv) allowed = g_strsplit(list, " ", -1);
                expect(&im, false, allowed, REASON_ELF_NEEDED_NOT_ALLOWED, "DT_NEEDED entry is a path");
                free(im.data);
        }
}

static void test_segments(void) {
        /* overlapping PT_LOADs: which bytes win depends on the mapping order */
        Image im = load("elf-base.so");
        Elf64_Phdr *second = phdr(&im, PT_LOAD, 1);
        second->p_vaddr = phdr(&im, PT_LOAD, 0)->p_vaddr;
        expect(&im, false, NULL, REASON_ELF_INVALID, "PT_LOAD segments overlap or are out of order");
        free(im.data);

        /* a segment whose address and offset disagree modulo the page size;
         * a GNU hash chain led into it was read misaligned (UBSan) */
        im = load("elf-base.so");
        Elf64_Phdr *last = NULL;
        for (unsigned i = 0;; i++) {
                Elf64_Phdr *p = (Elf64_Phdr *) (im.data + ehdr(&im)->e_phoff) + i;
                if (i == ehdr(&im)->e_phnum)
                        break;
                if (p->p_type == PT_LOAD)
                        last = p;
        }
        Elf64_Dyn *gnu = dyn_find(dynamic(&im), DT_GNU_HASH);
        g_assert_nonnull(gnu);
        uint32_t *h = (uint32_t *) (im.data + gnu->d_un.d_ptr); /* first segment: vaddr = offset */
        uint32_t nbuckets = h[0], symoffset = h[1], bloom = h[2];
        uint64_t chain = gnu->d_un.d_ptr + 16 + (uint64_t) bloom * 8 + (uint64_t) nbuckets * 4;
        h[4 + bloom * 2] = symoffset + (uint32_t) ((last->p_vaddr + 4 - chain) / 4);
        last->p_offset += 2;
        expect(&im, false, NULL, REASON_ELF_INVALID, "malformed PT_LOAD segment");
        free(im.data);
}

static void test_ifunc(void) {
        Image im = load("elf-ifunc.so");
        expect(&im, false, NULL, REASON_NONE, NULL);
        expect(&im, true, NULL, REASON_ELF_IFUNC, "elf-ifunc: defines IFUNC symbols");
        free(im.data);
        im = load("elf-irelative.so");
        expect(&im, false, NULL, REASON_NONE, NULL);
        expect(&im, true, NULL, REASON_ELF_IFUNC, "elf-ifunc: has IRELATIVE relocations");
        free(im.data);
}

/* Every single-byte change of the headers and dynamic section is refused or
 * accepted, never a crash or a misaligned read (ASan+UBSan run this). */
static void test_byte_flips(void) {
        Image base = load("elf-base.so");
        Image im = { .data = aligned_alloc(4096, (base.size + 4095) / 4096 * 4096), .size = base.size };
        size_t dyn = phdr(&base, PT_DYNAMIC, 0)->p_offset, dynsz = phdr(&base, PT_DYNAMIC, 0)->p_filesz;
        size_t ph_end = ehdr(&base)->e_phoff + (size_t) ehdr(&base)->e_phnum * sizeof(Elf64_Phdr);
        for (size_t i = 0; i < base.size; i++) {
                if (i >= ph_end && (i < dyn || i >= dyn + dynsz))
                        continue;
                for (unsigned x = 1; x < 256; x <<= 1) {
                        memcpy(im.data, base.data, base.size);
                        im.data[i] ^= (uint8_t) x;
                        Verdict v = {};
                        (void) check(&im, true, NULL, &v);
                        verdict_clear(&v);
                }
        }
        free(im.data);
        free(base.data);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/elf/fixtures", test_fixtures);
        g_test_add_func("/elf/dynamic-by-address", test_dynamic_by_address);
        g_test_add_func("/elf/needed-paths", test_needed_paths);
        g_test_add_func("/elf/segments", test_segments);
        g_test_add_func("/elf/ifunc", test_ifunc);
        g_test_add_func("/elf/byte-flips", test_byte_flips);
        return g_test_run();
}
