#include "dataplane/ctl_port.h"
#include "dataplane/wire.h"

#include "common/dc_err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

static int udp_socket(struct sockaddr_in *bound)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(*bound);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)bound, &len), 0);
    return fd;
}

static int readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1;
}

Test(dp_ctl_port, records_arrive_in_order_with_their_source_and_wake_the_eventfd)
{
    struct sockaddr_in local;
    int fd = udp_socket(&local);
    struct dp_ctl_port port;
    cr_assert_eq(dp_ctl_port_init(&port, 4, fd, NULL), 0);
    socklen_t len = 0;
    const struct sockaddr_in *got = (const void *)dp_ctl_port_local_addr(&port, &len);
    cr_assert_eq(len, sizeof(local));
    cr_assert_eq(got->sin_port, local.sin_port);
    cr_assert_eq(dp_ctl_port_udp_fd(&port), fd);

    struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(4242) };
    cr_assert_not(readable(dp_ctl_port_event_fd(&port)));
    cr_assert_eq(dp_ctl_port_push(&port, DP_WIRE_REC_DISCOVERY, (const uint8_t *)"one", 3,
                                  (struct sockaddr *)&src, sizeof(src)), 0);
    cr_assert_eq(dp_ctl_port_push(&port, DP_WIRE_REC_CONSENSUS, (const uint8_t *)"two!", 4,
                                  (struct sockaddr *)&src, sizeof(src)), 0);
    cr_assert_not(readable(dp_ctl_port_event_fd(&port)), "no wake-up before the flush");
    dp_ctl_port_flush(&port);
    cr_assert(readable(dp_ctl_port_event_fd(&port)));
    dp_ctl_port_drain_event(&port);
    cr_assert_not(readable(dp_ctl_port_event_fd(&port)));

    static struct dp_ctl_msg msg;
    cr_assert_eq(dp_ctl_port_recv(&port, &msg), 1);
    cr_assert_eq(msg.type, DP_WIRE_REC_DISCOVERY);
    cr_assert_eq(msg.body_len, 3);
    cr_assert_eq(memcmp(msg.body, "one", 3), 0);
    cr_assert_eq(((struct sockaddr_in *)&msg.src)->sin_port, htons(4242));
    cr_assert_eq(dp_ctl_port_recv(&port, &msg), 1);
    cr_assert_eq(msg.type, DP_WIRE_REC_CONSENSUS);
    cr_assert_eq(memcmp(msg.body, "two!", 4), 0);
    cr_assert_eq(dp_ctl_port_recv(&port, &msg), 0);
    dp_ctl_port_fini(&port);
    close(fd);
}

Test(dp_ctl_port, a_full_ring_drops_and_counts_and_big_bodies_are_refused)
{
    struct sockaddr_in local;
    int fd = udp_socket(&local);
    struct dp_ctl_port port;
    cr_assert_eq(dp_ctl_port_init(&port, 2, fd, NULL), 0);
    struct sockaddr_in src = { .sin_family = AF_INET };
    uint8_t body[DP_CTL_BODY_BYTES_MAX + 1] = { 0 };
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(dp_ctl_port_push(&port, DP_WIRE_REC_DISCOVERY, body, 10,
                                      (struct sockaddr *)&src, sizeof(src)), 0);
    }
    cr_assert_eq(dp_ctl_port_push(&port, DP_WIRE_REC_DISCOVERY, body, 10,
                                  (struct sockaddr *)&src, sizeof(src)), DC_EFULL);
    cr_assert_eq(dp_ctl_port_drops(&port), 1);
    cr_assert_eq(dp_ctl_port_push(&port, DP_WIRE_REC_DISCOVERY, body,
                                  DP_CTL_BODY_BYTES_MAX + 1, (struct sockaddr *)&src,
                                  sizeof(src)), DC_ETOOBIG);
    cr_assert_eq(dp_ctl_port_init(&port, 3, fd, NULL), -EINVAL, "not a power of two");
    dp_ctl_port_fini(&port);
    close(fd);
}

Test(dp_ctl_port, send_goes_out_of_the_node_socket)
{
    struct sockaddr_in a;
    struct sockaddr_in b;
    int fd_a = udp_socket(&a);
    int fd_b = udp_socket(&b);
    struct dp_ctl_port port;
    cr_assert_eq(dp_ctl_port_init(&port, 2, fd_a, NULL), 0);
    cr_assert_eq(dp_ctl_port_send(&port, (struct sockaddr *)&b, sizeof(b),
                                  (const uint8_t *)"ping", 4), 0);
    char buf[16];
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    ssize_t n = recvfrom(fd_b, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len);
    cr_assert_eq(n, 4);
    cr_assert_eq(from.sin_port, a.sin_port, "sent from the node's own port");
    struct dp_stats none;
    dp_ctl_port_stats(&port, &none);
    cr_assert_eq(none.v[DP_STAT_RX_DATAGRAMS], 0);
    dp_ctl_port_fini(&port);
    close(fd_a);
    close(fd_b);
}

Test(dp_stats, blocks_sum_and_every_counter_has_a_name)
{
    static struct dp_stats_block a;
    static struct dp_stats_block b;
    dp_stats_block_init(&a);
    dp_stats_block_init(&b);
    struct dp_stats_set set;
    dp_stats_set_init(&set);
    cr_assert_eq(dp_stats_set_add(&set, &a), 0);
    cr_assert_eq(dp_stats_set_add(&set, &b), 0);
    dp_stats_add(&a, DP_STAT_VERIFIED, 3);
    dp_stats_add(&b, DP_STAT_VERIFIED, 4);
    dp_stats_add(&b, DP_STAT_INVALID_SIG, 2);
    dp_stats_set_gauge(&a, DP_STAT_SUBSCRIBERS, 5);
    struct dp_stats s;
    dp_stats_read(&set, &s);
    cr_assert_eq(s.v[DP_STAT_VERIFIED], 7);
    cr_assert_eq(s.v[DP_STAT_SUBSCRIBERS], 5);
    cr_assert_eq(dp_stats_dropped(&s), 2, "invalid signatures are drops, verified are not");
    for (int i = 0; i < DP_STAT_COUNT; i++) {
        cr_assert_not_null(dp_stats_name((enum dp_stat)i));
        cr_assert_neq(strcmp(dp_stats_name((enum dp_stat)i), "unknown"), 0);
        for (int j = 0; j < i; j++) {
            const char *other = dp_stats_name((enum dp_stat)j);
            cr_assert_neq(strcmp(dp_stats_name((enum dp_stat)i), other), 0, "unique names");
        }
    }
    cr_assert(dp_stats_is_gauge(DP_STAT_PEERS));
    cr_assert_not(dp_stats_is_gauge(DP_STAT_TX_MSGS));
}
