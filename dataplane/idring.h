/*
 * idring: a bounded single-producer single-consumer lock-free ring of small fixed-size items,
 * copied by value: 32-byte message ids unless told otherwise.
 *
 * On a validator the I/O thread pushes the id of every message its verify workers accepted
 * and the consensus thread pops them into the mempool; on a relay that follows the chain the
 * follower pushes final positions (struct dp_final_item) and the I/O thread pops them to tell
 * subscribers. Items are copied (a ring of pointers would need the producer's memory to stay
 * alive until the consumer took it). The layout follows dataplane/ring.h:
 * free-running indices masked on use, producer and consumer lines apart, each side caching
 * the other's index, release stores publishing slots. A full ring refuses the rest of a burst
 * and the caller counts it (e.g. DP_STAT_DROP_CONS_IDS): the I/O thread never waits.
 *
 * Threads: exactly one producer thread and one consumer thread;
 * init/fini on the main thread before they start / after they stop.
 */
#ifndef DP_IDRING_H
#define DP_IDRING_H

#include "dataplane/ring.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define DP_IDRING_ID_BYTES 32
#define DP_IDRING_SIZE_MAX (1u << 22)

struct dp_idring {
    _Alignas(DP_CACHE_LINE) _Atomic uint32_t tail;
    uint32_t head_cache;
    _Alignas(DP_CACHE_LINE) _Atomic uint32_t head;
    uint32_t tail_cache;
    _Alignas(DP_CACHE_LINE) uint32_t size;
    uint32_t mask;
    uint32_t item_bytes;
    uint8_t *slots;
};

/* `size` ids (a power of two, 2..DP_IDRING_SIZE_MAX), allocated now. 0, -EINVAL, -ENOMEM. */
int dp_idring_init(struct dp_idring *ring, uint32_t size);
/* The same with items of `item_bytes` (1..256) instead of ids. */
int dp_idring_init_items(struct dp_idring *ring, uint32_t size, uint32_t item_bytes);
void dp_idring_fini(struct dp_idring *ring);

/* Producer: copies up to `n` items (n * item_bytes bytes) in order; returns how many went in. */
static inline uint32_t dp_idring_push_burst(struct dp_idring *ring, const void *items,
                                            uint32_t n)
{
    const uint8_t *in = items;
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint32_t free_count = ring->size - (tail - ring->head_cache);
    if (free_count < n) {
        ring->head_cache = atomic_load_explicit(&ring->head, memory_order_acquire);
        free_count = ring->size - (tail - ring->head_cache);
    }
    DC_ASSERT(free_count <= ring->size);
    if (n > free_count) {
        n = free_count;
    }
    for (uint32_t i = 0; i < n; i++) {
        memcpy(ring->slots + (size_t)((tail + i) & ring->mask) * ring->item_bytes,
               in + (size_t)i * ring->item_bytes, ring->item_bytes);
    }
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
    return n;
}

/* Consumer: copies up to `n` of the oldest items into `items`; returns how many. */
static inline uint32_t dp_idring_pop_burst(struct dp_idring *ring, void *items, uint32_t n)
{
    uint8_t *out = items;
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint32_t used = ring->tail_cache - head;
    if (used < n) {
        ring->tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
        used = ring->tail_cache - head;
    }
    DC_ASSERT(used <= ring->size);
    if (n > used) {
        n = used;
    }
    for (uint32_t i = 0; i < n; i++) {
        memcpy(out + (size_t)i * ring->item_bytes,
               ring->slots + (size_t)((head + i) & ring->mask) * ring->item_bytes,
               ring->item_bytes);
    }
    atomic_store_explicit(&ring->head, head + n, memory_order_release);
    return n;
}

/* Either side: a possibly stale count of queued items. */
static inline uint32_t dp_idring_count(const struct dp_idring *ring)
{
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    return tail - head;
}

#endif
