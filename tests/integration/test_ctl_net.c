/*
 * The control plane end to end with many nodes in one process: each control thread has its own
 * UDP socket on 127.0.0.1, and they run the seed's Day 1-4 discovery scenario, a late
 * bootstrap node, the no-amplification rule, and a chain of 24 bootstraps. Conditions are polled
 * with generous deadlines; nothing depends on exact timing. Real sockets and 24 threads compete
 * with whatever else the machine runs, so this is an integration test, run alone (is_parallel:
 * false).
 */
#include "tests/unit/engine/ctl_harness.h"

#include "engine/kad.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#define CHAIN_INTERVAL_MS 500 /* 24 nodes on a shared 2-core machine: room for scheduling */

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

/*
 * How many nodes (itself included) node i can hold among the first n: a bucket keeps at most
 * ENG_KAD_K peers (engine/kad.h), so a node with more than K of the others in one bucket, most
 * likely its far half of the id space, holds only K of those. With 24 random ids that happens
 * to some node in about one run in sixteen, which is what made the full-view test flaky.
 */
static uint32_t holdable(int i, int n)
{
    uint32_t per_bucket[ENG_KAD_BUCKETS] = { 0 };
    uint32_t known = 1;
    for (int j = 0; j < n; j++) {
        if (j != i && per_bucket[eng_kad_bucket_index(keys[i].id, keys[j].id)]++ < ENG_KAD_K) {
            known++;
        }
    }
    return known;
}

/* Fresh keys until every node can hold every other (about 15 sets in 16 pass). */
static void draw_full_keys(void)
{
    for (int tries = 0; tries < 1000; tries++) {
        int ok = 1;
        for (int i = 0; i < NODES && ok; i++) {
            ok = holdable(i, NODES) == NODES;
        }
        if (ok) {
            return;
        }
        for (int i = 0; i < NODES; i++) {
            cr_assert_eq(eng_key_generate(&keys[i]), 0);
        }
    }
    cr_assert_fail("no key set found");
}

/* Keys 2..K+2 in node 1's far half (bucket 0), so node 1 cannot hold them all. */
static void draw_overfull_keys(void)
{
    for (int i = 1; i <= ENG_KAD_K + 1; i++) {
        while (eng_kad_bucket_index(keys[0].id, keys[i].id) != 0) {
            cr_assert_eq(eng_key_generate(&keys[i]), 0);
        }
    }
}

/* Each node knows only the one started before it; lookups must do the rest. */
static void run_chain(void)
{
    interval_ms = CHAIN_INTERVAL_MS;
    start_node(0, -1);
    for (int i = 1; i < NODES; i++) {
        start_node(i, i - 1);
    }
    for (int i = 0; i < NODES; i++) {
        uint32_t known = holdable(i, NODES);
        wait_counts(i, known - 1, known, 60000);
    }
}

Test(eng_ctl, a_chain_of_24_bootstraps_converges_to_a_full_view, .init = setup, .fini = teardown,
     .timeout = 120)
{
    draw_full_keys();
    run_chain();
}

/*
 * Node 1 has more than K of the others in one bucket: it holds K of them, and the ones it has
 * no room for still see it connected (it answers their PINGs), so their views stay full.
 */
Test(eng_ctl, a_node_with_an_overfull_bucket_holds_k_and_still_answers_the_rest,
     .init = setup, .fini = teardown, .timeout = 120)
{
    draw_overfull_keys();
    cr_assert_lt(holdable(0, NODES), NODES);
    run_chain();
}
