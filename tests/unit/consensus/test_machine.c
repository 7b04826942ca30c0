/*
 * The state machine driven by hand: vote counting with duplicates and equivocations, the
 * locking rules, input checks, persist-before-send, restart without double-signing, block
 * sync with certificate checks, and mempool batching. Validator 0 is the machine under
 * test; messages from validators 1-3 are signed here with their keys.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/dc_err.h"
#include "consensus/machine.h"
#include "cons_test_keys.h"

#define CHAIN "unit-chain"
#define IDS_MAX 16

static struct test_keys keys;
static struct cons_machine mach;
static uint8_t arena[1 << 20] __attribute__((aligned(64)));
static struct cons_actions out;
static const uint8_t genesis[CONS_HASH_BYTES] = { 'g' };
static uint8_t block_ids[4][IDS_MAX][CONS_ID_BYTES];
static struct cons_block blocks[4];

static void config(struct cons_config *cfg, uint32_t self)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->valset = &keys.set;
    cfg->chain_id = CHAIN;
    cfg->self = self;
    memcpy(cfg->secret_key, keys.sk[self], CONS_SK_BYTES);
    cfg->timeout_propose_ticks = 10;
    cfg->timeout_prevote_ticks = 5;
    cfg->timeout_precommit_ticks = 5;
    cfg->timeout_delta_ticks = 2;
    cfg->rebroadcast_ticks = 1000;
    cfg->sync_retry_ticks = 10;
    cfg->block_ids_max = IDS_MAX;
    cfg->mempool_ids_max = 64;
    cfg->recent_ids_max = 64;
}

static void boot(uint64_t now)
{
    struct cons_config cfg;
    config(&cfg, 0);
    cr_assert_eq(cons_machine_init(&mach, &cfg, arena, sizeof(arena)), 0);
    cons_machine_start(&mach, 1, genesis, 0);
    cons_machine_begin(&mach, now, &out);
}

static void setup(void)
{
    cr_assert_eq(test_keys_make(&keys, 4), 0);
    boot(1);
}

TestSuite(machine, .init = setup);

/* Block `slot` for height 1: `count` ids, each byte = tag + i, distinct per tag. */
static const uint8_t *make_block(int slot, uint32_t round, uint16_t proposer, uint8_t tag,
                                 uint32_t count, uint8_t hash[CONS_HASH_BYTES])
{
    struct cons_block *b = &blocks[slot];
    cons_block_init(b, block_ids[slot], IDS_MAX);
    cons_header_set_chain(&b->header, CHAIN);
    b->header.height = 1;
    b->header.round = round;
    b->header.time_ticks = 3;
    memcpy(b->header.prev_hash, genesis, CONS_HASH_BYTES);
    b->header.proposer = proposer;
    for (uint32_t i = 0; i < count; i++) {
        memset(block_ids[slot][i], tag + (int)i, CONS_ID_BYTES);
    }
    b->header.id_count = count;
    cons_block_seal(b);
    cons_block_hash(b, hash);
    return hash;
}

static int feed_proposal(int slot, uint32_t round, int32_t pol, const uint8_t *hash)
{
    struct cons_msg msg = { .kind = CONS_MSG_PROPOSAL, .block = &blocks[slot] };
    msg.proposal.height = 1;
    msg.proposal.round = round;
    msg.proposal.pol_round = pol;
    msg.proposal.proposer = (uint16_t)cons_proposer(4, 1, round);
    memcpy(msg.proposal.block_hash, hash, CONS_HASH_BYTES);
    cons_proposal_sign(&msg.proposal, CHAIN, keys.sk[msg.proposal.proposer]);
    return cons_on_message(&mach, &msg, &out);
}

static struct cons_msg vote_from(uint16_t validator, uint8_t type, uint32_t round,
                                 const uint8_t *hash)
{
    struct cons_msg msg = { .kind = CONS_MSG_VOTE };
    msg.vote.type = type;
    msg.vote.height = 1;
    msg.vote.round = round;
    msg.vote.validator = validator;
    msg.vote.has_block = hash != NULL;
    if (hash != NULL) {
        memcpy(msg.vote.block_hash, hash, CONS_HASH_BYTES);
    }
    cons_vote_sign(&msg.vote, CHAIN, keys.sk[validator]);
    return msg;
}

static int feed_vote(uint16_t validator, uint8_t type, uint32_t round, const uint8_t *hash)
{
    struct cons_msg msg = vote_from(validator, type, round, hash);
    return cons_on_message(&mach, &msg, &out);
}

