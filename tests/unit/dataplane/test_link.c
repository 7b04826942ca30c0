#include "dataplane/link.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

#define BUF 2048
#define S 1000u /* ms per second */

struct node {
    uint8_t pk[32];
    uint8_t sk[64];
    struct sockaddr_in addr;
    struct dp_link_table t;
};

static struct node a, b;

static void node_init(struct node *n, uint8_t seed_byte, uint16_t port, uint64_t rekey_messages)
{
    uint8_t seed[32];
    memset(seed, seed_byte, sizeof(seed));
    crypto_sign_seed_keypair(n->pk, n->sk, seed);
    n->addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
    n->addr.sin_addr.s_addr = htonl(0x7f000001);
    struct dp_link_conf conf = { .ed_sk = n->sk, .peers_max = 4,
                                 .rekey_after_messages = rekey_messages };
    cr_assert_eq(dp_link_init(&n->t, &conf), 0);
}

static int add(struct node *n, const struct node *peer)
{
    return dp_link_peer_add(&n->t, peer->pk, (const struct sockaddr *)&peer->addr,
                            sizeof(peer->addr));
}

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
    node_init(&a, 1, 1001, 0);
    node_init(&b, 2, 1002, 0);
    cr_assert_eq(add(&a, &b), 0);
    cr_assert_eq(add(&b, &a), 0);
}

static void teardown(void)
{
    dp_link_fini(&a.t);
    dp_link_fini(&b.t);
}

/* `to` handles `len` bytes of `in` that came from `from`. */
static int deliver(struct node *to, const struct node *from, const uint8_t *in, size_t len,
                   uint64_t now, uint8_t *out, struct dp_link_result *res)
{
    return dp_link_handle(&to->t, (const struct sockaddr *)&from->addr, sizeof(from->addr), in,
                          len, now, out, BUF, res);
}

