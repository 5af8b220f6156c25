/* SPDX-License-Identifier: MIT */
/*
 * ELF pre-flight (docs/plugin-security.md, "ELF pre-flight").  Everything is
 * read the way ld.so reads it: the dynamic section at PT_DYNAMIC's p_vaddr
 * (not p_offset), every address through the PT_LOAD segments, and a layout
 * where ld.so and this file could see different bytes at one address is
 * refused.  All reads go through memcpy: the image is hostile and any field
 * may be misaligned.
 */
#include "elf-check.h"

#include <elf.h>
#include <string.h>

#include "macro.h"

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#define HOST_IRELATIVE R_X86_64_IRELATIVE
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#define HOST_IRELATIVE R_AARCH64_IRELATIVE
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_MACHINE EM_RISCV
#define HOST_IRELATIVE 58 /* R_RISCV_IRELATIVE */
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#define HOST_IRELATIVE R_PPC64_IRELATIVE
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#define HOST_IRELATIVE R_390_IRELATIVE
#else
#error "unsupported host architecture"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

/* ld.so requires p_vaddr ≡ p_offset modulo the page size; 4 KiB is the
 * smallest page of every supported machine. */
#define MIN_PAGE 4096u
/* Real plugins have about ten program headers. */
#define MAX_PHDRS 64u

#define REJECT(reason, ...) verdict_set(v, -EBADMSG, reason, __VA_ARGS__)

typedef struct Image {
        const uint8_t *data;
        size_t size;
        Elf64_Phdr loads[MAX_PHDRS];
        size_t n_loads;
} Image;

static bool range_ok(const Image *im, uint64_t off, uint64_t len) {
        return off <= im->size && len <= im->size - off;
}

#define READ(im, off, var) memcpy(&(var), (im)->data + (off), sizeof(var))

static uint32_t rd32(const Image *im, uint64_t off) {
        uint32_t x;
        READ(im, off, x);
        return x;
}

/* Map a virtual address range to a file offset through the PT_LOAD
 * segments: the whole range must lie in the file-backed part of one. */
static bool vaddr_to_off(const Image *im, uint64_t vaddr, uint64_t len, uint64_t *off) {
        for (size_t i = 0; i < im->n_loads; i++) {
                const Elf64_Phdr *p = &im->loads[i];
                if (vaddr >= p->p_vaddr && vaddr - p->p_vaddr <= p->p_filesz &&
                    len <= p->p_filesz - (vaddr - p->p_vaddr)) {
                        *off = p->p_offset + (vaddr - p->p_vaddr);
                        return range_ok(im, *off, len);
                }
        }
        return false;
}

static const char *str_at(const Image *im, uint64_t strtab, uint64_t strsz, uint64_t idx) {
        if (idx >= strsz)
                return NULL;
        const char *s = (const char *) im->data + strtab + idx;
        if (!memchr(s, 0, strsz - idx))
                return NULL;
        return s;
}

/*
 * ld.so maps each PT_LOAD page-wise, in order, later ones over earlier ones.
 * So that one address has one meaning, the segments must be sorted, must
 * not overlap, must be congruent to their file offsets, and two segments
 * sharing a page must map it from the same file bytes.
 */
static int check_loads(const Image *im, Verdict *v) {
        for (size_t i = 0; i < im->n_loads; i++) {
                const Elf64_Phdr *p = &im->loads[i];
                if (p->p_filesz > p->p_memsz || p->p_vaddr > UINT64_MAX - MIN_PAGE ||
                    p->p_memsz > UINT64_MAX - MIN_PAGE - p->p_vaddr ||
                    (p->p_vaddr - p->p_offset) % MIN_PAGE != 0)
                        return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: malformed PT_LOAD segment");
                if (i == 0)
                        continue;
                const Elf64_Phdr *q = &im->loads[i - 1];
                if (p->p_vaddr < q->p_vaddr + q->p_memsz)
                        return REJECT(REASON_ELF_INVALID,
                                      "plugin rejected: elf-invalid: PT_LOAD segments overlap or are out of order");
                uint64_t q_last_page = (q->p_vaddr + q->p_memsz - 1) / MIN_PAGE, p_first_page = p->p_vaddr / MIN_PAGE;
                if (q->p_memsz > 0 && q_last_page == p_first_page &&
                    q->p_vaddr - q->p_offset != p->p_vaddr - p->p_offset)
                        return REJECT(REASON_ELF_INVALID,
                                      "plugin rejected: elf-invalid: PT_LOAD segments share a page with different contents");
        }
        return 0;
}

