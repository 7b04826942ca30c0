#include "dataplane/deliv.h"

#include "common/dc_alloc.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <xxhash.h>

int dp_deliv_init(struct dp_deliv *d, uint32_t entries)
{
    if (entries < DP_DELIV_WAYS || (entries & (entries - 1)) != 0) {
        return -EINVAL;
    }
    memset(d, 0, sizeof(*d));
    d->entries = dc_alloc_aligned(64, (size_t)entries * sizeof(d->entries[0]));
    if (d->entries == NULL) {
        return -ENOMEM;
    }
    memset(d->entries, 0, (size_t)entries * sizeof(d->entries[0]));
    d->bucket_mask = entries / DP_DELIV_WAYS - 1;
    randombytes_buf(&d->seed, sizeof(d->seed));
    return 0;
}

void dp_deliv_fini(struct dp_deliv *d)
{
    dc_free(d->entries);
    d->entries = NULL;
}

static uint64_t tag_of(const struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES])
{
    return XXH3_64bits_withSeed(id, DP_WIRE_ID_BYTES, d->seed) | 1u;
}

static struct dp_deliv_entry *bucket_of(const struct dp_deliv *d, uint64_t tag)
{
    return d->entries + (size_t)((uint32_t)(tag >> 32) & d->bucket_mask) * DP_DELIV_WAYS;
}

void dp_deliv_note(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES],
                   const uint8_t target[DP_WIRE_KEY_BYTES])
{
    uint64_t tag = tag_of(d, id);
    struct dp_deliv_entry *b = bucket_of(d, tag);
    struct dp_deliv_entry *victim = &b[0];
    for (int w = 0; w < DP_DELIV_WAYS; w++) {
        if (b[w].tag == tag || b[w].tag == 0) {
            victim = &b[w];
            break;
        }
        /* unsigned distance from now: wraps correctly after 2^32 insertions */
        if (d->stamp - b[w].stamp > d->stamp - victim->stamp) {
            victim = &b[w];
        }
    }
    if (victim->tag != 0 && victim->tag != tag) {
        d->evictions++;
    }
    victim->tag = tag;
    victim->stamp = d->stamp++;
    memcpy(victim->target, target, DP_WIRE_KEY_BYTES);
}

int dp_deliv_find(const struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES],
                  const uint8_t **target_out)
{
    uint64_t tag = tag_of(d, id);
    const struct dp_deliv_entry *b = bucket_of(d, tag);
    for (int w = 0; w < DP_DELIV_WAYS; w++) {
        if (b[w].tag == tag) {
            *target_out = b[w].target;
            return 1;
        }
    }
    return 0;
}
