/*
 * cons_mempool: message ids waiting to be ordered, and the ids ordered recently.
 *
 * Ids submitted to a validator wait in submission order until a block commits them; the
 * proposer copies the oldest ones into its next block (at most the configured batch) without
 * taking them out, so ids in a block that fails to commit are proposed again. When a block
 * commits (ours, another validator's, or one fetched by sync) its ids leave the pool and
 * join a bounded window of recently committed ids, which refuses resubmissions and lets a
 * validator prevote nil on a block that repeats an id.
 *
 * Cost: every call but peek is amortized O(1) hash operations, full or not. A committed id
 * leaves the pending set at once but its ring slot stays (dead) until the oldest ids pass
 * it or the ring is compacted, which is O(ring). A full ring is compacted only when at least
 * 1/CONS_MEMPOOL_DEAD_DIVISOR of its slots are dead, so the slots it frees pay for it;
 * otherwise submit refuses with DC_EFULL at once. The pool may therefore refuse while up to
 * that fraction (rounded up) of its capacity is dead: it holds at least
 * pending_max - ceil(pending_max / CONS_MEMPOOL_DEAD_DIVISOR) + 1 live ids before it does.
 * Peek scans the ring from the oldest id until it has `max` live ones.
 *
 * Threads: owned by the consensus state machine's thread.
 */
#ifndef CONS_MEMPOOL_H
#define CONS_MEMPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "consensus/idset.h"

/* A full ring is compacted only when 1/this of its slots (rounded up) are dead. */
#define CONS_MEMPOOL_DEAD_DIVISOR 8u

struct cons_mempool {
    uint8_t (*ring)[CONS_ID_BYTES];   /* pending ids in order; removed ones stay until passed */
    uint32_t ring_cap;
    uint32_t ring_head;
    uint32_t ring_count;              /* live and dead slots */
    uint32_t ring_dead_min;           /* dead slots that make a full ring worth compacting */
    struct cons_idset pending;        /* the live ids of the ring */
    uint8_t (*recent)[CONS_ID_BYTES]; /* the last `recent_cap` committed ids, oldest first */
    uint32_t recent_cap;
    uint32_t recent_head;
    uint32_t recent_count;
    struct cons_idset recent_set;
    uint64_t full_refusals;           /* submits refused with DC_EFULL: a /metrics counter */
    uint64_t compactions;
    uint64_t compact_slots;           /* ring slots compactions scanned: their total work */
};

/* Caller memory for a pool of `pending_max` ids and a window of `recent_max` ids. */
size_t cons_mempool_mem_size(uint32_t pending_max, uint32_t recent_max);
void cons_mempool_init(struct cons_mempool *pool, void *mem, uint32_t pending_max,
                       uint32_t recent_max, const uint8_t key[CONS_IDSET_KEY_BYTES]);
/*
 * 0, DC_EDUPLICATE (pending, or committed within the window) or DC_EFULL (the ring is full
 * and fewer than ring_dead_min of its slots are dead; counted in full_refusals).
 */
int cons_mempool_submit(struct cons_mempool *pool, const uint8_t id[CONS_ID_BYTES]);
/* Copy up to `max` of the oldest pending ids into `out`; returns how many. */
uint32_t cons_mempool_peek(struct cons_mempool *pool, uint8_t (*out)[CONS_ID_BYTES],
                           uint32_t max);
/* Ids of a committed block: drop them from the pool, remember them in the window. */
void cons_mempool_committed(struct cons_mempool *pool, const uint8_t (*ids)[CONS_ID_BYTES],
                            uint32_t count);
/* Whether `id` was committed within the window. */
int cons_mempool_recent(const struct cons_mempool *pool, const uint8_t id[CONS_ID_BYTES]);
uint32_t cons_mempool_pending(const struct cons_mempool *pool);
/* Whether `id` waits in the pool (submitted, not yet committed). */
int cons_mempool_is_pending(const struct cons_mempool *pool, const uint8_t id[CONS_ID_BYTES]);

#endif