/* Our own vote of `type` sent in the last batch: 1 for `hash`, 0 for nil, -1 when none. */
static int sent_vote(uint8_t type, uint32_t round, const uint8_t *hash)
{
    for (uint32_t i = 0; i < out.count; i++) {
        const struct cons_action *a = &out.items[i];
        if (a->type == CONS_ACT_SEND && a->msg.kind == CONS_MSG_VOTE &&
            a->msg.vote.validator == 0 && a->msg.vote.type == type && a->msg.vote.round == round) {
            if (!a->msg.vote.has_block) {
                return 0;
            }
            cr_assert(hash != NULL && memcmp(a->msg.vote.block_hash, hash, CONS_HASH_BYTES) == 0,
                      "voted for an unexpected block");
            return 1;
        }
    }
    return -1;
}

static void tick_to(uint64_t now)
{
    cons_tick(&mach, now, &out);
}

static const struct cons_action *find_action(uint8_t type)
{
    for (uint32_t i = 0; i < out.count; i++) {
        if (out.items[i].type == type) {
            return &out.items[i];
        }
    }
    return NULL;
}

Test(machine, duplicates_count_once)
{
    uint8_t b[CONS_HASH_BYTES];
    make_block(0, 0, 1, 10, 2, b);
    cr_assert_eq(feed_proposal(0, 0, -1, b), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, b), 1);
    cr_assert_eq(feed_vote(1, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(feed_vote(1, CONS_VOTE_PREVOTE, 0, b), DC_EDUPLICATE);
    cr_assert_eq(sent_vote(CONS_VOTE_PRECOMMIT, 0, b), -1, "a duplicate must not count");
    cr_assert_eq(mach.locked_round, -1);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PRECOMMIT, 0, b), 1);
    cr_assert_eq(mach.locked_round, 0);
    cr_assert_eq(mach.stats.duplicates, 1);
}

Test(machine, equivocator_counts_once_per_value)
{
    uint8_t b[CONS_HASH_BYTES];
    make_block(0, 0, 1, 10, 2, b);
    cr_assert_eq(feed_proposal(0, 0, -1, b), 0);
    cr_assert_eq(feed_vote(1, CONS_VOTE_PREVOTE, 0, NULL), 0);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, NULL), 0);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, b), DC_ECONFLICT);
    cr_assert_eq(mach.stats.equivocations, 1);
    /* b has us and validator 2's second vote: two, not a quorum. */
    cr_assert_eq(sent_vote(CONS_VOTE_PRECOMMIT, 0, b), -1);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, b), DC_EDUPLICATE);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, NULL), DC_EDUPLICATE);
    cr_assert_eq(mach.step, CONS_STEP_PREVOTE, "nil has only two votes too");
    cr_assert_eq(feed_vote(3, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PRECOMMIT, 0, b), 1);
}

Test(machine, bad_inputs_are_refused_before_touching_state)
{
    uint8_t b[CONS_HASH_BYTES];
    struct cons_msg msg = vote_from(1, CONS_VOTE_PREVOTE, 0, NULL);
    cons_vote_sign(&msg.vote, CHAIN, keys.sk[2]); /* signed by someone else */
    cr_assert_eq(cons_on_message(&mach, &msg, &out), DC_ESIGNATURE);
    msg = vote_from(1, CONS_VOTE_PREVOTE, 0, NULL);
    msg.vote.validator = 7;
    cr_assert_eq(cons_on_message(&mach, &msg, &out), DC_EMEMBER);
    msg = vote_from(1, CONS_VOTE_PREVOTE, 0, NULL);
    cr_assert_eq(cons_vote_verify(&msg.vote, &keys.set, "other-chain"), DC_ESIGNATURE);
    msg = vote_from(1, CONS_VOTE_PREVOTE, CONS_ROUND_AHEAD_MAX + 5, NULL);
    cr_assert_eq(cons_on_message(&mach, &msg, &out), DC_ERANGE);
    /* Round 0's proposer is validator 1: validator 2 may not propose. */
    make_block(0, 0, 2, 10, 2, b);
    struct cons_msg prop = { .kind = CONS_MSG_PROPOSAL, .block = &blocks[0] };
    prop.proposal = (struct cons_proposal){ .height = 1, .round = 0, .pol_round = -1,
                                            .proposer = 2 };
    memcpy(prop.proposal.block_hash, b, CONS_HASH_BYTES);
    cons_proposal_sign(&prop.proposal, CHAIN, keys.sk[2]);
    cr_assert_eq(cons_on_message(&mach, &prop, &out), DC_EMEMBER);
    /* A block that does not extend our chain is proposed: we prevote nil. */
    make_block(0, 0, 1, 10, 2, b);
    blocks[0].header.prev_hash[0] ^= 1;
    cons_block_hash(&blocks[0], b);
    cr_assert_eq(feed_proposal(0, 0, -1, b), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, NULL), 0);
    cr_assert_eq(mach.stats.invalid_proposals, 1);
    cr_assert_eq(mach.stats.drop_signature, 1);
    cr_assert_eq(mach.stats.drop_member, 2);
}

