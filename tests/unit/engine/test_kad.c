#include "engine/kad.h"

#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static void random_id(uint8_t id[32], unsigned *seed)
{
    for (int i = 0; i < 32; i++) {
        id[i] = (uint8_t)rand_r(seed);
    }
}

static struct eng_noderec rec_with_id(const uint8_t id[32])
{
    struct eng_noderec rec;
    memset(&rec, 0, sizeof(rec));
    memcpy(rec.id, id, 32);
    return rec;
}

static const struct sockaddr_in lo = { .sin_family = AF_INET, .sin_port = 9 };
#define LO ((const struct sockaddr *)&lo), sizeof(lo)

/* The XOR distance of a and b as a 256-bit big-endian number, compared the slow way. */
static int ref_cmp(const uint8_t *t, const uint8_t *a, const uint8_t *b)
{
    for (int bit = 0; bit < 256; bit++) {
        int da = ((a[bit / 8] ^ t[bit / 8]) >> (7 - bit % 8)) & 1;
        int db = ((b[bit / 8] ^ t[bit / 8]) >> (7 - bit % 8)) & 1;
        if (da != db) {
            return da - db;
        }
    }
    return 0;
}

Test(eng_kad, bucket_index_and_distance_match_the_definition)
{
    uint8_t zero[32] = { 0 }, a[32] = { 0 }, b[32] = { 0 };
    cr_assert_eq(eng_kad_bucket_index(zero, zero), -1);
    a[0] = 0x80;
    cr_assert_eq(eng_kad_bucket_index(zero, a), 0);
    a[0] = 0x01;
    cr_assert_eq(eng_kad_bucket_index(zero, a), 7);
    memset(a, 0, 32);
    a[31] = 1;
    cr_assert_eq(eng_kad_bucket_index(zero, a), 255);
    b[31] = 2;
    cr_assert_lt(eng_kad_cmp(zero, a, b), 0);
    cr_assert_gt(eng_kad_cmp(b, a, zero), 0, "a^b = 3 > zero^b = 2");
    unsigned seed = 1;
    for (int i = 0; i < 10000; i++) {
        uint8_t t[32], x[32], y[32];
        random_id(t, &seed);
        random_id(x, &seed);
        memcpy(y, x, 32);
        y[rand_r(&seed) % 32] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
        int want = ref_cmp(t, x, y);
        int got = eng_kad_cmp(t, x, y);
        cr_assert((want < 0 && got < 0) || (want > 0 && got > 0), "case %d", i);
        int idx = eng_kad_bucket_index(x, y);
        cr_assert(idx >= 0 && idx < 256);
        /* The first differing bit is idx: the prefix before it is shared. */
        cr_assert_neq((x[idx / 8] ^ y[idx / 8]) & (0x80 >> (idx % 8)), 0);
    }
}

Test(eng_kad, full_bucket_keeps_live_peers_and_recycles_dead_ones)
{
    uint8_t self[32] = { 0 };
    struct eng_kad_table t;
    cr_assert_eq(eng_kad_init(&t, self), 0);
    struct eng_kad_peer *p;
    struct eng_noderec me = rec_with_id(self);
    cr_assert_eq(eng_kad_insert(&t, &me, LO, 0, &p), DC_ECONFLICT);
    for (int i = 0; i < ENG_KAD_K; i++) {
        uint8_t id[32] = { 0x80, (uint8_t)i };
        struct eng_noderec r = rec_with_id(id);
        cr_assert_eq(eng_kad_insert(&t, &r, LO, 1, &p), 0);
        p->connected = 1;
        p->last_pong_ms = 100 + (uint64_t)i;
    }
    cr_assert_eq(t.count, ENG_KAD_K);
    uint8_t extra[32] = { 0xff };
    struct eng_noderec r = rec_with_id(extra);
    cr_assert_eq(eng_kad_insert(&t, &r, LO, 2, &p), DC_EFULL);
    cr_assert_null(p);
    uint8_t dup[32] = { 0x80, 3 };
    struct eng_noderec d = rec_with_id(dup);
    cr_assert_eq(eng_kad_insert(&t, &d, LO, 2, &p), DC_EDUPLICATE);
    cr_assert_eq(p, eng_kad_get(&t, dup));

    /* Two peers go quiet; the one heard from longest ago gives up its slot. */
    uint8_t dead_a[32] = { 0x80, 5 }, dead_b[32] = { 0x80, 9 };
    eng_kad_get(&t, dead_a)->connected = 0;
    eng_kad_get(&t, dead_b)->connected = 0;
    cr_assert_eq(eng_kad_insert(&t, &r, LO, 3, &p), 0);
    cr_assert_null(eng_kad_get(&t, dead_a));
    cr_assert_not_null(eng_kad_get(&t, dead_b));
    cr_assert_eq(t.count, ENG_KAD_K);
    /* A node in another bucket does not compete for the full one. */
    uint8_t near[32] = { 0x01 };
    struct eng_noderec n = rec_with_id(near);
    cr_assert_eq(eng_kad_insert(&t, &n, LO, 3, &p), 0);
    cr_assert_eq(eng_kad_remove(&t, near), 0);
    cr_assert_eq(eng_kad_remove(&t, near), DC_ENOTFOUND);
    cr_assert_eq(t.count, ENG_KAD_K);
    size_t seen = 0;
    for (p = eng_kad_next(&t, NULL); p; p = eng_kad_next(&t, p)) {
        seen++;
    }
    cr_assert_eq(seen, ENG_KAD_K);
    eng_kad_fini(&t);
}