/* A full handshake started by `i`: initiation, response, keepalive. */
static void handshake(struct node *i, struct node *r, uint64_t now)
{
    uint8_t m1[BUF], m2[BUF], m3[BUF], out[BUF];
    struct dp_link_result res;
    int had_session = dp_link_can_seal(&r->t, 0, now);
    cr_assert_eq(dp_link_initiate(&i->t, 0, now, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(deliver(r, i, m1, DP_HS_INIT_BYTES, now, m2, &res), 0);
    cr_assert_eq(res.action, DP_LINK_REPLY);
    cr_assert_eq(res.len, DP_HS_RESP_BYTES);
    cr_assert_eq(res.peer, 0);
    /* The new session seals only once the initiator proved it holds the keys. */
    cr_assert_eq(dp_link_can_seal(&r->t, 0, now), had_session);
    cr_assert_eq(deliver(i, r, m2, res.len, now, m3, &res), 0);
    cr_assert_eq(res.action, DP_LINK_REPLY);
    cr_assert_eq(res.len, DP_LINK_DATA_OVERHEAD);
    cr_assert(res.session_new);
    cr_assert(dp_link_can_seal(&i->t, 0, now));
    cr_assert_eq(deliver(r, i, m3, res.len, now, out, &res), 0);
    cr_assert_eq(res.action, DP_LINK_NONE, "a keepalive delivers nothing");
    cr_assert(res.session_new);
    cr_assert(dp_link_can_seal(&r->t, 0, now));
}

/* from seals `msg`, `to` opens it and must get it back. */
static void round_trip(struct node *from, struct node *to, const char *msg, uint64_t now)
{
    uint8_t pkt[BUF], out[BUF];
    struct dp_link_result res;
    size_t len = strlen(msg);
    int n = dp_link_seal(&from->t, 0, (const uint8_t *)msg, len, now, pkt, BUF);
    cr_assert_eq(n, (int)(len + DP_LINK_DATA_OVERHEAD));
    cr_assert(dp_link_is_packet(pkt, (size_t)n));
    cr_assert_eq(deliver(to, from, pkt, (size_t)n, now, out, &res), 0);
    cr_assert_eq(res.action, DP_LINK_DELIVER);
    cr_assert_eq(res.peer, 0);
    cr_assert_eq(res.len, len);
    cr_assert_arr_eq(out, msg, len);
}

TestSuite(dp_link, .init = setup, .fini = teardown);

Test(dp_link, handshake_both_directions_and_data_both_ways)
{
    cr_assert(dp_link_want_handshake(&a.t, 0, 0));
    cr_assert_eq(dp_link_seal(&a.t, 0, (const uint8_t *)"x", 1, 0, (uint8_t[64]){ 0 }, 64),
                 -ENOTCONN);
    handshake(&a, &b, 10);
    round_trip(&a, &b, "hello b", 11);
    round_trip(&b, &a, "hello a", 12);
    cr_assert_not(dp_link_want_handshake(&a.t, 0, 13));
    handshake(&b, &a, 20); /* the other side initiates a new session */
    round_trip(&a, &b, "again b", 21);
    round_trip(&b, &a, "again a", 22);
    cr_assert_eq(a.t.stats.init_tx, 1);
    cr_assert_eq(a.t.stats.init_rx, 1);
    cr_assert_eq(b.t.stats.resp_rx, 1);
}

Test(dp_link, data_of_every_size_round_trips)
{
    handshake(&a, &b, 0);
    static uint8_t plain[DP_LINK_PLAIN_BYTES_MAX], pkt[DP_LINK_PACKET_BYTES_MAX],
        out[DP_LINK_PACKET_BYTES_MAX];
    randombytes_buf(plain, sizeof(plain));
    size_t sizes[] = { 1, 15, 16, 17, 1400, 4000, DP_LINK_PLAIN_BYTES_MAX };
    for (size_t i = 0; i < DC_ARRAY_LEN(sizes); i++) {
        struct dp_link_result res;
        int n = dp_link_seal(&a.t, 0, plain, sizes[i], 1, pkt, sizeof(pkt));
        cr_assert_eq(n, (int)(sizes[i] + DP_LINK_DATA_OVERHEAD));
        cr_assert_eq(dp_link_handle(&b.t, (const struct sockaddr *)&a.addr, sizeof(a.addr), pkt,
                                    (size_t)n, 1, out, sizeof(out), &res), 0);
        cr_assert_eq(res.len, sizes[i]);
        cr_assert_arr_eq(out, plain, sizes[i]);
    }
    cr_assert_eq(dp_link_seal(&a.t, 0, plain, DP_LINK_PLAIN_BYTES_MAX + 1, 1, pkt, sizeof(pkt)),
                 DC_ETOOBIG);
    cr_assert_eq(dp_link_seal(&a.t, 0, plain, 100, 1, pkt, 100 + DP_LINK_DATA_OVERHEAD - 1),
                 DC_ETOOBIG);
}

Test(dp_link, a_tampered_byte_anywhere_is_refused)
{
    uint8_t m1[BUF], m2[BUF], m3[BUF], bad[BUF], out[BUF];
    struct dp_link_result res;
    cr_assert_eq(dp_link_initiate(&a.t, 0, 5, m1, BUF), DP_HS_INIT_BYTES);
    /* mac2 is checked only under load (then it is the cookie's MAC): bytes before it. */
    for (size_t i = 0; i < DP_HS_INIT_MAC2_OFF; i++) {
        memcpy(bad, m1, DP_HS_INIT_BYTES);
        bad[i] ^= 0x01;
        cr_assert_lt(deliver(&b, &a, bad, DP_HS_INIT_BYTES, 5, out, &res), 0, "init byte %zu", i);
        cr_assert_eq(res.action, DP_LINK_NONE);
    }
    cr_assert_eq(deliver(&b, &a, m1, DP_HS_INIT_BYTES, 5, m2, &res), 0, "the original passes");
    for (size_t i = 0; i < DP_HS_RESP_BYTES; i++) {
        memcpy(bad, m2, DP_HS_RESP_BYTES);
        bad[i] ^= 0x80;
        cr_assert_lt(deliver(&a, &b, bad, DP_HS_RESP_BYTES, 5, out, &res), 0, "resp byte %zu", i);
    }
    cr_assert_eq(deliver(&a, &b, m2, DP_HS_RESP_BYTES, 5, m3, &res), 0);
    cr_assert_eq(deliver(&b, &a, m3, res.len, 5, out, &res), 0);
    uint8_t pkt[BUF];
    int n = dp_link_seal(&a.t, 0, (const uint8_t *)"tamper me", 9, 6, pkt, BUF);
    for (int i = 0; i < n; i++) {
        memcpy(bad, pkt, (size_t)n);
        bad[i] ^= 0x10;
        cr_assert_lt(deliver(&b, &a, bad, (size_t)n, 6, out, &res), 0, "data byte %d", i);
        cr_assert_eq(res.action, DP_LINK_NONE);
    }
    cr_assert_lt(deliver(&b, &a, pkt, (size_t)n - 1, 6, out, &res), 0, "one byte short");
    cr_assert_eq(deliver(&b, &a, pkt, (size_t)n, 6, out, &res), 0, "a forgery moved nothing");
    cr_assert_gt(b.t.stats.drop[DP_LINK_DROP_AUTH], 0);
    cr_assert_gt(b.t.stats.drop[DP_LINK_DROP_BAD_MAC1], 0);
    cr_assert_gt(b.t.stats.drop[DP_LINK_DROP_MALFORMED], 0);
    cr_assert_gt(b.t.stats.drop[DP_LINK_DROP_UNKNOWN_INDEX], 0);
}

Test(dp_link, replay_refused_reorder_accepted_too_old_refused)
{
    handshake(&a, &b, 0);
    enum { N = DP_REPLAY_WINDOW + 100 };
    static uint8_t pkts[N][64];
    int len = 0;
    for (int i = 0; i < N; i++) {
        len = dp_link_seal(&a.t, 0, (const uint8_t *)"abcd", 4, 1, pkts[i], sizeof(pkts[i]));
        cr_assert_eq(len, 4 + DP_LINK_DATA_OVERHEAD);
    }
    uint8_t out[BUF];
    struct dp_link_result res;
    cr_assert_eq(deliver(&b, &a, pkts[10], (size_t)len, 1, out, &res), 0);
    cr_assert_eq(deliver(&b, &a, pkts[10], (size_t)len, 1, out, &res), DC_EDUPLICATE);
    cr_assert_eq(deliver(&b, &a, pkts[5], (size_t)len, 1, out, &res), 0, "reordered");
    cr_assert_eq(deliver(&b, &a, pkts[3], (size_t)len, 1, out, &res), 0, "reordered");
    cr_assert_eq(deliver(&b, &a, pkts[5], (size_t)len, 1, out, &res), DC_EDUPLICATE);
    /* Jump ahead: everything a window behind is now too old, the rest still fresh. */
    cr_assert_eq(deliver(&b, &a, pkts[N - 1], (size_t)len, 1, out, &res), 0);
    int edge = N - 1 - DP_REPLAY_WINDOW;
    cr_assert_eq(deliver(&b, &a, pkts[edge], (size_t)len, 1, out, &res), DC_EWINDOW);
    cr_assert_eq(deliver(&b, &a, pkts[4], (size_t)len, 1, out, &res), DC_EWINDOW);
    cr_assert_eq(deliver(&b, &a, pkts[edge + 1], (size_t)len, 1, out, &res), 0, "just inside");
    cr_assert_eq(deliver(&b, &a, pkts[N - 2], (size_t)len, 1, out, &res), 0);
    cr_assert_eq(deliver(&b, &a, pkts[N - 2], (size_t)len, 1, out, &res), DC_EDUPLICATE);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_REPLAY], 3);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_TOO_OLD], 2);
}

