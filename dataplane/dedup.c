#include "dataplane/dedup.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <xxhash.h>

_Static_assert(sizeof(struct dp_dedup_bucket) == 64, "one bucket = one cache line");
_Static_assert(DP_DEDUP_SECRET_BYTES >= XXH3_SECRET_SIZE_MIN, "XXH3 secret size");

int dp_dedup_init(struct dp_dedup *dd, uint32_t entries, uint32_t window_s)
{
    if (entries < DP_DEDUP_WAYS || entries > (1u << 30) || window_s == 0) {
        return -EINVAL;
    }
    uint64_t buckets = 1;
    while (buckets * DP_DEDUP_WAYS < entries) {
        buckets <<= 1;
    }
    memset(dd, 0, sizeof(*dd));
    dd->buckets = dc_alloc_aligned(64, buckets * sizeof(struct dp_dedup_bucket));
    if (dd->buckets == NULL) {
        return -ENOMEM;
    }
    dd->bucket_mask = buckets - 1;
    dd->window_s = window_s;
    if (sodium_init() < 0) {
        dc_free(dd->buckets);
        dd->buckets = NULL;
        return -EIO;
    }
    randombytes_buf(dd->secret, sizeof(dd->secret));
    return 0;
}

void dp_dedup_fini(struct dp_dedup *dd)
{
    dc_free(dd->buckets);
    dd->buckets = NULL;
}

void dp_dedup_set_secret(struct dp_dedup *dd, const uint8_t secret[DP_DEDUP_SECRET_BYTES])
{
    memcpy(dd->secret, secret, DP_DEDUP_SECRET_BYTES);
}

int dp_dedup_check(struct dp_dedup *dd, const uint8_t *key, size_t len, uint32_t now_s)
{
    XXH128_hash_t h = XXH3_128bits_withSecret(key, len, dd->secret, sizeof(dd->secret));
    struct dp_dedup_bucket *b = &dd->buckets[h.low64 & dd->bucket_mask];
    uint64_t fp = h.high64 | 1; /* never 0 */
    uint32_t stamp = now_s + 1;
    struct dp_dedup_entry *victim = NULL;
    uint32_t victim_age = 0;
    int victim_live = 1;
    for (int i = 0; i < DP_DEDUP_WAYS; i++) {
        struct dp_dedup_entry *e = &b->ways[i];
        uint32_t age = stamp - e->seen_s; /* unsigned: an empty slot looks ancient */
        int live = e->seen_s != 0 && age < dd->window_s;
        if (live && e->fp == fp) {
            return 1;
        }
        /* Prefer a free or expired slot; among live ones, the oldest. */
        if (victim == NULL || (victim_live && (!live || age > victim_age))) {
            victim = e;
            victim_age = age;
            victim_live = live;
        }
    }
    DC_ASSERT(victim != NULL);
    if (victim_live) {
        dd->evictions++;
    }
    victim->fp = fp;
    victim->seen_s = stamp;
    return 0;
}
