#include "consensus/cert.h"

#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/wire.h"

void cons_cert_init(struct cons_cert *cert, uint64_t height, uint32_t round,
                    const uint8_t block_hash[CONS_HASH_BYTES])
{
    DC_ASSERT(height > 0);
    memset(cert, 0, sizeof(*cert));
    cert->height = height;
    cert->round = round;
    memcpy(cert->block_hash, block_hash, CONS_HASH_BYTES);
}

int cons_cert_add(struct cons_cert *cert, const struct cons_vote *precommit)
{
    uint32_t at = 0;
    if (precommit->type != CONS_VOTE_PRECOMMIT || !precommit->has_block ||
        precommit->height != cert->height || precommit->round != cert->round ||
        memcmp(precommit->block_hash, cert->block_hash, CONS_HASH_BYTES) != 0) {
        return DC_ECONFLICT;
    }
    while (at < cert->count && cert->sigs[at].validator < precommit->validator) {
        at++;
    }
    if (at < cert->count && cert->sigs[at].validator == precommit->validator) {
        return DC_EDUPLICATE;
    }
    if (cert->count == CONS_VALIDATORS_MAX) {
        return DC_EFULL;
    }
    memmove(&cert->sigs[at + 1], &cert->sigs[at], (cert->count - at) * sizeof(cert->sigs[0]));
    cert->sigs[at].validator = precommit->validator;
    memcpy(cert->sigs[at].sig, precommit->sig, CONS_SIG_BYTES);
    cert->count++;
    return 0;
}

/* Membership, repeats and count: the cheap checks, before any signature. */
static int cert_check_signers(const struct cons_cert *cert, const struct cons_valset *set)
{
    uint8_t seen[CONS_VALIDATORS_MAX] = { 0 };
    if (cert->count > CONS_VALIDATORS_MAX) {
        return DC_ETOOBIG;
    }
    for (uint32_t i = 0; i < cert->count; i++) {
        uint16_t index = cert->sigs[i].validator;
        if (index >= set->count) {
            return DC_EMEMBER;
        }
        if (seen[index]) {
            return DC_EDUPLICATE;
        }
        seen[index] = 1;
    }
    return cert->count < set->quorum ? DC_EQUORUM : 0;
}

int cons_cert_verify(const struct cons_cert *cert, const uint8_t block_hash[CONS_HASH_BYTES],
                     const struct cons_valset *set, const char *chain_id)
{
    return cons_cert_verify_ops(cert, block_hash, set, chain_id, NULL);
}

int cons_cert_verify_ops(const struct cons_cert *cert,
                         const uint8_t block_hash[CONS_HASH_BYTES],
                         const struct cons_valset *set, const char *chain_id,
                         const struct cons_sig_ops *ops)
{
    struct cons_vote vote;
    int err;
    DC_ASSERT(set->quorum > 0);
    if (cert->height == 0 || memcmp(cert->block_hash, block_hash, CONS_HASH_BYTES) != 0) {
        return DC_ECONFLICT;
    }
    err = cert_check_signers(cert, set);
    if (err != 0) {
        return err;
    }
    memset(&vote, 0, sizeof(vote));
    vote.type = CONS_VOTE_PRECOMMIT;
    vote.has_block = 1;
    vote.round = cert->round;
    vote.height = cert->height;
    memcpy(vote.block_hash, cert->block_hash, CONS_HASH_BYTES);
    for (uint32_t i = 0; i < cert->count; i++) {
        vote.validator = cert->sigs[i].validator;
        memcpy(vote.sig, cert->sigs[i].sig, CONS_SIG_BYTES);
        err = cons_vote_verify_ops(&vote, set, chain_id, ops);
        if (err != 0) {
            return err;
        }
    }
    return 0;
}

size_t cons_cert_encoded_size(const struct cons_cert *cert)
{
    DC_ASSERT(cert->count <= CONS_VALIDATORS_MAX);
    return 8 + 4 + CONS_HASH_BYTES + 2 + (size_t)cert->count * CONS_CERT_SIG_BYTES;
}

size_t cons_cert_encode(const struct cons_cert *cert, uint8_t *out, size_t cap)
{
    struct cons_wr wr = { .buf = out, .len = 0, .cap = cap };
    cons_wr_u64(&wr, cert->height);
    cons_wr_u32(&wr, cert->round);
    cons_wr_bytes(&wr, cert->block_hash, CONS_HASH_BYTES);
    cons_wr_u16(&wr, cert->count);
    for (uint32_t i = 0; i < cert->count; i++) {
        DC_ASSERT(i == 0 || cert->sigs[i - 1].validator < cert->sigs[i].validator);
        cons_wr_u16(&wr, cert->sigs[i].validator);
        cons_wr_bytes(&wr, cert->sigs[i].sig, CONS_SIG_BYTES);
    }
    DC_ASSERT(wr.len == cons_cert_encoded_size(cert));
    return wr.len;
}

int cons_cert_decode(const uint8_t *in, size_t len, struct cons_cert *cert, size_t *used_out)
{
    struct cons_rd rd = { .buf = in, .len = len, .off = 0, .err = 0 };
    memset(cert, 0, sizeof(*cert));
    cert->height = cons_rd_u64(&rd);
    cert->round = cons_rd_u32(&rd);
    cons_rd_bytes(&rd, cert->block_hash, CONS_HASH_BYTES);
    cert->count = cons_rd_u16(&rd);
    if (rd.err != 0) {
        return rd.err;
    }
    if (cert->count > CONS_VALIDATORS_MAX) {
        return DC_ETOOBIG;
    }
    for (uint32_t i = 0; i < cert->count; i++) {
        cert->sigs[i].validator = cons_rd_u16(&rd);
        cons_rd_bytes(&rd, cert->sigs[i].sig, CONS_SIG_BYTES);
        if (rd.err == 0 && i > 0 && cert->sigs[i - 1].validator >= cert->sigs[i].validator) {
            return DC_EMALFORMED;
        }
    }
    if (rd.err != 0) {
        return rd.err;
    }
    if (cert->height == 0) {
        return DC_EMALFORMED;
    }
    *used_out = rd.off;
    return 0;
}
