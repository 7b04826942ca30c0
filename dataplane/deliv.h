/*
 * deliv: the join between delivered messages and their final positions, by message id.
 *
 * A relay that follows the chain tells each subscriber where the messages of its channel
 * became final (FINAL records, docs/PROTOCOL.md). A commit names message ids only, and it
 * may reach the relay before or after the message itself (the message may still wait for its
 * signature check here while the validators already ordered it). So the I/O thread keeps one
 * table of recent ids, each entry either a delivered message with its target (channel or
 * recipient key) or a final position whose message has not arrived yet; whichever half comes
 * second completes the pair, and the caller sends the FINAL entry then.
 *
 * The table is fixed at start-up: 16-way buckets, the tags of a bucket in one array (a
 * lookup reads two cache lines) and the entries beside them; a new entry takes an empty way
 * or the oldest, and a completed pair frees its way at once. With 4 ways a burst of a few
 * seconds of messages before their block (a stalled round) evicted 0.3-3% of the waiting
 * halves; with 16 ways and freed pairs a bucket overflows only when far more than the table
 * waits at once (dp_deliv.evicted_waiting counts the losses, exported as
 * `final_evicted`). A pair whose first half has left the table gets no FINAL (the client can
 * still ask GET /messages/{id}). Tags are XXH3-64 of the id under a per-node random seed, so
 * no one aims collisions at a bucket.
 *
 * I/O thread only; init/fini on the main thread.
 */
#ifndef DP_DELIV_H
#define DP_DELIV_H

#include "dataplane/wire.h"

#include <stdint.h>

#define DP_DELIV_WAYS 16
#define DP_DELIV_ENTRIES_DEFAULT (1u << 18)

enum dp_deliv_kind { DP_DELIV_EMPTY, DP_DELIV_DELIVERED, DP_DELIV_FINAL_WAITING };

struct dp_deliv_entry {
    uint8_t kind;                      /* enum dp_deliv_kind */
    uint32_t index;                    /* FINAL_WAITING: the position */
    uint64_t height;
    uint8_t target[DP_WIRE_KEY_BYTES]; /* DELIVERED */
};

struct dp_deliv {
    uint64_t *tags;                    /* per way: XXH3 of the id | 1; 0 = empty */
    uint32_t *stamps;                  /* per way: insertion order, for the oldest-way choice */
    struct dp_deliv_entry *entries;    /* bucket_count * DP_DELIV_WAYS */
    uint32_t bucket_mask;
    uint32_t stamp;
    uint64_t seed;
    uint64_t evictions;                /* live entries overwritten */
    uint64_t evicted_waiting;          /* of those, final positions still waiting */
    uint8_t target[DP_WIRE_KEY_BYTES]; /* dp_deliv_final()'s answer */
};

/* `entries` (a power of two, >= DP_DELIV_WAYS). 0, -EINVAL or -ENOMEM. */
int dp_deliv_init(struct dp_deliv *d, uint32_t entries);
void dp_deliv_fini(struct dp_deliv *d);
/*
 * Message `id` was delivered to subscribers of `target`. 1 when its final position was
 * waiting (then *height_out / *index_out are set and the caller sends the FINAL), else 0.
 */
int dp_deliv_note(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES],
                  const uint8_t target[DP_WIRE_KEY_BYTES], uint64_t *height_out,
                  uint32_t *index_out);
/*
 * Message `id` became final at (height, index). 1 with `*target_out` when it was delivered
 * (the caller sends the FINAL); else 0 and the position waits for the message.
 */
int dp_deliv_final(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES], uint64_t height,
                   uint32_t index, const uint8_t **target_out);

#endif
