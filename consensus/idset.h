/*
 * cons_idset: a fixed-capacity hash set of 32-byte message ids in caller memory.
 *
 * Open addressing with linear probing and backward-shift deletion, so removals leave no
 * tombstones and probe chains stay short. Slots are found with SipHash under a per-node
 * secret key: ids are hashes an adversary can grind, and an unkeyed table would let one
 * build long probe chains. Each slot keeps its 64-bit hash as a tag (0 = empty), so a probe
 * reads one dense array and touches a 32-byte key only on a tag match, and deletion never
 * rehashes. The set never grows: it refuses inserts past 3/4 full.
 *
 * Threads: owned by one thread (the consensus lcore's state machine).
 */
#ifndef CONS_IDSET_H
#define CONS_IDSET_H

#include <stddef.h>
#include <stdint.h>

#include "consensus/block.h"

#define CONS_IDSET_KEY_BYTES 16

struct cons_idset {
    uint8_t (*keys)[CONS_ID_BYTES];
    uint64_t *tags;           /* SipHash of the slot's id with bit 0 set; 0 = empty */
    uint32_t slot_count;      /* power of two */
    uint32_t count;
    uint8_t hash_key[CONS_IDSET_KEY_BYTES];
};

/* Slots needed to hold `items_max` ids (a power of two, at least twice as many). */
uint32_t cons_idset_slots_for(uint32_t items_max);
/* Bytes of caller memory for `slot_count` slots. */
size_t cons_idset_mem_size(uint32_t slot_count);
/* `mem` holds cons_idset_mem_size(slot_count) bytes, 8-byte aligned. */
void cons_idset_init(struct cons_idset *set, void *mem, uint32_t slot_count,
                     const uint8_t key[CONS_IDSET_KEY_BYTES]);
void cons_idset_clear(struct cons_idset *set);
/* 0, DC_EDUPLICATE (already in) or DC_EFULL. */
int cons_idset_insert(struct cons_idset *set, const uint8_t id[CONS_ID_BYTES]);
int cons_idset_contains(const struct cons_idset *set, const uint8_t id[CONS_ID_BYTES]);
/* 0 or DC_ENOTFOUND. */
int cons_idset_remove(struct cons_idset *set, const uint8_t id[CONS_ID_BYTES]);

#endif
