/*
 * net: the small socket and clock helpers dchat-bench and dchat-fwd share.
 *
 * Address parsing for HOST:PORT, UDP sockets with large kernel buffers, and a monotonic clock
 * in nanoseconds. Pure helpers: any thread may call them.
 */
#ifndef BENCH_NET_H
#define BENCH_NET_H

#include <stdint.h>
#include <sys/socket.h>

/* An endpoint as the kernel wants it. */
struct bench_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/*
 * Parses "HOST:PORT" ("[v6]:PORT" for IPv6; HOST may be a name, resolved now).
 * 0, or DC_EUSAGE when the text is not an address (nothing is logged: the caller names it).
 */
int bench_net_parse(const char *text, struct bench_addr *out);
/* The loopback address of `family` (AF_INET or AF_INET6) with port 0: bind picks one. */
void bench_net_loopback(int family, struct bench_addr *out);
/* "a.b.c.d:port" into buf[cap]; returns buf. */
const char *bench_net_format(const struct bench_addr *addr, char *buf, unsigned cap);
/*
 * A UDP socket of the family of `like`, with send and receive buffers of `buf_bytes` (forced
 * past rmem_max when we may, asked for plainly otherwise) and a receive timeout of
 * `rcv_timeout_ms` (0 = block). When `bind_to` is not NULL it is bound there. fd or -errno.
 */
int bench_net_udp_socket(const struct bench_addr *like, const struct bench_addr *bind_to,
                         int buf_bytes, int rcv_timeout_ms);
/* The address a bound socket got (for port 0). 0 or -errno. */
int bench_net_local(int fd, struct bench_addr *out);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);
/* Sleeps until the monotonic time `deadline_ns`. */
void bench_sleep_until(uint64_t deadline_ns);

#endif