/* Number of dynamic symbols from DT_HASH, or from DT_GNU_HASH's chains. */
static bool count_symbols(const Image *im, uint64_t hash, bool have_hash, uint64_t gnu, bool have_gnu, uint64_t *n) {
        uint64_t off;

        if (have_hash) {
                if (!vaddr_to_off(im, hash, 8, &off))
                        return false;
                *n = rd32(im, off + 4); /* nchain */
                return true;
        }
        if (!have_gnu || !vaddr_to_off(im, gnu, 16, &off))
                return false;
        uint32_t nbuckets = rd32(im, off), symoffset = rd32(im, off + 4), bloom_size = rd32(im, off + 8);
        uint64_t buckets_off = 16 + (uint64_t) bloom_size * 8;
        if (!vaddr_to_off(im, gnu, buckets_off + (uint64_t) nbuckets * 4, &off))
                return false;
        uint32_t max = 0;
        for (uint32_t i = 0; i < nbuckets; i++) {
                uint32_t b = rd32(im, off + buckets_off + (uint64_t) i * 4);
                if (b > max)
                        max = b;
        }
        if (max < symoffset) {
                *n = symoffset;
                return true;
        }
        /* Follow the last chain to its end bit. */
        uint64_t chain_vaddr = gnu + buckets_off + (uint64_t) nbuckets * 4;
        for (uint32_t i = max;; i++) {
                uint64_t coff;
                if (i - symoffset > (1u << 24) ||
                    !vaddr_to_off(im, chain_vaddr + (uint64_t) (i - symoffset) * 4, 4, &coff))
                        return false;
                if (rd32(im, coff) & 1) {
                        *n = (uint64_t) i + 1;
                        return true;
                }
        }
}

typedef struct Dynamic {
        uint64_t off, n; /* entries up to DT_NULL, at their file offset */
        uint64_t strtab, strsz, symtab, syment, hash, gnu_hash;
        bool have_strtab, have_symtab, have_hash, have_gnu;
        uint64_t rel[3][2]; /* DT_RELA, DT_REL, DT_JMPREL: address, size */
        uint64_t relent[2]; /* DT_RELAENT, DT_RELENT */
        uint64_t pltrel;
        bool constructors;
} Dynamic;

static Elf64_Dyn dyn_at(const Image *im, const Dynamic *d, uint64_t i) {
        Elf64_Dyn e;
        READ(im, d->off + i * sizeof(Elf64_Dyn), e);
        return e;
}

/* The dynamic array as ld.so finds it: at p_vaddr, read until DT_NULL. */
static int read_dynamic(const Image *im, const Elf64_Phdr *dyn_ph, Dynamic *d, Verdict *v) {
        uint64_t off;

        *d = (Dynamic){ .syment = sizeof(Elf64_Sym), .relent = { sizeof(Elf64_Rela), sizeof(Elf64_Rel) } };
        if (!vaddr_to_off(im, dyn_ph->p_vaddr, sizeof(Elf64_Dyn), &off))
                return REJECT(REASON_ELF_INVALID,
                              "plugin rejected: elf-invalid: dynamic section is not in a loaded segment");
        /* The file view (p_offset) and the loaded view (p_vaddr) must agree,
         * or tools that read the file see another dynamic section than ld.so. */
        if (off != dyn_ph->p_offset)
                return REJECT(REASON_ELF_INVALID,
                              "plugin rejected: elf-invalid: PT_DYNAMIC's file offset and address name different bytes");
        d->off = off;
        for (uint64_t i = 0;; i++) {
                uint64_t eoff;
                if (i >= dyn_ph->p_filesz / sizeof(Elf64_Dyn) ||
                    !vaddr_to_off(im, dyn_ph->p_vaddr + i * sizeof(Elf64_Dyn), sizeof(Elf64_Dyn), &eoff))
                        return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: malformed dynamic section");
                Elf64_Dyn e = dyn_at(im, d, i);
                uint64_t val = e.d_un.d_val;
                switch (e.d_tag) {
                case DT_NULL:
                        d->n = i;
                        if (!d->have_strtab || d->strsz == 0)
                                return REJECT(REASON_ELF_INVALID,
                                              "plugin rejected: elf-invalid: malformed dynamic section");
                        return 0;
                case DT_RPATH:
                case DT_RUNPATH:
                        /* Also the only way to $ORIGIN: a plugin never resolves libraries from its folder. */
                        return REJECT(REASON_ELF_RPATH, "plugin rejected: elf-rpath: has an RPATH or RUNPATH");
                case DT_FILTER:
                case DT_AUXILIARY:
                case DT_AUDIT:
                case DT_DEPAUDIT:
                        return REJECT(REASON_ELF_NEEDED_NOT_ALLOWED,
                                      "plugin rejected: elf-needed-not-allowed: names filter or audit libraries");
                case DT_INIT:
                case DT_INIT_ARRAY:
                case DT_PREINIT_ARRAY:
                        d->constructors = true;
                        break;
                case DT_STRTAB:
                        d->strtab = val, d->have_strtab = true;
                        break;
                case DT_STRSZ:
                        d->strsz = val;
                        break;
                case DT_SYMTAB:
                        d->symtab = val, d->have_symtab = true;
                        break;
                case DT_SYMENT:
                        d->syment = val;
                        break;
                case DT_HASH:
                        d->hash = val, d->have_hash = true;
                        break;
                case DT_GNU_HASH:
                        d->gnu_hash = val, d->have_gnu = true;
                        break;
                case DT_RELA:
                        d->rel[0][0] = val;
                        break;
                case DT_RELASZ:
                        d->rel[0][1] = val;
                        break;
                case DT_RELAENT:
                        d->relent[0] = val;
                        break;
                case DT_REL:
                        d->rel[1][0] = val;
                        break;
                case DT_RELSZ:
                        d->rel[1][1] = val;
                        break;
                case DT_RELENT:
                        d->relent[1] = val;
                        break;
                case DT_JMPREL:
                        d->rel[2][0] = val;
                        break;
                case DT_PLTRELSZ:
                        d->rel[2][1] = val;
                        break;
                case DT_PLTREL:
                        d->pltrel = val;
                        break;
                }
        }
}

