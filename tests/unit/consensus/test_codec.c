/* Canonical encodings of blocks, votes and proposals: round trips and every rejection. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/dc_err.h"
#include "consensus/block.h"
#include "consensus/vote.h"
#include "cons_test_keys.h"

static struct test_keys keys;
static uint8_t ids[8][CONS_ID_BYTES];
static uint8_t ids_back[8][CONS_ID_BYTES];

static void setup(void)
{
    cr_assert_eq(test_keys_make(&keys, 4), 0);
}

TestSuite(codec, .init = setup);

static void make_block(struct cons_block *block, uint32_t count)
{
    cons_block_init(block, ids, 8);
    cr_assert_eq(cons_header_set_chain(&block->header, "test-chain"), 0);
    block->header.height = 5;
    block->header.round = 1;
    block->header.time_ticks = 1234;
    block->header.proposer = 2;
    block->header.prev_hash[0] = 0x77;
    for (uint32_t i = 0; i < count; i++) {
        memset(ids[i], (int)(i + 1), CONS_ID_BYTES);
    }
    block->header.id_count = count;
    cons_block_seal(block);
}

Test(codec, block_round_trip_and_hash)
{
    struct cons_block block, back;
    uint8_t buf[CONS_HEADER_BYTES_MAX + 8 * CONS_ID_BYTES];
    uint8_t h1[CONS_HASH_BYTES], h2[CONS_HASH_BYTES];
    size_t used = 0;
    make_block(&block, 3);
    size_t len = cons_block_encode(&block, buf, sizeof(buf));
    cr_assert_eq(len, cons_block_encoded_size(&block));
    cons_block_init(&back, ids_back, 8);
    cr_assert_eq(cons_block_decode(buf, len, &back, &used), 0);
    cr_assert_eq(used, len);
    cr_assert_eq(memcmp(ids_back, ids, 3 * CONS_ID_BYTES), 0);
    cons_block_hash(&block, h1);
    cons_block_hash(&back, h2);
    cr_assert_eq(memcmp(h1, h2, CONS_HASH_BYTES), 0);
    /* The hash covers the ids through the payload root. */
    ids[1][0] ^= 1;
    cons_block_seal(&block);
    cons_block_hash(&block, h2);
    cr_assert_neq(memcmp(h1, h2, CONS_HASH_BYTES), 0);
}

Test(codec, block_rejects)
{
    struct cons_block block, back;
    uint8_t buf[CONS_HEADER_BYTES_MAX + 8 * CONS_ID_BYTES];
    size_t used = 0;
    make_block(&block, 3);
    size_t len = cons_block_encode(&block, buf, sizeof(buf));
    cons_block_init(&back, ids_back, 8);
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_eq(cons_block_decode(buf, cut, &back, &used), DC_ETRUNCATED, "cut %zu", cut);
    }
    buf[len - 1] ^= 1; /* an id no longer matches the root */
    cr_assert_eq(cons_block_decode(buf, len, &back, &used), DC_EMALFORMED);
    buf[len - 1] ^= 1;
    buf[0] = 9;
    cr_assert_eq(cons_block_decode(buf, len, &back, &used), DC_EVERSION);
    buf[0] = CONS_WIRE_VERSION;
    buf[1] = 0; /* empty chain id */
    cr_assert_eq(cons_block_decode(buf, len, &back, &used), DC_EMALFORMED);
    buf[1] = (uint8_t)strlen("test-chain");
    cons_block_init(&back, ids_back, 2);
    cr_assert_eq(cons_block_decode(buf, len, &back, &used), DC_ETOOBIG);
}

Test(codec, vote_sign_encode_verify)
{
    struct cons_vote vote, back;
    uint8_t buf[CONS_VOTE_BYTES];
    memset(&vote, 0, sizeof(vote));
    vote.type = CONS_VOTE_PREVOTE;
    vote.height = 3;
    vote.round = 4;
    vote.validator = 1;
    cons_vote_sign(&vote, "test-chain", keys.sk[1]);
    cons_vote_encode(&vote, buf);
    cr_assert_eq(cons_vote_decode(buf, sizeof(buf), &back), 0);
    cr_assert(cons_vote_same(&vote, &back));
    cr_assert_eq(cons_vote_verify(&back, &keys.set, "test-chain"), 0);
    cr_assert_eq(cons_vote_verify(&back, &keys.set, "other"), DC_ESIGNATURE);
    back.type = CONS_VOTE_PRECOMMIT; /* a prevote signature is not a precommit signature */
    cr_assert_eq(cons_vote_verify(&back, &keys.set, "test-chain"), DC_ESIGNATURE);
    back.validator = 4;
    cr_assert_eq(cons_vote_verify(&back, &keys.set, "test-chain"), DC_EMEMBER);
    cr_assert_eq(cons_vote_decode(buf, sizeof(buf) - 1, &back), DC_ETRUNCATED);
    buf[0] = 3;
    cr_assert_eq(cons_vote_decode(buf, sizeof(buf), &back), DC_EMALFORMED);
    buf[0] = CONS_VOTE_PREVOTE;
    buf[20] = 1; /* nil vote carrying a hash byte */
    cr_assert_eq(cons_vote_decode(buf, sizeof(buf), &back), DC_EMALFORMED);
}

Test(codec, proposal_sign_encode_verify)
{
    struct cons_proposal prop, back;
    uint8_t buf[CONS_PROPOSAL_BYTES];
    memset(&prop, 0, sizeof(prop));
    prop.height = 9;
    prop.round = 2;
    prop.pol_round = 1;
    prop.proposer = 3;
    prop.block_hash[5] = 5;
    cons_proposal_sign(&prop, "test-chain", keys.sk[3]);
    cons_proposal_encode(&prop, buf);
    cr_assert_eq(cons_proposal_decode(buf, sizeof(buf), &back), 0);
    cr_assert_eq(cons_proposal_verify(&back, &keys.set, "test-chain"), 0);
    back.proposer = 2;
    cr_assert_eq(cons_proposal_verify(&back, &keys.set, "test-chain"), DC_ESIGNATURE);
    prop.pol_round = 2; /* a proof of lock must come from an earlier round */
    cons_proposal_encode(&prop, buf);
    cr_assert_eq(cons_proposal_decode(buf, sizeof(buf), &back), DC_EMALFORMED);
}
