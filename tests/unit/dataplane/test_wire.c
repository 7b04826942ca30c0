#include "dataplane/wire.h"

#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

static uint8_t sk[64];
static uint8_t pk[32];
static const uint8_t channel[32] = { 1, 2, 3 };

static void setup(void)
{
    cr_assert_geq(sodium_init(), 0);
    uint8_t seed[32] = { 9 };
    crypto_sign_seed_keypair(pk, sk, seed);
}

TestSuite(dp_wire, .init = setup);

/* A frame holding one signed message with `payload_len` bytes; returns the frame length. */
static size_t one_msg_frame(uint8_t *buf, size_t cap, uint16_t payload_len)
{
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    uint8_t payload[DP_WIRE_PAYLOAD_BYTES_MAX];
    memset(payload, 'p', sizeof(payload));
    int n = dp_wire_msg_encode(body, sizeof(body), DP_WIRE_MSG_CHANNEL, channel, sk, 7,
                               123456, payload, payload_len);
    cr_assert_eq(n, (int)DP_WIRE_MSG_BYTES(payload_len));
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, buf, cap);
    cr_assert_eq(dp_wire_builder_add(&b, DP_WIRE_REC_MSG, body, (uint16_t)n), 0);
    return dp_wire_builder_finish(&b);
}

Test(dp_wire, message_round_trip_parses_and_verifies)
{
    uint8_t buf[DP_WIRE_MTU_DEFAULT];
    size_t len = one_msg_frame(buf, sizeof(buf), 128);
    struct dp_wire_iter it;
    cr_assert_eq(dp_wire_frame_open(&it, buf, len), 0);
    struct dp_wire_rec rec;
    cr_assert_eq(dp_wire_next(&it, &rec), 1);
    cr_assert_eq(rec.type, DP_WIRE_REC_MSG);
    struct dp_wire_msg msg;
    cr_assert_eq(dp_wire_msg_parse(&rec, &msg), 0);
    cr_assert_eq(msg.payload_len, 128);
    cr_assert_eq(msg.seq, 7);
    cr_assert_eq(msg.timestamp_us, 123456);
    cr_assert_eq(memcmp(msg.sender, pk, 32), 0);
    cr_assert_eq(memcmp(msg.target, channel, 32), 0);
    cr_assert_eq(dp_wire_msg_verify(&msg), 0);
    cr_assert_eq(dp_wire_next(&it, &rec), 0);
}

Test(dp_wire, every_flipped_byte_of_a_message_fails_parse_or_verify)
{
    uint8_t buf[DP_WIRE_MTU_DEFAULT];
    size_t len = one_msg_frame(buf, sizeof(buf), 40);
    size_t body_off = DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES;
    for (size_t i = body_off; i < len; i++) {
        buf[i] ^= 0x20;
        struct dp_wire_iter it;
        struct dp_wire_rec rec;
        struct dp_wire_msg msg;
        cr_assert_eq(dp_wire_frame_open(&it, buf, len), 0);
        cr_assert_eq(dp_wire_next(&it, &rec), 1);
        int rc = dp_wire_msg_parse(&rec, &msg);
        if (rc == 0) {
            cr_assert_eq(dp_wire_msg_verify(&msg), DC_ESIGNATURE, "byte %zu flipped", i);
        }
        buf[i] ^= 0x20;
    }
}

Test(dp_wire, every_truncation_of_a_frame_is_rejected)
{
    uint8_t buf[DP_WIRE_MTU_DEFAULT];
    size_t len = one_msg_frame(buf, sizeof(buf), 64);
    for (size_t cut = 0; cut < len; cut++) {
        struct dp_wire_iter it;
        int rc = dp_wire_frame_open(&it, buf, cut);
        cr_assert(rc == DC_ETRUNCATED || rc == DC_EMALFORMED, "cut at %zu gave %d", cut, rc);
    }
}

Test(dp_wire, bad_headers_are_rejected_with_their_reason)
{
    uint8_t buf[DP_WIRE_MTU_DEFAULT];
    size_t len = one_msg_frame(buf, sizeof(buf), 10);
    struct dp_wire_iter it;
    uint8_t copy[DP_WIRE_MTU_DEFAULT];
    struct {
        size_t at;
        uint8_t value;
        int rc;
    } cases[] = {
        { 0, 'x', DC_EMALFORMED },   /* magic */
        { 1, 'x', DC_EMALFORMED },   /* magic */
        { 2, 2, DC_EVERSION },       /* frame version */
        { 3, 1, DC_EMALFORMED },     /* frame flags reserved */
        { 5, 0, DC_EMALFORMED },     /* record count 0 */
        { 5, 2, DC_ETRUNCATED },     /* count says 2, one present */
        { 6, 1, DC_EMALFORMED },     /* reserved */
        { 9, 1, DC_EMALFORMED },     /* record flags reserved */
        { 10, 0xff, DC_ETRUNCATED }, /* record length past the end */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(copy, buf, len);
        copy[cases[i].at] = cases[i].value;
        cr_assert_eq(dp_wire_frame_open(&it, copy, len), cases[i].rc, "case %zu", i);
    }
    memcpy(copy, buf, len);
    copy[len] = 0;
    cr_assert_eq(dp_wire_frame_open(&it, copy, len + 1), DC_EMALFORMED, "trailing byte");
}