Test(machine, stale_heights_are_dropped)
{
    cons_machine_start(&mach, 2, genesis, 0);
    cons_machine_begin(&mach, 2, &out);
    cr_assert_eq(feed_vote(1, CONS_VOTE_PREVOTE, 0, NULL), DC_ESTALE);
}

/* Round 0: lock on b. Precommits nil; the precommit timeout moves us to round 1. */
static void lock_b_then_round_1(uint8_t b[CONS_HASH_BYTES])
{
    make_block(0, 0, 1, 10, 2, b);
    cr_assert_eq(feed_proposal(0, 0, -1, b), 0);
    cr_assert_eq(feed_vote(1, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PRECOMMIT, 0, b), 1);
    cr_assert_eq(mach.locked_round, 0);
    for (uint16_t v = 1; v <= 3; v++) {
        cr_assert_eq(feed_vote(v, CONS_VOTE_PRECOMMIT, 0, NULL), 0);
    }
    tick_to(20);
    cr_assert_eq(mach.round, 1);
    cr_assert_eq(mach.step, CONS_STEP_PROPOSE);
}

Test(machine, lock_refuses_a_new_value)
{
    uint8_t b[CONS_HASH_BYTES], c[CONS_HASH_BYTES];
    lock_b_then_round_1(b);
    make_block(1, 1, 2, 50, 3, c);
    cr_assert_eq(feed_proposal(1, 1, -1, c), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 1, NULL), 0, "locked on b: prevote nil");
    /* A quorum prevoting c in a later round moves the lock (line 36). */
    for (uint16_t v = 1; v <= 3; v++) {
        cr_assert_eq(feed_vote(v, CONS_VOTE_PREVOTE, 1, c), 0);
    }
    cr_assert_eq(mach.locked_round, 1);
    cr_assert_eq(memcmp(mach.locked_hash, c, CONS_HASH_BYTES), 0);
    cr_assert_eq(mach.valid_round, 1);
}

Test(machine, lock_accepts_its_own_value_and_newer_proof_of_lock)
{
    uint8_t b[CONS_HASH_BYTES];
    lock_b_then_round_1(b);
    /* Round 1's proposer re-proposes b: we are locked on it, so we prevote it. */
    cr_assert_eq(feed_proposal(0, 1, 0, b), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 1, b), 1);
}

Test(machine, older_proof_of_lock_does_not_unlock)
{
    uint8_t b[CONS_HASH_BYTES], c[CONS_HASH_BYTES];
    lock_b_then_round_1(b);
    /* Round 1: a quorum prevotes c and we relock on c at round 1. */
    make_block(1, 1, 2, 50, 3, c);
    cr_assert_eq(feed_proposal(1, 1, -1, c), 0);
    for (uint16_t v = 1; v <= 3; v++) {
        cr_assert_eq(feed_vote(v, CONS_VOTE_PREVOTE, 1, c), 0);
    }
    for (uint16_t v = 1; v <= 3; v++) {
        cr_assert_eq(feed_vote(v, CONS_VOTE_PRECOMMIT, 1, NULL), 0);
    }
    tick_to(40);
    cr_assert_eq(mach.round, 2);
    /* Round 2 re-proposes b backed by round 0's prevotes: older than our lock, so nil. */
    cr_assert_eq(feed_proposal(0, 2, 0, b), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 2, NULL), 0);
}

static int same_msg(const struct cons_msg *a, const struct cons_msg *b)
{
    if (a->kind != b->kind) {
        return 0;
    }
    return a->kind == CONS_MSG_VOTE ? cons_vote_same(&a->vote, &b->vote) &&
                                          memcmp(a->vote.sig, b->vote.sig, CONS_SIG_BYTES) == 0
                                    : memcmp(&a->proposal, &b->proposal, sizeof(a->proposal)) == 0;
}

