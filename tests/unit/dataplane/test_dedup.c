#include "dataplane/dedup.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void key_of(uint8_t key[32], uint32_t i)
{
    memset(key, 0, 32);
    memcpy(key, &i, sizeof(i));
}

Test(dp_dedup, rejects_bad_sizes)
{
    struct dp_dedup dd;
    cr_assert_eq(dp_dedup_init(&dd, 0, 10), -EINVAL);
    cr_assert_eq(dp_dedup_init(&dd, 1024, 0), -EINVAL);
    cr_assert_eq(dp_dedup_init(&dd, 1024, DP_DEDUP_WINDOW_S_MAX + 1), -EINVAL);
}

Test(dp_dedup, second_sighting_is_a_duplicate_and_distinct_keys_are_not)
{
    struct dp_dedup dd;
    cr_assert_eq(dp_dedup_init(&dd, 1 << 20, 60), 0); /* 1% full: no bucket overflows */
    uint8_t key[32];
    for (uint32_t i = 0; i < 10000; i++) {
        key_of(key, i);
        cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 5), 0, "key %u is new", i);
    }
    for (uint32_t i = 0; i < 10000; i++) {
        key_of(key, i);
        cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 6), 1, "key %u was seen", i);
    }
    cr_assert_eq(dd.evictions, 0);
    dp_dedup_fini(&dd);
}

Test(dp_dedup, keys_differing_in_one_byte_or_length_are_distinct)
{
    struct dp_dedup dd;
    cr_assert_eq(dp_dedup_init(&dd, 1024, 60), 0);
    uint8_t a[300];
    memset(a, 7, sizeof(a));
    cr_assert_eq(dp_dedup_check(&dd, a, sizeof(a), 1), 0);
    a[299] ^= 1;
    cr_assert_eq(dp_dedup_check(&dd, a, sizeof(a), 1), 0, "last byte differs");
    cr_assert_eq(dp_dedup_check(&dd, a, sizeof(a) - 1, 1), 0, "shorter key");
    cr_assert_eq(dp_dedup_check(&dd, a, sizeof(a), 1), 1);
    dp_dedup_fini(&dd);
}

Test(dp_dedup, entries_expire_after_the_window)
{
    struct dp_dedup dd;
    cr_assert_eq(dp_dedup_init(&dd, 1024, 10), 0);
    uint8_t key[32];
    key_of(key, 42);
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 100), 0);
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 109), 1, "inside the window");
    /* the check at 109 refreshed nothing: the entry dates from 100 */
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 110), 0, "window over: new again");
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 111), 1);
    dp_dedup_fini(&dd);
}

Test(dp_dedup, a_full_table_evicts_the_oldest_and_counts_it)
{
    struct dp_dedup dd;
    cr_assert_eq(dp_dedup_init(&dd, DP_DEDUP_WAYS, 1000), 0); /* one bucket */
    uint8_t key[32];
    for (uint32_t i = 0; i < DP_DEDUP_WAYS; i++) {
        key_of(key, i);
        cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 10 + i), 0);
    }
    cr_assert_eq(dd.evictions, 0);
    key_of(key, DP_DEDUP_WAYS);
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 20), 0);
    cr_assert_eq(dd.evictions, 1);
    key_of(key, 0); /* the oldest, overwritten */
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 21), 0);
    key_of(key, DP_DEDUP_WAYS - 1); /* the newest of the first ones survived both evictions */
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 21), 1);
    dp_dedup_fini(&dd);
}

Test(dp_dedup, stamps_wrap_without_losing_the_window)
{
    struct dp_dedup dd;
    cr_assert_eq(dp_dedup_init(&dd, 1024, 10), 0);
    uint8_t key[32];
    key_of(key, 1);
    uint32_t t = (1u << 24) - 5; /* the 24-bit stamp wraps during the window */
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), t), 0);
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), t + 9), 1);
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), t + 10), 0);
    dp_dedup_fini(&dd);
}

Test(dp_dedup, hash_then_check_equals_check)
{
    struct dp_dedup dd;
    cr_assert_eq(dp_dedup_init(&dd, 1024, 10), 0);
    uint8_t key[32];
    key_of(key, 5);
    uint64_t h = dp_dedup_hash(&dd, key, sizeof(key));
    dp_dedup_prefetch(&dd, h);
    cr_assert_eq(dp_dedup_check_hash(&dd, h, 3), 0);
    cr_assert_eq(dp_dedup_check(&dd, key, sizeof(key), 3), 1);
    dp_dedup_fini(&dd);
}

Test(dp_dedup, the_secret_changes_the_bucket_layout)
{
    struct dp_dedup a;
    struct dp_dedup b;
    cr_assert_eq(dp_dedup_init(&a, 1 << 12, 60), 0);
    cr_assert_eq(dp_dedup_init(&b, 1 << 12, 60), 0);
    cr_assert_neq(memcmp(a.secret, b.secret, sizeof(a.secret)), 0, "random per table");
    uint8_t secret[DP_DEDUP_SECRET_BYTES];
    memset(secret, 0x5a, sizeof(secret));
    dp_dedup_set_secret(&a, secret);
    dp_dedup_set_secret(&b, secret);
    uint8_t key[32];
    key_of(key, 9);
    cr_assert_eq(dp_dedup_check(&a, key, sizeof(key), 1), 0);
    cr_assert_eq(dp_dedup_check(&b, key, sizeof(key), 1), 0);
    cr_assert_eq(memcmp(a.buckets, b.buckets, (a.bucket_mask + 1) * sizeof(a.buckets[0])), 0,
                 "same secret, same layout");
    dp_dedup_fini(&a);
    dp_dedup_fini(&b);
}
