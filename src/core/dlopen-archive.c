/* SPDX-License-Identifier: MIT */
#include "dlopen-archive.h"

#include <errno.h>
#include <pthread.h>

LIBARCHIVE_SYMBOLS(DLSYM_DEFINE_STMT)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int result = -EOPNOTSUPP;

static void load(void) {
        static const DlSym syms[] = {LIBARCHIVE_SYMBOLS(DLSYM_ARG_ITEM)};
        result = dlopen_many_sym("libarchive.so.13", syms, sizeof syms / sizeof syms[0]);
}

int dlopen_libarchive(void) {
        (void) pthread_once(&once, load);
        return result;
}
