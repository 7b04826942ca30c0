/*
 * libFuzzer target for consensus/frag: the input is a stream of records, each a 2-byte
 * little-endian length and a body. A PART body is fed to validator A's reassembly, a
 * PART_REQUEST body is answered by A and the answer fed to validator B, and any other body
 * is taken as an encoded message that A sends: its parts must put it back together exactly
 * in a fresh receiver, whatever the order. Between records A polls for due requests, which
 * B answers back. Checked throughout: the codecs are canonical (decode then encode gives
 * the same bytes), every part fits a record, and a completed message always hashes to its
 * root, so no input makes the module hand out bytes other than those the root names.
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/frag.h"

#define MSG_MAX 16384u
#define ARENA_BYTES (1u << 20)
#define REQS 8

static struct cons_frag frag_a, frag_b, frag_c;
static uint8_t arena_a[ARENA_BYTES] __attribute__((aligned(8)));
static uint8_t arena_b[ARENA_BYTES] __attribute__((aligned(8)));
static uint8_t arena_c[ARENA_BYTES] __attribute__((aligned(8)));
static uint8_t out[CONS_FRAG_RECORD_BYTES_MAX];
static uint8_t parts[CONS_FRAG_PARTS_MAX][CONS_FRAG_RECORD_BYTES_MAX];
static size_t part_lens[CONS_FRAG_PARTS_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(struct cons_frag *frag, uint16_t self, uint8_t *arena)
{
    struct cons_frag_config cfg = {
        .self = self, .validator_count = 4, .msg_bytes_max = MSG_MAX, .slots_per_origin = 2,
        .cache_count = 2, .request_after_ticks = 3, .request_retry_ticks = 5,
        .request_tries_max = 4,
    };
    DC_ASSERT(cons_frag_mem_size(&cfg) <= ARENA_BYTES);
    DC_ASSERT(cons_frag_init(frag, &cfg, arena, ARENA_BYTES) == 0);
}

static void check_done(const struct cons_frag_done *done)
{
    uint8_t root[CONS_HASH_BYTES];
    if (done->msg == NULL) {
        return;
    }
    DC_ASSERT(done->len >= 1 && done->len <= MSG_MAX);
    crypto_generichash(root, sizeof(root), done->msg, done->len, NULL, 0);
    DC_ASSERT(memcmp(root, done->root, CONS_HASH_BYTES) == 0);
}

static void feed_checked(struct cons_frag *frag, const uint8_t *body, size_t len, uint64_t now)
{
    struct cons_frag_part part;
    struct cons_frag_done done;
    if (cons_frag_part_decode(body, len, &part) == 0) {
        DC_ASSERT(len <= CONS_FRAG_RECORD_BYTES_MAX);
        DC_ASSERT(cons_frag_part_encode(&part, out, sizeof(out)) == len);
        DC_ASSERT(memcmp(out, body, len) == 0);
    }
    (void)cons_frag_feed(frag, body, len, now, &done);
    check_done(&done);
}

/* `from` answers a request; every part of the answer goes to `to`. */
static void answer(struct cons_frag *from, struct cons_frag *to, const uint8_t *body,
                   size_t len, uint64_t now)
{
    struct cons_frag_want want;
    struct cons_frag_iter it;
    uint8_t reenc[CONS_FRAG_REQUEST_BYTES_MAX];
    size_t n;
    if (cons_frag_request_decode(body, len, &want) == 0) {
        DC_ASSERT(cons_frag_request_encode(&want, reenc, sizeof(reenc)) == len);
        DC_ASSERT(memcmp(reenc, body, len) == 0);
    }
    if (cons_frag_answer(from, body, len, &it) != 0) {
        DC_ASSERT(cons_frag_iter_next(&it, out, sizeof(out)) == 0);
        return;
    }
    while ((n = cons_frag_iter_next(&it, parts[0], sizeof(parts[0]))) > 0) {
        feed_checked(to, parts[0], n, now);
    }
}

/* A sends `msg`; its parts, last first, rebuild exactly `msg` in a fresh receiver. */
static void send_and_rebuild(const uint8_t *msg, size_t len, uint64_t now)
{
    struct cons_frag_iter it;
    struct cons_frag_done done = { 0 };
    uint32_t count = 0;
    size_t n;
    if (cons_frag_send(&frag_a, msg, len, &it) != 0) {
        DC_ASSERT(len == 0 || len > MSG_MAX);
        return;
    }
    while ((n = cons_frag_iter_next(&it, parts[count], sizeof(parts[count]))) > 0) {
        part_lens[count++] = n;
    }
    DC_ASSERT(count == cons_frag_part_count((uint32_t)len));
    setup(&frag_c, 1, arena_c);
    for (uint32_t i = count; i-- > 0;) {
        DC_ASSERT(cons_frag_feed(&frag_c, parts[i], part_lens[i], now, &done) == 0);
        DC_ASSERT((done.msg != NULL) == (i == 0));
    }
    DC_ASSERT(done.len == len && memcmp(done.msg, msg, len) == 0);
}

static void poll_and_answer(uint64_t now)
{
    static struct cons_frag_request reqs[REQS];
    uint32_t n = cons_frag_poll(&frag_a, now, reqs, REQS);
    DC_ASSERT(n <= REQS);
    for (uint32_t i = 0; i < n; i++) {
        struct cons_frag_want want;
        DC_ASSERT(cons_frag_request_decode(reqs[i].body, reqs[i].body_len, &want) == 0);
        DC_ASSERT(want.requester == 0 && want.origin == reqs[i].origin);
        answer(&frag_b, &frag_a, reqs[i].body, reqs[i].body_len, now);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    uint64_t now = 0;
    if (!ready) {
        DC_ASSERT(sodium_init() >= 0);
        ready = 1;
    }
    setup(&frag_a, 0, arena_a);
    setup(&frag_b, 1, arena_b);
    while (size >= 2) {
        size_t len = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        len = len < size ? len : size;
        now += 2;
        if (len > 0 && data[0] == CONS_MSG_PART) {
            feed_checked(&frag_a, data, len, now);
        } else if (len > 0 && data[0] == CONS_MSG_PART_REQUEST) {
            answer(&frag_a, &frag_b, data, len, now);
        } else {
            send_and_rebuild(data, len, now);
        }
        poll_and_answer(now);
        data += len;
        size -= len;
    }
    return 0;
}
