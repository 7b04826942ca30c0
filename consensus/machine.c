#include "consensus/machine.h"

#include <sodium.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"

_Static_assert(CONS_VALIDATORS_MAX <= 64, "vote masks are 64-bit");
_Static_assert(CONS_BLOCK_SLOTS >= CONS_ROUND_SLOTS + 2 + 4,
               "a block per round slot, lock, valid value and the blocks one call pins");

/* ------------------------------------------------------------------ helpers */

static int hash_eq(const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, CONS_HASH_BYTES) == 0;
}

static uint64_t bit(uint32_t index)
{
    DC_ASSERT(index < 64);
    return (uint64_t)1 << index;
}

static void emit(struct cons_machine *m, const struct cons_action *action)
{
    DC_ASSERT(m->out != NULL);
    DC_ASSERT(m->out->count < CONS_ACTIONS_MAX);
    m->out->items[m->out->count++] = *action;
}

static uint64_t timeout_ticks(const struct cons_machine *m, uint32_t base, uint32_t round)
{
    return (uint64_t)base + (uint64_t)round * m->cfg.timeout_delta_ticks;
}

uint32_t cons_proposer(uint32_t validators, uint64_t height, uint32_t round)
{
    DC_ASSERT(validators > 0);
    return (uint32_t)((height + round) % validators);
}

static int vote_for(const struct cons_vote *vote, const uint8_t *hash)
{
    return hash == NULL ? !vote->has_block
                        : vote->has_block && hash_eq(vote->block_hash, hash);
}

/* Validator `i`'s vote in `vs` for `hash` (NULL: nil), first or conflicting; NULL if none. */
static const struct cons_vote *voteset_find(const struct cons_voteset *vs, uint32_t i,
                                            const uint8_t *hash)
{
    if ((vs->mask & ((uint64_t)1 << i)) && vote_for(&vs->first[i], hash)) {
        return &vs->first[i];
    }
    if ((vs->alt_mask & ((uint64_t)1 << i)) && vote_for(&vs->alt[i], hash)) {
        return &vs->alt[i];
    }
    return NULL;
}

/* Distinct validators in `vs` with a vote for `hash`, or for nil when `hash` is NULL. */
static uint32_t tally(const struct cons_voteset *vs, const uint8_t *hash)
{
    uint64_t mask = vs->mask | vs->alt_mask;
    uint32_t count = 0;
    while (mask != 0) {
        uint32_t i = (uint32_t)__builtin_ctzll(mask);
        mask &= mask - 1;
        count += voteset_find(vs, i, hash) != NULL;
    }
    return count;
}

static uint32_t popcount(uint64_t mask)
{
    return (uint32_t)__builtin_popcountll(mask);
}

/* ------------------------------------------------------------------ block slots */

static int16_t block_find(const struct cons_machine *m, const uint8_t hash[CONS_HASH_BYTES])
{
    for (int16_t i = 0; i < CONS_BLOCK_SLOTS; i++) {
        if (m->blocks[i].refs > 0 && hash_eq(m->blocks[i].hash, hash)) {
            return i;
        }
    }
    return -1;
}

static int16_t block_alloc(struct cons_machine *m)
{
    for (int16_t i = 0; i < CONS_BLOCK_SLOTS; i++) {
        if (m->blocks[i].refs == 0 && !m->blocks[i].pinned) {
            m->blocks[i].block.header.id_count = 0;
            return i;
        }
    }
    DC_ASSERT(0); /* CONS_BLOCK_SLOTS covers every holder */
    return -1;
}

static void block_ref(struct cons_machine *m, int16_t slot)
{
    DC_ASSERT(slot >= 0 && slot < CONS_BLOCK_SLOTS);
    DC_ASSERT(m->blocks[slot].refs < UINT16_MAX);
    m->blocks[slot].refs++;
}

static void block_unref(struct cons_machine *m, int16_t slot)
{
    if (slot < 0) {
        return;
    }
    DC_ASSERT(slot < CONS_BLOCK_SLOTS);
    DC_ASSERT(m->blocks[slot].refs > 0);
    m->blocks[slot].refs--;
}

/* The slot holding the block hashing to `hash`, copying `block` in when not held yet. */
static int16_t block_hold(struct cons_machine *m, const struct cons_block *block,
                          const uint8_t hash[CONS_HASH_BYTES])
{
    int16_t slot = block_find(m, hash);
    if (slot < 0) {
        slot = block_alloc(m);
        int err = cons_block_copy(&m->blocks[slot].block, block);
        DC_ASSERT(err == 0); /* callers checked id_count <= block_ids_max */
        memcpy(m->blocks[slot].hash, hash, CONS_HASH_BYTES);
    }
    block_ref(m, slot);
    return slot;
}

static const struct cons_block *block_pin(struct cons_machine *m, int16_t slot)
{
    DC_ASSERT(slot >= 0 && slot < CONS_BLOCK_SLOTS);
    DC_ASSERT(m->blocks[slot].refs > 0);
    m->blocks[slot].pinned = 1;
    return &m->blocks[slot].block;
}

/* ------------------------------------------------------------------ round slots */

static struct cons_round *round_find(struct cons_machine *m, uint32_t round)
{
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        if (m->rounds[i].used && m->rounds[i].round == round) {
            return &m->rounds[i];
        }
    }
    return NULL;
}

static void round_release(struct cons_machine *m, struct cons_round *rs)
{
    if (rs->used && rs->has_proposal) {
        block_unref(m, rs->proposal_block);
    }
    memset(rs, 0, sizeof(*rs));
    rs->proposal_block = -1;
}

/* The proof-of-lock round of the current round's proposal, or -1. */
static int64_t current_pol_round(const struct cons_machine *m)
{
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        const struct cons_round *rs = &m->rounds[i];
        if (rs->used && rs->round == m->round && rs->has_proposal) {
            return rs->proposal.pol_round;
        }
    }
    return -1;
}

/*
 * Rounds whose votes liveness depends on: the current one, the locked and valid rounds, and
 * the round whose prevotes back the current proposal (line 28).
 */
static int round_protected(const struct cons_machine *m, uint32_t round)
{
    return round == m->round || (int64_t)round == m->locked_round ||
           (int64_t)round == m->valid_round || (int64_t)round == current_pol_round(m);
}

/*
 * A slot to evict for `round`: the oldest past round, else (for a later round) the latest
 * future round beyond it. Rounds the machine stands on, is locked on or holds a valid value
 * from are never evicted. NULL when `round` is the one to give up on.
 */
static struct cons_round *round_victim(struct cons_machine *m, uint32_t round)
{
    struct cons_round *oldest = NULL;
    struct cons_round *latest = NULL;
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        struct cons_round *rs = &m->rounds[i];
        if (!rs->used) {
            return rs;
        }
        if (round_protected(m, rs->round)) {
            continue;
        }
        if (rs->round < m->round && (oldest == NULL || rs->round < oldest->round)) {
            oldest = rs;
        }
        if (rs->round > m->round && (latest == NULL || rs->round > latest->round)) {
            latest = rs;
        }
    }
    if (oldest != NULL && (oldest->round < round || round_protected(m, round))) {
        return oldest;
    }
    if (latest != NULL && (latest->round > round || round_protected(m, round))) {
        return latest;
    }
    return NULL;
}

