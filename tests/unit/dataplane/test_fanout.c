/* fanout over a fake backend that records every send. */
#include "dataplane/fanout.h"

#include "common/dc_err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

#define BUFS 8
#define BUF_BYTES 65000
#define SENDS_MAX 64

struct sent {
    struct sockaddr_in dst;
    uint32_t len;
    uint32_t seg_bytes;
    uint32_t seg_count;
    uint32_t records;
    uint8_t data[BUF_BYTES];
};

static struct fake {
    struct dp_tx_buf bufs[BUFS];
    uint8_t mem[BUFS][BUF_BYTES];
    int in_use[BUFS];
    struct sent sent[SENDS_MAX];
    int sent_count;
} fake;

static struct dp_tx_buf *fake_get(struct dp_backend *be)
{
    (void)be;
    for (int i = 0; i < BUFS; i++) {
        if (!fake.in_use[i]) {
            fake.in_use[i] = 1;
            fake.bufs[i] = (struct dp_tx_buf){ .data = fake.mem[i], .cap = BUF_BYTES,
                                               .index = (uint32_t)i };
            fake.bufs[i].records = 0;
            return &fake.bufs[i];
        }
    }
    return NULL;
}

static void fake_put(struct dp_backend *be, struct dp_tx_buf *buf)
{
    (void)be;
    fake.in_use[buf->index] = 0;
}

/* "Completes" at once: records the send and frees the buffer. */
static void fake_send(struct dp_backend *be, struct dp_tx_buf *buf, const struct sockaddr *dst,
                      socklen_t len)
{
    (void)be;
    cr_assert_lt(fake.sent_count, SENDS_MAX);
    struct sent *s = &fake.sent[fake.sent_count++];
    s->records = buf->records;
    memcpy(&s->dst, dst, len);
    s->len = buf->len;
    s->seg_bytes = buf->seg_bytes;
    s->seg_count = buf->seg_count;
    memcpy(s->data, buf->data, buf->len);
    fake.in_use[buf->index] = 0;
}

static const struct dp_backend_ops fake_ops = {
    .name = "fake", .tx_get = fake_get, .tx_put = fake_put, .tx_send = fake_send,
};

static struct dp_stats_block stats;
static struct dp_fanout fo;
static uint8_t sk[64];
static uint8_t pk[32];
static const uint8_t chan_a[32] = { 0xa };
static const uint8_t chan_b[32] = { 0xb };
static const uint8_t all[32] = { 0 };

