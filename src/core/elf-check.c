/* SPDX-License-Identifier: MIT */
#include "elf-check.h"

#include <elf.h>
#include <string.h>

#include "macro.h"

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#else
#error "unsupported host architecture"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

#define REJECT(reason, ...) verdict_set(v, -EBADMSG, reason, __VA_ARGS__)

typedef struct Image {
        const uint8_t *data;
        size_t size;
        const Elf64_Phdr *ph;
        size_t phnum;
} Image;

static bool range_ok(const Image *im, uint64_t off, uint64_t len) {
        return off <= im->size && len <= im->size - off;
}

/* Map a virtual address range to a file offset through the PT_LOAD segments. */
static bool vaddr_to_off(const Image *im, uint64_t vaddr, uint64_t len, uint64_t *off) {
        for (size_t i = 0; i < im->phnum; i++) {
                const Elf64_Phdr *p = &im->ph[i];
                if (p->p_type != PT_LOAD)
                        continue;
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

/* Number of dynamic symbols from DT_HASH, or from DT_GNU_HASH's chains. */
static bool count_symbols(const Image *im, uint64_t hash, bool have_hash, uint64_t gnu, bool have_gnu, uint64_t *n) {
        uint64_t off;

        if (have_hash) {
                if (!vaddr_to_off(im, hash, 8, &off) || off % 4 != 0)
                        return false;
                *n = ((const uint32_t *) (im->data + off))[1]; /* nchain */
                return true;
        }
        if (!have_gnu || !vaddr_to_off(im, gnu, 16, &off) || off % 8 != 0)
                return false;
        const uint32_t *h = (const uint32_t *) (im->data + off);
        uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
        uint64_t buckets_off = 16 + (uint64_t) bloom_size * 8;
        if (!vaddr_to_off(im, gnu, buckets_off + (uint64_t) nbuckets * 4, &off))
                return false;
        const uint32_t *buckets = (const uint32_t *) (im->data + off + buckets_off);
        uint32_t max = 0;
        for (uint32_t i = 0; i < nbuckets; i++)
                if (buckets[i] > max)
                        max = buckets[i];
        if (max < symoffset) {
                *n = symoffset;
                return true;
        }
        /* Follow the last chain to its end bit. */
        uint64_t chain_vaddr = gnu + buckets_off + (uint64_t) nbuckets * 4;
        for (uint32_t i = max;; i++) {
                uint64_t coff;
                if (!vaddr_to_off(im, chain_vaddr + (uint64_t) (i - symoffset) * 4, 4, &coff))
                        return false;
                if (*(const uint32_t *) (im->data + coff) & 1) {
                        *n = (uint64_t) i + 1;
                        return true;
                }
                if (i - symoffset > (1u << 24))
                        return false;
        }
}

int elf_preflight(const uint8_t *data, size_t size, const ElfPolicy *policy, Verdict *v) {
        Image im = { .data = data, .size = size };
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *) data;
        const Elf64_Phdr *dyn_ph = NULL;
        bool have_stack = false;

        if (size < sizeof(Elf64_Ehdr) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: not an ELF file");
        if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != HOST_DATA ||
            eh->e_ident[EI_VERSION] != EV_CURRENT)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: ELF class, byte order or version differs from the host");
        if (eh->e_machine != HOST_MACHINE)
                return REJECT(REASON_ELF_WRONG_MACHINE, "plugin rejected: elf-wrong-machine: built for machine %u, host is %u",
                              (unsigned) eh->e_machine, (unsigned) HOST_MACHINE);
        if (eh->e_type != ET_DYN)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: not a shared object");
        if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
            !range_ok(&im, eh->e_phoff, (uint64_t) eh->e_phnum * sizeof(Elf64_Phdr)) ||
            eh->e_phoff % _Alignof(Elf64_Phdr) != 0)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: bad program header table");
        im.ph = (const Elf64_Phdr *) (data + eh->e_phoff);
        im.phnum = eh->e_phnum;

        for (size_t i = 0; i < im.phnum; i++) {
                const Elf64_Phdr *p = &im.ph[i];
                switch (p->p_type) {
                case PT_INTERP:
                        return REJECT(REASON_ELF_INTERP, "plugin rejected: elf-interp: an executable, not a library");
                case PT_GNU_STACK:
                        have_stack = true;
                        if (p->p_flags & PF_X)
                                return REJECT(REASON_ELF_EXECSTACK, "plugin rejected: elf-execstack: requires an executable stack");
                        break;
                case PT_LOAD:
                        if ((p->p_flags & PF_W) && (p->p_flags & PF_X))
                                return REJECT(REASON_ELF_WX_SEGMENT, "plugin rejected: elf-wx-segment: a segment is writable and executable");
                        if (!range_ok(&im, p->p_offset, p->p_filesz))
                                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: segment outside the file");
                        break;
                case PT_DYNAMIC:
                        dyn_ph = p;
                        break;
                }
        }
        if (!have_stack)
                return REJECT(REASON_ELF_EXECSTACK, "plugin rejected: elf-execstack: no PT_GNU_STACK header (executable stack by default)");
        if (!dyn_ph || !range_ok(&im, dyn_ph->p_offset, dyn_ph->p_filesz) || dyn_ph->p_offset % 8 != 0)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: no dynamic section");

        const Elf64_Dyn *dyn = (const Elf64_Dyn *) (data + dyn_ph->p_offset);
        size_t ndyn = dyn_ph->p_filesz / sizeof(Elf64_Dyn);
        uint64_t strtab = 0, strsz = 0, symtab = 0, syment = sizeof(Elf64_Sym), hash = 0, gnu_hash = 0;
        bool have_strtab = false, have_symtab = false, have_hash = false, have_gnu = false, terminated = false;

        for (size_t i = 0; i < ndyn && !terminated; i++) {
                switch (dyn[i].d_tag) {
                case DT_NULL:
                        terminated = true;
                        break;
                case DT_RPATH:
                case DT_RUNPATH:
                        return REJECT(REASON_ELF_RPATH, "plugin rejected: elf-rpath: has an RPATH or RUNPATH");
                case DT_INIT:
                case DT_INIT_ARRAY:
                case DT_PREINIT_ARRAY:
                        if (policy->strict)
                                return REJECT(REASON_ELF_CONSTRUCTOR,
                                              "plugin rejected: elf-constructor: has ELF constructors (strict ELF mode)");
                        break;
                case DT_STRTAB:
                        strtab = dyn[i].d_un.d_ptr, have_strtab = true;
                        break;
                case DT_STRSZ:
                        strsz = dyn[i].d_un.d_val;
                        break;
                case DT_SYMTAB:
                        symtab = dyn[i].d_un.d_ptr, have_symtab = true;
                        break;
                case DT_SYMENT:
                        syment = dyn[i].d_un.d_val;
                        break;
                case DT_HASH:
                        hash = dyn[i].d_un.d_ptr, have_hash = true;
                        break;
                case DT_GNU_HASH:
                        gnu_hash = dyn[i].d_un.d_ptr, have_gnu = true;
                        break;
                }
        }
        if (!terminated || !have_strtab || strsz == 0)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: malformed dynamic section");
        uint64_t strtab_off;
        if (!vaddr_to_off(&im, strtab, strsz, &strtab_off))
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: string table outside the file");

        for (size_t i = 0; i < ndyn; i++) {
                if (dyn[i].d_tag == DT_NULL)
                        break;
                if (dyn[i].d_tag != DT_NEEDED)
                        continue;
                const char *lib = str_at(&im, strtab_off, strsz, dyn[i].d_un.d_val);
                if (!lib)
                        return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: bad DT_NEEDED entry");
                bool allowed = false;
                for (char *const *a = policy->allowed_needed; a && *a; a++)
                        if (streq(*a, lib))
                                allowed = true;
                if (!allowed)
                        return REJECT(REASON_ELF_NEEDED_NOT_ALLOWED,
                                      "plugin rejected: elf-needed-not-allowed: links against %s, which is not allowed", lib);
        }

        if (!policy->required_symbol)
                return 0;
        uint64_t nsyms, symtab_off;
        if (!have_symtab || syment != sizeof(Elf64_Sym) || !count_symbols(&im, hash, have_hash, gnu_hash, have_gnu, &nsyms) ||
            nsyms > size / sizeof(Elf64_Sym) || !vaddr_to_off(&im, symtab, nsyms * sizeof(Elf64_Sym), &symtab_off) ||
            symtab_off % 8 != 0)
                return REJECT(REASON_ELF_INVALID, "plugin rejected: elf-invalid: malformed dynamic symbol table");
        const Elf64_Sym *syms = (const Elf64_Sym *) (data + symtab_off);
        for (uint64_t i = 0; i < nsyms; i++) {
                const Elf64_Sym *s = &syms[i];
                const char *name = str_at(&im, strtab_off, strsz, s->st_name);
                if (!name || !streq(name, policy->required_symbol))
                        continue;
                if (s->st_shndx != SHN_UNDEF && ELF64_ST_TYPE(s->st_info) == STT_OBJECT &&
                    (ELF64_ST_BIND(s->st_info) == STB_GLOBAL || ELF64_ST_BIND(s->st_info) == STB_WEAK) &&
                    ELF64_ST_VISIBILITY(s->st_other) == STV_DEFAULT)
                        return 0;
        }
        return REJECT(REASON_DESCRIPTOR_MISSING, "plugin rejected: descriptor-missing: '%s' is not exported",
                      policy->required_symbol);
}
