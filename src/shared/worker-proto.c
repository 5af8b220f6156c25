/* SPDX-License-Identifier: MIT */
#include "worker-proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "macro.h"

int worker_write_frame(int fd, uint16_t type, uint16_t flags, int32_t arg, uint64_t id, const void *a, size_t a_len,
                       const void *b, size_t b_len) {
        if (a_len + b_len > UINT32_MAX)
                return -E2BIG;
        WorkerFrameHeader h = { .length = (uint32_t) (a_len + b_len), .type = type, .flags = flags, .arg = arg, .id = id };
        struct iovec iovs[3] = { { &h, sizeof h }, { (void *) a, a_len }, { (void *) b, b_len } }, *iov = iovs;
        int n_iov = 3;

        while (n_iov > 0) {
                ssize_t k = writev(fd, iov, n_iov);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                size_t left = (size_t) k;
                while (n_iov > 0 && left >= iov->iov_len) {
                        left -= iov->iov_len;
                        iov++;
                        n_iov--;
                }
                if (n_iov > 0) {
                        iov->iov_base = (char *) iov->iov_base + left;
                        iov->iov_len -= left;
                }
        }
        return 0;
}

static int read_full(int fd, void *buf, size_t n, int *ret_fd) {
        size_t have = 0;
        while (have < n) {
                char cbuf[CMSG_SPACE(sizeof(int))];
                struct iovec iov = { (char *) buf + have, n - have };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                if (ret_fd) {
                        mh.msg_control = cbuf;
                        mh.msg_controllen = sizeof cbuf;
                }
                ssize_t k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EPIPE;
                if (ret_fd)
                        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                                    c->cmsg_len == CMSG_LEN(sizeof(int))) {
                                        int passed;
                                        memcpy(&passed, CMSG_DATA(c), sizeof passed);
                                        if (*ret_fd >= 0)
                                                close(passed); /* one descriptor per frame */
                                        else
                                                *ret_fd = passed;
                                }
                have += (size_t) k;
        }
        return 0;
}

int worker_read_frame(int fd, size_t max, WorkerFrameHeader *h, char **payload, int *ret_fd) {
        if (ret_fd)
                *ret_fd = -1;
        *payload = NULL;
        int r = read_full(fd, h, sizeof *h, ret_fd);
        if (r < 0)
                return r;
        if (h->length > max)
                return -EMSGSIZE;
        char *p = malloc((size_t) h->length + 1);
        if (!p)
                return -ENOMEM;
        r = read_full(fd, p, h->length, NULL);
        if (r < 0) {
                free(p);
                return r;
        }
        p[h->length] = 0;
        *payload = p;
        return 0;
}