static struct cons_round *round_get(struct cons_machine *m, uint32_t round)
{
    struct cons_round *rs = round_find(m, round);
    if (rs != NULL) {
        return rs;
    }
    rs = round_victim(m, round);
    if (rs == NULL) {
        return NULL;
    }
    round_release(m, rs);
    rs->used = 1;
    rs->round = round;
    return rs;
}

static struct cons_round *round_current(struct cons_machine *m)
{
    struct cons_round *rs = round_find(m, m->round);
    DC_ASSERT(rs != NULL);
    return rs;
}

/* ------------------------------------------------------------------ valid(v) */

/* Ids unique within the block and not committed within the recent window. */
static int ids_fresh(struct cons_machine *m, const struct cons_block *block)
{
    cons_idset_clear(&m->scratch);
    for (uint32_t i = 0; i < block->header.id_count; i++) {
        if (cons_mempool_recent(&m->mempool, block->ids[i]) ||
            cons_idset_insert(&m->scratch, block->ids[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/*
 * The paper's valid(v) for a block proposed for this height: it extends our chain, its
 * clock does not run backwards, its ids match the root and are fresh, and the application
 * accepts it. Structure only: signatures were checked before.
 */
static int block_valid(struct cons_machine *m, const struct cons_block *block)
{
    const struct cons_header *h = &block->header;
    uint8_t root[CONS_HASH_BYTES];
    if (!cons_header_chain_is(h, m->chain_id) || h->height != m->height ||
        !hash_eq(h->prev_hash, m->prev_hash) || h->time_ticks < m->prev_time ||
        h->proposer >= m->cfg.valset->count || h->id_count > m->cfg.block_ids_max) {
        return 0;
    }
    cons_payload_root((const uint8_t (*)[CONS_ID_BYTES])block->ids, h->id_count, root);
    if (!hash_eq(root, h->payload_root) || !ids_fresh(m, block)) {
        return 0;
    }
    if (m->cfg.block_valid != NULL && m->cfg.block_valid(m->cfg.block_valid_ctx, block) != 0) {
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ signing */

static void send_msg(struct cons_machine *m, uint16_t to, const struct cons_msg *msg)
{
    struct cons_action action = { .type = CONS_ACT_SEND, .to = to, .msg = *msg };
    emit(m, &action);
}

static void persist_msg(struct cons_machine *m, const struct cons_msg *msg)
{
    struct cons_action action = { .type = CONS_ACT_PERSIST, .msg = *msg };
    emit(m, &action);
}

static struct cons_msg vote_msg(const struct cons_vote *vote)
{
    struct cons_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.kind = CONS_MSG_VOTE;
    msg.vote = *vote;
    return msg;
}

/*
 * Sign and broadcast our vote of `type` in the current round for `hash` (NULL: nil),
 * persisting it first. A vote already signed for this height, round and step (restored
 * after a restart) is sent again as it was; a different one would be a double-sign, which
 * the step logic rules out and this assertion proves.
 */
static void cast_vote(struct cons_machine *m, uint8_t type, const uint8_t *hash)
{
    struct cons_round *rs = round_current(m);
    struct cons_voteset *vs = type == CONS_VOTE_PREVOTE ? &rs->prevotes : &rs->precommits;
    struct cons_vote *votes = vs->first;
    uint64_t *mask = &vs->mask;
    struct cons_vote vote;
    struct cons_msg msg;
    memset(&vote, 0, sizeof(vote));
    vote.type = type;
    vote.has_block = hash != NULL;
    vote.validator = (uint16_t)m->cfg.self;
    vote.round = m->round;
    vote.height = m->height;
    if (hash != NULL) {
        memcpy(vote.block_hash, hash, CONS_HASH_BYTES);
    }
    if (*mask & bit(m->cfg.self)) {
        DC_ASSERT(cons_vote_same(&votes[m->cfg.self], &vote));
        send_msg(m, CONS_TO_ALL, &(struct cons_msg){ .kind = CONS_MSG_VOTE,
                                                     .vote = votes[m->cfg.self] });
        return;
    }
    cons_vote_sign_ops(&vote, m->chain_id, m->cfg.secret_key, m->cfg.sig_ops);
    m->stats.signs++;
    votes[m->cfg.self] = vote;
    *mask |= bit(m->cfg.self);
    msg = vote_msg(&vote);
    /* A precommit for a block carries it, so a restart can restore the lock and re-propose. */
    if (type == CONS_VOTE_PRECOMMIT && hash != NULL && rs->proposal_block >= 0 &&
        hash_eq(m->blocks[rs->proposal_block].hash, hash)) {
        msg.block = block_pin(m, rs->proposal_block);
    }
    persist_msg(m, &msg);
    msg.block = NULL;
    send_msg(m, CONS_TO_ALL, &msg);
}

static struct cons_msg proposal_msg(struct cons_machine *m, const struct cons_round *rs)
{
    struct cons_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.kind = CONS_MSG_PROPOSAL;
    msg.proposal = rs->proposal;
    msg.block = block_pin(m, rs->proposal_block);
    return msg;
}

/* A new block for this height from the mempool, in a fresh slot. */
static int16_t build_block(struct cons_machine *m)
{
    int16_t slot = block_alloc(m);
    struct cons_block *block = &m->blocks[slot].block;
    struct cons_header *h = &block->header;
    memset(h, 0, sizeof(*h));
    int err = cons_header_set_chain(h, m->chain_id);
    DC_ASSERT(err == 0);
    h->height = m->height;
    h->round = m->round;
    h->time_ticks = m->now > m->prev_time ? m->now : m->prev_time;
    memcpy(h->prev_hash, m->prev_hash, CONS_HASH_BYTES);
    h->proposer = (uint16_t)m->cfg.self;
    h->id_count = cons_mempool_peek(&m->mempool, block->ids, m->cfg.block_ids_max);
    cons_block_seal(block);
    cons_block_hash(block, m->blocks[slot].hash);
    block_ref(m, slot);
    return slot;
}

static void send_pol(struct cons_machine *m, const struct cons_round *rs);

/* Lines 14-19: the proposer offers its valid value, or a new block. */
static void propose(struct cons_machine *m)
{
    struct cons_round *rs = round_current(m);
    struct cons_msg msg;
    int16_t slot;
    DC_ASSERT(cons_proposer(m->cfg.valset->count, m->height, m->round) == m->cfg.self);
    if (rs->has_proposal) {
        /* Restored from the log: offer exactly what we signed before the restart. */
        DC_ASSERT(rs->proposal.proposer == m->cfg.self);
        msg = proposal_msg(m, rs);
        send_msg(m, CONS_TO_ALL, &msg);
        return;
    }
    if (m->valid_block >= 0) {
        slot = m->valid_block;
        block_ref(m, slot);
        rs->proposal.pol_round = (int32_t)m->valid_round;
    } else {
        slot = build_block(m);
        rs->proposal.pol_round = -1;
    }
    rs->proposal.height = m->height;
    rs->proposal.round = m->round;
    rs->proposal.proposer = (uint16_t)m->cfg.self;
    memcpy(rs->proposal.block_hash, m->blocks[slot].hash, CONS_HASH_BYTES);
    cons_proposal_sign_ops(&rs->proposal, m->chain_id, m->cfg.secret_key, m->cfg.sig_ops);
    m->stats.signs++;
    rs->has_proposal = 1;
    rs->proposal_block = slot;
    rs->proposal_valid = (uint8_t)block_valid(m, &m->blocks[slot].block);
    msg = proposal_msg(m, rs);
    persist_msg(m, &msg);
    send_msg(m, CONS_TO_ALL, &msg);
    send_pol(m, rs);
}

/* ------------------------------------------------------------------ rounds and heights */

static void arm(struct cons_machine *m, struct cons_timer *timer, uint32_t base)
{
    timer->at = m->now + timeout_ticks(m, base, m->round);
    timer->height = m->height;
    timer->round = m->round;
}

/* Disarm a timer whose time has come; true when it still belongs to this height and round. */
static int timer_take(struct cons_machine *m, struct cons_timer *timer)
{
    if (timer->at == 0 || timer->at > m->now) {
        return 0;
    }
    timer->at = 0;
    return timer->height == m->height && timer->round == m->round;
}

/*
 * Line 28 needs the 2f+1 prevotes of a proposal's proof-of-lock round, which validators that
 * were elsewhere then never saw: the proposer forwards them (they carry their own signatures).
 */
static void send_pol(struct cons_machine *m, const struct cons_round *rs)
{
    const struct cons_round *pol;
    uint64_t mask;
    if (rs->proposal.pol_round < 0 || rs->proposal.proposer != m->cfg.self) {
        return;
    }
    pol = round_find(m, (uint32_t)rs->proposal.pol_round);
    if (pol == NULL) {
        return;
    }
    mask = pol->prevotes.mask | pol->prevotes.alt_mask;
    while (mask != 0) {
        uint32_t i = (uint32_t)__builtin_ctzll(mask);
        mask &= mask - 1;
        const struct cons_vote *vote = voteset_find(&pol->prevotes, i, rs->proposal.block_hash);
        if (vote != NULL) {
            struct cons_msg msg = vote_msg(vote);
            send_msg(m, CONS_TO_ALL, &msg);
        }
    }
}

static void rebroadcast(struct cons_machine *m)
{
    struct cons_round *rs = round_current(m);
    uint64_t self = bit(m->cfg.self);
    struct cons_msg msg;
    /* Our proposal, or the one we prevoted for: peers that lost it need the block. */
    if (rs->has_proposal && rs->proposal_block >= 0 &&
        (rs->proposal.proposer == m->cfg.self ||
         voteset_find(&rs->prevotes, m->cfg.self, rs->proposal.block_hash) != NULL)) {
        msg = proposal_msg(m, rs);
        send_msg(m, CONS_TO_ALL, &msg);
        send_pol(m, rs);
    }
    if (rs->prevotes.mask & self) {
        msg = vote_msg(&rs->prevotes.first[m->cfg.self]);
        send_msg(m, CONS_TO_ALL, &msg);
    }
    if (rs->precommits.mask & self) {
        msg = vote_msg(&rs->precommits.first[m->cfg.self]);
        send_msg(m, CONS_TO_ALL, &msg);
    }
    m->rebroadcast_at = m->now + m->cfg.rebroadcast_ticks;
}

/* Lines 11-21, plus what a restart restored for this round. */
static void start_round(struct cons_machine *m, uint32_t round)
{
    struct cons_round *rs;
    uint64_t self = bit(m->cfg.self);
    DC_ASSERT(round >= m->round);
    m->round = round;
    m->step = CONS_STEP_PROPOSE;
    m->stats.rounds_started++;
    /* Timeouts of the round we leave can no longer fire. */
    memset(&m->timer_propose, 0, sizeof(m->timer_propose));
    memset(&m->timer_prevote, 0, sizeof(m->timer_prevote));
    memset(&m->timer_precommit, 0, sizeof(m->timer_precommit));
    memset(&m->timer_empty_block, 0, sizeof(m->timer_empty_block));
    rs = round_get(m, round);
    DC_ASSERT(rs != NULL); /* the current round can always evict */
    if (cons_proposer(m->cfg.valset->count, m->height, round) != m->cfg.self) {
        /* After a commit an honest proposer with nothing to order waits up to the heartbeat
         * interval before it proposes (below): the propose timeout starts after that, or an
         * idle chain would prevote nil in every round 0 and commit only in round 1. Ids are
         * gossiped to every validator: when we hold some, so does an honest proposer, which
         * proposes at once; then the plain timeout applies and a dead proposer costs no more
         * than that. */
        int idle = m->after_commit && cons_mempool_pending(&m->mempool) == 0;
        arm(m, &m->timer_propose,
            m->cfg.timeout_propose_ticks + (idle ? m->cfg.empty_block_interval_ticks : 0));
    } else if (m->after_commit && cons_mempool_pending(&m->mempool) == 0) {
        arm(m, &m->timer_empty_block, m->cfg.empty_block_interval_ticks);
    } else {
        propose(m);
    }
    m->after_commit = 0;
    if (rs->prevotes.mask & self) {
        m->step = CONS_STEP_PREVOTE;
    }
    if (rs->precommits.mask & self) {
        m->step = CONS_STEP_PRECOMMIT;
    }
    if (m->step != CONS_STEP_PROPOSE) {
        rebroadcast(m);
    }
    m->rebroadcast_at = m->now + m->cfg.rebroadcast_ticks;
    DC_ASSERT(m->locked_round <= (int64_t)m->round);
    DC_ASSERT(m->valid_round <= (int64_t)m->round);
}

static void reset_height(struct cons_machine *m)
{
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        round_release(m, &m->rounds[i]);
    }
    block_unref(m, m->locked_block);
    block_unref(m, m->valid_block);
    m->locked_block = -1;
    m->valid_block = -1;
    m->locked_round = -1;
    m->valid_round = -1;
    memset(m->locked_hash, 0, sizeof(m->locked_hash));
    memset(&m->timer_propose, 0, sizeof(m->timer_propose));
    memset(&m->timer_prevote, 0, sizeof(m->timer_prevote));
    memset(&m->timer_precommit, 0, sizeof(m->timer_precommit));
    memset(&m->timer_empty_block, 0, sizeof(m->timer_empty_block));
    m->sync_wanted = 0;
    m->round = 0;
    for (uint32_t i = 0; i < CONS_BLOCK_SLOTS; i++) {
        DC_ASSERT(m->blocks[i].refs == 0);
    }
}

/* Lines 49-54: `block` is final. Emit it, move to the next height, start its round 0. */
static void decide(struct cons_machine *m, const struct cons_block *block,
                   const uint8_t hash[CONS_HASH_BYTES], const struct cons_cert *cert)
{
    int err;
    DC_ASSERT(block->header.height == m->height);
    DC_ASSERT(cert->height == m->height);
    DC_ASSERT(hash_eq(cert->block_hash, hash));
    DC_ASSERT(cert->count >= m->quorum);
    DC_ASSERT(hash_eq(block->header.prev_hash, m->prev_hash));
    if (&m->commit_cert != cert) {
        m->commit_cert = *cert;
    }
    err = cons_block_copy(&m->commit_block, block);
    DC_ASSERT(err == 0);
    emit(m, &(struct cons_action){ .type = CONS_ACT_COMMIT, .block = &m->commit_block,
                                   .cert = &m->commit_cert });
    cons_mempool_committed(&m->mempool, (const uint8_t (*)[CONS_ID_BYTES])block->ids,
                           block->header.id_count);
    m->stats.commits++;
    memcpy(m->prev_hash, hash, CONS_HASH_BYTES);
    m->prev_time = block->header.time_ticks;
    m->height++;
    reset_height(m);
    m->after_commit = m->cfg.empty_block_interval_ticks > 0;
    start_round(m, 0);
}

/* ------------------------------------------------------------------ the rules */

/* Lines 22-33: prevote on the round's proposal, honouring the lock. */
static int rule_prevote(struct cons_machine *m)
{
    struct cons_round *rs = round_current(m);
    const uint8_t *hash = rs->proposal.block_hash;
    int accept;
    if (m->step != CONS_STEP_PROPOSE || !rs->has_proposal) {
        return 0;
    }
    if (rs->proposal.pol_round < 0) {
        accept = m->locked_round == -1 || hash_eq(m->locked_hash, hash);
    } else {
        struct cons_round *pol = round_find(m, (uint32_t)rs->proposal.pol_round);
        if (pol == NULL || tally(&pol->prevotes, hash) < m->quorum) {
            return 0; /* wait for the proof of lock, or for the propose timeout */
        }
        accept = m->locked_round <= rs->proposal.pol_round || hash_eq(m->locked_hash, hash);
    }
#ifdef CONS_BUGGIFY_IGNORE_LOCK
    accept = 1; /* test-only build: the broken rule the simulator must catch */
#endif
    accept = accept && rs->proposal_valid;
    cast_vote(m, CONS_VOTE_PREVOTE, accept ? hash : NULL);
    m->step = CONS_STEP_PREVOTE;
    return 1;
}

/* Lines 34-35 and 47-48: a quorum of any votes starts the step's timeout, once a round. */
static int rule_timers(struct cons_machine *m)
{
    struct cons_round *rs = round_current(m);
    if (m->step == CONS_STEP_PREVOTE && !rs->prevote_timer_done &&
        popcount(rs->prevotes.mask) >= m->quorum) {
        rs->prevote_timer_done = 1;
        arm(m, &m->timer_prevote, m->cfg.timeout_prevote_ticks);
    }
    if (!rs->precommit_timer_done && popcount(rs->precommits.mask) >= m->quorum) {
        rs->precommit_timer_done = 1;
        arm(m, &m->timer_precommit, m->cfg.timeout_precommit_ticks);
    }
    return 0;
}

static void hold_as(struct cons_machine *m, int16_t *holder, int16_t slot)
{
    block_ref(m, slot);
    block_unref(m, *holder);
    *holder = slot;
}

/*
 * The quorum of prevotes behind a lock or valid value goes to the log with our precommit:
 * after a restart we must still be able to show it (line 28), or validators locked on the
 * value and validators that never saw its proof of lock could refuse each other for ever.
 */
static void persist_pol(struct cons_machine *m, const struct cons_round *rs,
                        const uint8_t hash[CONS_HASH_BYTES])
{
    uint64_t mask = (rs->prevotes.mask | rs->prevotes.alt_mask) & ~bit(m->cfg.self);
    while (mask != 0) {
        uint32_t i = (uint32_t)__builtin_ctzll(mask);
        mask &= mask - 1;
        const struct cons_vote *vote = voteset_find(&rs->prevotes, i, hash);
        if (vote != NULL) {
            struct cons_msg msg = vote_msg(vote);
            persist_msg(m, &msg);
        }
    }
}

/* Lines 36-43: a quorum prevoted the proposal: lock on it (if still prevoting), remember it. */
static int rule_lock(struct cons_machine *m)
{
    struct cons_round *rs = round_current(m);
    const uint8_t *hash = rs->proposal.block_hash;
    if (m->step == CONS_STEP_PROPOSE || !rs->has_proposal || !rs->proposal_valid ||
        rs->l36_done || tally(&rs->prevotes, hash) < m->quorum) {
        return 0;
    }
    rs->l36_done = 1;
    persist_pol(m, rs, hash);
    if (m->step == CONS_STEP_PREVOTE) {
        m->locked_round = m->round;
        memcpy(m->locked_hash, hash, CONS_HASH_BYTES);
        hold_as(m, &m->locked_block, rs->proposal_block);
        cast_vote(m, CONS_VOTE_PRECOMMIT, hash);
        m->step = CONS_STEP_PRECOMMIT;
    }
    m->valid_round = m->round;
    hold_as(m, &m->valid_block, rs->proposal_block);
    return 1;
}

/* Lines 44-46: a quorum prevoted nil. */
static int rule_precommit_nil(struct cons_machine *m)
{
    struct cons_round *rs = round_current(m);
    if (m->step != CONS_STEP_PREVOTE || tally(&rs->prevotes, NULL) < m->quorum) {
        return 0;
    }
    cast_vote(m, CONS_VOTE_PRECOMMIT, NULL);
    m->step = CONS_STEP_PRECOMMIT;
    return 1;
}

static void build_cert(const struct cons_round *rs, const uint8_t hash[CONS_HASH_BYTES],
                       uint64_t height, struct cons_cert *cert)
{
    uint64_t mask = rs->precommits.mask | rs->precommits.alt_mask;
    cons_cert_init(cert, height, rs->round, hash);
    while (mask != 0) {
        uint32_t i = (uint32_t)__builtin_ctzll(mask);
        mask &= mask - 1;
        const struct cons_vote *vote = voteset_find(&rs->precommits, i, hash);
        if (vote != NULL) {
            int err = cons_cert_add(cert, vote);
            DC_ASSERT(err == 0);
        }
    }
}

/* Whether a quorum precommitted the block `vote` names. */
static int precommit_quorum(const struct cons_machine *m, const struct cons_round *rs,
                            const struct cons_vote *vote)
{
    return vote->has_block && tally(&rs->precommits, vote->block_hash) >= m->quorum;
}

/* A precommit for the block a quorum precommitted in `rs`, or NULL. */
static const struct cons_vote *quorum_precommit(const struct cons_machine *m,
                                                const struct cons_round *rs)
{
    const struct cons_voteset *vs = &rs->precommits;
    uint64_t mask = vs->mask | vs->alt_mask;
    while (mask != 0) {
        uint32_t i = (uint32_t)__builtin_ctzll(mask);
        mask &= mask - 1;
        if ((vs->mask & bit(i)) && precommit_quorum(m, rs, &vs->first[i])) {
            return &vs->first[i];
        }
        if ((vs->alt_mask & bit(i)) && precommit_quorum(m, rs, &vs->alt[i])) {
            return &vs->alt[i];
        }
    }
    return NULL;
}

/*
 * The block slot holding the block `hash` names, usable for a decision at this height: the
 * round's proposal, or any block we hold (a restored lock, another round's proposal). A
 * quorum of precommits makes a block final whatever we thought of it: at least f+1 honest
 * validators found it valid. -1 when we do not hold it.
 */
static int16_t decidable_block(struct cons_machine *m, const struct cons_round *rs,
                               const uint8_t hash[CONS_HASH_BYTES])
{
    int16_t slot = rs->has_proposal && hash_eq(rs->proposal.block_hash, hash)
                       ? rs->proposal_block
                       : block_find(m, hash);
    if (slot < 0) {
        return -1;
    }
    const struct cons_header *h = &m->blocks[slot].block.header;
    return h->height == m->height && hash_eq(h->prev_hash, m->prev_hash) ? slot : -1;
}

/*
 * A quorum precommitted a block we do not hold: only a peer's committed copy will do, so ask
 * for it by block sync, first from a precommitter; retries rotate over peers.
 */
static void want_unknown_block(struct cons_machine *m, const struct cons_vote *precommit)
{
    if (m->sync_wanted) {
        return;
    }
    m->sync_wanted = 1;
    if (precommit->validator != m->cfg.self) {
        m->sync_peer = precommit->validator;
    }
}

/* Lines 49-54, for a proposal of any round of this height. */
static int rule_decide(struct cons_machine *m)
{
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        struct cons_round *rs = &m->rounds[i];
        const struct cons_vote *precommit;
        if (!rs->used || popcount(rs->precommits.mask | rs->precommits.alt_mask) < m->quorum) {
            continue;
        }
        precommit = quorum_precommit(m, rs);
        if (precommit == NULL) {
            continue;
        }
        int16_t slot = decidable_block(m, rs, precommit->block_hash);
        if (slot < 0) {
            want_unknown_block(m, precommit);
            continue;
        }
        build_cert(rs, m->blocks[slot].hash, m->height, &m->commit_cert);
        block_pin(m, slot);
        decide(m, &m->blocks[slot].block, m->blocks[slot].hash, &m->commit_cert);
        return 1;
    }
    return 0;
}

/* Lines 55-56: f+1 validators are in a later round, so some honest one is: join it. */
static int rule_round_skip(struct cons_machine *m)
{
    struct cons_round *target = NULL;
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        struct cons_round *rs = &m->rounds[i];
        if (rs->used && rs->round > m->round && popcount(rs->sender_mask) >= m->skip_quorum &&
            (target == NULL || rs->round > target->round)) {
            target = rs;
        }
    }
    if (target == NULL) {
        return 0;
    }
    start_round(m, target->round);
    return 1;
}

/* Apply every rule until none fires: the paper's "upon" clauses, evaluated eagerly. */
static void progress(struct cons_machine *m)
{
    for (uint32_t pass = 0;; pass++) {
        DC_ASSERT(pass < 4 * CONS_ROUND_SLOTS + 16);
        int fired = rule_prevote(m);
        fired |= rule_lock(m);
        fired |= rule_precommit_nil(m);
        (void)rule_timers(m);
        fired |= rule_decide(m);
        fired |= rule_round_skip(m);
        if (!fired) {
            return;
        }
    }
}

/* ------------------------------------------------------------------ block sync */

static void request_sync(struct cons_machine *m)
{
    struct cons_msg msg;
    uint32_t n = m->cfg.valset->count;
    if (m->sync_peer == m->cfg.self || m->sync_peer >= n) {
        m->sync_peer = (uint16_t)((m->cfg.self + 1) % n);
    }
    memset(&msg, 0, sizeof(msg));
    msg.kind = CONS_MSG_SYNC_REQUEST;
    msg.sync.requester = (uint16_t)m->cfg.self;
    msg.sync.from_height = m->height;
    send_msg(m, m->sync_peer, &msg);
    m->stats.sync_requests++;
    m->sync_next_at = m->now + m->cfg.sync_retry_ticks;
    /* The next retry asks someone else, in case this peer is the one that is gone. */
    m->sync_peer = (uint16_t)((m->sync_peer + 1) % n);
}

static int sync_due(const struct cons_machine *m)
{
    return (m->sync_height_seen > m->height || m->sync_wanted) && m->now >= m->sync_next_at;
}

/* A verified message from a later height: we are behind. */
static int note_future(struct cons_machine *m, uint64_t height, uint16_t from)
{
    m->stats.drop_future++;
    if (height > m->sync_height_seen) {
        m->sync_height_seen = height;
        m->sync_peer = from;
    }
    if (sync_due(m)) {
        request_sync(m);
    }
    return DC_ERANGE;
}

static int on_sync_request(struct cons_machine *m, const struct cons_sync_request *req)
{
    if (req->requester >= m->cfg.valset->count || req->requester == m->cfg.self) {
        m->stats.drop_member++;
        return DC_EMEMBER;
    }
    if (req->from_height >= m->height) {
        m->stats.drop_stale++;
        return DC_ESTALE; /* nothing committed to offer */
    }
    emit(m, &(struct cons_action){ .type = CONS_ACT_SERVE_SYNC, .to = req->requester,
                                   .height = req->from_height });
    return 0;
}

/* A committed block from a peer: apply it only with a certificate from our validators. */
static int on_sync_block(struct cons_machine *m, const struct cons_block *block,
                         const struct cons_cert *cert)
{
    const struct cons_header *h = &block->header;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t root[CONS_HASH_BYTES];
    int err;
    if (h->height < m->height) {
        m->stats.drop_stale++;
        return DC_ESTALE;
    }
    if (!cons_header_chain_is(h, m->chain_id) || h->id_count > m->cfg.block_ids_max ||
        cert->height != h->height) {
        m->stats.drop_malformed++;
        return DC_EMALFORMED;
    }
    cons_block_hash(block, hash);
    err = cons_cert_verify_ops(cert, hash, m->cfg.valset, m->chain_id, m->cfg.sig_ops);
    m->stats.verifies += cert->count;
    if (err != 0) {
        m->stats.drop_signature++;
        return err;
    }
    if (h->height > m->height) {
        return note_future(m, h->height, cert->sigs[0].validator);
    }
    cons_payload_root((const uint8_t (*)[CONS_ID_BYTES])block->ids, h->id_count, root);
    if (!hash_eq(h->prev_hash, m->prev_hash) || !hash_eq(root, h->payload_root)) {
        m->stats.drop_malformed++;
        return DC_ECONFLICT; /* certified, yet not on our chain: loudly refuse */
    }
    m->stats.sync_applied++;
    m->commit_cert = *cert;
    decide(m, block, hash, &m->commit_cert);
    m->sync_next_at = 0; /* keep pulling while peers are ahead */
    return 0;
}

/* ------------------------------------------------------------------ votes and proposals */

/* Checks every vote and proposal share: height, round window. 0 when it is for us. */
static int check_height_round(struct cons_machine *m, uint64_t height, uint32_t round)
{
    if (height < m->height) {
        m->stats.drop_stale++;
        return DC_ESTALE;
    }
    if (height == m->height && round > m->round &&
        round - m->round > CONS_ROUND_AHEAD_MAX) {
        m->stats.drop_future++;
        return DC_ERANGE;
    }
    return 0;
}

/*
 * Whether a conflicting vote may take the one alternative place: the first conflict always
 * does; a later one only when it is for a block this height has a proposal for, the vote a
 * proof of lock or a commit can need.
 */
static int alt_wanted(const struct cons_machine *m, const struct cons_voteset *vs,
                      const struct cons_vote *vote)
{
    if (!(vs->alt_mask & bit(vote->validator))) {
        return 1;
    }
    if (!vote->has_block) {
        return 0;
    }
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        const struct cons_round *rs = &m->rounds[i];
        if (rs->used && rs->has_proposal && hash_eq(rs->proposal.block_hash, vote->block_hash)) {
            return 1;
        }
    }
    return 0;
}

/* Record a verified vote: a validator's first vote for a step, or its conflicting one. */
static int store_vote(struct cons_machine *m, struct cons_round *rs, const struct cons_vote *vote)
{
    struct cons_voteset *vs = vote->type == CONS_VOTE_PREVOTE ? &rs->prevotes : &rs->precommits;
    uint64_t b = bit(vote->validator);
    if (vs->mask & b) {
        if (cons_vote_same(&vs->first[vote->validator], vote) ||
            ((vs->alt_mask & b) && cons_vote_same(&vs->alt[vote->validator], vote))) {
            m->stats.duplicates++;
            return DC_EDUPLICATE;
        }
        m->stats.equivocations++;
        DC_ASSERT(vote->validator != m->cfg.self || m->replaying);
        if (vote->validator == m->cfg.self || !alt_wanted(m, vs, vote)) {
            return DC_ECONFLICT;
        }
        vs->alt[vote->validator] = *vote;
        vs->alt_mask |= b;
    } else {
        vs->first[vote->validator] = *vote;
        vs->mask |= b;
    }
    rs->sender_mask |= b;
    DC_ASSERT(popcount(vs->mask) <= m->cfg.valset->count);
    DC_ASSERT((vs->alt_mask & ~vs->mask) == 0);
    if (!m->replaying) {
        progress(m);
    }
    return (vs->alt_mask & b) && !cons_vote_same(&vs->first[vote->validator], vote) ? DC_ECONFLICT
                                                                                  : 0;
}

static int on_vote(struct cons_machine *m, const struct cons_vote *vote)
{
    int err = check_height_round(m, vote->height, vote->round);
    struct cons_round *rs;
    if (err != 0) {
        return err;
    }
    if (vote->validator == m->cfg.self) {
        m->stats.duplicates++;
        return DC_EDUPLICATE; /* our own vote echoed back */
    }
    rs = round_find(m, vote->round);
    if (rs != NULL && vote->validator < CONS_VALIDATORS_MAX) {
        const struct cons_voteset *vs =
            vote->type == CONS_VOTE_PREVOTE ? &rs->prevotes : &rs->precommits;
        uint64_t b = bit(vote->validator);
        const struct cons_vote *first = &vs->first[vote->validator];
        const struct cons_vote *alt = &vs->alt[vote->validator];
        if (((vs->mask & b) && cons_vote_same(first, vote) &&
             memcmp(first->sig, vote->sig, CONS_SIG_BYTES) == 0) ||
            ((vs->alt_mask & b) && cons_vote_same(alt, vote) &&
             memcmp(alt->sig, vote->sig, CONS_SIG_BYTES) == 0)) {
            m->stats.duplicates++;
            return DC_EDUPLICATE; /* verified before: skip the signature check */
        }
    }
    err = cons_vote_verify_ops(vote, m->cfg.valset, m->chain_id, m->cfg.sig_ops);
    m->stats.verifies++;
    if (err != 0) {
        *(err == DC_EMEMBER ? &m->stats.drop_member
                            : err == DC_ESIGNATURE ? &m->stats.drop_signature
                                                   : &m->stats.drop_malformed) += 1;
        return err;
    }
    if (vote->height > m->height) {
        return note_future(m, vote->height, vote->validator);
    }
    rs = round_get(m, vote->round);
    if (rs == NULL) {
        m->stats.drop_stale++;
        return DC_ESTALE;
    }
    return store_vote(m, rs, vote);
}

/* Prevotes and precommits a round holds for `hash`: which of two proposals the network saw. */
static uint32_t support(const struct cons_round *rs, const uint8_t hash[CONS_HASH_BYTES])
{
    return tally(&rs->prevotes, hash) + tally(&rs->precommits, hash);
}

/* Shape checks of a proposal and its block that need no signature. */
static int check_proposal(struct cons_machine *m, const struct cons_proposal *prop,
                          const struct cons_block *block)
{
    uint8_t hash[CONS_HASH_BYTES];
    if (block == NULL || block->header.id_count > m->cfg.block_ids_max ||
        block->header.round > prop->round || block->header.height != prop->height) {
        m->stats.drop_malformed++;
        return DC_EMALFORMED;
    }
    if (prop->proposer != cons_proposer(m->cfg.valset->count, prop->height, prop->round)) {
        m->stats.drop_member++;
        return DC_EMEMBER;
    }
    cons_block_hash(block, hash);
    if (!hash_eq(hash, prop->block_hash)) {
        m->stats.drop_malformed++;
        return DC_EMALFORMED;
    }
    return 0;
}

/* Keep the proposal; a second one for the round replaces the first only with more votes. */
static int store_proposal(struct cons_machine *m, struct cons_round *rs,
                          const struct cons_proposal *prop, const struct cons_block *block)
{
    if (rs->has_proposal) {
        if (hash_eq(rs->proposal.block_hash, prop->block_hash)) {
            m->stats.duplicates++;
            return DC_EDUPLICATE;
        }
        m->stats.equivocations++;
        if (support(rs, prop->block_hash) <= support(rs, rs->proposal.block_hash)) {
            return DC_ECONFLICT;
        }
        block_unref(m, rs->proposal_block);
    }
    rs->proposal = *prop;
    rs->has_proposal = 1;
    rs->proposal_block = block_hold(m, block, prop->block_hash);
    rs->proposal_valid = (uint8_t)block_valid(m, block);
    rs->sender_mask |= bit(prop->proposer);
    if (!rs->proposal_valid) {
        m->stats.invalid_proposals++;
    }
    progress(m);
    return 0;
}

static int on_proposal(struct cons_machine *m, const struct cons_proposal *prop,
                       const struct cons_block *block)
{
    int err = check_height_round(m, prop->height, prop->round);
    struct cons_round *rs;
    if (err != 0) {
        return err;
    }
    err = check_proposal(m, prop, block);
    if (err != 0) {
        return err;
    }
    if (prop->proposer == m->cfg.self) {
        m->stats.duplicates++;
        return DC_EDUPLICATE; /* our own proposal echoed back */
    }
    rs = round_find(m, prop->round);
    if (rs != NULL && rs->has_proposal && hash_eq(rs->proposal.block_hash, prop->block_hash)) {
        m->stats.duplicates++;
        return DC_EDUPLICATE;
    }
    err = cons_proposal_verify_ops(prop, m->cfg.valset, m->chain_id, m->cfg.sig_ops);
    m->stats.verifies++;
    if (err != 0) {
        *(err == DC_ESIGNATURE ? &m->stats.drop_signature : &m->stats.drop_malformed) += 1;
        return err;
    }
    if (prop->height > m->height) {
        return note_future(m, prop->height, prop->proposer);
    }
    rs = round_get(m, prop->round);
    if (rs == NULL) {
        m->stats.drop_stale++;
        return DC_ESTALE;
    }
    return store_proposal(m, rs, prop, block);
}

/* ------------------------------------------------------------------ entry points */

static void begin_call(struct cons_machine *m, struct cons_actions *out)
{
    DC_ASSERT(m->started);
    out->count = 0;
    m->out = out;
    for (uint32_t i = 0; i < CONS_BLOCK_SLOTS; i++) {
        m->blocks[i].pinned = 0;
    }
}

static void next_deadline(uint64_t *best, uint64_t at)
{
    if (at != 0 && (*best == 0 || at < *best)) {
        *best = at;
    }
}

#ifdef DC_DEBUG_SLOW
/* One step's votes are all for this height and round, of this type, from their holder. */
static int voteset_ok(const struct cons_machine *m, const struct cons_voteset *vs,
                      uint32_t round, uint8_t type)
{
    uint64_t members = m->cfg.valset->count == 64 ? ~(uint64_t)0
                                                  : bit(m->cfg.valset->count) - 1;
    if ((vs->mask & ~members) != 0 || (vs->alt_mask & ~vs->mask) != 0) {
        return 0;
    }
    for (uint32_t i = 0; i < m->cfg.valset->count; i++) {
        const struct cons_vote *v[2] = { &vs->first[i], &vs->alt[i] };
        uint64_t in[2] = { vs->mask & bit(i), vs->alt_mask & bit(i) };
        for (int k = 0; k < 2; k++) {
            if (in[k] && (v[k]->height != m->height || v[k]->round != round ||
                          v[k]->type != type || v[k]->validator != i)) {
                return 0;
            }
        }
    }
    return 1;
}

/*
 * The O(n) invariants, checked after every call in simulator builds: round slots, block
 * reference counts, the lock, and that we never signed ahead of our round.
 */
static int invariants_hold(const struct cons_machine *m)
{
    uint32_t refs[CONS_BLOCK_SLOTS] = { 0 };
    uint64_t self = bit(m->cfg.self);
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        const struct cons_round *rs = &m->rounds[i];
        if (!rs->used) {
            continue;
        }
        for (uint32_t j = i + 1; j < CONS_ROUND_SLOTS; j++) {
            if (m->rounds[j].used && m->rounds[j].round == rs->round) {
                return 0;
            }
        }
        if (!voteset_ok(m, &rs->prevotes, rs->round, CONS_VOTE_PREVOTE) ||
            !voteset_ok(m, &rs->precommits, rs->round, CONS_VOTE_PRECOMMIT)) {
            return 0;
        }
        if (rs->round > m->round && ((rs->prevotes.mask | rs->precommits.mask) & self)) {
            return 0;
        }
        if (rs->has_proposal) {
            if (rs->proposal_block < 0 ||
                !hash_eq(m->blocks[rs->proposal_block].hash, rs->proposal.block_hash)) {
                return 0;
            }
            refs[rs->proposal_block]++;
        }
    }
    if (m->locked_block >= 0) {
        refs[m->locked_block]++;
        if (!hash_eq(m->blocks[m->locked_block].hash, m->locked_hash)) {
            return 0;
        }
    }
    if (m->valid_block >= 0) {
        refs[m->valid_block]++;
    }
    for (uint32_t i = 0; i < CONS_BLOCK_SLOTS; i++) {
        if (refs[i] != m->blocks[i].refs) {
            return 0;
        }
    }
    return m->locked_round <= (int64_t)m->round && m->valid_round <= (int64_t)m->round &&
           (m->locked_round >= 0 || m->locked_block < 0);
}
#endif

/* Close a call: tell the caller when the machine next needs a tick. */
static void end_call(struct cons_machine *m)
{
    uint64_t at = m->rebroadcast_at;
    next_deadline(&at, m->timer_propose.at);
    next_deadline(&at, m->timer_prevote.at);
    next_deadline(&at, m->timer_precommit.at);
    next_deadline(&at, m->timer_empty_block.at);
    if (m->sync_height_seen > m->height || m->sync_wanted) {
        next_deadline(&at, m->sync_next_at > m->now ? m->sync_next_at : m->now + 1);
    }
    emit(m, &(struct cons_action){ .type = CONS_ACT_SCHEDULE, .at_tick = at });
    DC_ASSERT(m->step >= CONS_STEP_PROPOSE && m->step <= CONS_STEP_PRECOMMIT);
    DC_ASSERT(round_find(m, m->round) != NULL);
    DC_ASSERT_SLOW(invariants_hold(m));
    m->out = NULL;
}

int cons_on_message(struct cons_machine *m, const struct cons_msg *msg,
                    struct cons_actions *out)
{
    int err;
    begin_call(m, out);
    m->stats.msgs_in++;
    switch (msg->kind) {
    case CONS_MSG_PROPOSAL:
        err = on_proposal(m, &msg->proposal, msg->block);
        break;
    case CONS_MSG_VOTE:
        err = on_vote(m, &msg->vote);
        break;
    case CONS_MSG_SYNC_REQUEST:
        err = on_sync_request(m, &msg->sync);
        break;
    case CONS_MSG_SYNC_BLOCK:
        err = msg->block == NULL || msg->cert == NULL ? DC_EMALFORMED
                                                      : on_sync_block(m, msg->block, msg->cert);
        break;
    default:
        m->stats.drop_malformed++;
        err = DC_EMALFORMED;
        break;
    }
    end_call(m);
    return err;
}

/*
 * Round 0's proposer waiting after a commit (start_round) proposes once its mempool holds an
 * id, or with an empty block once the heartbeat interval has passed. Only cons_submit() adds
 * ids, and the node ticks after submitting, so cons_tick() is where the wait ends.
 */
static void propose_when_due(struct cons_machine *m)
{
    struct cons_timer *timer = &m->timer_empty_block;
    int current = timer->height == m->height && timer->round == m->round;
    if (timer->at == 0 || (cons_mempool_pending(&m->mempool) == 0 && timer->at > m->now)) {
        return;
    }
    memset(timer, 0, sizeof(*timer));
    if (current && m->step == CONS_STEP_PROPOSE && !round_current(m)->has_proposal) {
        propose(m);
    }
}

/* Lines 57-67: the three timeouts, each only for the height, round and step it was set in. */
static void fire_timers(struct cons_machine *m)
{
    propose_when_due(m);
    if (timer_take(m, &m->timer_propose)) {
        if (m->step == CONS_STEP_PROPOSE) {
            cast_vote(m, CONS_VOTE_PREVOTE, NULL);
            m->step = CONS_STEP_PREVOTE;
        }
    }
    if (timer_take(m, &m->timer_prevote)) {
        if (m->step == CONS_STEP_PREVOTE) {
            cast_vote(m, CONS_VOTE_PRECOMMIT, NULL);
            m->step = CONS_STEP_PRECOMMIT;
        }
    }
    if (timer_take(m, &m->timer_precommit)) {
        start_round(m, m->round + 1);
    }
}

void cons_tick(struct cons_machine *m, uint64_t now, struct cons_actions *out)
{
    begin_call(m, out);
    DC_ASSERT(now >= m->now);
    m->now = now;
    fire_timers(m);
    if (m->now >= m->rebroadcast_at) {
        rebroadcast(m);
    }
    if (sync_due(m)) {
        request_sync(m);
    }
    progress(m);
    end_call(m);
}

int cons_submit(struct cons_machine *m, const uint8_t id[CONS_ID_BYTES])
{
    return cons_mempool_submit(&m->mempool, id);
}

/* ------------------------------------------------------------------ set-up and restart */

static size_t align8(size_t n)
{
    return (n + 7u) & ~(size_t)7;
}

static size_t ids_bytes(uint32_t count)
{
    return align8((size_t)count * CONS_ID_BYTES);
}

size_t cons_machine_arena_size(const struct cons_config *cfg)
{
    return ids_bytes(cfg->block_ids_max) * (CONS_BLOCK_SLOTS + 1) +
           cons_idset_mem_size(cons_idset_slots_for(cfg->block_ids_max)) +
           cons_mempool_mem_size(cfg->mempool_ids_max, cfg->recent_ids_max);
}

static int config_ok(const struct cons_config *cfg)
{
    size_t chain_len = cfg->chain_id == NULL ? 0 : strlen(cfg->chain_id);
    return cfg->valset != NULL && cfg->valset->count > 0 && cfg->valset->quorum > 0 &&
           cfg->self < cfg->valset->count && chain_len > 0 && chain_len <= CONS_CHAIN_ID_MAX &&
           cfg->timeout_propose_ticks > 0 && cfg->timeout_prevote_ticks > 0 &&
           cfg->timeout_precommit_ticks > 0 && cfg->rebroadcast_ticks > 0 &&
           cfg->sync_retry_ticks > 0 && cfg->block_ids_max > 0 &&
           cfg->block_ids_max <= CONS_BLOCK_IDS_MAX && cfg->mempool_ids_max > 0 &&
           cfg->recent_ids_max > 0;
}

int cons_machine_init(struct cons_machine *m, const struct cons_config *cfg, void *arena,
                      size_t arena_size)
{
    uint8_t *at = arena;
    uint32_t scratch_slots;
    memset(m, 0, sizeof(*m));
    if (!config_ok(cfg) || arena == NULL || arena_size < cons_machine_arena_size(cfg) ||
        ((uintptr_t)arena & 7u) != 0 || sodium_init() < 0) {
        return DC_ECONFIG;
    }
    m->cfg = *cfg;
    memcpy(m->chain_id, cfg->chain_id, strlen(cfg->chain_id) + 1);
    m->cfg.chain_id = m->chain_id;
    m->quorum = cfg->valset->quorum;
    m->skip_quorum = cfg->valset->count - cfg->valset->quorum + 1;
    DC_ASSERT(m->quorum * 3 > cfg->valset->count * 2);
    DC_ASSERT(m->skip_quorum >= 1);
    for (uint32_t i = 0; i < CONS_BLOCK_SLOTS; i++) {
        cons_block_init(&m->blocks[i].block, (uint8_t (*)[CONS_ID_BYTES])at,
                        cfg->block_ids_max);
        at += ids_bytes(cfg->block_ids_max);
    }
    cons_block_init(&m->commit_block, (uint8_t (*)[CONS_ID_BYTES])at, cfg->block_ids_max);
    at += ids_bytes(cfg->block_ids_max);
    scratch_slots = cons_idset_slots_for(cfg->block_ids_max);
    cons_idset_init(&m->scratch, at, scratch_slots, cfg->hash_key);
    at += cons_idset_mem_size(scratch_slots);
    cons_mempool_init(&m->mempool, at, cfg->mempool_ids_max, cfg->recent_ids_max,
                      cfg->hash_key);
    at += cons_mempool_mem_size(cfg->mempool_ids_max, cfg->recent_ids_max);
    DC_ASSERT((size_t)(at - (uint8_t *)arena) == cons_machine_arena_size(cfg));
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        round_release(m, &m->rounds[i]);
    }
    m->locked_block = -1;
    m->valid_block = -1;
    m->locked_round = -1;
    m->valid_round = -1;
    return 0;
}

void cons_machine_start(struct cons_machine *m, uint64_t height,
                        const uint8_t prev_hash[CONS_HASH_BYTES], uint64_t prev_time)
{
    DC_ASSERT(height > 0);
    DC_ASSERT(m->quorum > 0); /* initialised */
    m->height = height;
    memcpy(m->prev_hash, prev_hash, CONS_HASH_BYTES);
    m->prev_time = prev_time;
    m->started = 1;
    m->step = CONS_STEP_PROPOSE;
    reset_height(m);
}

void cons_machine_remember(struct cons_machine *m, const struct cons_block *block)
{
    DC_ASSERT(m->started);
    DC_ASSERT(block->header.height < m->height);
    cons_mempool_committed(&m->mempool, (const uint8_t (*)[CONS_ID_BYTES])block->ids,
                           block->header.id_count);
}

/* One of our own votes from the log: it counts, and a precommit restores the lock. */
static int restore_vote(struct cons_machine *m, const struct cons_vote *vote,
                        const struct cons_block *block)
{
    struct cons_round *rs;
    int err;
    if (vote->round > m->round) {
        m->round = vote->round;
    }
    rs = round_get(m, vote->round);
    DC_ASSERT(rs != NULL);
    err = store_vote(m, rs, vote);
    if (err == DC_ECONFLICT) {
        return DC_ECONFLICT; /* two different votes for one step in our own log */
    }
    if (vote->type == CONS_VOTE_PRECOMMIT && vote->has_block &&
        (int64_t)vote->round > m->locked_round) {
        m->locked_round = vote->round;
        m->valid_round = vote->round;
        memcpy(m->locked_hash, vote->block_hash, CONS_HASH_BYTES);
        if (block != NULL && block->header.id_count <= m->cfg.block_ids_max) {
            int16_t slot = block_hold(m, block, vote->block_hash);
            hold_as(m, &m->locked_block, slot);
            hold_as(m, &m->valid_block, slot);
            block_unref(m, slot);
        }
    }
    return 0;
}

/* Another validator's prevote that backed our lock: checked again, then counted. */
static int restore_pol_vote(struct cons_machine *m, const struct cons_vote *vote)
{
    struct cons_round *rs;
    int err = cons_vote_verify_ops(vote, m->cfg.valset, m->chain_id, m->cfg.sig_ops);
    if (err != 0) {
        return DC_EMALFORMED;
    }
    if (vote->type != CONS_VOTE_PREVOTE) {
        return DC_EMALFORMED;
    }
    if (vote->round > m->round) {
        m->round = vote->round;
    }
    rs = round_get(m, vote->round);
    DC_ASSERT(rs != NULL);
    err = store_vote(m, rs, vote);
    return err == DC_EDUPLICATE || err == DC_ECONFLICT ? 0 : err;
}

static int restore_proposal(struct cons_machine *m, const struct cons_proposal *prop,
                            const struct cons_block *block)
{
    struct cons_round *rs;
    if (block == NULL || block->header.id_count > m->cfg.block_ids_max) {
        return DC_EMALFORMED;
    }
    if (prop->round > m->round) {
        m->round = prop->round;
    }
    rs = round_get(m, prop->round);
    DC_ASSERT(rs != NULL);
    if (rs->has_proposal) {
        return hash_eq(rs->proposal.block_hash, prop->block_hash) ? 0 : DC_ECONFLICT;
    }
    rs->proposal = *prop;
    rs->has_proposal = 1;
    rs->proposal_block = block_hold(m, block, prop->block_hash);
    rs->proposal_valid = (uint8_t)block_valid(m, block);
    return 0;
}

int cons_machine_restore(struct cons_machine *m, const struct cons_msg *record)
{
    struct cons_actions scratch_out;
    int err;
    DC_ASSERT(m->started);
    begin_call(m, &scratch_out);
    m->replaying = 1; /* rebuild state only: no rule may fire, nothing may be signed */
    if (record->kind == CONS_MSG_VOTE && record->vote.validator == m->cfg.self) {
        err = record->vote.height != m->height ? DC_ESTALE
                                               : restore_vote(m, &record->vote, record->block);
    } else if (record->kind == CONS_MSG_VOTE) {
        err = record->vote.height != m->height ? DC_ESTALE : restore_pol_vote(m, &record->vote);
    } else if (record->kind == CONS_MSG_PROPOSAL && record->proposal.proposer == m->cfg.self) {
        err = record->proposal.height != m->height
                  ? DC_ESTALE
                  : restore_proposal(m, &record->proposal, record->block);
    } else {
        err = DC_EMALFORMED;
    }
    DC_ASSERT(scratch_out.count == 0);
    m->replaying = 0;
    m->out = NULL;
    return err;
}

void cons_machine_begin(struct cons_machine *m, uint64_t now, struct cons_actions *out)
{
    begin_call(m, out);
    DC_ASSERT(now >= m->now);
    m->now = now;
    start_round(m, m->round);
    progress(m);
    end_call(m);
}