Test(eng_kad, closest_matches_brute_force)
{
    unsigned seed = 7;
    uint8_t self[32];
    random_id(self, &seed);
    struct eng_kad_table t;
    cr_assert_eq(eng_kad_init(&t, self), 0);
    for (int i = 0; i < 2000; i++) {
        uint8_t id[32];
        random_id(id, &seed);
        struct eng_noderec r = rec_with_id(id);
        struct eng_kad_peer *p;
        int rc = eng_kad_insert(&t, &r, LO, 0, &p);
        cr_assert(rc == 0 || rc == DC_EFULL);
        if (rc == 0) {
            p->connected = (i % 3) != 0;
        }
    }
    for (int round = 0; round < 50; round++) {
        uint8_t target[32];
        random_id(target, &seed);
        for (int connected_only = 0; connected_only < 2; connected_only++) {
            struct eng_kad_peer *got[ENG_KAD_K];
            size_t n = eng_kad_closest(&t, target, got, ENG_KAD_K, connected_only);
            cr_assert_eq(n, ENG_KAD_K);
            for (size_t i = 1; i < n; i++) {
                cr_assert_lt(ref_cmp(target, got[i - 1]->rec.id, got[i]->rec.id), 0);
            }
            /* No peer outside the answer is closer than its farthest member. */
            for (struct eng_kad_peer *p = eng_kad_next(&t, NULL); p; p = eng_kad_next(&t, p)) {
                if (connected_only && !p->connected) {
                    continue;
                }
                int in = 0;
                for (size_t i = 0; i < n; i++) {
                    in |= got[i] == p;
                }
                cr_assert(in || ref_cmp(target, p->rec.id, got[n - 1]->rec.id) > 0);
            }
        }
    }
    eng_kad_fini(&t);
}

/* A simulated network: every node's table holds what fits of all others. */
#define SIM_NODES 300
static uint8_t sim_ids[SIM_NODES][32];
static struct eng_kad_table sim_tables[SIM_NODES];

static int sim_index(const uint8_t id[32])
{
    for (int i = 0; i < SIM_NODES; i++) {
        if (memcmp(sim_ids[i], id, 32) == 0) {
            return i;
        }
    }
    return -1;
}

static void sim_build(unsigned *seed)
{
    for (int i = 0; i < SIM_NODES; i++) {
        random_id(sim_ids[i], seed);
    }
    for (int i = 0; i < SIM_NODES; i++) {
        cr_assert_eq(eng_kad_init(&sim_tables[i], sim_ids[i]), 0);
        for (int k = 0; k < SIM_NODES; k++) {
            int j = (i + 1 + k * 7) % SIM_NODES; /* a different insertion order per node */
            struct eng_noderec r = rec_with_id(sim_ids[j]);
            struct eng_kad_peer *p;
            if (j != i && eng_kad_insert(&sim_tables[i], &r, LO, 0, &p) == 0) {
                p->connected = 1;
            }
        }
    }
}

