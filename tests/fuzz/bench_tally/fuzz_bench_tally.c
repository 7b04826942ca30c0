/*
 * libFuzzer target for dchat-bench's receive side (bench/tally.c): everything a relay, or
 * anyone, can send to the bench's subscriber socket. Input byte 0 picks the mode: even, the
 * rest of the input is one datagram as is; odd, it is XORed over a real frame of signed bench
 * messages, so mutations reach the byte-for-byte comparison with what was sent. Whatever
 * arrives, the counts stay within the load (each item is delivered at most once) and nothing
 * is read or written out of bounds.
 */
#include "bench/load.h"
#include "bench/tally.h"

#include "common/dc_assert.h"

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
    } else {
        memcpy(dgram, data + 1, len);
    }
    bench_tally_datagram(&tally, dgram, len, 1000000);
    DC_ASSERT(atomic_load(&tally.delivered) <= load.item_count);
    DC_ASSERT(tally.lat_count <= load.item_count);
    return 0;
}
