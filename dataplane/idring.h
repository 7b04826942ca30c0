/*
 * idring: a bounded single-producer single-consumer lock-free ring of 32-byte message ids.
 *
 * The I/O thread pushes the id of every message its verify workers accepted; the consensus
 * thread pops them into the mempool. Ids are copied by value (a ring of pointers would need
 * the message slot to stay alive until consensus took it). The layout follows dataplane/ring.h:
 * free-running indices masked on use, producer and consumer lines apart, each side caching
 * the other's index, release stores publishing slots. A full ring refuses the rest of a burst
 * and the caller counts it (DP_STAT_DROP_CONS_IDS): the I/O thread never waits.
 *
 * Threads: exactly one producer (the I/O thread) and one consumer (the consensus thread);
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
    uint8_t (*slots)[DP_IDRING_ID_BYTES];
};

/* `size` ids (a power of two, 2..DP_IDRING_SIZE_MAX), allocated now. 0, -EINVAL, -ENOMEM. */
int dp_idring_init(struct dp_idring *ring, uint32_t size);
void dp_idring_fini(struct dp_idring *ring);

/* Producer: copies up to `n` ids in order; returns how many went in. */
static inline uint32_t dp_idring_push_burst(struct dp_idring *ring,
                                            const uint8_t (*ids)[DP_IDRING_ID_BYTES],
                                            uint32_t n)
{
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
        memcpy(ring->slots[(tail + i) & ring->mask], ids[i], DP_IDRING_ID_BYTES);
    }
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
    return n;
}

/* Consumer: copies up to `n` of the oldest ids into ids[]; returns how many. */
static inline uint32_t dp_idring_pop_burst(struct dp_idring *ring,
                                           uint8_t (*ids)[DP_IDRING_ID_BYTES], uint32_t n)
{
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
        memcpy(ids[i], ring->slots[(head + i) & ring->mask], DP_IDRING_ID_BYTES);
    }
    atomic_store_explicit(&ring->head, head + n, memory_order_release);
    return n;
}

/* Either side: a possibly stale count of queued ids. */
static inline uint32_t dp_idring_count(const struct dp_idring *ring)
{
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    return tail - head;
}

#endif