/* One lookup from node `from` that knows only `boot`; returns how many rounds it took. */
static int sim_lookup(struct eng_kad_lookup *l, const uint8_t target[32], int boot, int dead)
{
    eng_kad_lookup_start(l, target);
    eng_kad_lookup_add(l, sim_ids[boot], LO);
    uint64_t now = 0, nonce = 1;
    int rounds = 0;
    while (!eng_kad_lookup_done(l)) {
        cr_assert_lt(++rounds, 1000);
        struct eng_kad_cand *asked[ENG_KAD_ALPHA];
        int n = 0;
        struct eng_kad_cand *c;
        while ((c = eng_kad_lookup_next(l, now, nonce++)) != NULL) {
            asked[n++] = c;
        }
        uint64_t nonces[ENG_KAD_ALPHA];
        for (int i = 0; i < n; i++) {
            nonces[i] = asked[i]->nonce;
        }
        for (int i = 0; i < n; i++) {
            c = eng_kad_lookup_by_nonce(l, nonces[i]);
            if (c == NULL) {
                continue; /* pushed off the list by closer answers */
            }
            int who = sim_index(c->id);
            if (who == dead) {
                continue; /* never answers: expires below */
            }
            struct eng_kad_peer *near[ENG_KAD_K];
            size_t k = eng_kad_closest(&sim_tables[who], target, near, ENG_KAD_K, 1);
            eng_kad_lookup_answered(l, c);
            for (size_t j = 0; j < k; j++) {
                eng_kad_lookup_add(l, near[j]->rec.id, LO);
            }
        }
        now += 1000;
        eng_kad_lookup_expire(l, now, 500);
    }
    return rounds;
}

Test(eng_kad, iterative_lookup_finds_the_k_closest_of_the_whole_network)
{
    unsigned seed = 42;
    sim_build(&seed);
    static struct eng_kad_lookup l;
    for (int trial = 0; trial < 40; trial++) {
        uint8_t target[32];
        random_id(target, &seed);
        int boot = rand_r(&seed) % SIM_NODES;
        int dead = trial % 2 ? rand_r(&seed) % SIM_NODES : -1;
        if (dead == boot) {
            dead = -1;
        }
        sim_lookup(&l, target, boot, dead);
        /* The truth: sort all live ids by distance. */
        int order[SIM_NODES], n = 0;
        for (int i = 0; i < SIM_NODES; i++) {
            if (i != dead) {
                order[n++] = i;
            }
        }
        for (int i = 1; i < n; i++) {
            for (int j = i; j > 0 && ref_cmp(target, sim_ids[order[j]], sim_ids[order[j - 1]]) < 0;
                 j--) {
                int tmp = order[j];
                order[j] = order[j - 1];
                order[j - 1] = tmp;
            }
        }
        int found = 0;
        for (uint32_t i = 0; i < l.count && found < ENG_KAD_K; i++) {
            if (l.cands[i].state != ENG_KAD_CAND_DONE) {
                continue;
            }
            cr_assert_eq(memcmp(l.cands[i].id, sim_ids[order[found]], 32), 0,
                         "trial %d: answer %d is not the true %d-th closest", trial, found, found);
            found++;
        }
        cr_assert_eq(found, ENG_KAD_K, "trial %d", trial);
    }
    for (int i = 0; i < SIM_NODES; i++) {
        eng_kad_fini(&sim_tables[i]);
    }
}

/*
 * Outside cases. XOR distances from the k-bucket npm package's tests (defaultDistance.js:
 * 00000010 ^ 00000001 = 00000011; 0x0124 ^ 0x4024 = 0x4100), and the bucket index as the Tox
 * DHT specification defines it ("bucket index": the position of the first bit, most significant
 * first, in which the two keys differ).
 */
Test(eng_kad, agrees_with_outside_cases)
{
    uint8_t t[32] = { 0x02 }, a[32] = { 0x01 }, b[32] = { 0x00 };
    /* d(t, a) = 0x03, d(t, b) = 0x02: b is closer. */
    cr_assert_gt(eng_kad_cmp(t, a, b), 0);
    uint8_t t2[32] = { 0x01, 0x24 }, far[32] = { 0x40, 0x24 }, near[32] = { 0x01, 0x24 };
    near[2] = 0xff; /* d = 0x0000ff..., far: d = 0x4100... */
    cr_assert_lt(eng_kad_cmp(t2, near, far), 0);
    cr_assert_eq(eng_kad_bucket_index(t2, far), 1, "0x0124 ^ 0x4024 = 0x4100: bit 1 differs");
    cr_assert_eq(eng_kad_bucket_index(t2, near), 16);
    uint8_t own[32] = { 0 }, other[32] = { 0 };
    for (int i = 0; i < 32; i++) {
        for (int j = 0; j < 8; j++) {
            memset(other, 0, sizeof(other));
            other[i] = (uint8_t)(0x80 >> j);
            other[31] |= 1; /* lower bits never change the index */
            cr_assert_eq(eng_kad_bucket_index(own, other), i * 8 + j);
        }
    }
}
