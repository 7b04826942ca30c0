/*
 * The id set against a naive reference under random inserts and removals (backward-shift
 * deletion must never lose a member), and the mempool: order, batching without removal,
 * commit removal, the recent window, and full tables.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/dc_err.h"
#include "consensus/mempool.h"

#define REF_MAX 600

static uint8_t mem[1 << 20] __attribute__((aligned(8)));
static const uint8_t key[CONS_IDSET_KEY_BYTES] = { 7 };

static void make_id(uint32_t n, uint8_t id[CONS_ID_BYTES])
{
    memset(id, 0, CONS_ID_BYTES);
    memcpy(id, &n, sizeof(n));
    id[31] = 0x5a;
}

Test(idset, matches_a_reference_under_random_churn)
{
    struct cons_idset set;
    uint8_t in[REF_MAX] = { 0 };
    uint32_t count = 0, x = 12345;
    uint32_t slots = cons_idset_slots_for(REF_MAX);
    cr_assert_leq(cons_idset_mem_size(slots), sizeof(mem));
    cons_idset_init(&set, mem, slots, key);
    for (int step = 0; step < 200000; step++) {
        uint8_t id[CONS_ID_BYTES];
        x = x * 1103515245u + 12345u;
        uint32_t n = (x >> 8) % REF_MAX;
        make_id(n, id);
        if ((x >> 4) & 1) {
            int err = cons_idset_insert(&set, id);
            cr_assert_eq(err, in[n] ? DC_EDUPLICATE : 0);
            count += !in[n];
            in[n] = 1;
        } else {
            cr_assert_eq(cons_idset_remove(&set, id), in[n] ? 0 : DC_ENOTFOUND);
            count -= in[n];
            in[n] = 0;
        }
        cr_assert_eq(set.count, count);
        if (step % 997 == 0) {
            for (uint32_t k = 0; k < REF_MAX; k++) {
                make_id(k, id);
                cr_assert_eq(cons_idset_contains(&set, id), in[k], "id %u at step %d", k, step);
            }
        }
    }
}

Test(idset, refuses_inserts_past_three_quarters)
{
    struct cons_idset set;
    uint8_t id[CONS_ID_BYTES];
    cons_idset_init(&set, mem, 16, key);
    for (uint32_t n = 0; n < 12; n++) {
        make_id(n, id);
        cr_assert_eq(cons_idset_insert(&set, id), 0);
    }
    make_id(99, id);
    cr_assert_eq(cons_idset_insert(&set, id), DC_EFULL);
    cons_idset_clear(&set);
    cr_assert_eq(cons_idset_insert(&set, id), 0);
}

Test(mempool, batches_in_order_and_forgets_committed_ids)
{
    struct cons_mempool pool;
    uint8_t id[CONS_ID_BYTES], out[8][CONS_ID_BYTES], done[3][CONS_ID_BYTES];
    cr_assert_leq(cons_mempool_mem_size(8, 4), sizeof(mem));
    cons_mempool_init(&pool, mem, 8, 4, key);
    for (uint32_t n = 0; n < 8; n++) {
        make_id(n, id);
        cr_assert_eq(cons_mempool_submit(&pool, id), 0);
    }
    make_id(8, id);
    cr_assert_eq(cons_mempool_submit(&pool, id), DC_EFULL);
    make_id(3, id);
    cr_assert_eq(cons_mempool_submit(&pool, id), DC_EDUPLICATE);
    /* Peeking does not remove: a failed round proposes the same ids again. */
    cr_assert_eq(cons_mempool_peek(&pool, out, 3), 3);
    cr_assert_eq(cons_mempool_peek(&pool, out, 3), 3);
    cr_assert_eq(out[2][0], 2);
    /* Ids 1, 4, 6 commit (in someone else's block). */
    make_id(1, done[0]);
    make_id(4, done[1]);
    make_id(6, done[2]);
    cons_mempool_committed(&pool, (const uint8_t (*)[CONS_ID_BYTES])done, 3);
    cr_assert_eq(cons_mempool_pending(&pool), 5);
    cr_assert_eq(cons_mempool_peek(&pool, out, 8), 5);
    const uint8_t expect[5] = { 0, 2, 3, 5, 7 };
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(out[i][0], expect[i]);
    }
    cr_assert_eq(cons_mempool_submit(&pool, done[1]), DC_EDUPLICATE, "recently committed");
    /* Room again: the removed ids' places are reclaimed. */
    make_id(8, id);
    cr_assert_eq(cons_mempool_submit(&pool, id), 0);
    /* The window holds 4 ids: committing 2 more pushes id 1 out of it. */
    make_id(0, done[0]);
    make_id(2, done[1]);
    cons_mempool_committed(&pool, (const uint8_t (*)[CONS_ID_BYTES])done, 2);
    make_id(1, id);
    cr_assert(!cons_mempool_recent(&pool, id));
    make_id(6, id);
    cr_assert(cons_mempool_recent(&pool, id));
}

