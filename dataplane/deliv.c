#include "dataplane/deliv.h"

#include "common/dc_alloc.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <xxhash.h>

_Static_assert(sizeof(struct dp_deliv_entry) == 64, "one entry, one cache line");

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

/* The entry of `id`: its own (*found = 1), else an empty or the oldest way to take. */
static struct dp_deliv_entry *lookup(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES],
                                     int *found)
{
    uint64_t tag = XXH3_64bits_withSeed(id, DP_WIRE_ID_BYTES, d->seed);
    struct dp_deliv_entry *b =
        d->entries + (size_t)((uint32_t)(tag >> 32) & d->bucket_mask) * DP_DELIV_WAYS;
    struct dp_deliv_entry *victim = &b[0];
    for (int w = 0; w < DP_DELIV_WAYS; w++) {
        if (b[w].kind != DP_DELIV_EMPTY && b[w].tag == tag) {
            *found = 1;
            return &b[w];
        }
        if (victim->kind != DP_DELIV_EMPTY &&
            (b[w].kind == DP_DELIV_EMPTY || d->stamp - b[w].stamp > d->stamp - victim->stamp)) {
            victim = &b[w]; /* unsigned age: correct across stamp wrap-around */
        }
    }
    *found = 0;
    if (victim->kind != DP_DELIV_EMPTY) {
        d->evictions++;
    }
    victim->tag = tag;
    victim->stamp = d->stamp++;
    return victim;
}

int dp_deliv_note(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES],
                  const uint8_t target[DP_WIRE_KEY_BYTES], uint64_t *height_out,
                  uint32_t *index_out)
{
    int found;
    struct dp_deliv_entry *e = lookup(d, id, &found);
    int waiting = found && e->kind == DP_DELIV_FINAL_WAITING;
    if (waiting) {
        *height_out = e->height;
        *index_out = e->index;
    }
    e->kind = DP_DELIV_DELIVERED;
    memcpy(e->target, target, DP_WIRE_KEY_BYTES);
    return waiting;
}

int dp_deliv_final(struct dp_deliv *d, const uint8_t id[DP_WIRE_ID_BYTES], uint64_t height,
                   uint32_t index, const uint8_t **target_out)
{
    int found;
    struct dp_deliv_entry *e = lookup(d, id, &found);
    if (found && e->kind == DP_DELIV_DELIVERED) {
        *target_out = e->target;
        return 1;
    }
    e->kind = DP_DELIV_FINAL_WAITING;
    e->height = height;
    e->index = index;
    return 0;
}
