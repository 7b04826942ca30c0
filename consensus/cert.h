/*
 * cons_cert: commit certificates, the proof that a block is final.
 *
 * A certificate for block B at height h is at least a quorum (2f+1) of precommits for B from
 * distinct validators, all from the one round r in which B was committed. It stores only
 * (validator index, signature) pairs sorted by index; the signed precommit is rebuilt from
 * (h, r, hash(B), index) when the certificate is checked. Block sync and `dchat chain
 * verify` accept a block only with a certificate that passes cons_cert_verify().
 *
 * Threads: pure functions over caller-owned memory; any thread may call them.
 */
#ifndef CONS_CERT_H
#define CONS_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "consensus/block.h"
#include "consensus/valset.h"
#include "consensus/vote.h"

/* height, round, block hash, count, count x (index, signature) */
#define CONS_CERT_SIG_BYTES (2 + CONS_SIG_BYTES)
#define CONS_CERT_BYTES_MAX \
    (8 + 4 + CONS_HASH_BYTES + 2 + CONS_VALIDATORS_MAX * CONS_CERT_SIG_BYTES)

struct cons_cert_sig {
    uint16_t validator;
    uint8_t sig[CONS_SIG_BYTES];
};

struct cons_cert {
    uint64_t height;
    uint32_t round;
    uint8_t block_hash[CONS_HASH_BYTES];
    uint16_t count;
    struct cons_cert_sig sigs[CONS_VALIDATORS_MAX]; /* sorted by validator, no repeats */
};

/* Empty certificate for (height, round, block hash). */
void cons_cert_init(struct cons_cert *cert, uint64_t height, uint32_t round,
                    const uint8_t block_hash[CONS_HASH_BYTES]);
/*
 * Add a precommit (already verified by the caller) for the certificate's block.
 * 0, DC_EDUPLICATE (validator already in), DC_ECONFLICT (a vote for something else), or
 * DC_EFULL.
 */
int cons_cert_add(struct cons_cert *cert, const struct cons_vote *precommit);
/*
 * Check `cert` for the block hashing to `block_hash`: every signer a member, no signer
 * twice, at least a quorum of them, every signature valid for `chain_id`.
 * 0, DC_ECONFLICT (the certificate is for another block), DC_EMEMBER, DC_EDUPLICATE,
 * DC_EQUORUM (too few signatures) or DC_ESIGNATURE. Cost: count signature checks.
 */
int cons_cert_verify(const struct cons_cert *cert, const uint8_t block_hash[CONS_HASH_BYTES],
                     const struct cons_valset *set, const char *chain_id);

/* The same with an explicit signature scheme (NULL: Ed25519; see struct cons_sig_ops). */
int cons_cert_verify_ops(const struct cons_cert *cert,
                         const uint8_t block_hash[CONS_HASH_BYTES],
                         const struct cons_valset *set, const char *chain_id,
                         const struct cons_sig_ops *ops);

size_t cons_cert_encoded_size(const struct cons_cert *cert);
/* Returns the bytes written (cap >= encoded size, asserted). */
size_t cons_cert_encode(const struct cons_cert *cert, uint8_t *out, size_t cap);
/*
 * Decode from the front of `in`. 0, DC_ETRUNCATED, DC_ETOOBIG (more signatures than
 * CONS_VALIDATORS_MAX) or DC_EMALFORMED (height 0, signers not strictly ascending).
 */
int cons_cert_decode(const uint8_t *in, size_t len, struct cons_cert *cert, size_t *used_out);

#endif
