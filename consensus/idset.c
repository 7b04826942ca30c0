#include "consensus/idset.h"

#include <sodium.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"

_Static_assert(CONS_IDSET_KEY_BYTES == crypto_shorthash_KEYBYTES, "SipHash key");

uint32_t cons_idset_slots_for(uint32_t items_max)
{
    uint32_t slots = 16;
    DC_ASSERT(items_max <= (1u << 29));
    while (slots < 2 * items_max) {
        slots *= 2;
    }
    return slots;
}

size_t cons_idset_mem_size(uint32_t slot_count)
{
    return (size_t)slot_count * (sizeof(uint64_t) + CONS_ID_BYTES);
}

void cons_idset_init(struct cons_idset *set, void *mem, uint32_t slot_count,
                     const uint8_t key[CONS_IDSET_KEY_BYTES])
{
    DC_ASSERT(slot_count >= 2);
    DC_ASSERT((slot_count & (slot_count - 1)) == 0);
    DC_ASSERT(((uintptr_t)mem & 7u) == 0);
    set->tags = mem;
    set->keys = (uint8_t (*)[CONS_ID_BYTES])((uint8_t *)mem +
                                              (size_t)slot_count * sizeof(uint64_t));
    set->slot_count = slot_count;
    memcpy(set->hash_key, key, CONS_IDSET_KEY_BYTES);
    cons_idset_clear(set);
}

void cons_idset_clear(struct cons_idset *set)
{
    memset(set->tags, 0, (size_t)set->slot_count * sizeof(uint64_t));
    set->count = 0;
}

static uint64_t tag_of(const struct cons_idset *set, const uint8_t id[CONS_ID_BYTES])
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t h = 0;
    crypto_shorthash(out, id, CONS_ID_BYTES, set->hash_key);
    memcpy(&h, out, sizeof(h));
    return h | 1u;
}

/* A tag's home slot comes from its high bits (bit 0 is forced to 1). */
static uint32_t home_of(const struct cons_idset *set, uint64_t tag)
{
    return (uint32_t)(tag >> 32) & (set->slot_count - 1);
}

/* Slot holding `id`, or the empty slot where it would go (returned negated minus one). */
static int64_t probe(const struct cons_idset *set, const uint8_t id[CONS_ID_BYTES],
                     uint64_t tag)
{
    uint32_t mask = set->slot_count - 1;
    uint32_t at = home_of(set, tag);
    for (uint32_t n = 0; n < set->slot_count; n++, at = (at + 1) & mask) {
        if (set->tags[at] == 0) {
            return -(int64_t)at - 1;
        }
        if (set->tags[at] == tag && memcmp(set->keys[at], id, CONS_ID_BYTES) == 0) {
            return at;
        }
    }
    DC_ASSERT(0); /* never full: inserts stop at 3/4 */
    return -1;
}

int cons_idset_insert(struct cons_idset *set, const uint8_t id[CONS_ID_BYTES])
{
    uint64_t tag = tag_of(set, id);
    int64_t at = probe(set, id, tag);
    if (at >= 0) {
        return DC_EDUPLICATE;
    }
    if ((uint64_t)set->count + 1 > (uint64_t)set->slot_count * 3 / 4) {
        return DC_EFULL;
    }
    at = -at - 1;
    memcpy(set->keys[at], id, CONS_ID_BYTES);
    set->tags[at] = tag;
    set->count++;
    return 0;
}

int cons_idset_contains(const struct cons_idset *set, const uint8_t id[CONS_ID_BYTES])
{
    return probe(set, id, tag_of(set, id)) >= 0;
}

int cons_idset_remove(struct cons_idset *set, const uint8_t id[CONS_ID_BYTES])
{
    uint32_t mask = set->slot_count - 1;
    int64_t found = probe(set, id, tag_of(set, id));
    uint32_t hole;
    if (found < 0) {
        return DC_ENOTFOUND;
    }
    hole = (uint32_t)found;
    set->tags[hole] = 0;
    set->count--;
    /* Shift later members of the chain back so that no lookup stops early at the hole. */
    for (uint32_t at = (hole + 1) & mask; set->tags[at] != 0; at = (at + 1) & mask) {
        uint32_t home = home_of(set, set->tags[at]);
        /* Move `at` into the hole unless its home lies cyclically in (hole, at]. */
        int home_after_hole = ((at - home) & mask) < ((at - hole) & mask);
        if (!home_after_hole) {
            memcpy(set->keys[hole], set->keys[at], CONS_ID_BYTES);
            set->tags[hole] = set->tags[at];
            set->tags[at] = 0;
            hole = at;
        }
    }
    return 0;
}
