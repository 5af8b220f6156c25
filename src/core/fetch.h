/* SPDX-License-Identifier: MIT */
/*
 * Downloading plugin archives over HTTPS with libcurl.  Redirects are
 * followed by hand so the scheme and the host allowlist are checked on
 * every hop; the address curl actually connects to must be public unless
 * the host is allowlisted by its exact name; certificate verification is
 * always on; the proxy comes from the configuration, never the environment;
 * the byte cap is enforced while streaming; the SHA-256 is computed on the
 * way in.  Remote text in messages is escaped.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "digest.h"
#include "reason.h"

#define FETCH_MAX_REDIRECTS 5

typedef struct FetchOptions {
        char *const *allowlist; /* lower-case host names; NULL or empty = any host (public addresses only) */
        const char *ca_file;    /* replaces the system CA bundle when set */
        const char *proxy;      /* InstallProxy=: NULL or "" = none, whatever the environment says */
        bool allow_http;        /* tests only */
        unsigned max_redirects;
        uint64_t max_bytes;
        uint64_t timeout_usec; /* the whole download, every hop */
        uint64_t connect_timeout_usec;
        const int *cancelled; /* optional: non-zero aborts (read atomically) */
} FetchOptions;

/* Scheme and allowlist check of one URL, no network.  *ret_host is the host. */
int fetch_check_url(const char *url, const FetchOptions *o, char **ret_host, Verdict *v);

/* Loopback, private, link-local, unique-local, CGNAT, unspecified,
 * multicast, documentation and reserved addresses are not public; an IPv6
 * address that embeds an IPv4 one (mapped, compatible, 6to4, NAT64) is
 * judged by it. */
bool fetch_address_is_public(const struct sockaddr *sa, socklen_t len);

/* Download url into out_fd (written from offset 0).  Sets *v on failure
 * (url-invalid, url-insecure, url-not-allowed, archive-too-large,
 * download-failed; one message for every failure to connect, so a caller
 * cannot tell a closed port from a filtered one). */
int fetch_url(const char *url, const FetchOptions *o, int out_fd, uint64_t *ret_size,
              uint8_t ret_sha256[SHA256_DIGEST_SIZE], Verdict *v);
