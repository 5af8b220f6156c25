/* SPDX-License-Identifier: MIT */
#include "dlopen-curl.h"

#include <errno.h>
#include <pthread.h>

LIBCURL_SYMBOLS(DLSYM_DEFINE_STMT)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int result = -EOPNOTSUPP;

static void load(void) {
        static const DlSym syms[] = {LIBCURL_SYMBOLS(DLSYM_ARG_ITEM)};
        result = dlopen_many_sym("libcurl.so.4", syms, sizeof syms / sizeof syms[0]);
        /* once per process, before any other thread uses libcurl */
        if (result >= 0 && sym_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                result = -EIO;
}

int dlopen_libcurl(void) {
        (void) pthread_once(&once, load);
        return result;
}
