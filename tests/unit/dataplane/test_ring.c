#include "dataplane/ring.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

/* Items are small integers cast to pointers; 0 is never used (NULL means "empty"). */
#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define VALUE(p) ((uint64_t)(uintptr_t)(p)-1)

Test(dp_ring, rejects_sizes_that_are_not_powers_of_two)
{
    struct dp_ring r;
    cr_assert_eq(dp_ring_init(&r, 0), -EINVAL);
    cr_assert_eq(dp_ring_init(&r, 1), -EINVAL);
    cr_assert_eq(dp_ring_init(&r, 3), -EINVAL);
    cr_assert_eq(dp_ring_init(&r, 1000), -EINVAL);
    cr_assert_eq(dp_ring_init(&r, DP_RING_SIZE_MAX * 2), -EINVAL);
    cr_assert_eq(dp_ring_init(&r, 2), 0);
    dp_ring_fini(&r);
}

Test(dp_ring, empty_then_full_then_empty_in_order)
{
    struct dp_ring r;
    cr_assert_eq(dp_ring_init(&r, 8), 0);
    cr_assert_null(dp_ring_dequeue(&r));
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(dp_ring_enqueue(&r, ITEM(i)), 1);
    }
    cr_assert_eq(dp_ring_count(&r), 8);
    cr_assert_eq(dp_ring_enqueue(&r, ITEM(99)), 0, "a full ring refuses");
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(VALUE(dp_ring_dequeue(&r)), (uint64_t)i);
    }
    cr_assert_null(dp_ring_dequeue(&r));
    cr_assert_eq(dp_ring_count(&r), 0);
    dp_ring_fini(&r);
}

Test(dp_ring, bursts_are_partial_when_space_or_items_run_out)
{
    struct dp_ring r;
    cr_assert_eq(dp_ring_init(&r, 16), 0);
    void *in[20];
    void *out[20];
    for (int i = 0; i < 20; i++) {
        in[i] = ITEM(i);
    }
    cr_assert_eq(dp_ring_enqueue_burst(&r, in, 10), 10);
    cr_assert_eq(dp_ring_enqueue_burst(&r, in + 10, 10), 6, "only 6 slots were left");
    cr_assert_eq(dp_ring_dequeue_burst(&r, out, 4), 4);
    cr_assert_eq(dp_ring_dequeue_burst(&r, out + 4, 20), 12, "only 12 items were left");
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(VALUE(out[i]), (uint64_t)i);
    }
    cr_assert_eq(dp_ring_dequeue_burst(&r, out, 20), 0);
    dp_ring_fini(&r);
}

Test(dp_ring, indices_wrap_around_uint32)
{
    struct dp_ring r;
    cr_assert_eq(dp_ring_init(&r, 4), 0);
    /* Start both indices just below the wrap point, as after ~4 billion items. */
    atomic_store(&r.head, UINT32_MAX - 2);
    atomic_store(&r.tail, UINT32_MAX - 2);
    r.head_cache = UINT32_MAX - 2;
    r.tail_cache = UINT32_MAX - 2;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(dp_ring_enqueue(&r, ITEM(round * 4 + i)), 1);
        }
        cr_assert_eq(dp_ring_enqueue(&r, ITEM(0)), 0);
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(VALUE(dp_ring_dequeue(&r)), (uint64_t)(round * 4 + i));
        }
        cr_assert_null(dp_ring_dequeue(&r));
    }
    dp_ring_fini(&r);
}

/* Two threads: every item arrives exactly once and in order, through a small ring. */
#define STRESS_ITEMS 4000000u

struct stress {
    struct dp_ring ring;
    uint64_t full_retries;
};

static void *producer(void *arg)
{
    struct stress *s = arg;
    void *burst[13];
    uint64_t next = 0;
    while (next < STRESS_ITEMS) {
        uint32_t n = 0;
        while (n < 13 && next + n < STRESS_ITEMS) {
            burst[n] = ITEM(next + n);
            n++;
        }
        uint32_t sent = dp_ring_enqueue_burst(&s->ring, burst, n);
        if (sent == 0) {
            s->full_retries++;
            sched_yield();
        }
        next += sent;
    }
    return NULL;
}

Test(dp_ring, two_threads_millions_of_items_in_order_and_complete, .timeout = 120)
{
    struct stress s = { .full_retries = 0 };
    cr_assert_eq(dp_ring_init(&s.ring, 256), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, producer, &s), 0);
    void *burst[17];
    uint64_t expect = 0;
    uint64_t checksum = 0;
    while (expect < STRESS_ITEMS) {
        uint32_t n = dp_ring_dequeue_burst(&s.ring, burst, 17);
        if (n == 0) {
            sched_yield();
        }
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v = VALUE(burst[i]);
            if (v != expect) {
                cr_assert_fail("item %llu arrived where %llu was due", (unsigned long long)v,
                         (unsigned long long)expect);
            }
            checksum += v;
            expect++;
        }
    }
    pthread_join(t, NULL);
    cr_assert_null(dp_ring_dequeue(&s.ring), "nothing extra after the last item");
    cr_assert_eq(checksum, (uint64_t)STRESS_ITEMS * (STRESS_ITEMS - 1) / 2);
    dp_ring_fini(&s.ring);
}
