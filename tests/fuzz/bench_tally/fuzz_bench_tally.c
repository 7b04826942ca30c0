/*
 * libFuzzer target for dchat-bench's receive side (bench/tally.c), finality on: everything a
 * relay, or anyone, can send to the bench's subscriber socket. Input byte 0 picks the mode:
 * 0 mod 4, the rest of the input is one datagram as is; odd, it is XORed over a real frame of
 * signed bench messages, so mutations reach the byte-for-byte comparison with what was sent;
 * 2 mod 4, it describes FINAL records naming real item ids (which change every run: the
 * messages carry the signing time), so the id index, duplicates and conflicts are reached.
 * Whatever arrives, the counts stay within the load (each item is delivered and made final at
 * most once) and nothing is read or written out of bounds.
 */
#include "bench/load.h"
#include "bench/tally.h"

#include "common/dc_assert.h"
#include "dataplane/wire.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define FRAMES_MAX 64

static struct bench_load load;
static struct bench_tally tally;
static _Atomic uint64_t send_ns[FRAMES_MAX];
static uint8_t dgram[65536];

static void setup(void)
{
    struct bench_load_params p = { .valid_count = 20, .invalid_count = 5, .garbage_count = 4,
                                   .payload_bytes = 40, .users = 3, .mtu_bytes = 1472,
                                   .run_id = 0x1234, .ids = 1 };
    DC_ASSERT(bench_load_init(&load, &p) == 0);
    DC_ASSERT(load.frame_count <= FRAMES_MAX);
    for (uint64_t f = 0; f < load.frame_count; f++) {
        atomic_store(&send_ns[f], 1); /* "sent" at t=1 ns, so latency is sampled */
    }
    DC_ASSERT(bench_tally_init(&tally, &load, send_ns, 0, 1) == 0);
}

/*
 * Mode 2: data[0..size) is a list of 3-byte entries (height, index, item); an item byte past
 * the load names an id made from the entry's bytes (foreign). Consecutive entries of the same
 * height share one FINAL record. Returns the datagram's length.
 */
static size_t final_dgram(const uint8_t *data, size_t size)
{
    struct dp_wire_builder b;
    uint8_t body[DP_WIRE_FINAL_HDR_BYTES + DP_WIRE_FINAL_ENTRIES_MAX * DP_WIRE_FINAL_ENTRY_BYTES];
    static const uint8_t hash[DP_WIRE_HASH_BYTES];
    dp_wire_builder_init(&b, dgram, DP_WIRE_MTU_DEFAULT);
    size_t e = 0;
    while (e + 3 <= size) {
        uint8_t height = data[e];
        uint16_t count = 0;
        for (; e + 3 <= size && data[e] == height && count < DP_WIRE_FINAL_ENTRIES_MAX;
             e += 3) {
            uint8_t foreign[DP_WIRE_ID_BYTES];
            memset(foreign, data[e + 1], sizeof(foreign));
            foreign[0] = data[e + 2];
            const uint8_t *id = data[e + 2] < load.item_count
                                    ? bench_load_item_id(&load, data[e + 2]) : foreign;
            dp_wire_final_encode_entry(body + DP_WIRE_FINAL_HDR_BYTES +
                                           (size_t)count++ * DP_WIRE_FINAL_ENTRY_BYTES,
                                       data[e + 1], id);
        }
        dp_wire_final_encode_header(body, height, hash, count);
        size_t len = DP_WIRE_FINAL_HDR_BYTES + (size_t)count * DP_WIRE_FINAL_ENTRY_BYTES;
        if (dp_wire_builder_add(&b, DP_WIRE_REC_FINAL, body, (uint16_t)len) != 0) {
            break;
        }
    }
    return dp_wire_builder_finish(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (load.item_count == 0) {
        setup();
    }
    if (size == 0) {
        return 0;
    }
    size_t len = size - 1;
    if (data[0] & 1) {
        uint64_t frame = 0;
        const uint8_t *real = bench_load_dgram(&load, data[0] / 2 % load.dgram_count, &len,
                                               &frame);
        memcpy(dgram, real, len);
        for (size_t i = 1; i < size && i - 1 < len; i++) {
            dgram[i - 1] ^= data[i];
        }
    } else if (data[0] % 4 == 2) {
        len = final_dgram(data + 1, size - 1);
        if (len == 0) {
            return 0;
        }
    } else {
        memcpy(dgram, data + 1, len);
    }
    bench_tally_datagram(&tally, dgram, len, 1000000);
    DC_ASSERT(atomic_load(&tally.delivered) <= load.item_count);
    DC_ASSERT(tally.lat_count <= load.item_count);
    DC_ASSERT(atomic_load(&tally.final) + atomic_load(&tally.final_invalid) <= load.item_count);
    DC_ASSERT(atomic_load(&tally.final_delivered) <= atomic_load(&tally.delivered));
    DC_ASSERT(tally.fin_lat_count <= atomic_load(&tally.final));
    return 0;
}
