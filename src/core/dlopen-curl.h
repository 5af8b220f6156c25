/* SPDX-License-Identifier: MIT */
/* libcurl.so.4, opened on first use (dlopen-util.h). */
#pragma once

#include <curl/curl.h>

#include "dlopen-util.h"

/* Every symbol the daemon uses, once: declared here, defined and resolved
 * in dlopen-curl.c. */
#define LIBCURL_SYMBOLS(X)                                                                                             \
        X(curl_easy_cleanup)                                                                                           \
        X(curl_easy_getinfo)                                                                                           \
        X(curl_easy_init)                                                                                              \
        X(curl_easy_perform)                                                                                           \
        X(curl_easy_setopt)                                                                                            \
        X(curl_easy_strerror)                                                                                          \
        X(curl_free)                                                                                                   \
        X(curl_global_init)                                                                                            \
        X(curl_url)                                                                                                    \
        X(curl_url_cleanup)                                                                                            \
        X(curl_url_get)                                                                                                \
        X(curl_url_set)

LIBCURL_SYMBOLS(DLSYM_PROTOTYPE_STMT)

/* Any thread; 0 or -EOPNOTSUPP (logged) when libcurl.so.4 cannot be loaded. */
int dlopen_libcurl(void);
