/* Commit certificates: quorum, membership, repeats, wrong chain, wrong block, wrong signer. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/dc_err.h"
#include "consensus/cert.h"
#include "cons_test_keys.h"

static struct test_keys keys;
static const uint8_t hash_a[CONS_HASH_BYTES] = { 0xaa, 1, 2, 3 };

static struct cons_vote precommit(uint16_t validator, const char *chain)
{
    struct cons_vote vote;
    memset(&vote, 0, sizeof(vote));
    vote.type = CONS_VOTE_PRECOMMIT;
    vote.has_block = 1;
    vote.validator = validator;
    vote.round = 2;
    vote.height = 7;
    memcpy(vote.block_hash, hash_a, CONS_HASH_BYTES);
    cons_vote_sign(&vote, chain, keys.sk[validator]);
    return vote;
}

static void build(struct cons_cert *cert, uint32_t signers, const char *chain)
{
    cons_cert_init(cert, 7, 2, hash_a);
    for (uint16_t i = 0; i < signers; i++) {
        struct cons_vote vote = precommit((uint16_t)(signers - 1 - i), chain);
        cr_assert_eq(cons_cert_add(cert, &vote), 0);
    }
}

static void setup(void)
{
    cr_assert_eq(test_keys_make(&keys, 4), 0);
}

TestSuite(cert, .init = setup);

Test(cert, quorum_verifies_and_is_sorted)
{
    struct cons_cert cert;
    build(&cert, 3, "test-chain");
    cr_assert_eq(cert.sigs[0].validator, 0);
    cr_assert_eq(cert.sigs[2].validator, 2);
    cr_assert_eq(cons_cert_verify(&cert, hash_a, &keys.set, "test-chain"), 0);
}

Test(cert, too_few_signatures)
{
    struct cons_cert cert;
    build(&cert, 2, "test-chain");
    cr_assert_eq(cons_cert_verify(&cert, hash_a, &keys.set, "test-chain"), DC_EQUORUM);
}

Test(cert, wrong_chain)
{
    struct cons_cert cert;
    build(&cert, 4, "other-chain");
    cr_assert_eq(cons_cert_verify(&cert, hash_a, &keys.set, "test-chain"), DC_ESIGNATURE);
}

Test(cert, wrong_block)
{
    struct cons_cert cert;
    uint8_t hash_b[CONS_HASH_BYTES] = { 0xbb };
    build(&cert, 4, "test-chain");
    cr_assert_eq(cons_cert_verify(&cert, hash_b, &keys.set, "test-chain"), DC_ECONFLICT);
}

Test(cert, wrong_signer)
{
    struct cons_cert cert;
    build(&cert, 3, "test-chain");
    /* Validator 1's slot carries validator 3's signature. */
    struct cons_vote forged = precommit(3, "test-chain");
    memcpy(cert.sigs[1].sig, forged.sig, CONS_SIG_BYTES);
    cr_assert_eq(cons_cert_verify(&cert, hash_a, &keys.set, "test-chain"), DC_ESIGNATURE);
}

Test(cert, non_member_and_repeat)
{
    struct cons_cert cert;
    build(&cert, 3, "test-chain");
    cert.sigs[2].validator = 9;
    cr_assert_eq(cons_cert_verify(&cert, hash_a, &keys.set, "test-chain"), DC_EMEMBER);
    build(&cert, 3, "test-chain");
    cert.sigs[2] = cert.sigs[1];
    cr_assert_eq(cons_cert_verify(&cert, hash_a, &keys.set, "test-chain"), DC_EDUPLICATE);
}

Test(cert, add_refuses_repeats_and_other_votes)
{
    struct cons_cert cert;
    struct cons_vote vote = precommit(1, "test-chain");
    cons_cert_init(&cert, 7, 2, hash_a);
    cr_assert_eq(cons_cert_add(&cert, &vote), 0);
    cr_assert_eq(cons_cert_add(&cert, &vote), DC_EDUPLICATE);
    vote.round = 3;
    cr_assert_eq(cons_cert_add(&cert, &vote), DC_ECONFLICT);
}

Test(cert, encode_decode_round_trip_and_rejects)
{
    struct cons_cert cert, back;
    uint8_t buf[CONS_CERT_BYTES_MAX];
    size_t used = 0;
    build(&cert, 4, "test-chain");
    size_t len = cons_cert_encode(&cert, buf, sizeof(buf));
    cr_assert_eq(cons_cert_decode(buf, len, &back, &used), 0);
    cr_assert_eq(used, len);
    cr_assert_eq(cons_cert_verify(&back, hash_a, &keys.set, "test-chain"), 0);
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_eq(cons_cert_decode(buf, cut, &back, &used), DC_ETRUNCATED, "cut %zu", cut);
    }
    /* Signers out of order are not canonical. */
    buf[8 + 4 + CONS_HASH_BYTES + 2] = 3;
    cr_assert_eq(cons_cert_decode(buf, len, &back, &used), DC_EMALFORMED);
}

Test(cert, valset_refuses_unsafe_configs)
{
    struct cons_valset set;
    cr_assert_eq(cons_valset_quorum_min(4), 3);
    cr_assert_eq(cons_valset_quorum_min(7), 5);
    cr_assert_eq(cons_valset_quorum_min(5), 4);
    cr_assert_eq(cons_valset_init(&set, (const uint8_t (*)[CONS_PK_BYTES])keys.pk, 4, 2),
                 DC_EQUORUM);
    cr_assert_eq(cons_valset_init(&set, (const uint8_t (*)[CONS_PK_BYTES])keys.pk, 4, 5),
                 DC_EQUORUM);
    cr_assert_eq(cons_valset_init(&set, (const uint8_t (*)[CONS_PK_BYTES])keys.pk, 0, 0),
                 DC_ECONFIG);
    uint8_t dup[2][CONS_PK_BYTES];
    memcpy(dup[0], keys.pk[0], CONS_PK_BYTES);
    memcpy(dup[1], keys.pk[0], CONS_PK_BYTES);
    cr_assert_eq(cons_valset_init(&set, (const uint8_t (*)[CONS_PK_BYTES])dup, 2, 0),
                 DC_EDUPLICATE);
}
