/*
 * The control plane end to end, in one process: several control threads, each with its own
 * UDP socket on 127.0.0.1, run the seed's Day 1-4 discovery scenario. Conditions are polled
 * with generous deadlines; nothing depends on exact timing.
 */
#include "engine/ctl.h"
#include "engine/noderec.h"
#include "engine/status.h"

#include "dataplane/wire.h"

#include "common/dc_err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NODES 24
#define INTERVAL_MS 200
#define CHAIN_INTERVAL_MS 500 /* 24 nodes on a shared 2-core machine: room for scheduling */

static struct eng_ctl ctl[NODES];
static struct eng_key keys[NODES];
static char dirs[NODES][128];

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static uint32_t interval_ms = INTERVAL_MS;

static void start_node_at(int i, int boot_from, uint16_t port, const struct sockaddr_in *boot);

static void start_node(int i, int boot_from)
{
    start_node_at(i, boot_from, 0, NULL);
}

static void start_node_at(int i, int boot_from, uint16_t port, const struct sockaddr_in *boot)
{
    static struct eng_ctl_params p;
    memset(&p, 0, sizeof(p));
    p.key = keys[i];
    p.role = i < 4 ? ENG_NODEREC_ROLE_VALIDATOR : ENG_NODEREC_ROLE_RELAY;
    struct sockaddr_in *in = (struct sockaddr_in *)&p.listen;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons(port);
    p.listen_len = sizeof(*in);
    snprintf(p.data_dir, sizeof(p.data_dir), "%s", dirs[i]);
    if (boot_from >= 0) {
        cr_assert_eq(eng_ctl_listen_addr(&ctl[boot_from], &p.bootstrap[0], &p.bootstrap_len[0]),
                     0);
        p.bootstrap_count = 1;
    } else if (boot != NULL) {
        memcpy(&p.bootstrap[0], boot, sizeof(*boot));
        p.bootstrap_len[0] = sizeof(*boot);
        p.bootstrap_count = 1;
        /* By name, so every retry resolves it again (localhost may list ::1 first). */
        snprintf(p.bootstrap_text[0], sizeof(p.bootstrap_text[0]), "localhost:%u",
                 ntohs(boot->sin_port));
    }
    p.peer_check_interval_ms = interval_ms;
    p.udp_fd = -1;
    cr_assert_eq(eng_ctl_start_params(&ctl[i], &p), 0, "node %d starts", i + 1);
}

/* Waits until node i reports the counts, or fails after `ms`. */
static void wait_counts(int i, uint32_t want_connected, uint32_t want_known, int ms)
{
    uint32_t c = 0, k = 0;
    for (int waited = 0; waited < ms; waited += 50) {
        eng_ctl_peer_counts(&ctl[i], &c, &k);
        if (c == want_connected && k == want_known) {
            return;
        }
        sleep_ms(50);
    }
    cr_assert_fail("node %d: connected %u known %u, wanted %u / %u", i + 1, c, k,
                   want_connected, want_known);
}

static void setup(void)
{
    memset(ctl, 0, sizeof(ctl));
    for (int i = 0; i < NODES; i++) {
        cr_assert_eq(eng_key_generate(&keys[i]), 0);
        snprintf(dirs[i], sizeof(dirs[i]), "/tmp/dchat-test-ctl-%d/node%d", (int)getpid(), i + 1);
    }
}

