#include "consensus/mempool.h"

#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"

static size_t align8(size_t n)
{
    return (n + 7u) & ~(size_t)7;
}

size_t cons_mempool_mem_size(uint32_t pending_max, uint32_t recent_max)
{
    return align8((size_t)pending_max * CONS_ID_BYTES) +
           cons_idset_mem_size(cons_idset_slots_for(pending_max)) +
           align8((size_t)recent_max * CONS_ID_BYTES) +
           cons_idset_mem_size(cons_idset_slots_for(recent_max));
}

void cons_mempool_init(struct cons_mempool *pool, void *mem, uint32_t pending_max,
                       uint32_t recent_max, const uint8_t key[CONS_IDSET_KEY_BYTES])
{
    uint8_t *at = mem;
    uint32_t pending_slots = cons_idset_slots_for(pending_max);
    uint32_t recent_slots = cons_idset_slots_for(recent_max);
    DC_ASSERT(pending_max > 0);
    DC_ASSERT(recent_max > 0);
    memset(pool, 0, sizeof(*pool));
    pool->ring = (uint8_t (*)[CONS_ID_BYTES])at;
    pool->ring_cap = pending_max;
    pool->ring_dead_min = (pending_max + CONS_MEMPOOL_DEAD_DIVISOR - 1) /
                          CONS_MEMPOOL_DEAD_DIVISOR;
    at += align8((size_t)pending_max * CONS_ID_BYTES);
    cons_idset_init(&pool->pending, at, pending_slots, key);
    at += cons_idset_mem_size(pending_slots);
    pool->recent = (uint8_t (*)[CONS_ID_BYTES])at;
    pool->recent_cap = recent_max;
    at += align8((size_t)recent_max * CONS_ID_BYTES);
    cons_idset_init(&pool->recent_set, at, recent_slots, key);
}

static uint8_t *ring_at(struct cons_mempool *pool, uint32_t i)
{
    return pool->ring[(pool->ring_head + i) % pool->ring_cap];
}

/*
 * Drop dead slots from the ring, keeping the order of the live ids. O(ring): called only on
 * a full ring with at least ring_dead_min dead slots, so each call frees that many slots and
 * costs O(1) per id accepted since the previous one.
 *
 * Each live id is taken out of `pending` when kept and put back at the end, so that a second
 * copy of it reads as dead. Copies happen: an id committed, then pushed out of the recent
 * window while its dead slot is still in the ring, may be submitted again. The oldest copy
 * keeps its place.
 */
static void compact(struct cons_mempool *pool)
{
    uint32_t live = pool->pending.count;
    uint32_t kept = 0;
    DC_ASSERT(pool->ring_count - live >= pool->ring_dead_min);
    for (uint32_t i = 0; i < pool->ring_count; i++) {
        uint8_t *id = ring_at(pool, i);
        if (cons_idset_remove(&pool->pending, id) == 0) {
            memmove(ring_at(pool, kept), id, CONS_ID_BYTES);
            kept++;
        }
    }
    DC_ASSERT(kept == live);
    DC_ASSERT(pool->pending.count == 0);
    for (uint32_t i = 0; i < kept; i++) {
        int err = cons_idset_insert(&pool->pending, ring_at(pool, i));
        DC_ASSERT(err == 0); /* sized for ring_cap ids, and each was in once */
    }
    pool->compactions++;
    pool->compact_slots += pool->ring_count;
    pool->ring_count = kept;
}

int cons_mempool_submit(struct cons_mempool *pool, const uint8_t id[CONS_ID_BYTES])
{
    int err;
    if (cons_idset_contains(&pool->recent_set, id) || cons_idset_contains(&pool->pending, id)) {
        return DC_EDUPLICATE;
    }
    if (pool->ring_count == pool->ring_cap) {
        /* Compacting a ring that is nearly all live would free a slot or two for O(ring)
         * work, on every submit while the pool stays full: refuse instead. */
        if (pool->ring_count - pool->pending.count < pool->ring_dead_min) {
            pool->full_refusals++;
            return DC_EFULL;
        }
        compact(pool);
    }
    DC_ASSERT(pool->ring_count < pool->ring_cap);
    err = cons_idset_insert(&pool->pending, id);
    DC_ASSERT(err == 0); /* sized for ring_cap ids */
    memcpy(ring_at(pool, pool->ring_count), id, CONS_ID_BYTES);
    pool->ring_count++;
    DC_ASSERT(pool->pending.count <= pool->ring_count);
    return 0;
}

/*
 * Dead slots at the head go for good; then the scan takes live ids in order. A taken id is
 * out of `pending` until the scan ends, so that a second copy of it (see compact()) is
 * skipped rather than put in the block twice.
 */
uint32_t cons_mempool_peek(struct cons_mempool *pool, uint8_t (*out)[CONS_ID_BYTES],
                           uint32_t max)
{
    uint32_t taken = 0;
    while (pool->ring_count > 0 && !cons_idset_contains(&pool->pending, ring_at(pool, 0))) {
        pool->ring_head = (pool->ring_head + 1) % pool->ring_cap;
        pool->ring_count--;
    }
    for (uint32_t i = 0; i < pool->ring_count && taken < max; i++) {
        const uint8_t *id = ring_at(pool, i);
        if (cons_idset_remove(&pool->pending, id) == 0) {
            memcpy(out[taken], id, CONS_ID_BYTES);
            taken++;
        }
    }
    for (uint32_t i = 0; i < taken; i++) {
        int err = cons_idset_insert(&pool->pending, out[i]);
        DC_ASSERT(err == 0);
    }
    return taken;
}

static void remember(struct cons_mempool *pool, const uint8_t id[CONS_ID_BYTES])
{
    if (cons_idset_insert(&pool->recent_set, id) != 0) {
        return; /* already remembered */
    }
    if (pool->recent_count == pool->recent_cap) {
        int err = cons_idset_remove(&pool->recent_set, pool->recent[pool->recent_head]);
        DC_ASSERT(err == 0);
        memcpy(pool->recent[pool->recent_head], id, CONS_ID_BYTES);
        pool->recent_head = (pool->recent_head + 1) % pool->recent_cap;
        return;
    }
    memcpy(pool->recent[(pool->recent_head + pool->recent_count) % pool->recent_cap], id,
           CONS_ID_BYTES);
    pool->recent_count++;
}

void cons_mempool_committed(struct cons_mempool *pool, const uint8_t (*ids)[CONS_ID_BYTES],
                            uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        (void)cons_idset_remove(&pool->pending, ids[i]);
        remember(pool, ids[i]);
    }
    DC_ASSERT(pool->recent_count <= pool->recent_cap);
    DC_ASSERT(pool->recent_set.count == pool->recent_count);
}

int cons_mempool_recent(const struct cons_mempool *pool, const uint8_t id[CONS_ID_BYTES])
{
    return cons_idset_contains(&pool->recent_set, id);
}

uint32_t cons_mempool_pending(const struct cons_mempool *pool)
{
    return pool->pending.count;
}

int cons_mempool_is_pending(const struct cons_mempool *pool, const uint8_t id[CONS_ID_BYTES])
{
    return cons_idset_contains(&pool->pending, id);
}
