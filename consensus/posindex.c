#include "consensus/posindex.h"

#include <sodium.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"

_Static_assert(CONS_POSINDEX_KEY_BYTES == crypto_shorthash_KEYBYTES, "SipHash key");

static uint32_t slots_for(uint32_t cap)
{
    uint32_t slots = 16;
    while (slots < 2 * cap) {
        slots *= 2;
    }
    return slots;
}

static size_t ring_bytes(uint32_t cap)
{
    return ((size_t)cap * sizeof(struct cons_posindex_entry) + 7u) & ~(size_t)7;
}

size_t cons_posindex_mem_size(uint32_t cap)
{
    DC_ASSERT(cap >= 1);
    DC_ASSERT(cap <= (1u << 28));
    return ring_bytes(cap) + 2 * (size_t)slots_for(cap) * sizeof(uint32_t);
}

void cons_posindex_init(struct cons_posindex *ix, void *mem, uint32_t cap,
                        const uint8_t key[CONS_POSINDEX_KEY_BYTES])
{
    DC_ASSERT(((uintptr_t)mem & 7u) == 0);
    memset(ix, 0, sizeof(*ix));
    ix->cap = cap;
    ix->slot_count = slots_for(cap);
    ix->ring = mem;
    ix->slots = (uint32_t *)((uint8_t *)mem + ring_bytes(cap));
    ix->homes = ix->slots + ix->slot_count;
    memset(ix->slots, 0, (size_t)ix->slot_count * sizeof(uint32_t));
    memcpy(ix->key, key, CONS_POSINDEX_KEY_BYTES);
}

static uint32_t home_of(const struct cons_posindex *ix, const uint8_t id[CONS_ID_BYTES])
{
    uint8_t out[crypto_shorthash_BYTES];
    uint32_t h;
    crypto_shorthash(out, id, CONS_ID_BYTES, ix->key);
    memcpy(&h, out, sizeof(h));
    return h & (ix->slot_count - 1);
}

/* Distance from `home` forward to `at`, around the table. */
static uint32_t probe_distance(const struct cons_posindex *ix, uint32_t home, uint32_t at)
{
    return (at - home) & (ix->slot_count - 1);
}

/* Empty slot `hole`: pull later entries of its probe run back, so lookups stop at holes. */
static void close_hole(struct cons_posindex *ix, uint32_t hole)
{
    uint32_t mask = ix->slot_count - 1;
    for (uint32_t at = (hole + 1) & mask; ix->slots[at] != 0; at = (at + 1) & mask) {
        uint32_t home = ix->homes[at];
        if (probe_distance(ix, home, at) >= probe_distance(ix, home, hole)) {
            ix->slots[hole] = ix->slots[at];
            ix->homes[hole] = home;
            ix->slots[at] = 0;
            hole = at;
        }
    }
}

/* The oldest entry leaves: its slot is found by its ring position. */
static void evict_oldest(struct cons_posindex *ix)
{
    uint32_t mask = ix->slot_count - 1;
    const struct cons_posindex_entry *old = &ix->ring[ix->head];
    uint32_t at = home_of(ix, old->id);
    uint32_t probes = 0;
    while (ix->slots[at] != ix->head + 1) {
        DC_ASSERT(ix->slots[at] != 0); /* every ring entry has a slot */
        at = (at + 1) & mask;
        probes++;
        DC_ASSERT(probes < ix->slot_count);
    }
    ix->slots[at] = 0;
    close_hole(ix, at);
    ix->head = ix->head + 1 == ix->cap ? 0 : ix->head + 1;
    ix->count--;
}

void cons_posindex_add(struct cons_posindex *ix, const uint8_t id[CONS_ID_BYTES],
                       uint64_t height, uint32_t index)
{
    if (ix->count == ix->cap) {
        evict_oldest(ix);
    }
    DC_ASSERT(ix->count < ix->cap);
    uint32_t pos = (ix->head + ix->count) % ix->cap;
    struct cons_posindex_entry *e = &ix->ring[pos];
    memcpy(e->id, id, CONS_ID_BYTES);
    e->height = height;
    e->index = index;
    uint32_t mask = ix->slot_count - 1;
    uint32_t home = home_of(ix, id);
    uint32_t at = home;
    while (ix->slots[at] != 0) {
        at = (at + 1) & mask; /* at most half full: a hole is always near */
    }
    ix->slots[at] = pos + 1;
    ix->homes[at] = home;
    ix->count++;
}

int cons_posindex_find(const struct cons_posindex *ix, const uint8_t id[CONS_ID_BYTES],
                       uint64_t *height_out, uint32_t *index_out)
{
    uint32_t mask = ix->slot_count - 1;
    uint32_t home = home_of(ix, id);
    for (uint32_t at = home; ix->slots[at] != 0; at = (at + 1) & mask) {
        const struct cons_posindex_entry *e = &ix->ring[ix->slots[at] - 1];
        if (ix->homes[at] == home && memcmp(e->id, id, CONS_ID_BYTES) == 0) {
            *height_out = e->height;
            *index_out = e->index;
            return 0;
        }
    }
    return DC_ENOTFOUND;
}
