/*
 * cons_posindex: where recently committed message ids sit in the chain.
 *
 * A bounded map from a message id to its final position (height, index in the block), for
 * the newest `cap` committed ids: what `GET /messages/{id}` answers. Entries live in a ring in
 * commit order; when it is full the oldest entry gives way, so memory is fixed at init. The
 * lookup table is open addressing with linear probing over ring positions, keyed by SipHash
 * under a per-node secret (ids can be ground by an adversary), with backward-shift deletion
 * so eviction leaves no tombstones. An id older than the window is "unknown" here; the block
 * store still holds it.
 *
 * Threads: owned by the consensus thread. Pure: no I/O, clocks or allocation.
 */
#ifndef CONS_POSINDEX_H
#define CONS_POSINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "consensus/block.h"

#define CONS_POSINDEX_KEY_BYTES 16

struct cons_posindex_entry {
    uint8_t id[CONS_ID_BYTES];
    uint64_t height;
    uint32_t index;
};

struct cons_posindex {
    struct cons_posindex_entry *ring; /* commit order; `head` is the oldest */
    uint32_t cap;
    uint32_t head;
    uint32_t count;
    uint32_t *slots;                  /* ring position + 1; 0 = empty */
    uint32_t *homes;                  /* each slot's home (hash & mask), for deletion */
    uint32_t slot_count;              /* power of two, at least 2 * cap */
    uint8_t key[CONS_POSINDEX_KEY_BYTES];
};

/* Bytes of caller memory for a window of `cap` ids (1..2^28). */
size_t cons_posindex_mem_size(uint32_t cap);
/* `mem`: cons_posindex_mem_size(cap) bytes, 8-byte aligned. */
void cons_posindex_init(struct cons_posindex *ix, void *mem, uint32_t cap,
                        const uint8_t key[CONS_POSINDEX_KEY_BYTES]);
/* Record `id` at (height, index); the oldest entry leaves when the window is full. */
void cons_posindex_add(struct cons_posindex *ix, const uint8_t id[CONS_ID_BYTES],
                       uint64_t height, uint32_t index);
/* 0 with the position, or DC_ENOTFOUND (never committed, or older than the window). */
int cons_posindex_find(const struct cons_posindex *ix, const uint8_t id[CONS_ID_BYTES],
                       uint64_t *height_out, uint32_t *index_out);

#endif
