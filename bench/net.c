#include "bench/net.h"

#include "common/dc_err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int bench_net_parse(const char *text, struct bench_addr *out)
{
    char host[256];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || colon[1] == '\0') {
        return DC_EUSAGE;
    }
    size_t host_len = (size_t)(colon - text);
    const char *h = text;
    if (text[0] == '[' && host_len >= 2 && text[host_len - 1] == ']') {
        h++; /* [v6]:port */
        host_len -= 2;
    }
    if (host_len == 0 || host_len >= sizeof(host)) {
        return DC_EUSAGE;
    }
    memcpy(host, h, host_len);
    host[host_len] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port == 0 || port > 65535) {
        return DC_EUSAGE;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
        return DC_EUSAGE;
    }
    memset(out, 0, sizeof(*out));
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void bench_net_loopback(int family, struct bench_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        out->len = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&out->ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        out->len = sizeof(*in);
    }
}

const char *bench_net_format(const struct bench_addr *addr, char *buf, unsigned cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (addr->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&addr->ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(buf, cap, "%s:%u", host, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr->ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(buf, cap, "[%s]:%u", host, port);
    }
    return buf;
}

/* Root may go past net.core.rmem_max (what a bench wants); others get what the cap allows. */
static void set_buffer(int fd, int force_opt, int opt, int bytes)
{
    if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
    }
}

int bench_net_udp_socket(const struct bench_addr *like, const struct bench_addr *bind_to,
                         int buf_bytes, int rcv_timeout_ms)
{
    int fd = socket(like->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, buf_bytes);
    set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, buf_bytes);
    if (rcv_timeout_ms > 0) {
        struct timeval tv = { .tv_sec = rcv_timeout_ms / 1000,
                              .tv_usec = (rcv_timeout_ms % 1000) * 1000 };
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
            int err = -errno;
            close(fd);
            return err;
        }
    }
    if (bind_to != NULL &&
        bind(fd, (const struct sockaddr *)&bind_to->ss, bind_to->len) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int bench_net_local(int fd, struct bench_addr *out)
{
    out->len = sizeof(out->ss);
    if (getsockname(fd, (struct sockaddr *)&out->ss, &out->len) != 0) {
        return -errno;
    }
    return 0;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
                           .tv_nsec = (long)(deadline_ns % 1000000000u) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}