Test(dp_link, replay_window_survives_long_jumps)
{
    struct dp_replay r;
    dp_replay_init(&r);
    uint64_t seen[] = { 0, 1, 63, 64, 65, 3000, 3001, 1u << 20, (1u << 20) + 70 };
    for (size_t i = 0; i < DC_ARRAY_LEN(seen); i++) {
        cr_assert_eq(dp_replay_check(&r, seen[i]), 0, "%llu", (unsigned long long)seen[i]);
        dp_replay_commit(&r, seen[i]);
        cr_assert_eq(dp_replay_check(&r, seen[i]), DC_EDUPLICATE);
    }
    cr_assert_eq(dp_replay_check(&r, 3002), DC_EWINDOW);
    for (uint64_t c = (1u << 20) + 71 - DP_REPLAY_WINDOW + 1; c < (1u << 20); c++) {
        cr_assert_eq(dp_replay_check(&r, c), 0, "%llu was never seen", (unsigned long long)c);
    }
}

Test(dp_link, a_replayed_initiation_is_refused_by_its_timestamp)
{
    uint8_t m1[BUF], m1b[BUF], out[BUF];
    struct dp_link_result res;
    cr_assert_eq(dp_link_initiate(&a.t, 0, 100, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(dp_link_initiate(&a.t, 0, 100, m1b, BUF), DP_HS_INIT_BYTES, "same ms");
    cr_assert_eq(deliver(&b, &a, m1b, DP_HS_INIT_BYTES, 100, out, &res), 0);
    cr_assert_eq(deliver(&b, &a, m1b, DP_HS_INIT_BYTES, 200, out, &res), DC_ESTALE, "replay");
    cr_assert_eq(deliver(&b, &a, m1, DP_HS_INIT_BYTES, 200, out, &res), DC_ESTALE, "older");
    cr_assert_eq(res.action, DP_LINK_NONE);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_STALE_TIMESTAMP], 2);
    cr_assert_eq(b.t.stats.init_rx, 1);
}

