/* SPDX-License-Identifier: MIT */
/* Small shared objects for tests/test-elf.c (linked without start files, so
 * no constructors: strict ELF mode has only the property under test to find). */
#include <string.h>

__attribute__((visibility("default"))) int dc_plugin_descriptor[4] = { 1, 2, 3, 4 };
int plain(const char *s);

#if defined(IFUNC_EXPORTED) || defined(IFUNC_LOCAL)
static int impl(int x) {
        return x + 1;
}
typedef int (*impl_t)(int);
__attribute__((used)) static impl_t resolve(void) {
        return impl;
}
#endif

#ifdef IFUNC_EXPORTED
/* a defined STT_GNU_IFUNC symbol in .dynsym */
__attribute__((visibility("default"))) int chosen(int x) __attribute__((ifunc("resolve")));
#endif

#ifdef IFUNC_LOCAL
/* a hidden IFUNC: no dynamic symbol, only an R_*_IRELATIVE relocation */
__attribute__((visibility("hidden"))) int hidden_chosen(int x) __attribute__((ifunc("resolve")));
__attribute__((visibility("default"))) int (*volatile use_it)(int) = hidden_chosen;
#endif

/* strlen: a DT_NEEDED entry for libc.so.6 */
__attribute__((visibility("default"))) int plain(const char *s) {
        return (int) strlen(s) + dc_plugin_descriptor[0];
}
