/*
 * cons_valset: the validator set, named by Ed25519 public keys in genesis order.
 *
 * Validators are referred to by their index in this set everywhere on the wire. With n
 * validators the protocol tolerates f = (n-1)/3 Byzantine ones and needs a quorum of
 * floor(2n/3)+1 votes, which is 2f+1 when n = 3f+1 (3 of 4). A set asking for a smaller
 * quorum is refused: two such quorums need not share an honest validator.
 *
 * Threads: initialised once on a control thread, then read-only; any thread may read it.
 */
#ifndef CONS_VALSET_H
#define CONS_VALSET_H

#include <stdint.h>

#include "consensus/block.h"

struct cons_valset {
    uint32_t count;
    uint32_t quorum;
    uint8_t keys[CONS_VALIDATORS_MAX][CONS_PK_BYTES];
};

/* Smallest safe quorum for `count` validators: floor(2*count/3)+1. */
uint32_t cons_valset_quorum_min(uint32_t count);
/* Byzantine validators tolerated: (count-1)/3. */
uint32_t cons_valset_faulty_max(uint32_t count);

/*
 * Build a set from `count` keys with quorum `quorum` (0 picks the minimum).
 * 0, DC_ECONFIG (empty set or libsodium failed to initialise), DC_ETOOBIG (more than
 * CONS_VALIDATORS_MAX), DC_EDUPLICATE (a key listed twice) or DC_EQUORUM (quorum below the
 * safe minimum or above the count).
 */
int cons_valset_init(struct cons_valset *set, const uint8_t (*keys)[CONS_PK_BYTES],
                     uint32_t count, uint32_t quorum);
/* Index of `key`, or DC_EMEMBER when it is not in the set. */
int cons_valset_find(const struct cons_valset *set, const uint8_t key[CONS_PK_BYTES]);

#endif
