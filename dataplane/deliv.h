/*
 * deliv: which channel a recently delivered message belonged to, by message id.
 *
 * A relay that follows the chain tells each subscriber where the messages of its channel
 * became final (FINAL records, docs/PROTOCOL.md). The commit names message ids only, so the
 * I/O thread remembers, for every message it delivered to at least one subscriber, the
 * message's target (channel or recipient key) under its id. The table is fixed at start-up:
 * 4-way buckets of one id tag, a time stamp and the target; a new entry takes an empty way
 * or the oldest one, so an entry lives as long as the delivery rate allows (at 30,000 msgs/s
 * and the default 2^18 entries, about 8 seconds, far more than the time to finality). An id
 * that has left the table gets no FINAL (the client can still ask GET /messages/{id}).
 *
 * Tags are XXH3-64 of the id under a per-node random seed, so no one aims collisions at a
 * bucket. I/O thread only; init/fini on the main thread.
 */
#ifndef DP_DELIV_H
#define DP_DELIV_H

#include "dataplane/wire.h"

#include <stdint.h>

#define DP_DELIV_WAYS 4
#define DP_DELIV_ENTRIES_DEFAULT (1u << 18)

struct dp_deliv_entry {
    uint64_t tag;                      /* 0: empty */
    uint32_t stamp;                    /* insertion order, for the oldest-way choice */
    uint8_t target[DP_WIRE_KEY_BYTES];
};

struct dp_deliv {
    struct dp_deliv_entry *entries;    /* bucket_count * DP_DELIV_WAYS */
    uint32_t bucket_mask;
    uint32_t stamp;
    uint64_t seed;
    uint64_t evictions;                /* live entries overwritten */
};

/* `entries` (a power of two, >= DP_DELIV_WAYS). 0, -EINVAL or -ENOMEM. */
int dp_deliv_init(struct dp_deliv *d, uint32_t entries);
void dp_deliv_fini(struct dp_deliv *d);
/* Remember that message `id` went to subscribers of `target`. */
void dp_deliv_note(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES],
                   const uint8_t target[DP_WIRE_KEY_BYTES]);
/* The target of a remembered message: 1 with `target_out` set, or 0. */
int dp_deliv_find(const struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES],
                  const uint8_t **target_out);

#endif
