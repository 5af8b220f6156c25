/* SPDX-License-Identifier: MIT */
#include "dlopen-curl.h"

#include <errno.h>
#include <pthread.h>

DLSYM_DEFINE(curl_easy_cleanup);
DLSYM_DEFINE(curl_easy_getinfo);
DLSYM_DEFINE(curl_easy_init);
DLSYM_DEFINE(curl_easy_perform);
DLSYM_DEFINE(curl_easy_setopt);
DLSYM_DEFINE(curl_easy_strerror);
DLSYM_DEFINE(curl_free);
DLSYM_DEFINE(curl_global_init);
DLSYM_DEFINE(curl_url);
DLSYM_DEFINE(curl_url_cleanup);
DLSYM_DEFINE(curl_url_get);
DLSYM_DEFINE(curl_url_set);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int result = -EOPNOTSUPP;

static void load(void) {
        static const DlSym syms[] = {
                DLSYM_ARG(curl_easy_cleanup), DLSYM_ARG(curl_easy_getinfo), DLSYM_ARG(curl_easy_init),
                DLSYM_ARG(curl_easy_perform), DLSYM_ARG(curl_easy_setopt),  DLSYM_ARG(curl_easy_strerror),
                DLSYM_ARG(curl_free),         DLSYM_ARG(curl_global_init),  DLSYM_ARG(curl_url),
                DLSYM_ARG(curl_url_cleanup),  DLSYM_ARG(curl_url_get),      DLSYM_ARG(curl_url_set),
        };
        result = dlopen_many_sym("libcurl.so.4", syms, sizeof syms / sizeof syms[0]);
        /* once per process, before any other thread uses libcurl */
        if (result >= 0 && sym_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                result = -EIO;
}

int dlopen_libcurl(void) {
        (void) pthread_once(&once, load);
        return result;
}
