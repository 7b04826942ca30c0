#include "consensus/vote.h"

#include <sodium.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/wire.h"

static const char vote_domain[] = "dchat/cons/v1/vote";
static const char proposal_domain[] = "dchat/cons/v1/proposal";

_Static_assert(CONS_SIG_BYTES == crypto_sign_BYTES, "Ed25519 signatures");
_Static_assert(CONS_SK_BYTES == crypto_sign_SECRETKEYBYTES, "libsodium secret keys");
_Static_assert(CONS_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "libsodium public keys");

static void sig_sign(const struct cons_sig_ops *ops, uint8_t sig[CONS_SIG_BYTES],
                     const uint8_t *msg, size_t len, const uint8_t sk[CONS_SK_BYTES])
{
    if (ops != NULL) {
        ops->sign(sig, msg, len, sk);
        return;
    }
    crypto_sign_detached(sig, NULL, msg, len, sk);
}

static int sig_verify(const struct cons_sig_ops *ops, const uint8_t sig[CONS_SIG_BYTES],
                      const uint8_t *msg, size_t len, const uint8_t pk[CONS_PK_BYTES])
{
    if (ops != NULL) {
        return ops->verify(sig, msg, len, pk);
    }
    return crypto_sign_verify_detached(sig, msg, len, pk);
}

/* Domain (with its NUL) then the chain id as length + bytes: every signed message opens so. */
static void put_domain(struct cons_wr *wr, const char *domain, size_t domain_size,
                       const char *chain_id)
{
    size_t chain_len = strlen(chain_id);
    DC_ASSERT(chain_len > 0);
    DC_ASSERT(chain_len <= CONS_CHAIN_ID_MAX);
    cons_wr_bytes(wr, domain, domain_size);
    cons_wr_u8(wr, (uint8_t)chain_len);
    cons_wr_bytes(wr, chain_id, chain_len);
}

static int is_zero(const uint8_t *bytes, size_t len)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        acc |= bytes[i];
    }
    return acc == 0;
}

static int vote_shape_ok(const struct cons_vote *vote)
{
    if (vote->type != CONS_VOTE_PREVOTE && vote->type != CONS_VOTE_PRECOMMIT) {
        return 0;
    }
    if (vote->has_block > 1 || vote->height == 0) {
        return 0;
    }
    return vote->has_block == 1 || is_zero(vote->block_hash, CONS_HASH_BYTES);
}

int cons_vote_same(const struct cons_vote *a, const struct cons_vote *b)
{
    return a->type == b->type && a->has_block == b->has_block &&
           a->validator == b->validator && a->round == b->round && a->height == b->height &&
           memcmp(a->block_hash, b->block_hash, CONS_HASH_BYTES) == 0;
}

size_t cons_vote_sign_bytes(const struct cons_vote *vote, const char *chain_id,
                            uint8_t *out, size_t cap)
{
    struct cons_wr wr = { .buf = out, .len = 0, .cap = cap };
    put_domain(&wr, vote_domain, sizeof(vote_domain), chain_id);
    cons_wr_u8(&wr, vote->type);
    cons_wr_u8(&wr, vote->has_block);
    cons_wr_u16(&wr, vote->validator);
    cons_wr_u32(&wr, vote->round);
    cons_wr_u64(&wr, vote->height);
    cons_wr_bytes(&wr, vote->block_hash, CONS_HASH_BYTES);
    return wr.len;
}

void cons_vote_sign_ops(struct cons_vote *vote, const char *chain_id,
                        const uint8_t sk[CONS_SK_BYTES], const struct cons_sig_ops *ops)
{
    uint8_t msg[CONS_SIGN_BYTES_MAX];
    size_t len;
    DC_ASSERT(vote_shape_ok(vote));
    len = cons_vote_sign_bytes(vote, chain_id, msg, sizeof(msg));
    sig_sign(ops, vote->sig, msg, len, sk);
}

void cons_vote_sign(struct cons_vote *vote, const char *chain_id,
                    const uint8_t sk[CONS_SK_BYTES])
{
    cons_vote_sign_ops(vote, chain_id, sk, NULL);
}

int cons_vote_verify_ops(const struct cons_vote *vote, const struct cons_valset *set,
                         const char *chain_id, const struct cons_sig_ops *ops)
{
    uint8_t msg[CONS_SIGN_BYTES_MAX];
    size_t len;
    if (!vote_shape_ok(vote)) {
        return DC_EMALFORMED;
    }
    if (vote->validator >= set->count) {
        return DC_EMEMBER;
    }
    len = cons_vote_sign_bytes(vote, chain_id, msg, sizeof(msg));
    if (sig_verify(ops, vote->sig, msg, len, set->keys[vote->validator]) != 0) {
        return DC_ESIGNATURE;
    }
    return 0;
}

int cons_vote_verify(const struct cons_vote *vote, const struct cons_valset *set,
                     const char *chain_id)
{
    return cons_vote_verify_ops(vote, set, chain_id, NULL);
}

