/*
 * cons_vote: signed proposals and votes (prevote, precommit), and their encodings.
 *
 * A vote names a height, a round, a block hash or nil, and the signer's validator index. A
 * proposal names the block hash a round's proposer offers and its proof-of-lock round
 * (-1 for none); the block itself travels beside it. Both are signed with Ed25519 over a
 * domain-separated message "dchat/cons/v1/<kind>\0" || chain id || fields, so a signature
 * can never be replayed on another chain or as another kind of message.
 *
 * Threads: pure functions over caller-owned memory; any thread may call them (signature
 * checks are what the verify workers run).
 */
#ifndef CONS_VOTE_H
#define CONS_VOTE_H

#include <stddef.h>
#include <stdint.h>

#include "consensus/block.h"
#include "consensus/valset.h"

enum cons_vote_type {
    CONS_VOTE_PREVOTE = 1,
    CONS_VOTE_PRECOMMIT = 2,
};

/* type, has_block, validator, round, height, block hash, signature */
#define CONS_VOTE_BYTES (1 + 1 + 2 + 4 + 8 + CONS_HASH_BYTES + CONS_SIG_BYTES)
/* height, round, pol_round, proposer, block hash, signature */
#define CONS_PROPOSAL_BYTES (8 + 4 + 4 + 2 + CONS_HASH_BYTES + CONS_SIG_BYTES)

struct cons_vote {
    uint8_t type;        /* enum cons_vote_type */
    uint8_t has_block;   /* 0: a vote for nil (block_hash is all zero) */
    uint16_t validator;
    uint32_t round;
    uint64_t height;
    uint8_t block_hash[CONS_HASH_BYTES];
    uint8_t sig[CONS_SIG_BYTES];
};

struct cons_proposal {
    uint64_t height;
    uint32_t round;
    int32_t pol_round;   /* -1, or the earlier round whose 2f+1 prevotes back the block */
    uint16_t proposer;
    uint8_t block_hash[CONS_HASH_BYTES];
    uint8_t sig[CONS_SIG_BYTES];
};

/*
 * The signature scheme: Ed25519 (libsodium) wherever `ops` is NULL, which is everywhere in
 * the node. Only the simulator passes other ops (tests/sim/fastsig.c, a keyed-hash stand-in)
 * so that its millions of simulated messages are bound by the state machine rather than by
 * curve arithmetic; the unit tests and the fuzzer run Ed25519.
 */
struct cons_sig_ops {
    void (*sign)(uint8_t sig_out[CONS_SIG_BYTES], const uint8_t *msg, size_t len,
                 const uint8_t sk[CONS_SK_BYTES]);
    /* 0 when `sig` is valid for `msg` under `pk`. */
    int (*verify)(const uint8_t sig[CONS_SIG_BYTES], const uint8_t *msg, size_t len,
                  const uint8_t pk[CONS_PK_BYTES]);
};

/* Whether two votes say the same thing (signatures aside). */
int cons_vote_same(const struct cons_vote *a, const struct cons_vote *b);

/* Sign `vote` in place with `sk` for `chain_id`. */
void cons_vote_sign(struct cons_vote *vote, const char *chain_id,
                    const uint8_t sk[CONS_SK_BYTES]);
/*
 * Check a vote from the network: shape, membership, signature.
 * 0, DC_EMALFORMED (bad type, nil vote with a hash), DC_EMEMBER (index outside the set),
 * DC_ESIGNATURE.
 */
int cons_vote_verify(const struct cons_vote *vote, const struct cons_valset *set,
                     const char *chain_id);
void cons_vote_encode(const struct cons_vote *vote, uint8_t out[CONS_VOTE_BYTES]);
/* 0, DC_ETRUNCATED or DC_EMALFORMED (unknown type, nil with a hash, height 0). */
int cons_vote_decode(const uint8_t *in, size_t len, struct cons_vote *vote);

void cons_proposal_sign(struct cons_proposal *prop, const char *chain_id,
                        const uint8_t sk[CONS_SK_BYTES]);
/* 0, DC_EMALFORMED (pol_round not in [-1, round)), DC_EMEMBER or DC_ESIGNATURE. */
int cons_proposal_verify(const struct cons_proposal *prop, const struct cons_valset *set,
                         const char *chain_id);
void cons_proposal_encode(const struct cons_proposal *prop, uint8_t out[CONS_PROPOSAL_BYTES]);
/* 0, DC_ETRUNCATED or DC_EMALFORMED. */
int cons_proposal_decode(const uint8_t *in, size_t len, struct cons_proposal *prop);

/* The bytes a precommit signature covers (certificates rebuild them). Returns the length. */
size_t cons_vote_sign_bytes(const struct cons_vote *vote, const char *chain_id,
                            uint8_t *out, size_t cap);
#define CONS_SIGN_BYTES_MAX 160

/* The same operations with an explicit signature scheme (NULL: Ed25519). */
void cons_vote_sign_ops(struct cons_vote *vote, const char *chain_id,
                        const uint8_t sk[CONS_SK_BYTES], const struct cons_sig_ops *ops);
int cons_vote_verify_ops(const struct cons_vote *vote, const struct cons_valset *set,
                         const char *chain_id, const struct cons_sig_ops *ops);
void cons_proposal_sign_ops(struct cons_proposal *prop, const char *chain_id,
                            const uint8_t sk[CONS_SK_BYTES], const struct cons_sig_ops *ops);
int cons_proposal_verify_ops(const struct cons_proposal *prop, const struct cons_valset *set,
                             const char *chain_id, const struct cons_sig_ops *ops);

#endif
