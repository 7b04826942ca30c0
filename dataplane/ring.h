/*
 * ring: a bounded single-producer single-consumer lock-free ring of pointers.
 *
 * Exactly one thread may call the producer functions (dp_ring_enqueue*) and exactly one other
 * thread the consumer functions (dp_ring_dequeue*); init/fini run before the threads start and
 * after they stop. The hot path is inline here; creation is in ring.c.
 *
 * Indices run freely (uint32_t wrap-around) and are masked on use, so full and empty are told
 * apart without a spare slot. The producer index and the consumer index live on separate cache
 * lines, each with a private copy of the other side's index, so that a burst touches the
 * shared line of the other side only when its cached view says the ring looks full (or
 * empty). Release stores publish slots; acquire loads observe them.
 */
#ifndef DP_RING_H
#define DP_RING_H

#include "common/dc_assert.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DP_CACHE_LINE 64
#define DP_RING_SIZE_MAX (1u << 24)

struct dp_ring {
    /* producer's line */
    _Alignas(DP_CACHE_LINE) _Atomic uint32_t tail;
    uint32_t head_cache; /* producer's last view of head */
    /* consumer's line */
    _Alignas(DP_CACHE_LINE) _Atomic uint32_t head;
    uint32_t tail_cache; /* consumer's last view of tail */
    /* read-only after init */
    _Alignas(DP_CACHE_LINE) uint32_t size;
    uint32_t mask;
    void **slots;
};

/*
 * Makes a ring of `size` slots (a power of two, 2..DP_RING_SIZE_MAX), allocated now.
 * 0, -EINVAL or -ENOMEM.
 */
int dp_ring_init(struct dp_ring *ring, uint32_t size);
void dp_ring_fini(struct dp_ring *ring);

/*
 * Producer: enqueues up to `n` pointers in order; returns how many went in (0..n). The caller
 * counts what did not fit: a full ring is a counted drop, never a wait.
 */
static inline uint32_t dp_ring_enqueue_burst(struct dp_ring *ring, void *const *items, uint32_t n)
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
        ring->slots[(tail + i) & ring->mask] = items[i];
    }
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
    return n;
}

/* Producer: one pointer. 1 when enqueued, 0 when the ring is full. */
static inline uint32_t dp_ring_enqueue(struct dp_ring *ring, void *item)
{
    return dp_ring_enqueue_burst(ring, &item, 1);
}

/* Consumer: dequeues up to `n` pointers in order into items[]; returns how many (0..n). */
static inline uint32_t dp_ring_dequeue_burst(struct dp_ring *ring, void **items, uint32_t n)
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
        items[i] = ring->slots[(head + i) & ring->mask];
    }
    atomic_store_explicit(&ring->head, head + n, memory_order_release);
    return n;
}

/* Consumer: one pointer, or NULL when empty (NULL is never a valid item). */
static inline void *dp_ring_dequeue(struct dp_ring *ring)
{
    void *item = NULL;
    return dp_ring_dequeue_burst(ring, &item, 1) == 1 ? item : NULL;
}

/* A polite spin-wait step (the sibling hyper-thread gets the core meanwhile). */
static inline void dp_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Either side: an instantaneous, possibly stale, count of queued items. */
static inline uint32_t dp_ring_count(const struct dp_ring *ring)
{
    /* head first: tail only grows and never trails head, so the difference cannot wrap */
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    return tail - head;
}

#endif