static void teardown(void)
{
    for (int i = 0; i < NODES; i++) {
        eng_ctl_stop(&ctl[i]);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/dchat-test-ctl-%d", (int)getpid());
    cr_assert_eq(system(cmd), 0);
}

Test(eng_ctl, day_1_to_4_discovery_failure_join_and_restart, .init = setup, .fini = teardown,
     .timeout = 120)
{
    start_node(0, -1); /* Day 1: alone */
    start_node(1, 0);  /* Day 2: from node 1 */
    start_node(2, 1);  /* Day 3: from node 2 only */
    start_node(3, 2);  /* Day 4: from node 3 only */
    for (int i = 0; i < 4; i++) {
        wait_counts(i, 3, 4, 10000);
    }
    /* Node 2 dies: the others see it disconnected but still know it. */
    eng_ctl_stop(&ctl[1]);
    for (int i = 0; i < 4; i++) {
        if (i != 1) {
            wait_counts(i, 2, 4, 4 * 3 * INTERVAL_MS + 2000);
        }
    }
    /* A fifth node, from node 4 only, learns every live node. */
    start_node(4, 3);
    wait_counts(4, 3, 4, 10000);
    /* Node 2 comes back with no bootstrap list: its saved peers bring it in. */
    start_node(1, -1);
    wait_counts(1, 4, 5, 10000);
    for (int i = 0; i < 5; i++) {
        wait_counts(i, 4, 5, 10000);
    }
}

Test(eng_ctl, refuses_bad_parameters_and_busy_ports, .init = setup, .fini = teardown)
{
    struct eng_ctl c;
    struct eng_ctl_params p;
    memset(&p, 0, sizeof(p));
    p.key = keys[0];
    p.role = ENG_NODEREC_ROLE_RELAY;
    p.udp_fd = -1;
    cr_assert_eq(eng_ctl_start_params(&c, &p), DC_ECONFIG, "no interval, no address");
    start_node(0, -1);
    cr_assert_eq(eng_ctl_listen_addr(&ctl[0], &p.listen, &p.listen_len), 0);
    p.peer_check_interval_ms = 100;
    cr_assert_eq(eng_ctl_start_params(&c, &p), -EADDRINUSE);
    cr_assert_null(c.state);
}

/* A free UDP port on 127.0.0.1 (the kernel picks it; nobody holds it when we return). */
static struct sockaddr_in free_udp_addr(void)
{
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = sizeof(in);
    cr_assert_eq(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    close(fd);
    return in;
}

Test(eng_ctl, a_bootstrap_node_that_starts_late_is_still_reached, .init = setup,
     .fini = teardown, .timeout = 60)
{
    /* Nodes 2 and 3 find each other first; node 1, their only link to it, comes up later. */
    struct sockaddr_in late = free_udp_addr();
    start_node_at(1, -1, 0, &late);
    start_node(2, 1);
    wait_counts(1, 1, 2, 10000);
    wait_counts(2, 1, 2, 10000);
    start_node_at(0, -1, ntohs(late.sin_port), NULL);
    for (int i = 0; i < 3; i++) {
        wait_counts(i, 2, 3, 10000);
    }
}

/* Sends one discovery message carrying `rec` to `dst` from `fd`. */
static void send_msg_with(int fd, const struct sockaddr_storage *dst, socklen_t dst_len,
                          const struct eng_noderec *rec, uint8_t type, uint64_t nonce,
                          const uint8_t *target)
{
    uint8_t enc[ENG_NODEREC_BYTES_MAX], body[512], frame[600];
    int len = eng_noderec_encode(rec, enc, sizeof(enc));
    int body_len = eng_disc_encode(body, sizeof(body), type, nonce, enc, (size_t)len, target,
                                   NULL, 0);
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, frame, sizeof(frame));
    cr_assert_eq(dp_wire_builder_add(&b, DP_WIRE_REC_DISCOVERY, body, (uint16_t)body_len), 0);
    size_t n = dp_wire_builder_finish(&b);
    cr_assert_eq(sendto(fd, frame, n, 0, (const struct sockaddr *)dst, dst_len), (ssize_t)n);
}

static void send_ping_with(int fd, const struct sockaddr_storage *dst, socklen_t dst_len,
                           const struct eng_noderec *rec)
{
    send_msg_with(fd, dst, dst_len, rec, ENG_DISC_PING, 99, NULL);
}

/* Receives one discovery message within `ms`; 0 when it timed out. */
static int recv_msg(int fd, struct eng_disc_msg *m, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint8_t buf[2048];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        return 0;
    }
    struct dp_wire_iter it;
    struct dp_wire_rec rec;
    cr_assert_eq(dp_wire_frame_open(&it, buf, (size_t)n), 0);
    cr_assert(dp_wire_next(&it, &rec));
    cr_assert_eq(rec.type, DP_WIRE_REC_DISCOVERY);
    cr_assert_eq(eng_disc_decode(m, rec.body, rec.body_len), 0);
    return 1;
}