/* Every message we signed and send in this batch was persisted earlier in the batch. */
static uint32_t check_persist_before_send(void)
{
    uint32_t checked = 0;
    for (uint32_t i = 0; i < out.count; i++) {
        const struct cons_action *a = &out.items[i];
        int own = a->type == CONS_ACT_SEND &&
                  ((a->msg.kind == CONS_MSG_VOTE && a->msg.vote.validator == 0) ||
                   (a->msg.kind == CONS_MSG_PROPOSAL && a->msg.proposal.proposer == 0));
        if (!own) {
            continue;
        }
        int found = 0;
        for (uint32_t j = 0; j < i && !found; j++) {
            found = out.items[j].type == CONS_ACT_PERSIST && same_msg(&out.items[j].msg, &a->msg);
        }
        cr_assert(found, "action %u sends a message it did not persist first", i);
        checked++;
    }
    return checked;
}

Test(machine, proposer_batches_mempool_and_persists_before_sending)
{
    uint8_t id[CONS_ID_BYTES];
    struct cons_config cfg;
    config(&cfg, 0);
    cr_assert_eq(cons_machine_init(&mach, &cfg, arena, sizeof(arena)), 0);
    for (int i = 0; i < 20; i++) {
        memset(id, 0x40 + i, sizeof(id));
        cr_assert_eq(cons_submit(&mach, id), 0);
    }
    cr_assert_eq(cons_submit(&mach, id), DC_EDUPLICATE);
    /* Height 4, round 0: validator 0 proposes. */
    cons_machine_start(&mach, 4, genesis, 0);
    cons_machine_begin(&mach, 1, &out);
    const struct cons_action *a = find_action(CONS_ACT_SEND);
    cr_assert(a != NULL && a->msg.kind == CONS_MSG_PROPOSAL);
    cr_assert_eq(a->msg.block->header.id_count, IDS_MAX, "batch bounded by block_ids_max");
    for (uint32_t i = 0; i < IDS_MAX; i++) {
        cr_assert_eq(a->msg.block->ids[i][0], 0x40 + i, "ids keep submission order");
    }
    cr_assert_eq(check_persist_before_send(), 2, "the proposal and our prevote");
    cr_assert_eq(mach.stats.signs, 2);
}

/* Copy of a PERSIST record through its WAL encoding, as a restart would read it back. */
static uint8_t rec_buf[8][4096];
static size_t rec_len[8];
static uint32_t rec_count;

static void save_records(void)
{
    for (uint32_t i = 0; i < out.count; i++) {
        if (out.items[i].type == CONS_ACT_PERSIST) {
            cr_assert(rec_count < 8);
            rec_len[rec_count] = cons_record_encode(&out.items[i].msg, rec_buf[rec_count],
                                                    sizeof(rec_buf[0]));
            rec_count++;
        }
    }
}

static void restart_from_records(uint64_t now)
{
    static uint8_t ids[IDS_MAX][CONS_ID_BYTES];
    struct cons_config cfg;
    config(&cfg, 0);
    cr_assert_eq(cons_machine_init(&mach, &cfg, arena, sizeof(arena)), 0);
    cons_machine_start(&mach, 1, genesis, 0);
    for (uint32_t i = 0; i < rec_count; i++) {
        struct cons_block block;
        struct cons_msg rec;
        cons_block_init(&block, ids, IDS_MAX);
        cr_assert_eq(cons_record_decode(rec_buf[i], rec_len[i], &rec, &block), 0);
        cr_assert_eq(cons_machine_restore(&mach, &rec), 0);
    }
    cons_machine_begin(&mach, now, &out);
}