Test(dp_link, a_wrong_static_key_cannot_complete_a_handshake)
{
    struct node c;
    node_init(&c, 3, 1003, 0);
    cr_assert_eq(add(&c, &a), 0);
    uint8_t m1[BUF], out[BUF];
    struct dp_link_result res;
    /* c sits at b's address: a's initiation is for b's static key. */
    cr_assert_eq(dp_link_initiate(&a.t, 0, 1, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(deliver(&c, &a, m1, DP_HS_INIT_BYTES, 1, out, &res), DC_EMAC);
    /* mac1 keys are public; with a mac1 for c the Noise part still fails. */
    struct dp_cookie_maker m;
    dp_cookie_maker_init(&m, c.t.own.pub);
    dp_cookie_add_macs(&m, m1, DP_HS_INIT_BYTES, 1);
    cr_assert_eq(deliver(&c, &a, m1, DP_HS_INIT_BYTES, 1, out, &res), DC_EAUTH);
    cr_assert_eq(res.action, DP_LINK_NONE);
    /* And b refuses an initiator it has no peer entry for. */
    struct node d;
    node_init(&d, 4, 1004, 0);
    cr_assert_eq(add(&d, &b), 0);
    cr_assert_eq(dp_link_initiate(&d.t, 0, 1, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(deliver(&b, &d, m1, DP_HS_INIT_BYTES, 1, out, &res), DC_EMEMBER);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_UNKNOWN_PEER], 1);
    dp_link_fini(&c.t);
    dp_link_fini(&d.t);
}

Test(dp_link, a_wrong_mac1_is_refused_before_any_diffie_hellman)
{
    uint8_t m1[BUF], out[BUF];
    struct dp_link_result res;
    cr_assert_eq(dp_link_initiate(&a.t, 0, 1, m1, BUF), DP_HS_INIT_BYTES);
    m1[DP_HS_INIT_MAC1_OFF + 3] ^= 0xff;
    cr_assert_eq(deliver(&b, &a, m1, DP_HS_INIT_BYTES, 1, out, &res), DC_EMAC);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_BAD_MAC1], 1);
    cr_assert_eq(b.t.stats.init_rx, 0);
}

