#include "dataplane/dedup.h"

#include "common/dc_assert.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#define STAMP_BITS 24
#define STAMP_MASK ((1ull << STAMP_BITS) - 1)
#define STAMP_MOD ((uint32_t)STAMP_MASK) /* stamps are 1..STAMP_MOD */
#define HUGE_PAGE (2u << 20)

_Static_assert(sizeof(struct dp_dedup_bucket) == 64, "one bucket = one cache line");
_Static_assert(DP_DEDUP_SECRET_BYTES >= XXH3_SECRET_SIZE_MIN, "XXH3 secret size");
_Static_assert(DP_DEDUP_WINDOW_S_MAX < STAMP_MOD / 2, "ages stay unambiguous");

int dp_dedup_init(struct dp_dedup *dd, uint32_t entries, uint32_t window_s)
{
    if (entries < DP_DEDUP_WAYS || entries > (1u << 30) || window_s == 0 ||
        window_s > DP_DEDUP_WINDOW_S_MAX) {
        return -EINVAL;
    }
    uint64_t buckets = 1;
    while (buckets * DP_DEDUP_WAYS < entries) {
        buckets <<= 1;
    }
    memset(dd, 0, sizeof(*dd));
    dd->bytes = buckets * sizeof(struct dp_dedup_bucket);
    dd->map_bytes = dd->bytes + HUGE_PAGE;
    dd->map = mmap(NULL, dd->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (dd->map == MAP_FAILED) {
        dd->map = NULL;
        return -ENOMEM;
    }
    uintptr_t at = ((uintptr_t)dd->map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    dd->buckets = (struct dp_dedup_bucket *)at;
    /* One TLB entry per 2 MiB (every lookup lands somewhere random in the table); then
     * touch every page now, so no page fault happens on the hot path. */
    (void)madvise(dd->buckets, dd->bytes, MADV_HUGEPAGE);
    memset(dd->buckets, 0, dd->bytes);
    dd->bucket_mask = buckets - 1;
    dd->window_s = window_s;
    if (sodium_init() < 0) {
        dp_dedup_fini(dd);
        return -EIO;
    }
    randombytes_buf(dd->secret, sizeof(dd->secret));
    return 0;
}

void dp_dedup_fini(struct dp_dedup *dd)
{
    if (dd->map != NULL) {
        munmap(dd->map, dd->map_bytes);
    }
    dd->map = NULL;
    dd->buckets = NULL;
}

void dp_dedup_set_secret(struct dp_dedup *dd, const uint8_t secret[DP_DEDUP_SECRET_BYTES])
{
    memcpy(dd->secret, secret, DP_DEDUP_SECRET_BYTES);
}

uint64_t dp_dedup_hash(const struct dp_dedup *dd, const uint8_t *key, size_t len)
{
    return XXH3_64bits_withSecret(key, len, dd->secret, sizeof(dd->secret));
}

int dp_dedup_check_hash(struct dp_dedup *dd, uint64_t hash, uint32_t now_s)
{
    struct dp_dedup_bucket *b = &dd->buckets[hash & dd->bucket_mask];
    uint64_t fp = hash >> STAMP_BITS; /* the top 40 bits */
    uint32_t stamp = 1 + now_s % STAMP_MOD;
    int victim = -1;
    uint32_t victim_age = 0;
    int victim_live = 1;
    for (int i = 0; i < DP_DEDUP_WAYS; i++) {
        uint64_t e = b->ways[i];
        uint32_t seen = (uint32_t)(e & STAMP_MASK);
        uint32_t age = stamp >= seen ? stamp - seen : stamp + STAMP_MOD - seen; /* no divide */
        int live = e != 0 && age < dd->window_s;
        if (live && e >> STAMP_BITS == fp) {
            return 1;
        }
        /* Prefer a free or expired slot; among live ones, the oldest. */
        if (victim < 0 || (victim_live && (!live || age > victim_age))) {
            victim = i;
            victim_age = age;
            victim_live = live;
        }
    }
    DC_ASSERT(victim >= 0);
    if (victim_live) {
        dd->evictions++;
    }
    b->ways[victim] = fp << STAMP_BITS | stamp;
    return 0;
}

int dp_dedup_check(struct dp_dedup *dd, const uint8_t *key, size_t len, uint32_t now_s)
{
    return dp_dedup_check_hash(dd, dp_dedup_hash(dd, key, len), now_s);
}
