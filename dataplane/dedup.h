/*
 * dedup: a bounded table of recently seen messages, so each message is verified and
 * forwarded once however many peers send it to us.
 *
 * The key is XXH3-128 of the whole message record body (header, payload and signature) under
 * a per-node random 192-byte secret: a sender cannot aim collisions at the table without the
 * secret, and cannot pre-empt a real message with a forged copy (the copy is a different
 * body, so a different key; and de-dup runs before verification, so a bad signature never
 * evicts the real message's entry for more than its own slot).
 *
 * Layout: 8-way set-associative buckets of one cache line each (8-byte entries: a 40-bit
 * fingerprint and a 24-bit time stamp); a lookup touches one line, and the I/O thread hashes a
 * whole receive burst and prefetches its buckets before the lookups, so the cache misses of a
 * table much larger than the cache overlap instead of adding up. An entry lives for `window_s`
 * seconds; past that its slot is free again. When all 8 ways of a bucket are live, the oldest
 * is overwritten and counted as an eviction (the table is too small for the traffic: a late
 * duplicate may then get through, never a lost message).
 *
 * Memory is allocated in dp_dedup_init(); dp_dedup_check() never allocates. One thread only
 * (the I/O thread) calls check; init/fini run before/after it.
 */
#ifndef DP_DEDUP_H
#define DP_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#define DP_DEDUP_WAYS 8
#define DP_DEDUP_SECRET_BYTES 192
#define DP_DEDUP_WINDOW_S_MAX (1u << 22)

/* An entry: fingerprint << 24 | stamp, stamp = 1 + time mod (2^24 - 1); 0 = empty. */
struct dp_dedup_bucket {
    _Alignas(64) uint64_t ways[DP_DEDUP_WAYS];
};

struct dp_dedup {
    struct dp_dedup_bucket *buckets;
    uint64_t bucket_mask;
    size_t bytes;
    void *map;        /* the mapping the 2 MiB-aligned table lives in */
    size_t map_bytes;
    uint32_t window_s;
    uint64_t evictions;
    uint8_t secret[DP_DEDUP_SECRET_BYTES];
};

/*
 * Table of at least `entries` entries (rounded up to a power of two, >= 8), remembering each
 * key for `window_s` seconds (1..DP_DEDUP_WINDOW_S_MAX). The secret comes from libsodium's
 * CSPRNG. 0, -EINVAL, -ENOMEM.
 */
int dp_dedup_init(struct dp_dedup *dd, uint32_t entries, uint32_t window_s);
void dp_dedup_fini(struct dp_dedup *dd);
/* Tests: replace the random secret (deterministic collisions). */
void dp_dedup_set_secret(struct dp_dedup *dd, const uint8_t secret[DP_DEDUP_SECRET_BYTES]);

/* The keyed hash of a key: compute it, prefetch its bucket, check it later. */
uint64_t dp_dedup_hash(const struct dp_dedup *dd, const uint8_t *key, size_t len);

static inline void dp_dedup_prefetch(const struct dp_dedup *dd, uint64_t hash)
{
    __builtin_prefetch(&dd->buckets[hash & dd->bucket_mask], 1, 3);
}

/* dp_dedup_check() for a hash from dp_dedup_hash(). */
int dp_dedup_check_hash(struct dp_dedup *dd, uint64_t hash, uint32_t now_s);

/*
 * Looks `key[len]` up at time `now_s` (seconds, monotonic, from the caller's loop clock) and
 * remembers it. 1 when it was seen within the window (a duplicate), 0 when it is new.
 */
int dp_dedup_check(struct dp_dedup *dd, const uint8_t *key, size_t len, uint32_t now_s);

#endif