/* DT_NEEDED: a bare name on the allowlist.  A '/' or '$' would make ld.so
 * open a path (or expand $ORIGIN) instead of searching the system. */
static int check_needed(const Image *im, const Dynamic *d, uint64_t strtab_off, const ElfPolicy *policy, Verdict *v) {
        for (uint64_t i = 0; i < d->n; i++) {
                Elf64_Dyn e = dyn_at(im, d, i);
                if (e.d_tag != DT_NEEDED)
                        continue;
                const char *lib = str_at(im, strtab_off, d->strsz, e.d_un.d_val);
                if (!lib)
                        return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: bad DT_NEEDED entry");
                if (strpbrk(lib, "/$"))
                        return REJECT(REASON_ELF_NEEDED_NOT_ALLOWED,
                                      "plugin rejected: elf-needed-not-allowed: DT_NEEDED entry is a path, not a library name");
                bool allowed = false;
                for (char *const *a = policy->allowed_needed; a && *a; a++)
                        if (streq(*a, lib))
                                allowed = true;
                if (!allowed)
                        return REJECT(REASON_ELF_NEEDED_NOT_ALLOWED,
                                      "plugin rejected: elf-needed-not-allowed: links against %s, which is not allowed", lib);
        }
        return 0;
}

/* IRELATIVE relocations: ld.so calls the object's resolver inside dlopen. */
static int check_irelative(const Image *im, const Dynamic *d, Verdict *v) {
        for (int t = 0; t < 3; t++) {
                bool rela = t == 0 || (t == 2 && d->pltrel == DT_RELA);
                uint64_t ent = rela ? d->relent[0] : d->relent[1], off;
                uint64_t addr = d->rel[t][0], size = d->rel[t][1];
                if (size == 0)
                        continue;
                if (ent != (rela ? sizeof(Elf64_Rela) : sizeof(Elf64_Rel)) || !vaddr_to_off(im, addr, size, &off))
                        return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: malformed relocation table");
                for (uint64_t i = 0; i + ent <= size; i += ent) {
                        Elf64_Rel r; /* r_info sits at the same place in Elf64_Rela */
                        READ(im, off + i, r);
                        if (ELF64_R_TYPE(r.r_info) == HOST_IRELATIVE)
                                return REJECT(REASON_ELF_IFUNC,
                                              "plugin rejected: elf-ifunc: has IRELATIVE relocations (strict ELF mode)");
                }
        }
        return 0;
}