/* Polls /metrics until `needle` appears. */
static void wait_metric(const char *base, const char *needle)
{
    for (int waited = 0; waited < 10000; waited += 50) {
        int code = 0;
        char *body = NULL;
        if (eng_http_get(base, "/metrics", 2000, &code, &body) == 0 && strstr(body, needle)) {
            free(body);
            return;
        }
        free(body);
        sleep_ms(50);
    }
    cr_assert_fail("metric '%s' never appeared", needle);
}

Test(eng_ctl, forged_and_replayed_records_are_rejected_on_the_wire, .init = setup,
     .fini = teardown, .timeout = 60)
{
    static struct eng_ctl_params p;
    memset(&p, 0, sizeof(p));
    p.key = keys[0];
    p.role = ENG_NODEREC_ROLE_VALIDATOR;
    struct sockaddr_in *in = (struct sockaddr_in *)&p.listen;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p.listen_len = sizeof(*in);
    memcpy(&p.rpc, &p.listen, sizeof(*in));
    p.rpc_len = sizeof(*in);
    p.peer_check_interval_ms = INTERVAL_MS;
    p.udp_fd = -1;
    cr_assert_eq(eng_ctl_start_params(&ctl[0], &p), 0);
    uint16_t rpc_port = 0;
    cr_assert_eq(eng_ctl_rpc_port(&ctl[0], &rpc_port), 0);
    char base[64];
    snprintf(base, sizeof(base), "127.0.0.1:%u", rpc_port);
    struct sockaddr_storage dst;
    socklen_t dst_len;
    cr_assert_eq(eng_ctl_listen_addr(&ctl[0], &dst, &dst_len), 0);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct eng_noderec_addr addr = { .family = 4, .port = 9, .ip = { 127, 0, 0, 1 } };
    struct eng_noderec newer, older, forged;
    cr_assert_eq(eng_noderec_make(&newer, keys[1].sk, ENG_NODEREC_ROLE_RELAY, 10, &addr, 1), 0);
    cr_assert_eq(eng_noderec_make(&older, keys[1].sk, ENG_NODEREC_ROLE_RELAY, 9, &addr, 1), 0);
    cr_assert_eq(eng_noderec_make(&forged, keys[2].sk, ENG_NODEREC_ROLE_RELAY, 5, &addr, 1), 0);
    forged.sig[10] ^= 0x40;

    send_ping_with(fd, &dst, dst_len, &newer);
    wait_counts(0, 0, 2, 10000); /* learned (not connected: our socket never answers PINGs) */
    send_ping_with(fd, &dst, dst_len, &older);
    wait_metric(base, "dchat_discovery_stale_record_total 1\n");
    send_ping_with(fd, &dst, dst_len, &forged);
    wait_metric(base, "dchat_discovery_bad_signature_total 1\n");
    uint32_t c, k;
    eng_ctl_peer_counts(&ctl[0], &c, &k);
    cr_assert_eq(k, 2, "the forged node was not added");
    close(fd);
}

Test(eng_ctl, find_from_an_unproven_address_gets_a_ping_first_then_the_answer, .init = setup,
     .fini = teardown, .timeout = 60)
{
    start_node(0, -1);
    start_node(1, 0);
    wait_counts(0, 1, 2, 10000);
    struct sockaddr_storage dst;
    socklen_t dst_len;
    cr_assert_eq(eng_ctl_listen_addr(&ctl[0], &dst, &dst_len), 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t me_len = sizeof(me);
    cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &me_len), 0);
    struct eng_noderec_addr addr = { .family = 4, .port = ntohs(me.sin_port),
                                     .ip = { 127, 0, 0, 1 } };
    struct eng_noderec rec;
    cr_assert_eq(eng_noderec_make(&rec, keys[3].sk, ENG_NODEREC_ROLE_RELAY, 1, &addr, 1), 0);
    uint8_t target[32] = { 0 };
    send_msg_with(fd, &dst, dst_len, &rec, ENG_DISC_FIND, 4242, target);

    /* Until we answer a PING, nothing but PINGs may come back: no amplification. */
    static struct eng_disc_msg m;
    int pings = 0;
    for (int i = 0; i < 3 && recv_msg(fd, &m, 2000); i++) {
        cr_assert_eq(m.type, ENG_DISC_PING, "got type %u before proving our address", m.type);
        pings++;
    }
    cr_assert_gt(pings, 0, "the node did not check our address");
    /* Now answer every PING; the held FIND is answered right after. */
    for (int i = 0; i < 20; i++) {
        if (m.type == ENG_DISC_PING) {
            send_msg_with(fd, &dst, dst_len, &rec, ENG_DISC_PONG, m.nonce, NULL);
        }
        cr_assert(recv_msg(fd, &m, 5000), "no NODES after our PONG");
        if (m.type == ENG_DISC_NODES) {
            break;
        }
    }
    cr_assert_eq(m.type, ENG_DISC_NODES);
    cr_assert_eq(m.nonce, 4242);
    cr_assert_eq(m.node_count, 1);
    cr_assert_eq(memcmp(m.nodes[0].id, keys[1].id, 32), 0, "the answer holds node 2");
    close(fd);
}