static int parse_body(uint8_t *body, uint16_t body_len)
{
    struct dp_wire_rec rec = { .type = DP_WIRE_REC_MSG, .body_len = body_len, .body = body };
    struct dp_wire_msg msg;
    return dp_wire_msg_parse(&rec, &msg);
}

Test(dp_wire, bad_message_bodies_are_rejected)
{
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    uint8_t payload[16] = { 0 };
    int n = dp_wire_msg_encode(body, sizeof(body), DP_WIRE_MSG_DIRECT, channel, sk, 1, 2,
                               payload, sizeof(payload));
    cr_assert_gt(n, 0);
    cr_assert_eq(parse_body(body, (uint16_t)n), 0);
    cr_assert_eq(parse_body(body, (uint16_t)(n - 1)), DC_EMALFORMED, "short");
    cr_assert_eq(parse_body(body, DP_WIRE_MSG_BYTES(0) - 1), DC_EMALFORMED, "below minimum");
    body[0] = 2;
    cr_assert_eq(parse_body(body, (uint16_t)n), DC_EVERSION);
    body[0] = DP_WIRE_MSG_VERSION;
    body[1] = 2;
    cr_assert_eq(parse_body(body, (uint16_t)n), DC_EMALFORMED, "unknown kind");
    body[1] = DP_WIRE_MSG_CHANNEL;
    body[2] = 0x04; /* payload length 1040 > 1024 */
    body[3] = 0x10;
    cr_assert_eq(parse_body(body, (uint16_t)n), DC_ETOOBIG);
    struct dp_wire_rec sub = { .type = DP_WIRE_REC_SUBSCRIBE, .body_len = (uint16_t)n,
                               .body = body };
    struct dp_wire_msg msg;
    cr_assert_eq(dp_wire_msg_parse(&sub, &msg), DC_EMALFORMED, "wrong record type");
}

Test(dp_wire, encode_refuses_oversized_payloads_and_small_buffers)
{
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    uint8_t payload[DP_WIRE_PAYLOAD_BYTES_MAX + 1] = { 0 };
    cr_assert_eq(dp_wire_msg_encode(body, sizeof(body), 0, channel, sk, 1, 2, payload,
                                    DP_WIRE_PAYLOAD_BYTES_MAX + 1), DC_ETOOBIG);
    cr_assert_eq(dp_wire_msg_encode(body, DP_WIRE_MSG_BYTES(10) - 1, 0, channel, sk, 1, 2,
                                    payload, 10), DC_ETOOBIG);
    cr_assert_eq(dp_wire_msg_encode(body, sizeof(body), 0, channel, sk, 1, 2, payload,
                                    DP_WIRE_PAYLOAD_BYTES_MAX), (int)DP_WIRE_MSG_BYTES_MAX);
}

Test(dp_wire, subscribe_round_trip_and_bad_bodies)
{
    uint8_t body[DP_WIRE_SUB_BYTES];
    dp_wire_sub_encode(body, DP_WIRE_SUB_FLAG_UNSUBSCRIBE, channel);
    struct dp_wire_rec rec = { .type = DP_WIRE_REC_SUBSCRIBE, .body_len = sizeof(body),
                               .body = body };
    struct dp_wire_sub sub;
    cr_assert_eq(dp_wire_sub_parse(&rec, &sub), 0);
    cr_assert_eq(sub.flags, DP_WIRE_SUB_FLAG_UNSUBSCRIBE);
    cr_assert_eq(memcmp(sub.channel, channel, 32), 0);
    rec.body_len--;
    cr_assert_eq(dp_wire_sub_parse(&rec, &sub), DC_EMALFORMED, "short");
    rec.body_len++;
    body[0] = 9;
    cr_assert_eq(dp_wire_sub_parse(&rec, &sub), DC_EVERSION);
    body[0] = DP_WIRE_SUB_VERSION;
    body[1] = 0x80;
    cr_assert_eq(dp_wire_sub_parse(&rec, &sub), DC_EMALFORMED, "unknown flag");
    body[1] = 0;
    body[3] = 1;
    cr_assert_eq(dp_wire_sub_parse(&rec, &sub), DC_EMALFORMED, "reserved bytes");
}

Test(dp_wire, builder_packs_up_to_the_mtu_and_the_frame_reads_back)
{
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    uint8_t payload[128] = { 0 };
    int n = dp_wire_msg_encode(body, sizeof(body), 0, channel, sk, 1, 2, payload, 128);
    uint8_t buf[DP_WIRE_MTU_DEFAULT];
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, buf, sizeof(buf));
    cr_assert_eq(dp_wire_builder_finish(&b), 0, "an empty frame has no length");
    int added = 0;
    while (dp_wire_builder_add(&b, DP_WIRE_REC_MSG, body, (uint16_t)n) == 0) {
        added++;
    }
    int expect = (DP_WIRE_MTU_DEFAULT - DP_WIRE_FRAME_HDR_BYTES) / (DP_WIRE_REC_HDR_BYTES + n);
    cr_assert_eq(added, expect);
    size_t len = dp_wire_builder_finish(&b);
    cr_assert_leq(len, sizeof(buf));
    struct dp_wire_iter it;
    cr_assert_eq(dp_wire_frame_open(&it, buf, len), 0);
    struct dp_wire_rec rec;
    int seen = 0;
    while (dp_wire_next(&it, &rec)) {
        cr_assert_eq(rec.body_len, n);
        cr_assert_eq(memcmp(rec.body, body, (size_t)n), 0);
        seen++;
    }
    cr_assert_eq(seen, added);
}