Test(machine, restart_never_signs_a_different_vote)
{
    uint8_t b[CONS_HASH_BYTES], c[CONS_HASH_BYTES];
    rec_count = 0;
    make_block(0, 0, 1, 10, 2, b);
    cr_assert_eq(feed_proposal(0, 0, -1, b), 0);
    save_records();
    cr_assert_eq(feed_vote(1, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, b), 0);
    save_records();
    cr_assert_eq(rec_count, 4, "our prevote; the two prevotes behind the lock; our precommit");
    restart_from_records(50);
    cr_assert_eq(mach.locked_round, 0, "the precommit record restores the lock");
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        if (mach.rounds[i].used && mach.rounds[i].round == 0) {
            cr_assert_eq(__builtin_popcountll(mach.rounds[i].prevotes.mask), 3,
                         "the proof of lock survives the restart");
        }
    }
    cr_assert_eq(mach.step, CONS_STEP_PRECOMMIT);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, b), 1, "the same prevote, sent again");
    cr_assert_eq(sent_vote(CONS_VOTE_PRECOMMIT, 0, b), 1);
    cr_assert_eq(mach.stats.signs, 0, "nothing new signed on restart");
    /* The proposer equivocates after our restart: we vote nothing new in round 0. */
    make_block(1, 0, 1, 60, 1, c);
    feed_proposal(1, 0, -1, c);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, c), -1);
    cr_assert_eq(mach.stats.signs, 0);
    /* And the restored lock holds in the next round. */
    for (uint16_t v = 1; v <= 3; v++) {
        feed_vote(v, CONS_VOTE_PRECOMMIT, 0, NULL);
    }
    tick_to(100);
    cr_assert_eq(mach.round, 1);
    make_block(2, 1, 2, 80, 1, c);
    cr_assert_eq(feed_proposal(2, 1, -1, c), 0);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 1, NULL), 0);
}

static void cert_for(struct cons_cert *cert, const uint8_t *hash, uint16_t signers,
                     const char *chain)
{
    cons_cert_init(cert, 1, 0, hash);
    for (uint16_t v = 1; v <= signers; v++) {
        struct cons_vote vote = vote_from(v, CONS_VOTE_PRECOMMIT, 0, hash).vote;
        cons_vote_sign(&vote, chain, keys.sk[v]);
        cr_assert_eq(cons_cert_add(cert, &vote), 0);
    }
}

Test(machine, commit_emits_block_and_certificate)
{
    uint8_t b[CONS_HASH_BYTES];
    make_block(0, 0, 1, 10, 2, b);
    cr_assert_eq(feed_proposal(0, 0, -1, b), 0);
    cr_assert_eq(feed_vote(1, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(feed_vote(1, CONS_VOTE_PRECOMMIT, 0, b), 0);
    cr_assert_null(find_action(CONS_ACT_COMMIT));
    cr_assert_eq(feed_vote(3, CONS_VOTE_PRECOMMIT, 0, b), 0);
    const struct cons_action *a = find_action(CONS_ACT_COMMIT);
    cr_assert_not_null(a);
    cr_assert_eq(a->block->header.height, 1);
    cr_assert_eq(a->cert->count, 3);
    cr_assert_eq(cons_cert_verify(a->cert, b, &keys.set, CHAIN), 0);
    cr_assert_eq(mach.height, 2);
    cr_assert_eq(memcmp(mach.prev_hash, b, CONS_HASH_BYTES), 0);
    /* The committed ids are now refused by the mempool. */
    cr_assert_eq(cons_submit(&mach, blocks[0].ids[0]), DC_EDUPLICATE);
}

Test(machine, sync_applies_only_certified_blocks)
{
    uint8_t b[CONS_HASH_BYTES];
    struct cons_cert cert;
    struct cons_msg msg = { .kind = CONS_MSG_SYNC_BLOCK };
    make_block(0, 0, 1, 10, 2, b);
    msg.block = &blocks[0];
    msg.cert = &cert;
    cert_for(&cert, b, 2, CHAIN);
    cr_assert_eq(cons_on_message(&mach, &msg, &out), DC_EQUORUM);
    cert_for(&cert, b, 3, "other-chain");
    cr_assert_eq(cons_on_message(&mach, &msg, &out), DC_ESIGNATURE);
    cert_for(&cert, b, 3, CHAIN);
    cert.sigs[0].validator = 9;
    cr_assert_eq(cons_on_message(&mach, &msg, &out), DC_EMEMBER);
    cr_assert_eq(mach.height, 1);
    cert_for(&cert, b, 3, CHAIN);
    cr_assert_eq(cons_on_message(&mach, &msg, &out), 0);
    cr_assert_not_null(find_action(CONS_ACT_COMMIT));
    cr_assert_eq(mach.height, 2);
    cr_assert_eq(mach.stats.sync_applied, 1);
    cr_assert_eq(cons_on_message(&mach, &msg, &out), DC_ESTALE);
}

Test(machine, lagging_validator_asks_for_blocks)
{
    struct cons_msg msg = vote_from(2, CONS_VOTE_PREVOTE, 0, NULL);
    msg.vote.height = 3;
    cons_vote_sign(&msg.vote, CHAIN, keys.sk[2]);
    cr_assert_eq(cons_on_message(&mach, &msg, &out), DC_ERANGE);
    const struct cons_action *a = find_action(CONS_ACT_SEND);
    cr_assert_not_null(a);
    cr_assert_eq(a->msg.kind, CONS_MSG_SYNC_REQUEST);
    cr_assert_eq(a->to, 2);
    cr_assert_eq(a->msg.sync.from_height, 1);
    cr_assert_eq(a->msg.sync.requester, 0);
    /* A peer's request is served only for heights we have committed. */
    struct cons_msg req = { .kind = CONS_MSG_SYNC_REQUEST, .sync = { 3, 1 } };
    cr_assert_eq(cons_on_message(&mach, &req, &out), DC_ESTALE);
}

Test(machine, proposer_rotates_with_height_and_round)
{
    cr_assert_eq(cons_proposer(4, 1, 0), 1);
    cr_assert_eq(cons_proposer(4, 1, 1), 2);
    cr_assert_eq(cons_proposer(4, 1, 3), 0);
    cr_assert_eq(cons_proposer(4, 2, 0), 2);
    cr_assert_eq(cons_proposer(7, 10, 4), 0);
}

Test(machine, f_plus_one_in_a_later_round_pulls_us_there)
{
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 5, NULL), 0);
    cr_assert_eq(mach.round, 0, "one validator may be Byzantine: stay");
    cr_assert_eq(feed_vote(2, CONS_VOTE_PRECOMMIT, 5, NULL), 0);
    cr_assert_eq(mach.round, 0, "still one validator");
    cr_assert_eq(feed_vote(3, CONS_VOTE_PREVOTE, 5, NULL), 0);
    cr_assert_eq(mach.round, 5, "f+1 = 2 validators are in round 5");
    cr_assert_eq(mach.step, CONS_STEP_PROPOSE);
}

