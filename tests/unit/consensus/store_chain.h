/*
 * Test fixture shared by test_store.c and tests/integration/chain_writer.c: builds block
 * `height` of a chain with real hashes, links and a commit certificate signed by validators'
 * Ed25519 keys, exactly as the node's commit path would hand them to the block store.
 */
#ifndef STORE_CHAIN_H
#define STORE_CHAIN_H

#include "consensus/block.h"
#include "consensus/cert.h"
#include "consensus/vote.h"

#include <string.h>

/*
 * Fill `block` (ids storage >= id_count) and `cert` for `height` on top of `prev_hash`.
 * The certificate holds precommits of validators first_signer .. first_signer+signers-1
 * (mod n), signed with `sks`. Returns 0 or the first cons_* error.
 */
static inline int store_chain_make(struct cons_block *block, struct cons_cert *cert,
                                   const char *chain_id, uint64_t height,
                                   const uint8_t prev_hash[CONS_HASH_BYTES], uint32_t id_count,
                                   const uint8_t (*sks)[CONS_SK_BYTES], uint32_t n,
                                   uint32_t first_signer, uint32_t signers)
{
    memset(&block->header, 0, sizeof(block->header));
    int rc = cons_header_set_chain(&block->header, chain_id);
    if (rc != 0) {
        return rc;
    }
    block->header.height = height;
    block->header.round = (uint32_t)(height % 3);
    block->header.time_ticks = height * 100;
    block->header.proposer = (uint16_t)(height % n);
    memcpy(block->header.prev_hash, prev_hash, CONS_HASH_BYTES);
    block->header.id_count = id_count;
    for (uint32_t i = 0; i < id_count; i++) {
        for (uint32_t b = 0; b < CONS_ID_BYTES; b++) {
            block->ids[i][b] = (uint8_t)(height * 7 + i * 13 + b);
        }
    }
    cons_block_seal(block);
    uint8_t hash[CONS_HASH_BYTES];
    cons_block_hash(block, hash);
    cons_cert_init(cert, height, block->header.round, hash);
    for (uint32_t s = 0; s < signers; s++) {
        struct cons_vote vote;
        memset(&vote, 0, sizeof(vote));
        vote.type = CONS_VOTE_PRECOMMIT;
        vote.has_block = 1;
        vote.validator = (uint16_t)((first_signer + s) % n);
        vote.round = block->header.round;
        vote.height = height;
        memcpy(vote.block_hash, hash, CONS_HASH_BYTES);
        cons_vote_sign(&vote, chain_id, sks[vote.validator]);
        rc = cons_cert_add(cert, &vote);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

#endif
