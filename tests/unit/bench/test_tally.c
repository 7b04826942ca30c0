/*
 * bench/tally.c fed synthetic datagrams: real frames of the load's signed messages, and FINAL
 * records built with the wire encoder, checking what counts as final, the finality latency,
 * duplicates, conflicts, foreign ids, FINALs for invalid items, and malformed FINALs (counted,
 * never a crash). Without finality FINAL records stay "other records".
 */
#include "bench/load.h"
#include "bench/tally.h"

#include "dataplane/wire.h"

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define FRAMES_MAX 16
#define SENT_NS 1000000ull /* every frame "sent" at 1 ms */
#define ENTRIES_MAX 64

static struct bench_load load;
static struct bench_tally tally;
static _Atomic uint64_t send_ns[FRAMES_MAX];
static uint8_t dgram[DP_WIRE_FRAME_BYTES_MAX];

static void setup_with(int finality)
{
    struct bench_load_params p = { .valid_count = 40, .invalid_count = 5, .payload_bytes = 40,
                                   .users = 3, .mtu_bytes = 1472, .run_id = 0x5eed,
                                   .ids = 1 };
    cr_assert_eq(bench_load_init(&load, &p), 0);
    cr_assert_leq(load.frame_count, FRAMES_MAX);
    for (uint64_t f = 0; f < load.frame_count; f++) {
        atomic_store(&send_ns[f], SENT_NS);
    }
    cr_assert_eq(bench_tally_init(&tally, &load, send_ns, 0, finality), 0);
}

static void setup(void)
{
    setup_with(1);
}

static void teardown(void)
{
    bench_tally_fini(&tally);
    bench_load_fini(&load);
}

/* The first valid item at or after j. */
static uint64_t valid_from(uint64_t j)
{
    while (bench_load_item_invalid(&load, j)) {
        j++;
    }
    return j;
}

static uint64_t first_valid(void)
{
    return valid_from(0);
}

static uint64_t first_invalid(void)
{
    uint64_t j = 0;
    while (!bench_load_item_invalid(&load, j)) {
        j++;
    }
    return j;
}

/* Delivers frame f exactly as sent. */
static void deliver_frame(uint64_t f, uint64_t now_ns)
{
    for (uint64_t d = 0; d < load.dgram_count; d++) {
        size_t len = 0;
        uint64_t frame = 0;
        const uint8_t *buf = bench_load_dgram(&load, d, &len, &frame);
        if (frame == f) {
            bench_tally_datagram(&tally, buf, len, now_ns);
            return;
        }
    }
    cr_assert_fail("frame %llu is not in the load", (unsigned long long)f);
}

struct entry {
    uint32_t index;
    const uint8_t *id;
};

/* Adds one FINAL record at `height` with `count` entries to the builder. */
static void add_final(struct dp_wire_builder *b, uint64_t height, const struct entry *e,
                      uint16_t count)
{
    uint8_t body[DP_WIRE_FINAL_HDR_BYTES + ENTRIES_MAX * DP_WIRE_FINAL_ENTRY_BYTES];
    static const uint8_t hash[DP_WIRE_HASH_BYTES] = { 0xab };
    cr_assert_leq(count, ENTRIES_MAX);
    dp_wire_final_encode_header(body, height, hash, count);
    for (uint16_t i = 0; i < count; i++) {
        dp_wire_final_encode_entry(body + DP_WIRE_FINAL_HDR_BYTES +
                                       (size_t)i * DP_WIRE_FINAL_ENTRY_BYTES,
                                   e[i].index, e[i].id);
    }
    size_t len = DP_WIRE_FINAL_HDR_BYTES + (size_t)count * DP_WIRE_FINAL_ENTRY_BYTES;
    cr_assert_eq(dp_wire_builder_add(b, DP_WIRE_REC_FINAL, body, (uint16_t)len), 0);
}

