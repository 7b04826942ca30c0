/*
 * The Byzantine validator: its machine runs the honest algorithm, and this layer between
 * the machine and the network equivocates. It proposes two blocks in one round (sending each
 * to part of the network) and, for every vote, signs a conflicting one for the other block
 * (or nil) and sends the two votes to different validators.
 */
#include <string.h>

#include "common/dc_assert.h"
#include "world.h"

/* A random split of the other validators into two non-empty sides (when there are two). */
static uint64_t split_mask(struct sim_world *w, uint32_t self)
{
    uint64_t all = 0, mask;
    for (uint32_t j = 0; j < w->n; j++) {
        if (j != self) {
            all |= (uint64_t)1 << j;
        }
    }
    do {
        mask = sim_rng_next(&w->rng) & all;
    } while (mask == 0 || mask == all);
    return mask;
}

static void send_split(struct sim_world *w, uint32_t self, const struct cons_msg *a,
                       const struct cons_msg *b)
{
    uint8_t buf_a[SIM_MSG_BYTES_MAX], buf_b[SIM_MSG_BYTES_MAX];
    uint32_t len_a = sim_encode(a, buf_a), len_b = sim_encode(b, buf_b);
    uint64_t mask = split_mask(w, self);
    for (uint32_t j = 0; j < w->n; j++) {
        if (j == self) {
            continue;
        }
        if (mask & ((uint64_t)1 << j)) {
            sim_net_send(w, self, j, buf_a, len_a);
        } else {
            sim_net_send(w, self, j, buf_b, len_b);
        }
    }
}

/* A second block for the same height and round: same ids, a later timestamp. */
static void equivocate_proposal(struct sim_world *w, struct sim_node *node,
                                const struct cons_msg *msg)
{
    static uint8_t ids[SIM_BLOCK_IDS][CONS_ID_BYTES];
    struct cons_block alt;
    struct cons_msg second = *msg;
    cons_block_init(&alt, ids, SIM_BLOCK_IDS);
    int err = cons_block_copy(&alt, msg->block);
    DC_ASSERT(err == 0);
    alt.header.time_ticks += 1 + sim_rng_below(&w->rng, 7);
    cons_block_seal(&alt);
    cons_block_hash(&alt, second.proposal.block_hash);
    cons_proposal_sign_ops(&second.proposal, SIM_CHAIN, node->sk, w->sig_ops);
    second.block = &alt;
    w->byz_alt_height = msg->proposal.height;
    w->byz_alt_round = msg->proposal.round;
    memcpy(w->byz_orig_hash, msg->proposal.block_hash, CONS_HASH_BYTES);
    memcpy(w->byz_alt_hash, second.proposal.block_hash, CONS_HASH_BYTES);
    w->res->equivocations++;
    send_split(w, node->m.cfg.self, msg, &second);
}

/* A block hash of this round other than the vote's: our second block, or the proposal. */
static int other_hash(const struct sim_world *w, const struct sim_node *node,
                      const struct cons_vote *vote, uint8_t out[CONS_HASH_BYTES])
{
    if (w->byz_alt_height == vote->height && w->byz_alt_round == vote->round) {
        int voted_orig = vote->has_block &&
                         memcmp(vote->block_hash, w->byz_orig_hash, CONS_HASH_BYTES) == 0;
        memcpy(out, voted_orig ? w->byz_alt_hash : w->byz_orig_hash, CONS_HASH_BYTES);
        return 1;
    }
    for (uint32_t i = 0; i < CONS_ROUND_SLOTS; i++) {
        const struct cons_round *rs = &node->m.rounds[i];
        if (rs->used && rs->round == vote->round && rs->has_proposal &&
            (!vote->has_block ||
             memcmp(rs->proposal.block_hash, vote->block_hash, CONS_HASH_BYTES) != 0)) {
            memcpy(out, rs->proposal.block_hash, CONS_HASH_BYTES);
            return 1;
        }
    }
    return 0;
}

static void equivocate_vote(struct sim_world *w, struct sim_node *node,
                            const struct cons_msg *msg)
{
    struct cons_msg second = *msg;
    struct cons_vote *v = &second.vote;
    if (other_hash(w, node, &msg->vote, v->block_hash)) {
        v->has_block = 1;
    } else if (msg->vote.has_block) {
        v->has_block = 0;
        memset(v->block_hash, 0, CONS_HASH_BYTES);
    } else {
        uint8_t buf[SIM_MSG_BYTES_MAX];
        sim_net_send(w, node->m.cfg.self, CONS_TO_ALL, buf, sim_encode(msg, buf));
        return;
    }
    cons_vote_sign_ops(v, SIM_CHAIN, node->sk, w->sig_ops);
    w->res->equivocations++;
    send_split(w, node->m.cfg.self, msg, &second);
}

void sim_byz_send(struct sim_world *w, struct sim_node *node, const struct cons_action *a)
{
    uint8_t buf[SIM_MSG_BYTES_MAX];
    if (a->to == CONS_TO_ALL && w->n > 2) {
        if (a->msg.kind == CONS_MSG_PROPOSAL && a->msg.proposal.proposer == node->m.cfg.self) {
            equivocate_proposal(w, node, &a->msg);
            return;
        }
        if (a->msg.kind == CONS_MSG_VOTE && a->msg.vote.validator == node->m.cfg.self) {
            equivocate_vote(w, node, &a->msg);
            return;
        }
    }
    sim_net_send(w, node->m.cfg.self, a->to, buf, sim_encode(&a->msg, buf));
}
