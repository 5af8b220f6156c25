/* SPDX-License-Identifier: MIT */
/* libcurl.so.4, opened on first use (dlopen-util.h). */
#pragma once

#include <curl/curl.h>

#include "dlopen-util.h"

DLSYM_PROTOTYPE(curl_easy_cleanup);
DLSYM_PROTOTYPE(curl_easy_getinfo);
DLSYM_PROTOTYPE(curl_easy_init);
DLSYM_PROTOTYPE(curl_easy_perform);
DLSYM_PROTOTYPE(curl_easy_setopt);
DLSYM_PROTOTYPE(curl_easy_strerror);
DLSYM_PROTOTYPE(curl_free);
DLSYM_PROTOTYPE(curl_global_init);
DLSYM_PROTOTYPE(curl_url);
DLSYM_PROTOTYPE(curl_url_cleanup);
DLSYM_PROTOTYPE(curl_url_get);
DLSYM_PROTOTYPE(curl_url_set);

/* Any thread; 0 or -EOPNOTSUPP (logged) when libcurl.so.4 cannot be loaded. */
int dlopen_libcurl(void);