/* One datagram holding one FINAL record naming items[0..count) at indexes 0.. */
static void send_final(uint64_t height, const uint64_t *items, uint16_t count, uint64_t now_ns)
{
    struct entry e[ENTRIES_MAX];
    struct dp_wire_builder b;
    for (uint16_t i = 0; i < count; i++) {
        e[i] = (struct entry){ i, bench_load_item_id(&load, items[i]) };
    }
    dp_wire_builder_init(&b, dgram, sizeof(dgram));
    add_final(&b, height, e, count);
    bench_tally_datagram(&tally, dgram, dp_wire_builder_finish(&b), now_ns);
}

static uint64_t get(_Atomic uint64_t *counter)
{
    return atomic_load(counter);
}

TestSuite(bench_tally, .init = setup, .fini = teardown);

Test(bench_load, every_id_is_found_and_a_foreign_one_is_not, .init = setup, .fini = teardown)
{
    for (uint64_t j = 0; j < load.item_count; j++) {
        cr_assert_eq(bench_load_find_id(&load, bench_load_item_id(&load, j)), j);
    }
    uint8_t other[DP_WIRE_ID_BYTES];
    memcpy(other, bench_load_item_id(&load, 3), sizeof(other));
    other[31] ^= 1; /* same key bytes, another id: the full compare must tell them apart */
    cr_assert_eq(bench_load_find_id(&load, other), UINT64_MAX);
    memset(other, 0, sizeof(other));
    cr_assert_eq(bench_load_find_id(&load, other), UINT64_MAX);
}

Test(bench_load, id_is_blake2b_of_the_signature_as_sent, .init = setup, .fini = teardown)
{
    uint64_t items[] = { first_valid(), first_invalid() };
    for (size_t k = 0; k < 2; k++) {
        struct dp_wire_rec rec = { DP_WIRE_REC_MSG, (uint16_t)load.msg_bytes,
                                   bench_load_item_body(&load, items[k]) };
        struct dp_wire_msg msg;
        uint8_t id[DP_WIRE_ID_BYTES];
        cr_assert_eq(dp_wire_msg_parse(&rec, &msg), 0);
        dp_wire_msg_id(&msg, id);
        cr_assert_arr_eq(id, bench_load_item_id(&load, items[k]), DP_WIRE_ID_BYTES);
    }
}

Test(bench_tally, final_after_delivery_counts_with_its_latency)
{
    deliver_frame(0, SENT_NS + 1000000);
    uint32_t in_frame = bench_load_frame_items(&load, 0) - bench_load_frame_invalid(&load, 0);
    cr_assert_eq(get(&tally.delivered), in_frame);
    uint64_t items[ENTRIES_MAX];
    uint16_t n = 0;
    for (uint64_t j = 0; j < load.per_frame; j++) {
        if (!bench_load_item_invalid(&load, j)) {
            items[n++] = j;
        }
    }
    send_final(7, items, n, SENT_NS + 5000000); /* 5 ms after the send */
    cr_assert_eq(get(&tally.final), n);
    cr_assert_eq(get(&tally.final_delivered), n);
    cr_assert_eq(get(&tally.final_last_ns), SENT_NS + 5000000);
    cr_assert_eq(tally.fin_lat_count, n);
    cr_assert_eq(get(&tally.other_records), 0, "a FINAL is not an 'other record' here");
    struct bench_latency lat;
    bench_tally_finality(&tally, &lat);
    cr_assert_eq(lat.p50_us, 5000);
    cr_assert_eq(lat.max_us, 5000);
    cr_assert_eq(tally.fin_height[items[0]], 7);
    cr_assert_eq(tally.fin_index[items[1]], 1);
}

Test(bench_tally, final_before_delivery_and_without_delivery_counts)
{
    uint64_t a = valid_from(load.per_frame); /* two valid items of frame 1 */
    uint64_t b = valid_from(a + 1);
    cr_assert_lt(b, 2 * (uint64_t)load.per_frame);
    uint64_t items[] = { a, b };
    send_final(3, items, 2, SENT_NS + 2000000);
    cr_assert_eq(get(&tally.final), 2, "final although the MSG never arrived");
    cr_assert_eq(get(&tally.final_delivered), 0);
    deliver_frame(1, SENT_NS + 3000000);
    cr_assert_eq(get(&tally.final_delivered), 2, "the late MSG finds its FINAL");
    cr_assert_eq(get(&tally.delivered), bench_load_frame_items(&load, 1) -
                                            bench_load_frame_invalid(&load, 1));
}