Test(machine, propose_timeout_grows_with_the_round)
{
    /* Two validators pull us to round 4 (whose proposer is validator 1, not us). */
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 4, NULL), 0);
    cr_assert_eq(feed_vote(3, CONS_VOTE_PREVOTE, 4, NULL), 0);
    cr_assert_eq(mach.round, 4);
    /* Entered at tick 1: timeout_propose(4) = 10 + 4 * 2 = 18 ticks. */
    tick_to(18);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 4, NULL), -1, "too early at tick 18");
    tick_to(19);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 4, NULL), 0, "nil prevote at tick 1 + 18");
}

Test(machine, restarted_validator_still_refuses_committed_ids)
{
    uint8_t b1[CONS_HASH_BYTES], b2[CONS_HASH_BYTES];
    struct cons_config cfg;
    make_block(0, 0, 1, 10, 2, b1);
    config(&cfg, 0);
    cr_assert_eq(cons_machine_init(&mach, &cfg, arena, sizeof(arena)), 0);
    cons_machine_start(&mach, 2, b1, blocks[0].header.time_ticks);
    cons_machine_remember(&mach, &blocks[0]);
    cons_machine_begin(&mach, 1, &out);
    cr_assert_eq(cons_submit(&mach, blocks[0].ids[1]), DC_EDUPLICATE);
    /* Height 2, round 0: validator 2 proposes a block that repeats an id of height 1. */
    struct cons_block *b = &blocks[1];
    cons_block_init(b, block_ids[1], IDS_MAX);
    cons_header_set_chain(&b->header, CHAIN);
    b->header.height = 2;
    b->header.time_ticks = 5;
    memcpy(b->header.prev_hash, b1, CONS_HASH_BYTES);
    b->header.proposer = 2;
    memcpy(block_ids[1][0], blocks[0].ids[1], CONS_ID_BYTES);
    b->header.id_count = 1;
    cons_block_seal(b);
    cons_block_hash(b, b2);
    struct cons_msg msg = { .kind = CONS_MSG_PROPOSAL, .block = b };
    msg.proposal = (struct cons_proposal){ .height = 2, .round = 0, .pol_round = -1,
                                           .proposer = 2 };
    memcpy(msg.proposal.block_hash, b2, CONS_HASH_BYTES);
    cons_proposal_sign(&msg.proposal, CHAIN, keys.sk[2]);
    cr_assert_eq(cons_on_message(&mach, &msg, &out), 0);
    cr_assert_eq(mach.stats.invalid_proposals, 1);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, NULL), 0, "nil: the id was committed");
}