static void commit_one(struct cons_mempool *pool, uint32_t n)
{
    uint8_t id[1][CONS_ID_BYTES];
    make_id(n, id[0]);
    cons_mempool_committed(pool, (const uint8_t (*)[CONS_ID_BYTES])id, 1);
}

#define BIG_CAP 1024u

Test(mempool, full_pool_refuses_without_scanning_until_an_eighth_is_dead)
{
    static uint8_t out[BIG_CAP][CONS_ID_BYTES];
    struct cons_mempool pool;
    uint8_t id[CONS_ID_BYTES];
    uint32_t next = 0, accepted = 0;
    cr_assert_leq(cons_mempool_mem_size(BIG_CAP, 256), sizeof(mem));
    cons_mempool_init(&pool, mem, BIG_CAP, 256, key);
    cr_assert_eq(pool.ring_dead_min, BIG_CAP / 8);
    for (; next < BIG_CAP; next++) {
        make_id(next, id);
        cr_assert_eq(cons_mempool_submit(&pool, id), 0);
    }
    /* 127 dead slots, not in order and none at the head: under an eighth. */
    for (uint32_t k = 1; k < BIG_CAP / 8; k++) {
        commit_one(&pool, 8 * k);
    }
    for (uint32_t k = 0; k < 100000; k++, next++) {
        make_id(next, id);
        cr_assert_eq(cons_mempool_submit(&pool, id), DC_EFULL);
    }
    cr_assert_eq(pool.full_refusals, 100000);
    cr_assert_eq(pool.compactions, 0, "a refusal must not scan the ring");
    cr_assert_eq(pool.compact_slots, 0);
    /* The 128th dead slot makes compaction worth it: one pass, then 128 ids fit. */
    commit_one(&pool, 3);
    for (;; next++) {
        make_id(next, id);
        int err = cons_mempool_submit(&pool, id);
        if (err == DC_EFULL) {
            break;
        }
        cr_assert_eq(err, 0);
        accepted++;
    }
    cr_assert_eq(accepted, BIG_CAP / 8);
    cr_assert_eq(pool.compactions, 1);
    cr_assert_eq(pool.compact_slots, BIG_CAP);
    /* Live ids keep their order: the survivors of 0..1023, then the newcomers. */
    cr_assert_eq(cons_mempool_peek(&pool, out, BIG_CAP), BIG_CAP);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < BIG_CAP; i++) {
        uint32_t n;
        memcpy(&n, out[i], sizeof(n));
        cr_assert(i == 0 || n > prev, "order broken at %u", i);
        cr_assert(n != 3 && (n == 0 || n % 8 != 0 || n >= BIG_CAP), "committed id %u back", n);
        prev = n;
    }
}

/*
 * Commits in random places while clients keep submitting far faster than blocks drain the
 * pool: the work of all compactions stays within ring + DIVISOR per accepted id, where
 * compacting on every full submit would cost about a ring per submit (10^8 slots here).
 */
