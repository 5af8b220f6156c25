/* SPDX-License-Identifier: MIT */
/*
 * Libraries only installs need (libarchive, libcurl and the ~35 libraries
 * they pull in) are opened on first use, as systemd does for its optional
 * dependencies: the daemon starts faster and stays smaller until an install
 * actually runs.  Call sites use sym_<name>, typed from the real headers.
 */
#pragma once

#include <stddef.h>

#define DLSYM_PROTOTYPE(symbol) extern typeof(symbol) *sym_##symbol
#define DLSYM_DEFINE(symbol)    typeof(symbol) *sym_##symbol = NULL
#define DLSYM_ARG(symbol)                                                                                              \
        { (void **) &sym_##symbol, #symbol }
/* For symbol lists written once as X-macros: LIST(DLSYM_PROTOTYPE_STMT) … */
#define DLSYM_PROTOTYPE_STMT(symbol) DLSYM_PROTOTYPE(symbol);
#define DLSYM_DEFINE_STMT(symbol)    DLSYM_DEFINE(symbol);
#define DLSYM_ARG_ITEM(symbol)       DLSYM_ARG(symbol),

typedef struct DlSym {
        void **fn;
        const char *name;
} DlSym;

/* Open soname and resolve every symbol, or none (all stay NULL): 0, or
 * -EOPNOTSUPP with the reason logged.  Not thread-safe: callers wrap it
 * in pthread_once(). */
int dlopen_many_sym(const char *soname, const DlSym *syms, size_t n);
