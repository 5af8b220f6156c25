/* SPDX-License-Identifier: MIT */
#include "fetch.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <string.h>
#include <time.h>

#include "build-config.h"
#include "dlopen-curl.h"
#include "escape.h"
#include "macro.h"

/* Remote text (URLs from Location headers, host names) in a message. */
#define REMOTE_TEXT_MAX 512
static char *safe(const char *s) {
        return escape_untrusted(s, REMOTE_TEXT_MAX);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Named in the allowlist exactly (not as a subdomain): may use any address. */
static bool host_listed_exactly(char *const *allowlist, const char *host) {
        for (char *const *a = allowlist; a && *a; a++)
                if (streq(host, *a))
                        return true;
        return false;
}

static bool ipv4_is_public(uint32_t a) {
        static const struct {
                uint32_t net;
                unsigned bits;
        } blocked[] = {
                { 0x00000000, 8 },  /* "this network", unspecified */
                { 0x0a000000, 8 },  /* RFC 1918 */
                { 0x64400000, 10 }, /* CGNAT (RFC 6598) */
                { 0x7f000000, 8 },  /* loopback */
                { 0xa9fe0000, 16 }, /* link-local */
                { 0xac100000, 12 }, /* RFC 1918 */
                { 0xc0000000, 24 }, /* IETF protocol assignments */
                { 0xc0000200, 24 }, /* TEST-NET-1 */
                { 0xc0586300, 24 }, /* 6to4 relay anycast */
                { 0xc0a80000, 16 }, /* RFC 1918 */
                { 0xc6120000, 15 }, /* benchmarking */
                { 0xc6336400, 24 }, /* TEST-NET-2 */
                { 0xcb007100, 24 }, /* TEST-NET-3 */
                { 0xe0000000, 4 },  /* multicast */
                { 0xf0000000, 4 },  /* reserved, broadcast */
        };
        for (size_t i = 0; i < ELEMENTSOF(blocked); i++)
                if ((a >> (32 - blocked[i].bits)) == (blocked[i].net >> (32 - blocked[i].bits)))
                        return false;
        return true;
}

static uint32_t be32_at(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

bool fetch_address_is_public(const struct sockaddr *sa, socklen_t len) {
        if (sa->sa_family == AF_INET && len >= (socklen_t) sizeof(struct sockaddr_in)) {
                struct sockaddr_in in;
                memcpy(&in, sa, sizeof in);
                return ipv4_is_public(ntohl(in.sin_addr.s_addr));
        }
        if (sa->sa_family != AF_INET6 || len < (socklen_t) sizeof(struct sockaddr_in6))
                return false;
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        const uint8_t *b = in6.sin6_addr.s6_addr;
        static const uint8_t zero[12] = {}, mapped[12] = { [10] = 0xff, [11] = 0xff },
                             nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
        if (memcmp(b, zero, 12) == 0) /* ::, ::1, IPv4-compatible: none is a public peer */
                return false;
        if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
                return ipv4_is_public(be32_at(b + 12));
        if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
                return ipv4_is_public(be32_at(b + 2));
        if ((b[0] & 0xfe) == 0xfc ||                   /* unique local fc00::/7 */
            (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* link-local fe80::/10 */
            (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) || /* site-local fec0::/10 */
            b[0] == 0xff ||                            /* multicast */
            (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) || /* documentation */
            (b[0] == 0x01 && b[1] == 0x00 && memcmp(b + 2, zero, 6) == 0))    /* discard 100::/64 */
                return false;
        return true;
}

static bool host_allowed(char *const *allowlist, const char *host) {
        size_t hl = strlen(host);

        if (!allowlist || !allowlist[0])
                return true;
        for (char *const *a = allowlist; *a; a++) {
                size_t al = strlen(*a);
                if (streq(host, *a))
                        return true;
                /* any subdomain: "cdn.example.com" matches "example.com" */
                if (hl > al + 1 && host[hl - al - 1] == '.' && streq(host + hl - al, *a))
                        return true;
        }
        return false;
}

static void curl_urlp(CURLU **u) {
        sym_curl_url_cleanup(*u);
}

int fetch_check_url(const char *url, const FetchOptions *o, char **ret_host, Verdict *v) {
        if (dlopen_libcurl() < 0)
                return verdict_set(v, -EIO, REASON_DOWNLOAD_FAILED, "download failed: libcurl is not available");
        _cleanup_(curl_urlp) CURLU *u = sym_curl_url();
        _cleanup_free_ char *safe_url = safe(url ? url : ""), *safe_host = NULL, *safe_scheme = NULL;
        char *scheme = NULL, *host = NULL;
        int r = 0;

        if (!u || !safe_url)
                return -ENOMEM;
        if (isempty(url) || strlen(url) > 8192 || sym_curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            sym_curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            sym_curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || isempty(host)) {
                r = verdict_set(v, -EINVAL, REASON_URL_INVALID, "invalid URL: %s", safe_url);
                goto finish;
        }
        safe_host = safe(host);
        safe_scheme = safe(scheme);
        if (!safe_host || !safe_scheme) {
                r = -ENOMEM;
                goto finish;
        }
        for (char *p = host; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
        if (!streq(scheme, "https") && !(o->allow_http && streq(scheme, "http"))) {
                r = verdict_set(v, -EPERM, REASON_URL_INSECURE, "URL scheme '%s' is not allowed (https only): %s",
                                safe_scheme, safe_url);
                goto finish;
        }
        if (!host_allowed(o->allowlist, host)) {
                r = verdict_set(v, -EPERM, REASON_URL_NOT_ALLOWED,
                                "URL host '%s' is not in DC_PLUGIN_INSTALL_URL_ALLOWLIST", safe_host);
                goto finish;
        }
        if (ret_host && !(*ret_host = strdup(host)))
                r = -ENOMEM;
finish:
        sym_curl_free(scheme);
        sym_curl_free(host);
        return r;
}

typedef struct Sink {
        int fd;
        uint64_t size, max;
        bool too_big;
        int write_errno;
        EVP_MD_CTX *md;
        const int *cancelled;
} Sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
        Sink *s = userdata;
        size_t n = size * nmemb;

        if (s->size + n > s->max) {
                s->too_big = true;
                return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
        }
        for (size_t done = 0; done < n;) {
                ssize_t k = pwrite(s->fd, ptr + done, n - done, (off_t) (s->size + done));
                if (k < 0) {
                        s->write_errno = errno;
                        return 0;
                }
                done += (size_t) k;
        }
        if (EVP_DigestUpdate(s->md, ptr, n) != 1) {
                s->write_errno = ENOMEM;
                return 0;
        }
        s->size += n;
        return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        Sink *s = userdata;
        (void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
        return s->cancelled && __atomic_load_n(s->cancelled, __ATOMIC_ACQUIRE) ? 1 : 0;
}

typedef struct Connect {
        bool any_address; /* the host is allowlisted by name, or a proxy is configured */
        bool refused;     /* a non-public address was refused */
} Connect;

/* Every address curl connects to passes here, after its own resolution,
 * on every hop: a name that resolves (or rebinds) to a private address is
 * caught at the connection itself. */
static curl_socket_t on_open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *a) {
        Connect *c = userdata;
        if (purpose != CURLSOCKTYPE_IPCXN ||
            (!c->any_address && !fetch_address_is_public(&a->addr, a->addrlen))) {
                c->refused = true;
                return CURL_SOCKET_BAD;
        }
        return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void md_ctx_freep(EVP_MD_CTX **c) {
        EVP_MD_CTX_free(*c);
}

static void curl_easyp(CURL **c) {
        sym_curl_easy_cleanup(*c);
}

int fetch_url(const char *url, const FetchOptions *o, int out_fd, uint64_t *ret_size,
              uint8_t ret_sha256[SHA256_DIGEST_SIZE], Verdict *v) {
        _cleanup_(md_ctx_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        _cleanup_(curl_easyp) CURL *c = NULL;
        _cleanup_free_ char *current = strdup(url ? url : "");
        const char *protocols = o->allow_http ? "http,https" : "https";
        uint64_t deadline = now_usec() + o->timeout_usec;
        char errbuf[CURL_ERROR_SIZE];
        int r;

        if (!md || !current)
                return -ENOMEM;
        if (dlopen_libcurl() < 0)
                return verdict_set(v, -EIO, REASON_DOWNLOAD_FAILED, "download failed: libcurl is not available");

        for (unsigned hop = 0;; hop++) {
                _cleanup_free_ char *host = NULL;
                Sink sink = {.fd = out_fd, .max = o->max_bytes, .md = md, .cancelled = o->cancelled};
                long code = 0;
                CURLcode cr;

                r = fetch_check_url(current, o, &host, v);
                if (r < 0)
                        return r;
                Connect conn = { .any_address = !isempty(o->proxy) || host_listed_exactly(o->allowlist, host) };
                uint64_t now = now_usec();
                if (now >= deadline)
                        return verdict_set(v, -ETIMEDOUT, REASON_DOWNLOAD_FAILED, "download failed: timed out");
                if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || ftruncate(out_fd, 0) < 0)
                        return -EIO;

                sym_curl_easy_cleanup(c);
                c = sym_curl_easy_init();
                if (!c)
                        return -ENOMEM;
                errbuf[0] = 0;
                if (sym_curl_easy_setopt(c, CURLOPT_URL, current) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protocols) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_USERAGENT, "dc-plugin-hostd/" PACKAGE_VERSION) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) o->max_bytes) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) ((deadline - now + 999) / 1000)) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long) (o->connect_timeout_usec / 1000)) !=
                            CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_XFERINFODATA, &sink) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket) != CURLE_OK ||
                    sym_curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &conn) != CURLE_OK ||
                    /* "" = no proxy: libcurl would otherwise read https_proxy/ALL_PROXY */
                    sym_curl_easy_setopt(c, CURLOPT_PROXY, isempty(o->proxy) ? "" : o->proxy) != CURLE_OK ||
                    (o->ca_file && sym_curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file) != CURLE_OK))
                        return verdict_set(v, -EIO, REASON_DOWNLOAD_FAILED,
                                           "download failed: cannot configure libcurl");

                cr = sym_curl_easy_perform(c);
                (void) sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
                if (conn.refused && code == 0) {
                        _cleanup_free_ char *safe_host = safe(host);
                        return verdict_set(v, -EPERM, REASON_URL_NOT_ALLOWED,
                                           "URL host '%s' resolves to a loopback, private or otherwise non-public "
                                           "address, and is not in DC_PLUGIN_INSTALL_URL_ALLOWLIST by name",
                                           safe_host ? safe_host : "?");
                }
                if (sink.too_big || cr == CURLE_FILESIZE_EXCEEDED)
                        return verdict_set(v, -EFBIG, REASON_ARCHIVE_TOO_LARGE,
                                           "artifact exceeds max size (%" PRIu64 " bytes)", o->max_bytes);
                if (sink.write_errno)
                        return verdict_set(v, -sink.write_errno, REASON_DOWNLOAD_FAILED, "download failed: %s",
                                           strerror(sink.write_errno));
                if (cr == CURLE_ABORTED_BY_CALLBACK)
                        return verdict_set(v, -ECANCELED, REASON_DOWNLOAD_FAILED, "download failed: cancelled");
                /* Before a verified server has answered, every failure reads
                 * the same: refused, filtered, closed, not TLS, wrong
                 * certificate (curl's text would map a network's ports). */
                if (cr != CURLE_OK && code == 0)
                        return verdict_set(v, -EIO, REASON_DOWNLOAD_FAILED,
                                           "download failed: cannot connect to the server");
                if (cr != CURLE_OK) {
                        _cleanup_free_ char *text = safe(errbuf[0] ? errbuf : sym_curl_easy_strerror(cr));
                        return verdict_set(v, cr == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO,
                                           REASON_DOWNLOAD_FAILED, "download failed: %s", text ? text : "?");
                }
                if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
                        char *next = NULL;
                        if (hop >= o->max_redirects)
                                return verdict_set(v, -ELOOP, REASON_DOWNLOAD_FAILED,
                                                   "download failed: too many redirects (more than %u)",
                                                   o->max_redirects);
                        if (sym_curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || !next)
                                return verdict_set(v, -EBADMSG, REASON_DOWNLOAD_FAILED,
                                                   "download failed: HTTP %ld without a Location", code);
                        free(current);
                        current = strdup(next);
                        if (!current)
                                return -ENOMEM;
                        continue; /* the next hop is checked before any connection */
                }
                if (code != 200)
                        return verdict_set(v, -EIO, REASON_DOWNLOAD_FAILED, "download failed: HTTP %ld", code);
                if (EVP_DigestFinal_ex(md, ret_sha256, NULL) != 1)
                        return -EIO;
                *ret_size = sink.size;
                return 0;
        }
}