Test(machine, restarted_validator_decides_on_its_locked_block)
{
    uint8_t b[CONS_HASH_BYTES];
    rec_count = 0;
    make_block(0, 0, 1, 10, 2, b);
    cr_assert_eq(feed_proposal(0, 0, -1, b), 0);
    save_records();
    cr_assert_eq(feed_vote(1, CONS_VOTE_PREVOTE, 0, b), 0);
    cr_assert_eq(feed_vote(2, CONS_VOTE_PREVOTE, 0, b), 0);
    save_records();
    /* After the restart we hold the block (from our precommit record), not the proposal. */
    restart_from_records(50);
    cr_assert_eq(feed_vote(1, CONS_VOTE_PRECOMMIT, 0, b), 0);
    cr_assert_null(find_action(CONS_ACT_COMMIT));
    cr_assert_eq(feed_vote(2, CONS_VOTE_PRECOMMIT, 0, b), 0);
    const struct cons_action *a = find_action(CONS_ACT_COMMIT);
    cr_assert_not_null(a, "a quorum of precommits for a block we hold is a decision");
    cr_assert_eq(cons_cert_verify(a->cert, b, &keys.set, CHAIN), 0);
    cr_assert_eq(mach.height, 2);
    cr_assert_eq(mach.stats.sync_requests, 0);
}

/* ------------------------------------------------------------------ block timing */

#define INTERVAL 50

static void boot_at(uint64_t height, uint32_t interval, uint64_t now)
{
    struct cons_config cfg;
    config(&cfg, 0);
    cfg.empty_block_interval_ticks = interval;
    cr_assert_eq(cons_machine_init(&mach, &cfg, arena, sizeof(arena)), 0);
    cons_machine_start(&mach, height, genesis, 0);
    cons_machine_begin(&mach, now, &out);
}

/* Height `height` commits at tick `now` through a certified sync block (one id, `tag`). */
static void commit_by_sync(uint64_t height, uint8_t tag, uint64_t now)
{
    struct cons_block *b = &blocks[3];
    uint8_t hash[CONS_HASH_BYTES];
    struct cons_cert cert;
    cons_block_init(b, block_ids[3], IDS_MAX);
    cons_header_set_chain(&b->header, CHAIN);
    b->header.height = height;
    b->header.time_ticks = 3;
    memcpy(b->header.prev_hash, mach.prev_hash, CONS_HASH_BYTES);
    b->header.proposer = (uint16_t)cons_proposer(4, height, 0);
    memset(block_ids[3][0], tag, CONS_ID_BYTES);
    b->header.id_count = 1;
    cons_block_seal(b);
    cons_block_hash(b, hash);
    cons_cert_init(&cert, height, 0, hash);
    for (uint16_t v = 1; v <= 3; v++) {
        struct cons_vote vote = { .type = CONS_VOTE_PRECOMMIT, .has_block = 1, .validator = v,
                                  .height = height };
        memcpy(vote.block_hash, hash, CONS_HASH_BYTES);
        cons_vote_sign(&vote, CHAIN, keys.sk[v]);
        cr_assert_eq(cons_cert_add(&cert, &vote), 0);
    }
    tick_to(now);
    struct cons_msg msg = { .kind = CONS_MSG_SYNC_BLOCK, .block = b, .cert = &cert };
    cr_assert_eq(cons_on_message(&mach, &msg, &out), 0);
    cr_assert_not_null(find_action(CONS_ACT_COMMIT));
    cr_assert_eq(mach.height, height + 1);
    cr_assert_eq(mach.round, 0);
}

/* Our proposal in the last batch: its id count, or -1 when we sent none. */
static int sent_proposal(void)
{
    for (uint32_t i = 0; i < out.count; i++) {
        const struct cons_action *a = &out.items[i];
        if (a->type == CONS_ACT_SEND && a->msg.kind == CONS_MSG_PROPOSAL &&
            a->msg.proposal.proposer == 0) {
            return (int)a->msg.block->header.id_count;
        }
    }
    return -1;
}

static uint64_t scheduled(void)
{
    const struct cons_action *a = find_action(CONS_ACT_SCHEDULE);
    cr_assert_not_null(a);
    return a->at_tick;
}

