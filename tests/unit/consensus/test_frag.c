/*
 * cons_frag: messages cut into parts and put back together, whatever the order, the losses
 * and the duplicates; every rejection; equivocating origins; bounded slots; part requests
 * answered by the origin or by another validator; a real 10,000-id proposal end to end.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/frag.h"
#include "consensus/msg.h"

#define VALIDATORS 4
#define REQS_MAX 16

/* Test-only PRNG (splitmix64): one seed replays a run. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint32_t n)
{
    return (uint32_t)(rng() % n);
}

/* Every part of one message, as record bodies. */
struct parts {
    uint32_t count;
    size_t len[CONS_FRAG_PARTS_MAX];
    uint8_t body[CONS_FRAG_PARTS_MAX][CONS_FRAG_RECORD_BYTES_MAX];
};

static struct parts parts_a, parts_b;
static uint8_t msg_a[CONS_FRAG_MSG_BYTES_MAX], msg_b[CONS_FRAG_MSG_BYTES_MAX];

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
}

TestSuite(frag, .init = setup);

static struct cons_frag_config config(uint16_t self)
{
    struct cons_frag_config cfg = {
        .self = self, .validator_count = VALIDATORS, .msg_bytes_max = CONS_FRAG_MSG_BYTES_MAX,
        .slots_per_origin = 2, .cache_count = 4, .request_after_ticks = 10,
        .request_retry_ticks = 20, .request_tries_max = 50,
    };
    return cfg;
}

static void *frag_make(struct cons_frag *frag, const struct cons_frag_config *cfg)
{
    size_t size = cons_frag_mem_size(cfg);
    cr_assert_gt(size, 0);
    void *mem = aligned_alloc(8, (size + 7) & ~(size_t)7);
    cr_assert_not_null(mem);
    cr_assert_eq(cons_frag_init(frag, cfg, mem, size), 0);
    return mem;
}

static void fill(uint8_t *msg, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        msg[i] = (uint8_t)rng();
    }
}

static void drain(struct cons_frag_iter *it, struct parts *out)
{
    size_t n;
    out->count = 0;
    while ((n = cons_frag_iter_next(it, out->body[out->count], CONS_FRAG_RECORD_BYTES_MAX)) > 0) {
        cr_assert_leq(n, CONS_FRAG_RECORD_BYTES_MAX);
        out->len[out->count++] = n;
        cr_assert_leq(out->count, CONS_FRAG_PARTS_MAX);
    }
}

static void split(const uint8_t *msg, size_t len, uint16_t origin, struct parts *out)
{
    struct cons_frag_iter it;
    cr_assert_eq(cons_frag_split(msg, len, origin, &it), 0);
    drain(&it, out);
    cr_assert_eq(out->count, cons_frag_part_count((uint32_t)len));
}