Test(dp_link, under_load_a_cookie_then_a_retry_with_mac2)
{
    uint8_t m1[BUF], m2[BUF], m3[BUF], out[BUF];
    struct dp_link_result res;
    dp_link_set_under_load(&b.t, 1);
    cr_assert_eq(dp_link_initiate(&a.t, 0, 1, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(deliver(&b, &a, m1, DP_HS_INIT_BYTES, 1, m2, &res), DC_ECOOKIE);
    cr_assert_eq(res.action, DP_LINK_REPLY);
    cr_assert_eq(res.len, DP_COOKIE_REPLY_BYTES);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_NEEDS_COOKIE], 1);
    cr_assert_eq(b.t.stats.init_rx, 0, "no handshake work under load without a cookie");
    uint8_t bad[BUF];
    memcpy(bad, m2, DP_COOKIE_REPLY_BYTES);
    bad[40] ^= 1;
    cr_assert_eq(deliver(&a, &b, bad, DP_COOKIE_REPLY_BYTES, 2, out, &res), DC_EAUTH);
    cr_assert_eq(deliver(&a, &b, m2, DP_COOKIE_REPLY_BYTES, 2, out, &res), 0);
    cr_assert_eq(res.action, DP_LINK_NONE);
    cr_assert(res.retry);
    cr_assert_eq(deliver(&a, &b, m2, DP_COOKIE_REPLY_BYTES, 2, out, &res), DC_ENOTFOUND,
                 "one reply per initiation");
    cr_assert_eq(dp_link_initiate(&a.t, 0, 3, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(deliver(&b, &a, m1, DP_HS_INIT_BYTES, 3, m2, &res), 0);
    cr_assert_eq(res.len, DP_HS_RESP_BYTES);
    cr_assert_eq(deliver(&a, &b, m2, res.len, 3, m3, &res), 0);
    cr_assert_eq(deliver(&b, &a, m3, res.len, 3, out, &res), 0);
    round_trip(&a, &b, "under load", 4);
    round_trip(&b, &a, "still", 4);
}

Test(dp_link, under_load_a_cookie_for_another_address_fails)
{
    uint8_t m1[BUF], m2[BUF], out[BUF];
    struct dp_link_result res;
    dp_link_set_under_load(&b.t, 1);
    cr_assert_eq(dp_link_initiate(&a.t, 0, 1, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(deliver(&b, &a, m1, DP_HS_INIT_BYTES, 1, m2, &res), DC_ECOOKIE);
    cr_assert_eq(deliver(&a, &b, m2, DP_COOKIE_REPLY_BYTES, 1, out, &res), 0);
    cr_assert_eq(dp_link_initiate(&a.t, 0, 2, m1, BUF), DP_HS_INIT_BYTES);
    struct sockaddr_in other = a.addr;
    other.sin_port = htons(9999);
    cr_assert_eq(dp_link_handle(&b.t, (const struct sockaddr *)&other, sizeof(other), m1,
                                DP_HS_INIT_BYTES, 2, m2, BUF, &res), DC_ECOOKIE);
    cr_assert_eq(res.action, DP_LINK_REPLY, "a fresh cookie for the other address");
    /* Load gone: the same initiation needs no cookie. */
    dp_link_set_under_load(&b.t, 0);
    cr_assert_eq(dp_link_handle(&b.t, (const struct sockaddr *)&other, sizeof(other), m1,
                                DP_HS_INIT_BYTES, 2, m2, BUF, &res), 0);
}

Test(dp_link, the_cookie_secret_rotates)
{
    uint8_t m1[BUF], m2[BUF], out[BUF];
    struct dp_link_result res;
    dp_link_set_under_load(&b.t, 1);
    cr_assert_eq(dp_link_initiate(&a.t, 0, 1, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(deliver(&b, &a, m1, DP_HS_INIT_BYTES, 1, m2, &res), DC_ECOOKIE);
    cr_assert_eq(deliver(&a, &b, m2, DP_COOKIE_REPLY_BYTES, 1, out, &res), 0);
    /* b's secret is replaced after 2 minutes; a's cookie still looks fresh to a at +1 s. */
    cr_assert_eq(dp_link_initiate(&a.t, 0, 1000, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_eq(deliver(&b, &a, m1, DP_HS_INIT_BYTES, 1 + DP_COOKIE_SECRET_AGE_MS, m2, &res),
                 DC_ECOOKIE);
}

static uint32_t cur_index(const struct node *n)
{
    const struct dp_link_peer *p = &n->t.peers[0];
    cr_assert_neq(p->cur, -1);
    return p->slots[p->cur].local_index;
}

Test(dp_link, rekey_after_time_and_the_old_session_still_opens_in_flight_packets)
{
    handshake(&a, &b, 0);
    round_trip(&a, &b, "first", 1 * S);
    cr_assert_not(dp_link_want_handshake(&a.t, 0, 119 * S));
    cr_assert(dp_link_want_handshake(&a.t, 0, 120 * S), "the initiator rekeys");
    cr_assert_not(dp_link_want_handshake(&b.t, 0, 120 * S), "the responder waits longer");
    cr_assert(dp_link_want_handshake(&b.t, 0, 150 * S));
    uint8_t old_ab[2][BUF], old_ba[BUF], out[BUF];
    struct dp_link_result res;
    int n_ab = dp_link_seal(&a.t, 0, (const uint8_t *)"in flight", 9, 120 * S, old_ab[0], BUF);
    cr_assert_eq(dp_link_seal(&a.t, 0, (const uint8_t *)"in flight", 9, 120 * S, old_ab[1], BUF),
                 n_ab);
    int n_ba = dp_link_seal(&b.t, 0, (const uint8_t *)"in flight", 9, 120 * S, old_ba, BUF);
    uint32_t a_old = cur_index(&a), b_old = cur_index(&b);
    handshake(&a, &b, 120 * S);
    cr_assert_neq(cur_index(&a), a_old, "a new session");
    cr_assert_neq(cur_index(&b), b_old);
    cr_assert_not(dp_link_want_handshake(&a.t, 0, 121 * S));
    cr_assert_eq(deliver(&b, &a, old_ab[0], (size_t)n_ab, 121 * S, out, &res), 0);
    cr_assert_eq(res.action, DP_LINK_DELIVER);
    cr_assert_eq(deliver(&a, &b, old_ba, (size_t)n_ba, 121 * S, out, &res), 0);
    cr_assert_eq(res.action, DP_LINK_DELIVER);
    round_trip(&a, &b, "new session", 122 * S);
    round_trip(&b, &a, "new session", 122 * S);
    /* The old session dies at its own REJECT_AFTER_TIME; the new one lives on. */
    cr_assert_eq(deliver(&b, &a, old_ab[1], (size_t)n_ab, 180 * S, out, &res), DC_EEXPIRED);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_EXPIRED], 1);
    round_trip(&a, &b, "still fine", 180 * S);
}

Test(dp_link, a_session_expires_after_reject_after_time)
{
    handshake(&a, &b, 0);
    uint8_t pkt[BUF], out[BUF];
    struct dp_link_result res;
    int n = dp_link_seal(&a.t, 0, (const uint8_t *)"late", 4, 180 * S - 1, pkt, BUF);
    cr_assert_gt(n, 0);
    cr_assert_eq(deliver(&b, &a, pkt, (size_t)n, 180 * S, out, &res), DC_EEXPIRED);
    cr_assert_eq(res.peer, 0);
    cr_assert_eq(dp_link_seal(&a.t, 0, (const uint8_t *)"x", 1, 180 * S, pkt, BUF), -ENOTCONN);
    cr_assert_eq(dp_link_seal(&b.t, 0, (const uint8_t *)"x", 1, 180 * S, pkt, BUF), -ENOTCONN);
    cr_assert_not(dp_link_can_seal(&a.t, 0, 180 * S));
    cr_assert(dp_link_want_handshake(&a.t, 0, 180 * S));
    cr_assert(dp_link_want_handshake(&b.t, 0, 180 * S));
    handshake(&b, &a, 181 * S);
    round_trip(&a, &b, "back", 181 * S);
}

Test(dp_link, rekey_after_a_message_count)
{
    dp_link_fini(&a.t);
    node_init(&a, 1, 1001, 3);
    cr_assert_eq(add(&a, &b), 0);
    handshake(&a, &b, 0); /* the keepalive is message 1 */
    round_trip(&a, &b, "2", 1);
    cr_assert_not(dp_link_want_handshake(&a.t, 0, 1));
    round_trip(&a, &b, "3", 1);
    cr_assert(dp_link_want_handshake(&a.t, 0, 1));
}

Test(dp_link, handshake_retries_wait_for_rekey_timeout)
{
    uint8_t m1[BUF];
    cr_assert_eq(dp_link_initiate(&a.t, 0, 0, m1, BUF), DP_HS_INIT_BYTES);
    cr_assert_not(dp_link_want_handshake(&a.t, 0, DP_LINK_REKEY_TIMEOUT_MS - 1));
    cr_assert(dp_link_want_handshake(&a.t, 0, DP_LINK_REKEY_TIMEOUT_MS));
    cr_assert_eq(dp_link_initiate(&a.t, 0, 0, m1, DP_HS_INIT_BYTES - 1), DC_ETOOBIG);
}

Test(dp_link, malformed_and_unknown_packets_are_counted_apart)
{
    handshake(&a, &b, 0);
    uint8_t pkt[BUF], out[BUF];
    struct dp_link_result res;
    int n = dp_link_seal(&a.t, 0, (const uint8_t *)"x", 1, 1, pkt, BUF);
    cr_assert_eq(deliver(&b, &a, pkt, 0, 1, out, &res), DC_EMALFORMED);
    cr_assert_eq(deliver(&b, &a, pkt, DP_LINK_DATA_OVERHEAD - 1, 1, out, &res), DC_EMALFORMED);
    uint8_t init[BUF] = { DP_HS_TYPE_INIT };
    cr_assert_eq(deliver(&b, &a, init, DP_HS_INIT_BYTES - 1, 1, out, &res), DC_EMALFORMED);
    pkt[0] = 0x64; /* a v1 frame's first byte */
    cr_assert_not(dp_link_is_packet(pkt, (size_t)n));
    cr_assert_eq(deliver(&b, &a, pkt, (size_t)n, 1, out, &res), DC_EMALFORMED);
    pkt[0] = DP_HS_TYPE_DATA;
    pkt[2] = 1;
    cr_assert_eq(deliver(&b, &a, pkt, (size_t)n, 1, out, &res), DC_EMALFORMED);
    pkt[2] = 0;
    pkt[5] ^= 0x40;
    cr_assert_eq(deliver(&b, &a, pkt, (size_t)n, 1, out, &res), DC_ENOTFOUND);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_MALFORMED], 5);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_UNKNOWN_INDEX], 1);
    init[0] = DP_HS_TYPE_COOKIE;
    cr_assert_eq(deliver(&a, &b, init, DP_COOKIE_REPLY_BYTES + 1, 1, out, &res), DC_EMALFORMED);
    init[0] = DP_HS_TYPE_RESP;
    cr_assert_eq(deliver(&a, &b, init, DP_HS_RESP_BYTES - 1, 1, out, &res), DC_EMALFORMED);
    const char *seen[DP_LINK_DROP_COUNT];
    for (int i = 0; i < DP_LINK_DROP_COUNT; i++) {
        seen[i] = dp_link_drop_name((enum dp_link_drop)i);
        for (int j = 0; j < i; j++) {
            cr_assert_str_neq(seen[i], seen[j]);
        }
    }
}

Test(dp_link, peer_table_limits)
{
    cr_assert_eq(add(&a, &b), DC_EDUPLICATE);
    cr_assert_eq(add(&a, &a), -EINVAL);
    cr_assert_eq(dp_link_peer_find(&a.t, b.pk), 0);
    cr_assert_eq(dp_link_peer_find(&a.t, a.pk), DC_ENOTFOUND);
    uint8_t not_a_point[32];
    memset(not_a_point, 0xff, sizeof(not_a_point));
    cr_assert_eq(dp_link_peer_add(&a.t, not_a_point, NULL, 0), DC_EMALFORMED);
    for (int i = 0; i < 3; i++) {
        struct node x;
        node_init(&x, (uint8_t)(10 + i), 2000, 0);
        cr_assert_eq(add(&a, &x), i + 1);
        dp_link_fini(&x.t);
    }
    struct node y;
    node_init(&y, 20, 2000, 0);
    cr_assert_eq(add(&a, &y), DC_EFULL);
    dp_link_fini(&y.t);
    socklen_t len;
    const struct sockaddr *sa = dp_link_peer_addr(&a.t, 0, &len);
    cr_assert_eq(len, sizeof(b.addr));
    cr_assert_eq(((const struct sockaddr_in *)sa)->sin_port, b.addr.sin_port);
}

Test(dp_link, a_plaintext_larger_than_the_out_buffer_is_refused_and_moves_nothing)
{
    handshake(&a, &b, 0);
    uint8_t plain[200] = { 1 }, pkt[BUF], out[BUF];
    struct dp_link_result res;
    int n = dp_link_seal(&a.t, 0, plain, sizeof(plain), 1, pkt, BUF);
    cr_assert_eq(dp_link_handle(&b.t, (const struct sockaddr *)&a.addr, sizeof(a.addr), pkt,
                                (size_t)n, 1, out, sizeof(plain) - 1, &res), DC_ETOOBIG);
    cr_assert_eq(b.t.stats.drop[DP_LINK_DROP_TOO_BIG], 1);
    cr_assert_eq(deliver(&b, &a, pkt, (size_t)n, 1, out, &res), 0, "the window did not move");
}