void cons_vote_encode(const struct cons_vote *vote, uint8_t out[CONS_VOTE_BYTES])
{
    struct cons_wr wr = { .buf = out, .len = 0, .cap = CONS_VOTE_BYTES };
    cons_wr_u8(&wr, vote->type);
    cons_wr_u8(&wr, vote->has_block);
    cons_wr_u16(&wr, vote->validator);
    cons_wr_u32(&wr, vote->round);
    cons_wr_u64(&wr, vote->height);
    cons_wr_bytes(&wr, vote->block_hash, CONS_HASH_BYTES);
    cons_wr_bytes(&wr, vote->sig, CONS_SIG_BYTES);
    DC_ASSERT(wr.len == CONS_VOTE_BYTES);
}

int cons_vote_decode(const uint8_t *in, size_t len, struct cons_vote *vote)
{
    struct cons_rd rd = { .buf = in, .len = len, .off = 0, .err = 0 };
    vote->type = cons_rd_u8(&rd);
    vote->has_block = cons_rd_u8(&rd);
    vote->validator = cons_rd_u16(&rd);
    vote->round = cons_rd_u32(&rd);
    vote->height = cons_rd_u64(&rd);
    cons_rd_bytes(&rd, vote->block_hash, CONS_HASH_BYTES);
    cons_rd_bytes(&rd, vote->sig, CONS_SIG_BYTES);
    if (rd.err != 0) {
        return rd.err;
    }
    return vote_shape_ok(vote) ? 0 : DC_EMALFORMED;
}

static size_t proposal_sign_bytes(const struct cons_proposal *prop, const char *chain_id,
                                  uint8_t *out, size_t cap)
{
    struct cons_wr wr = { .buf = out, .len = 0, .cap = cap };
    put_domain(&wr, proposal_domain, sizeof(proposal_domain), chain_id);
    cons_wr_u64(&wr, prop->height);
    cons_wr_u32(&wr, prop->round);
    cons_wr_u32(&wr, (uint32_t)prop->pol_round);
    cons_wr_u16(&wr, prop->proposer);
    cons_wr_bytes(&wr, prop->block_hash, CONS_HASH_BYTES);
    return wr.len;
}

static int proposal_shape_ok(const struct cons_proposal *prop)
{
    return prop->height > 0 && prop->pol_round >= -1 && prop->pol_round < (int64_t)prop->round;
}

void cons_proposal_sign_ops(struct cons_proposal *prop, const char *chain_id,
                            const uint8_t sk[CONS_SK_BYTES], const struct cons_sig_ops *ops)
{
    uint8_t msg[CONS_SIGN_BYTES_MAX];
    size_t len;
    DC_ASSERT(proposal_shape_ok(prop));
    len = proposal_sign_bytes(prop, chain_id, msg, sizeof(msg));
    sig_sign(ops, prop->sig, msg, len, sk);
}

void cons_proposal_sign(struct cons_proposal *prop, const char *chain_id,
                        const uint8_t sk[CONS_SK_BYTES])
{
    cons_proposal_sign_ops(prop, chain_id, sk, NULL);
}

int cons_proposal_verify_ops(const struct cons_proposal *prop, const struct cons_valset *set,
                             const char *chain_id, const struct cons_sig_ops *ops)
{
    uint8_t msg[CONS_SIGN_BYTES_MAX];
    size_t len;
    if (!proposal_shape_ok(prop)) {
        return DC_EMALFORMED;
    }
    if (prop->proposer >= set->count) {
        return DC_EMEMBER;
    }
    len = proposal_sign_bytes(prop, chain_id, msg, sizeof(msg));
    if (sig_verify(ops, prop->sig, msg, len, set->keys[prop->proposer]) != 0) {
        return DC_ESIGNATURE;
    }
    return 0;
}

int cons_proposal_verify(const struct cons_proposal *prop, const struct cons_valset *set,
                         const char *chain_id)
{
    return cons_proposal_verify_ops(prop, set, chain_id, NULL);
}

void cons_proposal_encode(const struct cons_proposal *prop, uint8_t out[CONS_PROPOSAL_BYTES])
{
    struct cons_wr wr = { .buf = out, .len = 0, .cap = CONS_PROPOSAL_BYTES };
    cons_wr_u64(&wr, prop->height);
    cons_wr_u32(&wr, prop->round);
    cons_wr_u32(&wr, (uint32_t)prop->pol_round);
    cons_wr_u16(&wr, prop->proposer);
    cons_wr_bytes(&wr, prop->block_hash, CONS_HASH_BYTES);
    cons_wr_bytes(&wr, prop->sig, CONS_SIG_BYTES);
    DC_ASSERT(wr.len == CONS_PROPOSAL_BYTES);
}

int cons_proposal_decode(const uint8_t *in, size_t len, struct cons_proposal *prop)
{
    struct cons_rd rd = { .buf = in, .len = len, .off = 0, .err = 0 };
    prop->height = cons_rd_u64(&rd);
    prop->round = cons_rd_u32(&rd);
    prop->pol_round = (int32_t)cons_rd_u32(&rd);
    prop->proposer = cons_rd_u16(&rd);
    cons_rd_bytes(&rd, prop->block_hash, CONS_HASH_BYTES);
    cons_rd_bytes(&rd, prop->sig, CONS_SIG_BYTES);
    if (rd.err != 0) {
        return rd.err;
    }
    return proposal_shape_ok(prop) ? 0 : DC_EMALFORMED;
}