int elf_preflight(const uint8_t *data, size_t size, const ElfPolicy *policy, Verdict *v) {
        Image im = { .data = data, .size = size };
        Elf64_Ehdr eh;
        Elf64_Phdr dyn_ph = {};
        bool have_stack = false, have_dyn = false;
        int r;

        if (size < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) != 0)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: not an ELF file");
        READ(&im, 0, eh);
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != HOST_DATA || eh.e_ident[EI_VERSION] != EV_CURRENT)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: ELF class, byte order or version differs from the host");
        if (eh.e_machine != HOST_MACHINE)
                return REJECT(REASON_ELF_WRONG_MACHINE, "plugin rejected: elf-wrong-machine: built for machine %u, host is %u",
                              (unsigned) eh.e_machine, (unsigned) HOST_MACHINE);
        if (eh.e_type != ET_DYN)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: not a shared object");
        if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > MAX_PHDRS ||
            !range_ok(&im, eh.e_phoff, (uint64_t) eh.e_phnum * sizeof(Elf64_Phdr)))
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: bad program header table");

        for (size_t i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr p;
                READ(&im, eh.e_phoff + i * sizeof(Elf64_Phdr), p);
                switch (p.p_type) {
                case PT_INTERP:
                        return REJECT(REASON_ELF_INTERP, "plugin rejected: elf-interp: an executable, not a library");
                case PT_GNU_STACK:
                        have_stack = true;
                        if (p.p_flags & PF_X)
                                return REJECT(REASON_ELF_EXECSTACK, "plugin rejected: elf-execstack: requires an executable stack");
                        break;
                case PT_LOAD:
                        if ((p.p_flags & PF_W) && (p.p_flags & PF_X))
                                return REJECT(REASON_ELF_WX_SEGMENT, "plugin rejected: elf-wx-segment: a segment is writable and executable");
                        if (!range_ok(&im, p.p_offset, p.p_filesz))
                                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: segment outside the file");
                        im.loads[im.n_loads++] = p;
                        break;
                case PT_DYNAMIC:
                        /* ld.so would take the last one: allow exactly one. */
                        if (have_dyn)
                                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: more than one PT_DYNAMIC");
                        dyn_ph = p;
                        have_dyn = true;
                        break;
                }
        }
        if (!have_stack)
                return REJECT(REASON_ELF_EXECSTACK, "plugin rejected: elf-execstack: no PT_GNU_STACK header (executable stack by default)");
        r = check_loads(&im, v);
        if (r < 0)
                return r;
        if (!have_dyn)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: no dynamic section");

        Dynamic d;
        r = read_dynamic(&im, &dyn_ph, &d, v);
        if (r < 0)
                return r;
        if (d.constructors && policy->strict)
                return REJECT(REASON_ELF_CONSTRUCTOR, "plugin rejected: elf-constructor: has ELF constructors (strict ELF mode)");
        uint64_t strtab_off;
        if (!vaddr_to_off(&im, d.strtab, d.strsz, &strtab_off))
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: string table outside the file");
        r = check_needed(&im, &d, strtab_off, policy, v);
        if (r < 0)
                return r;
        if (policy->strict) {
                r = check_irelative(&im, &d, v);
                if (r < 0)
                        return r;
        }
        if (!policy->required_symbol && !policy->strict)
                return 0;

        uint64_t nsyms, symtab_off;
        if (!d.have_symtab || d.syment != sizeof(Elf64_Sym) ||
            !count_symbols(&im, d.hash, d.have_hash, d.gnu_hash, d.have_gnu, &nsyms) ||
            nsyms > size / sizeof(Elf64_Sym) || !vaddr_to_off(&im, d.symtab, nsyms * sizeof(Elf64_Sym), &symtab_off))
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: malformed dynamic symbol table");
        bool found = false;
        for (uint64_t i = 0; i < nsyms; i++) {
                Elf64_Sym s;
                READ(&im, symtab_off + i * sizeof(Elf64_Sym), s);
                /* A defined IFUNC symbol: its resolver runs when ld.so binds it. */
                if (policy->strict && s.st_shndx != SHN_UNDEF && ELF64_ST_TYPE(s.st_info) == STT_GNU_IFUNC)
                        return REJECT(REASON_ELF_IFUNC, "plugin rejected: elf-ifunc: defines IFUNC symbols (strict ELF mode)");
                if (found || !policy->required_symbol)
                        continue;
                const char *name = str_at(&im, strtab_off, d.strsz, s.st_name);
                if (name && streq(name, policy->required_symbol) && s.st_shndx != SHN_UNDEF &&
                    ELF64_ST_TYPE(s.st_info) == STT_OBJECT &&
                    (ELF64_ST_BIND(s.st_info) == STB_GLOBAL || ELF64_ST_BIND(s.st_info) == STB_WEAK) &&
                    ELF64_ST_VISIBILITY(s.st_other) == STV_DEFAULT)
                        found = true;
        }
        if (policy->required_symbol && !found)
                return REJECT(REASON_DESCRIPTOR_MISSING, "plugin rejected: descriptor-missing: '%s' is not exported",
                              policy->required_symbol);
        return 0;
}