Test(bench_tally, finality_latency_percentiles_over_samples)
{
    uint64_t item = 0;
    for (uint64_t k = 0; k < 10; k++) { /* the k-th valid item final (k + 1) ms after */
        item = valid_from(k == 0 ? 0 : item + 1);
        send_final(100 + k, &item, 1, SENT_NS + (k + 1) * 1000000);
    }
    cr_assert_eq(get(&tally.final), 10);
    struct bench_latency lat;
    bench_tally_finality(&tally, &lat);
    cr_assert_eq(lat.p50_us, 5000); /* samples 1000..10000: the 5th of 10 */
    cr_assert_eq(lat.p99_us, 9000);
    cr_assert_eq(lat.max_us, 10000);
}

Test(bench_tally, duplicate_same_position_and_conflict_other_position)
{
    uint64_t item = first_valid();
    struct entry e = { 4, bench_load_item_id(&load, item) };
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, dgram, sizeof(dgram));
    add_final(&b, 9, &e, 1);
    add_final(&b, 9, &e, 1); /* the same position again: harmless */
    bench_tally_datagram(&tally, dgram, dp_wire_builder_finish(&b), SENT_NS + 1000);
    cr_assert_eq(get(&tally.final), 1);
    cr_assert_eq(get(&tally.final_duplicates), 1);
    cr_assert_eq(get(&tally.final_conflicts), 0);

    e.index = 5; /* same height, another index */
    dp_wire_builder_init(&b, dgram, sizeof(dgram));
    add_final(&b, 9, &e, 1);
    e.index = 4; /* another height, same index */
    add_final(&b, 10, &e, 1);
    bench_tally_datagram(&tally, dgram, dp_wire_builder_finish(&b), SENT_NS + 2000);
    cr_assert_eq(get(&tally.final), 1, "a conflict does not make it final twice");
    cr_assert_eq(get(&tally.final_conflicts), 2);
    cr_assert_eq(get(&tally.final_duplicates), 1);
    cr_assert_eq(tally.first_conflict.item, item);
    cr_assert_eq(tally.first_conflict.height_first, 9);
    cr_assert_eq(tally.first_conflict.index_first, 4);
    cr_assert_eq(tally.first_conflict.height_then, 9);
    cr_assert_eq(tally.first_conflict.index_then, 5);
    cr_assert_eq(tally.fin_lat_count, 1);
}

Test(bench_tally, foreign_and_invalid_ids_are_counted_apart)
{
    uint8_t foreign[DP_WIRE_ID_BYTES];
    memset(foreign, 0x5a, sizeof(foreign));
    struct entry e[3] = { { 0, foreign }, { 1, bench_load_item_id(&load, first_invalid()) },
                          { 2, bench_load_item_id(&load, first_valid()) } };
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, dgram, sizeof(dgram));
    add_final(&b, 1, e, 3);
    bench_tally_datagram(&tally, dgram, dp_wire_builder_finish(&b), SENT_NS + 1000);
    cr_assert_eq(get(&tally.final_foreign), 1);
    cr_assert_eq(get(&tally.final_invalid), 1, "an item signed wrongly was ordered");
    cr_assert_eq(get(&tally.final), 1);
    cr_assert_eq(tally.fin_lat_count, 1);
}

/* A frame with one record of type FINAL and this body. */
static size_t final_frame(const uint8_t *body, uint16_t body_len)
{
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, dgram, sizeof(dgram));
    cr_assert_eq(dp_wire_builder_add(&b, DP_WIRE_REC_FINAL, body, body_len), 0);
    return dp_wire_builder_finish(&b);
}