Test(eng_ctl, a_chain_of_24_bootstraps_converges_to_a_full_view, .init = setup, .fini = teardown,
     .timeout = 120)
{
    /* Each node knows only the one started before it; lookups must do the rest. */
    interval_ms = CHAIN_INTERVAL_MS;
    start_node(0, -1);
    for (int i = 1; i < NODES; i++) {
        start_node(i, i - 1);
    }
    for (int i = 0; i < NODES; i++) {
        wait_counts(i, NODES - 1, NODES, 60000);
    }
}

static _Atomic int consensus_seen;
static _Atomic int ticks_seen;
static uint8_t consensus_body[8];

static void on_consensus(void *arg, const uint8_t *body, size_t len, const struct sockaddr *src,
                         socklen_t src_len)
{
    cr_assert_eq(arg, &consensus_seen);
    cr_assert_eq(src->sa_family, AF_INET);
    cr_assert_eq(src_len, sizeof(struct sockaddr_in));
    if (len == sizeof(consensus_body)) {
        memcpy(consensus_body, body, len);
    }
    consensus_seen++;
}

static void on_tick(void *arg, uint64_t now_ms)
{
    cr_assert_eq(arg, &consensus_seen);
    cr_assert_gt(now_ms, 0);
    ticks_seen++;
}

Test(eng_ctl, consensus_records_and_ticks_reach_the_hooks, .init = setup, .fini = teardown,
     .timeout = 60)
{
    static struct eng_ctl_params p;
    memset(&p, 0, sizeof(p));
    p.key = keys[0];
    p.role = ENG_NODEREC_ROLE_VALIDATOR;
    struct sockaddr_in *in = (struct sockaddr_in *)&p.listen;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p.listen_len = sizeof(*in);
    p.peer_check_interval_ms = INTERVAL_MS;
    p.udp_fd = -1;
    p.on_consensus = on_consensus;
    p.on_tick = on_tick;
    p.on_consensus_arg = &consensus_seen;
    cr_assert_eq(eng_ctl_start_params(&ctl[0], &p), 0);
    struct sockaddr_storage dst;
    socklen_t dst_len;
    cr_assert_eq(eng_ctl_listen_addr(&ctl[0], &dst, &dst_len), 0);
    uint8_t body[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, frame[64];
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, frame, sizeof(frame));
    cr_assert_eq(dp_wire_builder_add(&b, DP_WIRE_REC_CONSENSUS, body, sizeof(body)), 0);
    size_t n = dp_wire_builder_finish(&b);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(sendto(fd, frame, n, 0, (struct sockaddr *)&dst, dst_len), (ssize_t)n);
    for (int waited = 0; waited < 10000 && (consensus_seen == 0 || ticks_seen < 3); waited += 20) {
        sleep_ms(20);
    }
    eng_ctl_stop(&ctl[0]); /* joins the thread: what it wrote is visible now */
    cr_assert_eq(consensus_seen, 1);
    cr_assert_eq(memcmp(consensus_body, body, sizeof(body)), 0);
    cr_assert_geq(ticks_seen, 3);
    close(fd);
}