static struct sockaddr_in addr(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void setup(void)
{
    memset(&fake, 0, sizeof(fake));
    cr_assert_geq(sodium_init(), 0);
    uint8_t seed[32] = { 1 };
    crypto_sign_seed_keypair(pk, sk, seed);
    dp_stats_block_init(&stats);
    cr_assert_eq(dp_fanout_init(&fo, &fake_ops, NULL, &stats, 1472, 4, 30), 0);
}

static void teardown(void)
{
    dp_fanout_fini(&fo);
}

TestSuite(dp_fanout, .init = setup, .fini = teardown);

/* A message of `payload` bytes to `target`, encoded into `body`. */
static struct dp_wire_msg make_msg(uint8_t *body, const uint8_t *target, uint16_t payload,
                                   uint64_t seq)
{
    uint8_t p[DP_WIRE_PAYLOAD_BYTES_MAX] = { 0 };
    int n = dp_wire_msg_encode(body, DP_WIRE_MSG_BYTES_MAX, 0, target, sk, seq, 0, p, payload);
    struct dp_wire_rec rec = { .type = DP_WIRE_REC_MSG, .body_len = (uint16_t)n, .body = body };
    struct dp_wire_msg msg;
    cr_assert_eq(dp_wire_msg_parse(&rec, &msg), 0);
    return msg;
}

static void subscribe(uint16_t port, const uint8_t *channel, uint8_t flags, uint32_t now)
{
    uint8_t body[DP_WIRE_SUB_BYTES];
    dp_wire_sub_encode(body, flags, channel);
    struct dp_wire_rec rec = { .type = DP_WIRE_REC_SUBSCRIBE, .body_len = sizeof(body),
                               .body = body };
    struct dp_wire_sub sub;
    cr_assert_eq(dp_wire_sub_parse(&rec, &sub), 0);
    struct sockaddr_in a = addr(port);
    (void)dp_fanout_subscribe(&fo, (struct sockaddr *)&a, sizeof(a), &sub, body, sizeof(body),
                              now);
}

/* The cookie in the last subscribe echo sent to `port`: 1 when found. */
static int echoed_cookie(uint16_t port, uint8_t cookie[DP_WIRE_SUB_COOKIE_BYTES])
{
    int found = 0;
    for (int i = 0; i < fake.sent_count; i++) {
        struct sent *s = &fake.sent[i];
        struct dp_wire_iter it;
        struct dp_wire_rec rec;
        if (ntohs(s->dst.sin_port) != port || dp_wire_frame_open(&it, s->data, s->len) != 0) {
            continue;
        }
        while (dp_wire_next(&it, &rec)) {
            struct dp_wire_sub sub;
            if (rec.type == DP_WIRE_REC_SUBSCRIBE && dp_wire_sub_parse(&rec, &sub) == 0 &&
                sub.cookie != NULL) {
                memcpy(cookie, sub.cookie, DP_WIRE_SUB_COOKIE_BYTES);
                found = 1;
            }
        }
    }
    return found;
}

static void subscribe_from(const struct sockaddr_in *a, const uint8_t *channel, uint8_t flags,
                           const uint8_t *cookie, uint32_t now)
{
    uint8_t body[DP_WIRE_SUB_BYTES_MAX];
    size_t len = dp_wire_sub_encode_cookie(body, flags, channel, cookie);
    struct dp_wire_rec rec = { .type = DP_WIRE_REC_SUBSCRIBE, .body_len = (uint16_t)len,
                               .body = body };
    struct dp_wire_sub sub;
    cr_assert_eq(dp_wire_sub_parse(&rec, &sub), 0);
    (void)dp_fanout_subscribe(&fo, (const struct sockaddr *)a, sizeof(*a), &sub, body,
                              (uint16_t)len, now);
}

/* Subscribes `port`, then returns the echoed cookie: a proven subscriber, as a client does. */
static void subscribe_proven(uint16_t port, const uint8_t *channel, uint32_t now)
{
    uint8_t cookie[DP_WIRE_SUB_COOKIE_BYTES];
    struct sockaddr_in a = addr(port);
    subscribe(port, channel, 0, now);
    dp_fanout_flush(&fo);
    cr_assert(echoed_cookie(port, cookie), "the echo carries a cookie");
    subscribe_from(&a, channel, 0, cookie, now);
    dp_fanout_flush(&fo);
}

static uint32_t bytes_sent_to(uint16_t port)
{
    uint32_t bytes = 0;
    for (int i = 0; i < fake.sent_count; i++) {
        bytes += ntohs(fake.sent[i].dst.sin_port) == port ? fake.sent[i].len : 0;
    }
    return bytes;
}

/* Counts the message records (and checks every frame) in the sends to `port`. */
static int msgs_sent_to(uint16_t port)
{
    int count = 0;
    for (int i = 0; i < fake.sent_count; i++) {
        struct sent *s = &fake.sent[i];
        if (ntohs(s->dst.sin_port) != port) {
            continue;
        }
        uint32_t seg = s->seg_count > 1 ? s->seg_bytes : s->len;
        for (uint32_t off = 0; off < s->len; off += seg) {
            uint32_t len = s->len - off < seg ? s->len - off : seg;
            struct dp_wire_iter it;
            cr_assert_eq(dp_wire_frame_open(&it, s->data + off, len), 0, "a whole frame");
            struct dp_wire_rec rec;
            while (dp_wire_next(&it, &rec)) {
                count += rec.type == DP_WIRE_REC_MSG;
            }
        }
    }
    return count;
}

Test(dp_fanout, every_peer_but_the_source_gets_each_message_once)
{
    for (uint16_t p = 1; p <= 3; p++) {
        struct sockaddr_in a = addr(p);
        cr_assert_eq(dp_fanout_add_peer(&fo, (struct sockaddr *)&a, sizeof(a)), 0);
    }
    struct sockaddr_in two = addr(2);
    cr_assert_eq(dp_fanout_find_peer(&fo, (struct sockaddr *)&two, sizeof(two)), 1);
    struct sockaddr_in nine = addr(9);
    cr_assert_eq(dp_fanout_find_peer(&fo, (struct sockaddr *)&nine, sizeof(nine)), -1);
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    for (int i = 0; i < 10; i++) {
        struct dp_wire_msg m = make_msg(body, chan_a, 100, (uint64_t)i);
        dp_fanout_msg(&fo, &m, 1);
    }
    dp_fanout_flush(&fo);
    cr_assert_eq(msgs_sent_to(1), 10);
    cr_assert_eq(msgs_sent_to(2), 0, "the source peer is skipped");
    cr_assert_eq(msgs_sent_to(3), 10);
    cr_assert_eq(fake.sent_count, 2, "one send per destination per flush");
}

Test(dp_fanout, equal_frames_share_one_gso_send_and_the_short_one_ends_it)
{
    struct sockaddr_in a = addr(1);
    cr_assert_eq(dp_fanout_add_peer(&fo, (struct sockaddr *)&a, sizeof(a)), 0);
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    /* 228-byte bodies: 6 records per 1472-byte frame; 100 messages = 16 full + 1 of 4 */
    for (int i = 0; i < 100; i++) {
        struct dp_wire_msg m = make_msg(body, chan_a, 80, (uint64_t)i);
        dp_fanout_msg(&fo, &m, -1);
    }
    dp_fanout_flush(&fo);
    cr_assert_eq(fake.sent_count, 1);
    struct sent *s = &fake.sent[0];
    uint32_t frame = DP_WIRE_FRAME_HDR_BYTES + 6 * (DP_WIRE_REC_HDR_BYTES + 228);
    cr_assert_eq(s->seg_bytes, frame);
    cr_assert_eq(s->seg_count, 17);
    cr_assert_eq(s->len, 16 * frame + DP_WIRE_FRAME_HDR_BYTES + 4 * (DP_WIRE_REC_HDR_BYTES + 228));
    cr_assert_eq(msgs_sent_to(1), 100);
    cr_assert_eq(s->records, 100, "the buffer knows what a failed send would lose");
}

Test(dp_fanout, a_longer_frame_after_shorter_ones_starts_a_new_send)
{
    struct sockaddr_in a = addr(1);
    cr_assert_eq(dp_fanout_add_peer(&fo, (struct sockaddr *)&a, sizeof(a)), 0);
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    /* 700-byte payloads (848-byte bodies): one per frame; then 1000-byte ones: longer frames */
    for (int i = 0; i < 3; i++) {
        struct dp_wire_msg m = make_msg(body, chan_a, 700, (uint64_t)i);
        dp_fanout_msg(&fo, &m, -1);
    }
    for (int i = 0; i < 3; i++) {
        struct dp_wire_msg m = make_msg(body, chan_a, 1000, (uint64_t)(10 + i));
        dp_fanout_msg(&fo, &m, -1);
    }
    dp_fanout_flush(&fo);
    cr_assert_eq(fake.sent_count, 2);
    cr_assert_eq(fake.sent[0].seg_count, 3);
    cr_assert_eq(fake.sent[1].seg_count, 3);
    cr_assert_gt(fake.sent[1].seg_bytes, fake.sent[0].seg_bytes);
    cr_assert_eq(msgs_sent_to(1), 6);
}

Test(dp_fanout, subscribers_get_their_channel_or_everything_and_each_subscribe_is_acked)
{
    subscribe_proven(10, chan_a, 0);
    subscribe_proven(11, all, 0);
    subscribe_proven(12, chan_b, 0);
    cr_assert_eq(fake.sent_count, 6, "every subscribe acknowledged (twice each: then proven)");
    cr_assert_eq(atomic_load(&stats.v[DP_STAT_SUBSCRIBERS]), 3);
    fake.sent_count = 0;
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    struct dp_wire_msg m = make_msg(body, chan_a, 10, 1);
    dp_fanout_msg(&fo, &m, -1);
    dp_fanout_flush(&fo);
    cr_assert_eq(msgs_sent_to(10), 1);
    cr_assert_eq(msgs_sent_to(11), 1);
    cr_assert_eq(msgs_sent_to(12), 0);
}

Test(dp_fanout, subscriptions_expire_unless_renewed_and_can_be_cancelled)
{
    subscribe(10, all, 0, 0);
    subscribe(11, all, 0, 0);
    dp_fanout_flush(&fo);
    subscribe(10, all, 0, 20); /* renewed: now lasts until 50 */
    dp_fanout_flush(&fo);
    dp_fanout_expire(&fo, 29);
    cr_assert_eq(fo.sub_count, 2);
    dp_fanout_expire(&fo, 30);
    cr_assert_eq(fo.sub_count, 1, "11 lapsed at 30");
    subscribe(10, all, DP_WIRE_SUB_FLAG_UNSUBSCRIBE, 31);
    cr_assert_eq(fo.sub_count, 0);
    fake.sent_count = 0;
    dp_fanout_flush(&fo);
    cr_assert_eq(fake.sent_count, 1, "the unsubscribe is acknowledged too");
}

Test(dp_fanout, a_full_table_refuses_and_counts)
{
    for (uint16_t p = 0; p < 5; p++) {
        subscribe((uint16_t)(100 + p), all, 0, 0);
    }
    cr_assert_eq(fo.sub_count, 4);
    cr_assert_eq(atomic_load(&stats.v[DP_STAT_DROP_SUB_FULL]), 1);
}

Test(dp_fanout, no_free_send_buffer_is_a_counted_drop)
{
    for (int i = 0; i < BUFS; i++) {
        cr_assert_not_null(fake_get(NULL));
    }
    struct sockaddr_in a = addr(1);
    cr_assert_eq(dp_fanout_add_peer(&fo, (struct sockaddr *)&a, sizeof(a)), 0);
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    struct dp_wire_msg m = make_msg(body, chan_a, 10, 1);
    dp_fanout_msg(&fo, &m, -1);
    dp_fanout_flush(&fo);
    cr_assert_eq(fake.sent_count, 0);
    cr_assert_eq(atomic_load(&stats.v[DP_STAT_DROP_TX]), 1);
}

Test(dp_fanout, an_unproven_address_gets_at_most_three_times_its_bytes)
{
    /* a forged subscribe aims a channel at a victim: it gets 3x the 40 bytes "it" sent */
    subscribe(20, all, 0, 0);
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    for (int i = 0; i < 1000; i++) {
        struct dp_wire_msg m = make_msg(body, chan_a, 100, (uint64_t)i);
        dp_fanout_msg(&fo, &m, -1);
    }
    dp_fanout_flush(&fo);
    uint32_t sent = bytes_sent_to(20);
    uint32_t received = DP_WIRE_REC_HDR_BYTES + DP_WIRE_SUB_BYTES;
    cr_assert_leq(sent, 3 * received + 2 * DP_WIRE_FRAME_HDR_BYTES, "sent %u bytes", sent);
    cr_assert_eq(msgs_sent_to(20), 0, "a 250-byte message does not fit 3x a subscribe");
    cr_assert_geq(atomic_load(&stats.v[DP_STAT_DROP_UNPROVEN]), 1000);
    /* once it returns the cookie, it gets everything */
    subscribe_proven(21, all, 0);
    fake.sent_count = 0;
    for (int i = 0; i < 100; i++) {
        struct dp_wire_msg m = make_msg(body, chan_a, 100, (uint64_t)(2000 + i));
        dp_fanout_msg(&fo, &m, -1);
    }
    dp_fanout_flush(&fo);
    cr_assert_eq(msgs_sent_to(21), 100);
}

Test(dp_fanout, a_proven_subscription_changes_only_with_its_cookie)
{
    subscribe_proven(30, chan_a, 0);
    /* a forged unsubscribe and a forged re-subscribe to another channel: no cookie */
    subscribe(30, chan_a, DP_WIRE_SUB_FLAG_UNSUBSCRIBE, 1);
    subscribe(30, chan_b, 0, 1);
    cr_assert_eq(fo.sub_count, 1, "still subscribed");
    cr_assert_eq(atomic_load(&stats.v[DP_STAT_SUB_UNPROVEN]), 2);
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    fake.sent_count = 0;
    struct dp_wire_msg m = make_msg(body, chan_a, 10, 1);
    dp_fanout_msg(&fo, &m, -1);
    dp_fanout_flush(&fo);
    cr_assert_eq(msgs_sent_to(30), 1, "still on its own channel");
    /* with the cookie the subscriber itself unsubscribes */
    uint8_t cookie[DP_WIRE_SUB_COOKIE_BYTES];
    struct sockaddr_in a = addr(30);
    fake.sent_count = 0;
    subscribe(30, chan_a, 0, 1); /* its echo carries the cookie again */
    dp_fanout_flush(&fo);
    cr_assert(echoed_cookie(30, cookie));
    subscribe_from(&a, chan_a, DP_WIRE_SUB_FLAG_UNSUBSCRIBE, cookie, 2);
    cr_assert_eq(fo.sub_count, 0);
}

Test(dp_fanout, one_ip_holds_only_its_share_of_the_table)
{
    fo.subs_per_ip = 2;
    subscribe(40, all, 0, 0);
    subscribe(41, all, 0, 0);
    subscribe(42, all, 0, 0); /* a third port of 127.0.0.1 */
    cr_assert_eq(fo.sub_count, 2);
    cr_assert_eq(atomic_load(&stats.v[DP_STAT_DROP_SUB_IP]), 1);
    struct sockaddr_in other = addr(43);
    other.sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2 still gets in */
    subscribe_from(&other, all, 0, NULL, 0);
    cr_assert_eq(fo.sub_count, 3);
}