Test(machine, proposer_with_pending_ids_proposes_at_once_after_a_commit)
{
    uint8_t id[CONS_ID_BYTES];
    /* Height 4, round 0 is ours (4 mod 4 = 0). Ids waiting before the commit: the proposal
     * goes out in the batch of the commit itself. */
    boot_at(3, INTERVAL, 1);
    memset(id, 0x71, sizeof(id));
    cr_assert_eq(cons_submit(&mach, id), 0);
    commit_by_sync(3, 0x20, 5);
    cr_assert_eq(sent_proposal(), 1);
}

Test(machine, waiting_proposer_proposes_at_the_first_tick_after_an_id_arrives)
{
    uint8_t id[CONS_ID_BYTES];
    boot_at(3, INTERVAL, 1);
    commit_by_sync(3, 0x20, 5);
    cr_assert_eq(sent_proposal(), -1, "nothing to order: wait for ids or the heartbeat");
    tick_to(6);
    cr_assert_eq(sent_proposal(), -1);
    memset(id, 0x71, sizeof(id));
    cr_assert_eq(cons_submit(&mach, id), 0);
    cr_assert_eq(mach.stats.signs, 0, "submitting emits nothing");
    tick_to(6); /* the node ticks after submitting, with the same tick count */
    cr_assert_eq(sent_proposal(), 1, "an id is pending: propose without the heartbeat");
    cr_assert_eq(check_persist_before_send(), 2, "the proposal and our prevote");
    tick_to(INTERVAL + 5);
    cr_assert_eq(sent_proposal(), -1, "one proposal per round");
}

Test(machine, idle_proposer_proposes_an_empty_block_after_exactly_the_interval)
{
    boot_at(3, INTERVAL, 1);
    commit_by_sync(3, 0x20, 5);
    cr_assert_eq(scheduled(), 5 + INTERVAL, "the heartbeat is the next deadline");
    tick_to(5 + INTERVAL - 1);
    cr_assert_eq(sent_proposal(), -1, "too early");
    tick_to(5 + INTERVAL);
    cr_assert_eq(sent_proposal(), 0, "the heartbeat: an empty block");
}

Test(machine, zero_interval_proposes_an_empty_block_at_once)
{
    boot_at(3, 0, 1);
    commit_by_sync(3, 0x20, 5);
    cr_assert_eq(sent_proposal(), 0);
}

Test(machine, others_allow_the_heartbeat_before_timing_out_round_0)
{
    /* Height 5's round 0 belongs to validator 1: we wait the interval plus the timeout. */
    boot_at(4, INTERVAL, 1);
    commit_by_sync(4, 0x20, 5);
    cr_assert_eq(mach.height, 5);
    tick_to(5 + INTERVAL + 10 - 1);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, NULL), -1, "the proposer may still be idle");
    tick_to(5 + INTERVAL + 10);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, NULL), 0, "timeout_propose after the interval");
    /* Round 1 follows no commit: its propose timeout is the plain 10 + 1 * 2 ticks. */
    uint64_t now = 5 + INTERVAL + 10;
    for (uint16_t v = 1; v <= 3; v++) {
        struct cons_msg msg = { .kind = CONS_MSG_VOTE };
        msg.vote = (struct cons_vote){ .type = CONS_VOTE_PRECOMMIT, .validator = v,
                                       .height = 5 };
        cons_vote_sign(&msg.vote, CHAIN, keys.sk[v]);
        cr_assert_eq(cons_on_message(&mach, &msg, &out), 0);
    }
    now += 5; /* timeout_precommit */
    tick_to(now);
    cr_assert_eq(mach.round, 1);
    tick_to(now + 12 - 1);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 1, NULL), -1);
    tick_to(now + 12);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 1, NULL), 0);
}

Test(machine, others_holding_ids_time_out_round_0_without_the_heartbeat)
{
    /* We hold an id, so an honest proposer holds it too and proposes at once: a silent one
     * is dead, and waiting the heartbeat on top of the timeout would only slow the chain. */
    uint8_t id[CONS_ID_BYTES];
    boot_at(4, INTERVAL, 1);
    memset(id, 0x72, sizeof(id));
    cr_assert_eq(cons_submit(&mach, id), 0);
    commit_by_sync(4, 0x20, 5);
    cr_assert_eq(mach.height, 5);
    tick_to(5 + 10 - 1);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, NULL), -1);
    tick_to(5 + 10);
    cr_assert_eq(sent_vote(CONS_VOTE_PREVOTE, 0, NULL), 0, "the plain timeout_propose");
}
