#include "dataplane/idring.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Id number i: its 8 first bytes hold i, the rest a pattern derived from it. */
static void make_id(uint64_t i, uint8_t id[DP_IDRING_ID_BYTES])
{
    memcpy(id, &i, sizeof(i));
    for (int b = 8; b < DP_IDRING_ID_BYTES; b++) {
        id[b] = (uint8_t)(i * 31u + (uint64_t)b);
    }
}

static uint64_t id_number(const uint8_t id[DP_IDRING_ID_BYTES])
{
    uint64_t i;
    memcpy(&i, id, sizeof(i));
    uint8_t want[DP_IDRING_ID_BYTES];
    make_id(i, want);
    cr_assert_arr_eq(id, want, DP_IDRING_ID_BYTES, "id %llu arrived damaged",
                     (unsigned long long)i);
    return i;
}

Test(dp_idring, rejects_sizes_that_are_not_powers_of_two)
{
    struct dp_idring r;
    cr_assert_eq(dp_idring_init(&r, 0), -EINVAL);
    cr_assert_eq(dp_idring_init(&r, 1), -EINVAL);
    cr_assert_eq(dp_idring_init(&r, 6), -EINVAL);
    cr_assert_eq(dp_idring_init(&r, DP_IDRING_SIZE_MAX * 2), -EINVAL);
    cr_assert_eq(dp_idring_init(&r, 4), 0);
    dp_idring_fini(&r);
}

Test(dp_idring, full_ring_takes_part_of_a_burst_and_keeps_order)
{
    struct dp_idring r;
    cr_assert_eq(dp_idring_init(&r, 8), 0);
    uint8_t in[12][DP_IDRING_ID_BYTES];
    uint8_t out[12][DP_IDRING_ID_BYTES];
    for (int i = 0; i < 12; i++) {
        make_id((uint64_t)i, in[i]);
    }
    cr_assert_eq(dp_idring_pop_burst(&r, out, 12), 0, "empty");
    cr_assert_eq(dp_idring_push_burst(&r, in, 12), 8, "8 slots");
    cr_assert_eq(dp_idring_count(&r), 8);
    cr_assert_eq(dp_idring_push_burst(&r, in + 8, 4), 0, "full");
    cr_assert_eq(dp_idring_pop_burst(&r, out, 3), 3);
    cr_assert_eq(dp_idring_push_burst(&r, in + 8, 4), 3, "3 freed");
    cr_assert_eq(dp_idring_pop_burst(&r, out + 3, 12), 8);
    for (int i = 0; i < 11; i++) {
        cr_assert_eq(id_number(out[i]), (uint64_t)i, "position %d", i);
    }
    dp_idring_fini(&r);
}

#define STRESS_IDS 2000000u

static void *producer(void *arg)
{
    struct dp_idring *r = arg;
    uint8_t burst[16][DP_IDRING_ID_BYTES];
    uint64_t next = 0;
    while (next < STRESS_IDS) {
        uint32_t n = 0;
        for (; n < 16 && next + n < STRESS_IDS; n++) {
            make_id(next + n, burst[n]);
        }
        uint32_t done = 0;
        while (done < n) {
            done += dp_idring_push_burst(r, burst + done, n - done);
            if (done < n) {
                dp_cpu_relax();
            }
        }
        next += n;
    }
    return NULL;
}

Test(dp_idring, two_threads_pass_every_id_once_in_order)
{
    struct dp_idring r;
    cr_assert_eq(dp_idring_init(&r, 256), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, producer, &r), 0);
    uint8_t out[32][DP_IDRING_ID_BYTES];
    uint64_t expect = 0;
    while (expect < STRESS_IDS) {
        uint32_t n = dp_idring_pop_burst(&r, out, 32);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t got = id_number(out[i]);
            if (got != expect) {
                cr_assert_fail("id %llu arrived where %llu was due", (unsigned long long)got,
                         (unsigned long long)expect);
            }
            expect++;
        }
        if (n == 0) {
            dp_cpu_relax();
        }
    }
    pthread_join(t, NULL);
    cr_assert_eq(dp_idring_count(&r), 0);
    dp_idring_fini(&r);
}