Test(mempool, compaction_work_is_linear_under_churn)
{
    static uint32_t ref[BIG_CAP];
    static uint8_t out[BIG_CAP][CONS_ID_BYTES];
    struct cons_mempool pool;
    uint8_t id[CONS_ID_BYTES];
    uint32_t ref_count = 0, next = 0, x = 99;
    uint64_t submits = 0, accepted = 0;
    cons_mempool_init(&pool, mem, BIG_CAP, 256, key);
    for (int step = 0; step < 2000; step++) {
        x = x * 1103515245u + 12345u;
        for (uint32_t c = 0; c < 1 + ((x >> 6) & 3) && ref_count > 0; c++) {
            x = x * 1103515245u + 12345u;
            uint32_t at = (x >> 8) % ref_count;
            commit_one(&pool, ref[at]);
            memmove(&ref[at], &ref[at + 1], (ref_count - at - 1) * sizeof(ref[0]));
            ref_count--;
        }
        for (int k = 0; k < 50; k++, next++, submits++) {
            make_id(next, id);
            int err = cons_mempool_submit(&pool, id);
            cr_assert(err == 0 || err == DC_EFULL);
            if (err == 0) {
                ref[ref_count++] = next;
                accepted++;
            }
        }
        cr_assert_eq(cons_mempool_pending(&pool), ref_count);
    }
    cr_assert_gt(pool.compactions, 10, "the test must exercise compaction");
    cr_assert_eq(pool.full_refusals, submits - accepted);
    cr_assert_leq(pool.compact_slots, BIG_CAP + CONS_MEMPOOL_DEAD_DIVISOR * accepted,
                  "%llu slots scanned for %llu ids accepted",
                  (unsigned long long)pool.compact_slots, (unsigned long long)accepted);
    cr_assert_eq(cons_mempool_peek(&pool, out, BIG_CAP), ref_count);
    for (uint32_t i = 0; i < ref_count; i++) {
        make_id(ref[i], id);
        cr_assert_eq(memcmp(out[i], id, CONS_ID_BYTES), 0, "order broken at %u", i);
    }
}

/*
 * An id committed, pushed out of the recent window while its dead slot is still in the ring,
 * then submitted again: the ring holds two copies, and neither a batch nor compaction may
 * count it twice.
 */
Test(mempool, an_id_back_after_the_window_is_batched_once)
{
    struct cons_mempool pool;
    uint8_t id[CONS_ID_BYTES], out[8][CONS_ID_BYTES];
    cons_mempool_init(&pool, mem, 8, 1, key);
    for (uint32_t n = 0; n < 3; n++) {
        make_id(n, id);
        cr_assert_eq(cons_mempool_submit(&pool, id), 0);
    }
    commit_one(&pool, 1);
    commit_one(&pool, 99); /* the window holds one id: 1 leaves it */
    make_id(1, id);
    cr_assert_eq(cons_mempool_submit(&pool, id), 0);
    cr_assert_eq(cons_mempool_peek(&pool, out, 8), 3);
    cr_assert_eq(out[0][0], 0);
    cr_assert_eq(out[1][0], 1);
    cr_assert_eq(out[2][0], 2);
    for (uint32_t n = 10; n < 14; n++) {
        make_id(n, id);
        cr_assert_eq(cons_mempool_submit(&pool, id), 0);
    }
    make_id(14, id);
    cr_assert_eq(cons_mempool_submit(&pool, id), 0, "the second copy is the dead slot");
    cr_assert_eq(pool.compactions, 1);
    cr_assert_eq(cons_mempool_pending(&pool), 8);
    cr_assert_eq(cons_mempool_peek(&pool, out, 8), 8);
    const uint8_t expect[8] = { 0, 1, 2, 10, 11, 12, 13, 14 };
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(out[i][0], expect[i]);
    }
}
