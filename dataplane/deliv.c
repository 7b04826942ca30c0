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
    d->tags = dc_alloc_aligned(64, (size_t)entries * sizeof(d->tags[0]));
    d->stamps = dc_alloc_aligned(64, (size_t)entries * sizeof(d->stamps[0]));
    d->entries = dc_alloc_aligned(64, (size_t)entries * sizeof(d->entries[0]));
    if (d->tags == NULL || d->stamps == NULL || d->entries == NULL) {
        dp_deliv_fini(d);
        return -ENOMEM;
    }
    memset(d->tags, 0, (size_t)entries * sizeof(d->tags[0]));
    memset(d->stamps, 0, (size_t)entries * sizeof(d->stamps[0]));
    d->bucket_mask = entries / DP_DELIV_WAYS - 1;
    randombytes_buf(&d->seed, sizeof(d->seed));
    return 0;
}

void dp_deliv_fini(struct dp_deliv *d)
{
    dc_free(d->tags);
    dc_free(d->stamps);
    dc_free(d->entries);
    d->tags = NULL;
    d->stamps = NULL;
    d->entries = NULL;
}

/*
 * The way of `id` in its bucket: its own (*found = 1), else an empty way or the oldest one,
 * claimed for it. A lookup reads the bucket's 16 tags (two cache lines); the stamps are read
 * only to choose a victim.
 */
static uint32_t lookup(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES], int *found)
{
    uint64_t tag = XXH3_64bits_withSeed(id, DP_WIRE_ID_BYTES, d->seed) | 1u; /* 0: empty */
    uint32_t base = ((uint32_t)(tag >> 32) & d->bucket_mask) * DP_DELIV_WAYS;
    uint32_t victim = base;
    int have_empty = 0;
    for (uint32_t w = base; w < base + DP_DELIV_WAYS; w++) {
        if (d->tags[w] == tag) {
            *found = 1;
            return w;
        }
        if (!have_empty && (d->tags[w] == 0 ||
                            d->stamp - d->stamps[w] > d->stamp - d->stamps[victim])) {
            victim = w; /* unsigned age: correct across stamp wrap-around */
            have_empty = d->tags[w] == 0;
        }
    }
    *found = 0;
    if (d->tags[victim] != 0) {
        d->evictions++;
        d->evicted_waiting += d->entries[victim].kind == DP_DELIV_FINAL_WAITING;
    }
    d->tags[victim] = tag;
    d->stamps[victim] = d->stamp++;
    return victim;
}

/* A pair is complete: the entry is needed no more, its way is free for the next id. */
static void release(struct dp_deliv *d, uint32_t w)
{
    d->tags[w] = 0;
    d->entries[w].kind = DP_DELIV_EMPTY;
}

int dp_deliv_note(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES],
                  const uint8_t target[DP_WIRE_KEY_BYTES], uint64_t *height_out,
                  uint32_t *index_out)
{
    int found;
    uint32_t w = lookup(d, id, &found);
    struct dp_deliv_entry *e = &d->entries[w];
    if (found && e->kind == DP_DELIV_FINAL_WAITING) {
        *height_out = e->height;
        *index_out = e->index;
        release(d, w);
        return 1;
    }
    e->kind = DP_DELIV_DELIVERED;
    memcpy(e->target, target, DP_WIRE_KEY_BYTES);
    return 0;
}

int dp_deliv_final(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES], uint64_t height,
                   uint32_t index, const uint8_t **target_out)
{
    int found;
    uint32_t w = lookup(d, id, &found);
    struct dp_deliv_entry *e = &d->entries[w];
    if (found && e->kind == DP_DELIV_DELIVERED) {
        memcpy(d->target, e->target, DP_WIRE_KEY_BYTES);
        *target_out = d->target; /* the entry is released: the caller reads our copy */
        release(d, w);
        return 1;
    }
    e->kind = DP_DELIV_FINAL_WAITING;
    e->height = height;
    e->index = index;
    return 0;
}
