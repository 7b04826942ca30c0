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