Test(bench_tally, malformed_final_is_counted_never_trusted)
{
    uint8_t body[DP_WIRE_FINAL_HDR_BYTES + 2 * DP_WIRE_FINAL_ENTRY_BYTES];
    static const uint8_t hash[DP_WIRE_HASH_BYTES];
    const uint8_t *id = bench_load_item_id(&load, first_valid());
    dp_wire_final_encode_header(body, 1, hash, 0); /* count 0 */
    bench_tally_datagram(&tally, dgram, final_frame(body, DP_WIRE_FINAL_HDR_BYTES), 5);
    cr_assert_eq(get(&tally.final_malformed), 1);

    dp_wire_final_encode_header(body, 1, hash, 2); /* says 2 entries, holds 1 */
    dp_wire_final_encode_entry(body + DP_WIRE_FINAL_HDR_BYTES, 0, id);
    bench_tally_datagram(&tally, dgram,
                         final_frame(body, DP_WIRE_FINAL_HDR_BYTES + DP_WIRE_FINAL_ENTRY_BYTES),
                         5);
    cr_assert_eq(get(&tally.final_malformed), 2);

    dp_wire_final_encode_header(body, 1, hash, 1); /* says 1, holds 2 */
    bench_tally_datagram(&tally, dgram, final_frame(body, sizeof(body)), 5);
    cr_assert_eq(get(&tally.final_malformed), 3);

    bench_tally_datagram(&tally, dgram, final_frame(body, 10), 5); /* shorter than a header */
    cr_assert_eq(get(&tally.final_malformed), 4);

    dp_wire_final_encode_header(body, 1, hash, 1);
    body[0] = 2; /* a version we do not speak */
    bench_tally_datagram(&tally, dgram,
                         final_frame(body, DP_WIRE_FINAL_HDR_BYTES + DP_WIRE_FINAL_ENTRY_BYTES),
                         5);
    cr_assert_eq(get(&tally.final_malformed), 5);

    body[0] = DP_WIRE_FINAL_VERSION; /* a good record, cut short on the wire */
    size_t len = final_frame(body, DP_WIRE_FINAL_HDR_BYTES + DP_WIRE_FINAL_ENTRY_BYTES);
    bench_tally_datagram(&tally, dgram, len - 1, 5);
    cr_assert_eq(get(&tally.invalid_delivered), 1, "a frame that does not parse");
    cr_assert_eq(get(&tally.final), 0, "nothing malformed made anything final");

    bench_tally_datagram(&tally, dgram, len, 5); /* and whole, it counts */
    cr_assert_eq(get(&tally.final), 1);
}

Test(bench_tally, msg_and_final_in_one_datagram)
{
    uint64_t item = first_valid();
    struct entry e = { 0, bench_load_item_id(&load, item) };
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, dgram, sizeof(dgram));
    cr_assert_eq(dp_wire_builder_add(&b, DP_WIRE_REC_MSG, bench_load_item_body(&load, item),
                                     (uint16_t)load.msg_bytes),
                 0);
    add_final(&b, 2, &e, 1);
    bench_tally_datagram(&tally, dgram, dp_wire_builder_finish(&b), SENT_NS + 1000);
    cr_assert_eq(get(&tally.delivered), 1);
    cr_assert_eq(get(&tally.final), 1);
    cr_assert_eq(get(&tally.final_delivered), 1);
}

static void setup_off(void)
{
    setup_with(0);
}

/* A suite of its own: a test's .init runs after its suite's, so here it would load twice. */
Test(bench_tally_off, without_finality_final_is_an_other_record, .init = setup_off,
     .fini = teardown)
{
    cr_assert_null(tally.fin_seen);
    uint64_t item = first_valid();
    send_final(1, &item, 1, SENT_NS + 1000);
    cr_assert_eq(get(&tally.other_records), 1);
    cr_assert_eq(get(&tally.final), 0);
    cr_assert_eq(get(&tally.final_malformed), 0);
}