static void shuffle(uint32_t *order, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        order[i] = i;
    }
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng_below(i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* Counters add up: every body fed ends in exactly one outcome. */
static void assert_stats_consistent(const struct cons_frag *frag)
{
    const struct cons_frag_stats *s = &frag->stats;
    cr_assert_eq(s->parts_in,
                 s->parts_accepted + s->parts_duplicate + s->parts_malformed + s->parts_conflict);
}

/* Feed `p` in a random order; the last new part completes the message, none before it. */
static struct cons_frag_done feed_shuffled(struct cons_frag *rx, const struct parts *p,
                                           const uint8_t *msg, size_t len)
{
    uint32_t order[CONS_FRAG_PARTS_MAX];
    struct cons_frag_done done;
    shuffle(order, p->count);
    for (uint32_t k = 0; k < p->count; k++) {
        cr_assert_eq(cons_frag_feed(rx, p->body[order[k]], p->len[order[k]], 1, &done), 0);
        if (k + 1 < p->count) {
            cr_assert_null(done.msg);
        }
    }
    cr_assert_not_null(done.msg);
    cr_assert_eq(done.len, len);
    cr_assert_eq(memcmp(done.msg, msg, len), 0);
    return done;
}

Test(frag, needed_and_counts)
{
    cr_assert_not(cons_frag_needed(CONS_FRAG_RECORD_BYTES_MAX));
    cr_assert(cons_frag_needed(CONS_FRAG_RECORD_BYTES_MAX + 1));
    cr_assert_eq(cons_frag_part_count(1), 1);
    cr_assert_eq(cons_frag_part_count(CONS_FRAG_DATA_BYTES_MAX), 1);
    cr_assert_eq(cons_frag_part_count(CONS_FRAG_DATA_BYTES_MAX + 1), 2);
    cr_assert_leq(cons_frag_part_count(CONS_FRAG_MSG_BYTES_MAX), CONS_FRAG_PARTS_MAX);
    /* The largest message: a 10,240-id sync block with 64 signatures. */
    cr_assert_eq(CONS_FRAG_MSG_BYTES_MAX, 332107);
}

Test(frag, round_trip_every_size)
{
    static const size_t sizes[] = {
        1, 2, 100, CONS_FRAG_DATA_BYTES_MAX, CONS_FRAG_DATA_BYTES_MAX + 1,
        CONS_FRAG_RECORD_BYTES_MAX, CONS_FRAG_RECORD_BYTES_MAX + 1, 2 * CONS_FRAG_DATA_BYTES_MAX,
        2 * CONS_FRAG_DATA_BYTES_MAX + 1, 10000, 65536, 200000, 330000,
        CONS_FRAG_MSG_BYTES_MAX - 1, CONS_FRAG_MSG_BYTES_MAX,
    };
    struct cons_frag rx;
    struct cons_frag_config cfg = config(1);
    void *mem = frag_make(&rx, &cfg);
    rng_state = 1;
    for (size_t s = 0; s < DC_ARRAY_LEN(sizes); s++) {
        fill(msg_a, sizes[s]);
        split(msg_a, sizes[s], (uint16_t)(s % 2 == 0 ? 0 : 3), &parts_a);
        for (uint32_t i = 0; i + 1 < parts_a.count; i++) {
            cr_assert_eq(parts_a.len[i], parts_a.len[0]); /* all but the last are equal */
        }
        feed_shuffled(&rx, &parts_a, msg_a, sizes[s]);
    }
    for (size_t len = 1; len < 5 * CONS_FRAG_DATA_BYTES_MAX; len += 97) {
        fill(msg_a, len);
        split(msg_a, len, 0, &parts_a);
        feed_shuffled(&rx, &parts_a, msg_a, len);
    }
    struct cons_frag_iter it;
    cr_assert_eq(cons_frag_split(msg_a, CONS_FRAG_MSG_BYTES_MAX + 1, 0, &it), DC_ETOOBIG);
    cr_assert_eq(cons_frag_split(msg_a, 0, 0, &it), DC_EMALFORMED);
    cr_assert_eq(cons_frag_iter_next(&it, parts_a.body[0], CONS_FRAG_RECORD_BYTES_MAX), 0);
    assert_stats_consistent(&rx);
    cr_assert_eq(rx.stats.parts_duplicate, 0);
    cr_assert_eq(rx.stats.msgs_root_mismatch, 0);
    free(mem);
}

/* Deliver the bodies of `p` to `rx` with loss and duplicates; 1 if one completed `msg`. */
static int deliver_lossy(struct cons_frag *rx, const struct parts *p, uint64_t now,
                         const uint8_t *msg, size_t len)
{
    uint32_t order[CONS_FRAG_PARTS_MAX];
    struct cons_frag_done done;
    int completed = 0;
    shuffle(order, p->count);
    for (uint32_t k = 0; k < p->count; k++) {
        uint32_t copies = rng_below(10) < 3 ? 0 : (rng_below(10) < 2 ? 2 : 1);
        for (uint32_t c = 0; c < copies; c++) {
            int rc = cons_frag_feed(rx, p->body[order[k]], p->len[order[k]], now, &done);
            cr_assert(rc == 0 || rc == DC_EDUPLICATE, "rc %d", rc);
            if (done.msg != NULL) {
                cr_assert_not(completed);
                cr_assert_eq(done.len, len);
                cr_assert_eq(memcmp(done.msg, msg, len), 0);
                completed = 1;
            }
        }
    }
    return completed;
}

Test(frag, shuffles_losses_duplicates_and_requests)
{
    struct cons_frag tx, rx;
    struct cons_frag_config tx_cfg = config(0), rx_cfg = config(2);
    void *tx_mem = frag_make(&tx, &tx_cfg), *rx_mem = frag_make(&rx, &rx_cfg);
    struct cons_frag_request reqs[REQS_MAX];
    for (uint64_t seed = 1; seed <= 150; seed++) {
        rng_state = seed;
        size_t len = CONS_FRAG_RECORD_BYTES_MAX + 1 + rng_below(120000);
        fill(msg_a, len);
        struct cons_frag_iter it;
        cr_assert_eq(cons_frag_send(&tx, msg_a, len, &it), 0);
        drain(&it, &parts_a);
        uint64_t now = seed * 100000;
        int completed = deliver_lossy(&rx, &parts_a, now, msg_a, len);
        for (int round = 0; !completed; round++) {
            cr_assert_lt(round, 40, "seed %llu never completed", (unsigned long long)seed);
            now += 25;
            uint32_t n = cons_frag_poll(&rx, now, reqs, REQS_MAX);
            cr_assert_leq(n, 1);
            for (uint32_t r = 0; r < n; r++) {
                cr_assert_eq(reqs[r].origin, 0);
                cr_assert_eq(cons_frag_answer(&tx, reqs[r].body, reqs[r].body_len, &it), 0);
                cr_assert_eq(it.to, 2);
                drain(&it, &parts_b);
                cr_assert_eq(parts_b.count, reqs[r].missing_count);
                completed = deliver_lossy(&rx, &parts_b, now, msg_a, len);
            }
        }
        /* Complete: nothing more to ask for; a late copy is a duplicate, not a second hand-out. */
        cr_assert_eq(cons_frag_poll(&rx, now + 1000, reqs, REQS_MAX), 0);
        struct cons_frag_done done;
        cr_assert_eq(cons_frag_feed(&rx, parts_a.body[0], parts_a.len[0], now, &done),
                     DC_EDUPLICATE);
        cr_assert_null(done.msg);
    }
    cr_assert_eq(rx.stats.msgs_complete, 150);
    cr_assert_eq(rx.stats.msgs_root_mismatch, 0);
    cr_assert_gt(rx.stats.parts_duplicate, 0);
    cr_assert_gt(rx.stats.requests_out, 0);
    cr_assert_eq(tx.stats.requests_answered, rx.stats.requests_out);
    assert_stats_consistent(&rx);
    free(tx_mem);
    free(rx_mem);
}

/* A part of message `data` stamped with another message's root and length. */
static size_t forge(uint8_t *out, const uint8_t root[CONS_HASH_BYTES], const uint8_t *data,
                    uint32_t total_len, uint16_t index, uint16_t origin)
{
    struct cons_frag_part part = {
        .total_len = total_len, .index = index, .count = cons_frag_part_count(total_len),
        .origin = origin,
    };
    memcpy(part.root, root, CONS_HASH_BYTES);
    part.data_len = (uint16_t)(index + 1 < part.count ? CONS_FRAG_DATA_BYTES_MAX
                                                      : total_len - index *
                                                                    CONS_FRAG_DATA_BYTES_MAX);
    part.data = data + (size_t)index * CONS_FRAG_DATA_BYTES_MAX;
    return cons_frag_part_encode(&part, out, CONS_FRAG_RECORD_BYTES_MAX);
}

Test(frag, equivocating_origin_never_yields_a_wrong_message)
{
    struct cons_frag rx;
    struct cons_frag_config cfg = config(1);
    void *mem = frag_make(&rx, &cfg);
    struct cons_frag_done done;
    struct cons_frag_part pa;
    uint8_t body[CONS_FRAG_RECORD_BYTES_MAX];
    const uint32_t len = 5 * CONS_FRAG_DATA_BYTES_MAX; /* every part full: forge() is simple */
    rng_state = 7;
    fill(msg_a, len);
    memcpy(msg_b, msg_a, len);
    msg_b[3 * CONS_FRAG_DATA_BYTES_MAX + 5] ^= 0x40; /* B differs from A in part 3 only */
    split(msg_a, len, 3, &parts_a);
    cr_assert_eq(cons_frag_part_decode(parts_a.body[0], parts_a.len[0], &pa), 0);
    /* Parts mixed from two messages under A's root: all in, root mismatch, nothing out. */
    for (uint16_t i = 0; i < 5; i++) {
        const uint8_t *src = i == 3 ? msg_b : msg_a;
        size_t n = forge(body, pa.root, src, len, i, 3);
        int rc = cons_frag_feed(&rx, body, n, 5, &done);
        cr_assert_eq(rc, i == 4 ? DC_ECORRUPT : 0);
        cr_assert_null(done.msg);
    }
    cr_assert_eq(rx.stats.msgs_root_mismatch, 1);
    /* B entirely, claiming A's root: also a mismatch. */
    for (uint16_t i = 0; i < 5; i++) {
        size_t n = forge(body, pa.root, msg_b, len, i, 3);
        cr_assert_eq(cons_frag_feed(&rx, body, n, 6, &done), i == 4 ? DC_ECORRUPT : 0);
        cr_assert_null(done.msg);
    }
    cr_assert_eq(rx.stats.msgs_root_mismatch, 2);
    /* Same index, other bytes: a conflict, the first copy stays. */
    cr_assert_eq(cons_frag_feed(&rx, parts_a.body[3], parts_a.len[3], 7, &done), 0);
    size_t n = forge(body, pa.root, msg_b, len, 3, 3);
    cr_assert_eq(cons_frag_feed(&rx, body, n, 7, &done), DC_ECONFLICT);
    /* Same root, another length or count: a conflict. */
    n = forge(body, pa.root, msg_a, len - 1, 0, 3);
    cr_assert_eq(cons_frag_feed(&rx, body, n, 7, &done), DC_ECONFLICT);
    /* The honest parts still complete A (the slot was emptied by the mismatch). */
    for (uint16_t i = 0; i < 5; i++) {
        int rc = cons_frag_feed(&rx, parts_a.body[i], parts_a.len[i], 8, &done);
        cr_assert_eq(rc, i == 3 ? DC_EDUPLICATE : 0);
    }
    cr_assert_not_null(done.msg);
    cr_assert_eq(memcmp(done.msg, msg_a, len), 0);
    cr_assert_eq(rx.stats.parts_conflict, 2);
    cr_assert_eq(rx.stats.msgs_complete, 1);
    assert_stats_consistent(&rx);
    free(mem);
}

Test(frag, slots_bounded_per_origin)
{
    struct cons_frag rx;
    struct cons_frag_config cfg = config(0);
    void *mem = frag_make(&rx, &cfg);
    struct cons_frag_done done;
    struct cons_frag_request reqs[REQS_MAX];
    const size_t len = 3 * CONS_FRAG_DATA_BYTES_MAX;
    rng_state = 11;
    /* Origin 2 starts a message. */
    fill(msg_b, len);
    split(msg_b, len, 2, &parts_b);
    cr_assert_eq(cons_frag_feed(&rx, parts_b.body[0], parts_b.len[0], 0, &done), 0);
    /* Origin 1 starts six messages and finishes none: only its own two slots turn over. */
    for (int m = 0; m < 6; m++) {
        fill(msg_a, len);
        split(msg_a, len, 1, &parts_a);
        cr_assert_eq(cons_frag_feed(&rx, parts_a.body[0], parts_a.len[0], (uint64_t)m, &done),
                     0);
    }
    cr_assert_eq(rx.stats.slots_evicted_incomplete, 4);
    /* Incomplete: origin 1's two newest and origin 2's one. */
    uint32_t n = cons_frag_poll(&rx, 100, reqs, REQS_MAX);
    cr_assert_eq(n, 3);
    uint32_t from1 = 0;
    for (uint32_t i = 0; i < n; i++) {
        from1 += reqs[i].origin == 1;
        cr_assert_eq(reqs[i].missing_count, 2);
    }
    cr_assert_eq(from1, 2);
    /* Origin 2's message was never evicted. */
    for (uint32_t i = 1; i < parts_b.count; i++) {
        cr_assert_eq(cons_frag_feed(&rx, parts_b.body[i], parts_b.len[i], 101, &done), 0);
    }
    cr_assert_not_null(done.msg);
    cr_assert_eq(memcmp(done.msg, msg_b, len), 0);
    free(mem);
}

Test(frag, request_timing_and_tries)
{
    struct cons_frag rx;
    struct cons_frag_config cfg = config(0);
    cfg.request_tries_max = 3;
    void *mem = frag_make(&rx, &cfg);
    struct cons_frag_done done;
    struct cons_frag_request reqs[REQS_MAX];
    struct cons_frag_want want;
    const size_t len = 4 * CONS_FRAG_DATA_BYTES_MAX;
    rng_state = 3;
    fill(msg_a, len);
    split(msg_a, len, 1, &parts_a);
    cr_assert_eq(cons_frag_next_due(&rx), UINT64_MAX);
    cr_assert_eq(cons_frag_feed(&rx, parts_a.body[1], parts_a.len[1], 1000, &done), 0);
    cr_assert_eq(cons_frag_next_due(&rx), 1010);
    cr_assert_eq(cons_frag_poll(&rx, 1009, reqs, REQS_MAX), 0);
    /* A new part pushes the first request back. */
    cr_assert_eq(cons_frag_feed(&rx, parts_a.body[2], parts_a.len[2], 1005, &done), 0);
    cr_assert_eq(cons_frag_poll(&rx, 1010, reqs, REQS_MAX), 0);
    cr_assert_eq(cons_frag_poll(&rx, 1015, reqs, REQS_MAX), 1);
    cr_assert_eq(reqs[0].tries, 1);
    cr_assert_eq(reqs[0].missing_count, 2);
    cr_assert_eq(cons_frag_request_decode(reqs[0].body, reqs[0].body_len, &want), 0);
    cr_assert_eq(want.requester, 0);
    cr_assert_eq(want.origin, 1);
    cr_assert_eq(want.count, 4);
    cr_assert_eq(want.missing[0], 0x9); /* parts 0 and 3 */
    /* The same request again only after the retry time, and only tries_max times. */
    cr_assert_eq(cons_frag_poll(&rx, 1034, reqs, REQS_MAX), 0);
    cr_assert_eq(cons_frag_next_due(&rx), 1035);
    cr_assert_eq(cons_frag_poll(&rx, 1035, reqs, REQS_MAX), 1);
    cr_assert_eq(reqs[0].tries, 2);
    cr_assert_eq(cons_frag_poll(&rx, 1100, reqs, REQS_MAX), 1);
    cr_assert_eq(reqs[0].tries, 3);
    cr_assert_eq(cons_frag_poll(&rx, 9999, reqs, REQS_MAX), 0);
    cr_assert_eq(cons_frag_next_due(&rx), UINT64_MAX);
    cr_assert_eq(rx.stats.requests_out, 3);
    free(mem);
}

Test(frag, another_validator_answers_and_unknown_roots_get_nothing)
{
    struct cons_frag tx, helper, rx;
    struct cons_frag_config c0 = config(0), c1 = config(1), c2 = config(2);
    void *m0 = frag_make(&tx, &c0), *m1 = frag_make(&helper, &c1), *m2 = frag_make(&rx, &c2);
    struct cons_frag_done done;
    struct cons_frag_request reqs[REQS_MAX];
    struct cons_frag_iter it;
    const size_t len = 50000;
    rng_state = 5;
    fill(msg_a, len);
    cr_assert_eq(cons_frag_send(&tx, msg_a, len, &it), 0);
    drain(&it, &parts_a);
    feed_shuffled(&helper, &parts_a, msg_a, len);
    /* rx got all but two parts; the helper (not the origin) answers its request. */
    for (uint32_t i = 0; i < parts_a.count; i++) {
        if (i != 4 && i != 17) {
            cr_assert_eq(cons_frag_feed(&rx, parts_a.body[i], parts_a.len[i], 0, &done), 0);
        }
    }
    cr_assert_eq(cons_frag_poll(&rx, 50, reqs, REQS_MAX), 1);
    cr_assert_eq(cons_frag_answer(&helper, reqs[0].body, reqs[0].body_len, &it), 0);
    cr_assert_eq(it.to, 2);
    drain(&it, &parts_b);
    cr_assert_eq(parts_b.count, 2);
    cr_assert_eq(cons_frag_feed(&rx, parts_b.body[0], parts_b.len[0], 51, &done), 0);
    cr_assert_eq(cons_frag_feed(&rx, parts_b.body[1], parts_b.len[1], 51, &done), 0);
    cr_assert_not_null(done.msg);
    cr_assert_eq(memcmp(done.msg, msg_a, len), 0);
    /* A request for a root nobody holds: DC_ENOTFOUND, the iterator yields nothing. */
    struct cons_frag_want want = { .total_len = (uint32_t)len, .count = parts_a.count,
                                   .origin = 0, .requester = 2 };
    uint8_t body[CONS_FRAG_REQUEST_BYTES_MAX];
    want.root[0] = 0xee;
    want.missing[0] = 1;
    size_t n = cons_frag_request_encode(&want, body, sizeof(body));
    cr_assert_eq(cons_frag_answer(&tx, body, n, &it), DC_ENOTFOUND);
    cr_assert_eq(cons_frag_iter_next(&it, parts_b.body[0], CONS_FRAG_RECORD_BYTES_MAX), 0);
    cr_assert_eq(tx.stats.requests_unknown, 1);
    /* A requester outside the set, and garbage. */
    want.requester = VALIDATORS;
    n = cons_frag_request_encode(&want, body, sizeof(body));
    cr_assert_eq(cons_frag_answer(&tx, body, n, &it), DC_ERANGE);
    cr_assert_eq(cons_frag_answer(&tx, body, 7, &it), DC_ETRUNCATED);
    cr_assert_eq(tx.stats.requests_bad, 2);
    free(m0);
    free(m1);
    free(m2);
}

Test(frag, part_rejections)
{
    struct cons_frag rx;
    struct cons_frag_config cfg = config(0);
    cfg.msg_bytes_max = 100000;
    void *mem = frag_make(&rx, &cfg);
    struct cons_frag_part part;
    struct cons_frag_done done;
    uint8_t body[CONS_FRAG_RECORD_BYTES_MAX + 8];
    const size_t len = 3000;
    rng_state = 9;
    fill(msg_a, len);
    split(msg_a, len, 1, &parts_a);
    memcpy(body, parts_a.body[0], parts_a.len[0]);
    size_t n = parts_a.len[0];
    for (size_t cut = 0; cut < CONS_FRAG_PART_HEADER_BYTES; cut++) {
        cr_assert_eq(cons_frag_part_decode(body, cut, &part), DC_ETRUNCATED);
    }
    cr_assert_eq(cons_frag_part_decode(body, n - 1, &part), DC_ETRUNCATED);
    body[n] = 0;
    cr_assert_eq(cons_frag_part_decode(body, n + 1, &part), DC_EMALFORMED);
    body[0] = CONS_MSG_PROPOSAL;
    cr_assert_eq(cons_frag_part_decode(body, n, &part), DC_EMALFORMED);
    body[0] = CONS_MSG_PART;
    /* index (offset 37), count (39), origin (41), total (33) */
    body[37] = 3;
    cr_assert_eq(cons_frag_part_decode(body, n, &part), DC_ERANGE);
    body[37] = 0;
    body[39] = 0;
    cr_assert_eq(cons_frag_part_decode(body, n, &part), DC_ERANGE);
    body[39] = 1; /* 3,000 bytes do not fit one part */
    cr_assert_eq(cons_frag_part_decode(body, n, &part), DC_EMALFORMED);
    body[39] = 3;
    body[41] = CONS_VALIDATORS_MAX;
    cr_assert_eq(cons_frag_part_decode(body, n, &part), DC_ERANGE);
    body[41] = VALIDATORS; /* decodes, but no such validator here */
    cr_assert_eq(cons_frag_part_decode(body, n, &part), 0);
    cr_assert_eq(cons_frag_feed(&rx, body, n, 0, &done), DC_ERANGE);
    body[41] = 0; /* our own index: we hold our messages already */
    cr_assert_eq(cons_frag_feed(&rx, body, n, 0, &done), DC_ERANGE);
    body[41] = 1;
    memset(body + 33, 0, 4);
    cr_assert_eq(cons_frag_part_decode(body, n, &part), DC_EMALFORMED);
    memset(body + 33, 0xff, 4);
    cr_assert_eq(cons_frag_part_decode(body, n, &part), DC_ETOOBIG);
    /* 9 bytes cannot be cut into 4 non-empty parts of ceil(9/4) = 3 bytes. */
    body[33] = 9;
    memset(body + 34, 0, 3);
    body[39] = 4;
    cr_assert_eq(cons_frag_part_decode(body, CONS_FRAG_PART_HEADER_BYTES + 3, &part),
                 DC_EMALFORMED);
    /* Valid on the wire, but longer than this node accepts. */
    fill(msg_b, 100001);
    split(msg_b, 100001, 1, &parts_b);
    cr_assert_eq(cons_frag_feed(&rx, parts_b.body[0], parts_b.len[0], 0, &done), DC_ETOOBIG);
    cr_assert_eq(rx.stats.parts_malformed, 3);
    free(mem);
}

Test(frag, request_rejections_and_round_trip)
{
    struct cons_frag_want want = { .total_len = 20000, .count = 14, .origin = 3,
                                   .requester = 1 }, back;
    uint8_t body[CONS_FRAG_REQUEST_BYTES_MAX + 1];
    want.root[5] = 9;
    want.missing[1] = 0x21; /* parts 8 and 13 */
    size_t n = cons_frag_request_encode(&want, body, sizeof(body));
    cr_assert_eq(n, CONS_FRAG_REQUEST_HEADER_BYTES + 2);
    cr_assert_eq(cons_frag_request_decode(body, n, &back), 0);
    cr_assert_eq(memcmp(&back, &want, sizeof(want)), 0);
    cr_assert_eq(cons_frag_request_decode(body, n - 1, &back), DC_ETRUNCATED);
    body[n] = 0;
    cr_assert_eq(cons_frag_request_decode(body, n + 1, &back), DC_EMALFORMED);
    body[n - 1] = 0x40; /* part 14 of 14 */
    cr_assert_eq(cons_frag_request_decode(body, n, &back), DC_EMALFORMED);
    body[n - 1] = 0;
    body[n - 2] = 0; /* asks for nothing */
    cr_assert_eq(cons_frag_request_decode(body, n, &back), DC_EMALFORMED);
    body[n - 2] = 1;
    body[0] = CONS_MSG_PART;
    cr_assert_eq(cons_frag_request_decode(body, n, &back), DC_EMALFORMED);
    body[0] = CONS_MSG_PART_REQUEST;
    body[41] = CONS_VALIDATORS_MAX; /* requester */
    cr_assert_eq(cons_frag_request_decode(body, n, &back), DC_ERANGE);
    /* Existing message kinds are untouched, and the new kinds are no cons_msg. */
    struct cons_msg msg;
    cr_assert_eq(cons_msg_decode(body, n, &msg, NULL, NULL), DC_EMALFORMED);
}

#define PROPOSAL_IDS 10000

static uint8_t prop_ids[PROPOSAL_IDS][CONS_ID_BYTES];
static uint8_t back_ids[CONS_BLOCK_IDS_MAX][CONS_ID_BYTES];
static uint8_t encoded[CONS_FRAG_MSG_BYTES_MAX], reencoded[CONS_FRAG_MSG_BYTES_MAX];

Test(frag, proposal_of_10000_ids_end_to_end)
{
    struct cons_block block, back_block;
    struct cons_msg msg = { .kind = CONS_MSG_PROPOSAL }, back;
    struct cons_frag tx, rx;
    struct cons_frag_config c0 = config(2), c1 = config(0);
    void *m0 = frag_make(&tx, &c0), *m1 = frag_make(&rx, &c1);
    struct cons_frag_iter it;
    rng_state = 42;
    cons_block_init(&block, prop_ids, PROPOSAL_IDS);
    cr_assert_eq(cons_header_set_chain(&block.header, "frag-chain"), 0);
    block.header.height = 9;
    block.header.round = 2;
    block.header.proposer = 2;
    for (uint32_t i = 0; i < PROPOSAL_IDS; i++) {
        fill(prop_ids[i], CONS_ID_BYTES);
    }
    block.header.id_count = PROPOSAL_IDS;
    cons_block_seal(&block);
    msg.block = &block;
    msg.proposal = (struct cons_proposal){ .height = 9, .round = 2, .pol_round = -1,
                                           .proposer = 2 };
    cons_block_hash(&block, msg.proposal.block_hash);
    fill(msg.proposal.sig, CONS_SIG_BYTES);
    size_t len = cons_msg_encode(&msg, encoded, sizeof(encoded));
    cr_assert(cons_frag_needed(len));
    cr_assert_eq(cons_frag_send(&tx, encoded, len, &it), 0);
    drain(&it, &parts_a);
    cr_assert_eq(len, 320217);
    cr_assert_eq(parts_a.count, 225);
    /* A copy of the encoding goes through the parts; the original is compared below. */
    struct cons_frag_done done = feed_shuffled(&rx, &parts_a, encoded, len);
    cons_block_init(&back_block, back_ids, CONS_BLOCK_IDS_MAX);
    struct cons_cert cert;
    cr_assert_eq(cons_msg_decode(done.msg, done.len, &back, &back_block, &cert), 0);
    cr_assert_eq(back.kind, CONS_MSG_PROPOSAL);
    cr_assert_eq(memcmp(&back.proposal, &msg.proposal, sizeof(msg.proposal)), 0);
    cr_assert_eq(back.block->header.id_count, PROPOSAL_IDS);
    cr_assert_eq(memcmp(back_ids, prop_ids, sizeof(prop_ids)), 0);
    cr_assert_eq(cons_msg_encode(&back, reencoded, sizeof(reencoded)), len);
    cr_assert_eq(memcmp(reencoded, encoded, len), 0);
    cr_assert_eq(cons_frag_feed(&rx, parts_a.body[7], parts_a.len[7], 1, &done),
                 DC_EDUPLICATE);
    cr_assert_eq(tx.stats.msgs_sent, 1);
    cr_assert_eq(cons_frag_send(&tx, encoded, len, &it), 0); /* the machine's rebroadcast */
    cr_assert_eq(tx.stats.msgs_resent, 1);
    free(m0);
    free(m1);
}

/*
 * A message re-sent in full after it completed is handed out again (the receiver may have
 * refused the first copy: a sync block for a height it had not reached, which it asks for
 * again and would otherwise never get while the slot holds it); scattered duplicates are not.
 * Found by the simulator (parts seed 235: a lagging validator never caught up).
 */
Test(frag, full_resend_of_complete_message_is_handed_out_again)
{
    struct cons_frag rx;
    struct cons_frag_config cfg = config(2);
    void *mem = frag_make(&rx, &cfg);
    struct cons_frag_done done;
    size_t len = 5 * CONS_FRAG_DATA_BYTES_MAX - 17;
    fill(msg_a, len);
    split(msg_a, len, 1, &parts_a);
    cr_assert_eq(parts_a.count, 5);
    feed_shuffled(&rx, &parts_a, msg_a, len);
    /* Duplicates of some parts only: still duplicates. */
    for (uint32_t i = 0; i < 4; i++) {
        cr_assert_eq(cons_frag_feed(&rx, parts_a.body[i], parts_a.len[i], 5, &done),
                     DC_EDUPLICATE);
        cr_assert_eq(cons_frag_feed(&rx, parts_a.body[i], parts_a.len[i], 5, &done),
                     DC_EDUPLICATE);
        cr_assert_null(done.msg);
    }
    /* The last missing repeat completes a second copy: handed out again, once. */
    cr_assert_eq(cons_frag_feed(&rx, parts_a.body[4], parts_a.len[4], 6, &done), 0);
    cr_assert_not_null(done.msg);
    cr_assert_eq(done.len, len);
    cr_assert_eq(done.origin, 1);
    cr_assert_eq(memcmp(done.msg, msg_a, len), 0);
    cr_assert_eq(cons_frag_feed(&rx, parts_a.body[4], parts_a.len[4], 6, &done), DC_EDUPLICATE);
    cr_assert_null(done.msg);
    /* A third full copy, in another order, is handed out a third time. */
    for (uint32_t k = 0; k < 5; k++) {
        uint32_t i = (k + 3) % 5;
        int rc = cons_frag_feed(&rx, parts_a.body[i], parts_a.len[i], 7, &done);
        cr_assert_eq(rc, k == 4 ? 0 : DC_EDUPLICATE);
        cr_assert_eq(done.msg != NULL, k == 4);
    }
    cr_assert_eq(rx.stats.msgs_complete, 1);
    cr_assert_eq(rx.stats.msgs_again, 2);
    /* Nothing to ask for: the message is complete. */
    struct cons_frag_request reqs[REQS_MAX];
    cr_assert_eq(cons_frag_poll(&rx, 1000, reqs, REQS_MAX), 0);
    assert_stats_consistent(&rx);
    free(mem);
}

Test(frag, requesting_names_only_messages_we_asked_for)
{
    struct cons_frag rx;
    struct cons_frag_config cfg = config(0);
    void *mem = frag_make(&rx, &cfg);
    struct cons_frag_done done;
    struct cons_frag_request reqs[REQS_MAX];
    struct cons_frag_part part;
    const size_t len = 4 * CONS_FRAG_DATA_BYTES_MAX;
    rng_state = 5;
    fill(msg_a, len);
    split(msg_a, len, 1, &parts_a);
    cr_assert_eq(cons_frag_part_decode(parts_a.body[0], parts_a.len[0], &part), 0);
    cr_assert_eq(cons_frag_requesting(&rx, 1, part.root), 0, "nothing held yet");
    cr_assert_eq(cons_frag_feed(&rx, parts_a.body[1], parts_a.len[1], 1000, &done), 0);
    cr_assert_eq(cons_frag_requesting(&rx, 1, part.root), 0, "incomplete, not asked for yet");
    cr_assert_eq(cons_frag_poll(&rx, 1010, reqs, REQS_MAX), 1);
    cr_assert_eq(cons_frag_requesting(&rx, 1, part.root), 1, "asked for: answers welcome");
    cr_assert_eq(cons_frag_requesting(&rx, 2, part.root), 0, "another origin's message");
    cr_assert_eq(cons_frag_requesting(&rx, 200, part.root), 0, "no such validator");
    for (uint32_t i = 0; i < parts_a.count; i++) {
        (void)cons_frag_feed(&rx, parts_a.body[i], parts_a.len[i], 1020, &done);
    }
    cr_assert_eq(cons_frag_requesting(&rx, 1, part.root), 0, "complete: nothing to ask");
    free(mem);
}
