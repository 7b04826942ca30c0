/*
 * The Byzantine validator: its machine runs the honest algorithm, and this layer between
 * the machine and the network misbehaves, in one of three ways (enum sim_byz_mode):
 *   equivocate: it proposes two blocks in one round (sending each to part of the network)
 *     and, for every vote, signs a conflicting one for the other block (or nil) and sends
 *     the two votes to different validators;
 *   withhold: it sends its proposals' parts to every validator but some parts to none of a
 *     set of victims (per height and round), and answers no part request;
 *   partmix: as equivocate, but when its two proposals travel as parts each validator gets
 *     the parts of one, of the other, or a mix of both under the first one's root (with,
 *     sometimes, both versions of a part).
 */
#include <sodium.h>
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

static void send_split(struct sim_world *w, struct sim_node *node, const struct cons_msg *a,
                       const struct cons_msg *b)
{
    uint32_t self = node->m.cfg.self;
    uint32_t len_a = sim_encode(w, a, w->enc), len_b = sim_encode(w, b, w->enc_alt);
    int cached = a->kind == CONS_MSG_PROPOSAL;
    uint64_t mask = split_mask(w, self);
    for (uint32_t j = 0; j < w->n; j++) {
        if (j == self) {
            continue;
        }
        if (mask & ((uint64_t)1 << j)) {
            sim_send_bytes(w, node, j, w->enc, len_a, cached);
        } else {
            sim_send_bytes(w, node, j, w->enc_alt, len_b, cached);
        }
    }
}

/* ---- partmix: two proposals' parts, mixed per validator ---- */

/* Part `index` of `msg`, stamped with `root` (another message's, for a mix). */
static size_t part_of(const uint8_t *msg, uint32_t len, uint16_t origin, uint16_t index,
                      const uint8_t root[CONS_HASH_BYTES], uint8_t *out)
{
    struct cons_frag_iter it;
    struct cons_frag_part part;
    uint8_t body[CONS_FRAG_RECORD_BYTES_MAX];
    size_t n = 0;
    int err = cons_frag_split(msg, len, origin, &it);
    DC_ASSERT(err == 0);
    for (uint16_t i = 0; i <= index; i++) {
        n = cons_frag_iter_next(&it, body, sizeof(body));
        DC_ASSERT(n > 0);
    }
    err = cons_frag_part_decode(body, n, &part);
    DC_ASSERT(err == 0);
    memcpy(part.root, root, CONS_HASH_BYTES);
    return cons_frag_part_encode(&part, out, CONS_FRAG_RECORD_BYTES_MAX);
}

/*
 * To `to`: the parts of A's root, each part's data from A or from B at random, B's first
 * part always (it holds the proposal and header, where A and B differ), and sometimes A's
 * first part as well: the receiver sees a conflict or a root mismatch, never a message.
 * Only a part request, answered from our cache with A, completes it.
 */
static void send_mix(struct sim_world *w, uint32_t self, uint32_t to, uint32_t len,
                     const uint8_t root_a[CONS_HASH_BYTES])
{
    uint8_t body[CONS_FRAG_RECORD_BYTES_MAX];
    uint16_t count = cons_frag_part_count(len);
    sim_net_burst_begin(w);
    for (uint16_t i = 0; i < count; i++) {
        const uint8_t *from = i == 0 || sim_rng_chance(&w->rng, 300) ? w->enc_alt : w->enc;
        size_t n = part_of(from, len, (uint16_t)self, i, root_a, body);
        sim_net_send(w, self, to, body, (uint32_t)n);
        w->res->parts_sent++;
        if (i == 0 && sim_rng_chance(&w->rng, 500)) {
            n = part_of(w->enc, len, (uint16_t)self, i, root_a, body);
            sim_net_send(w, self, to, body, (uint32_t)n);
            w->res->parts_sent++;
        }
    }
    sim_net_burst_end(w);
}

/* Parts of `msg` to `to` only, uncached (the caller cached it). */
static void send_parts_to(struct sim_world *w, uint32_t self, uint32_t to, const uint8_t *msg,
                          uint32_t len)
{
    uint8_t body[CONS_FRAG_RECORD_BYTES_MAX];
    struct cons_frag_iter it;
    size_t n;
    int err = cons_frag_split(msg, len, (uint16_t)self, &it);
    DC_ASSERT(err == 0);
    sim_net_burst_begin(w);
    while ((n = cons_frag_iter_next(&it, body, sizeof(body))) > 0) {
        sim_net_send(w, self, to, body, (uint32_t)n);
        w->res->parts_sent++;
    }
    sim_net_burst_end(w);
}

/* Proposals A and B as parts: per validator A's, B's, or a mix under A's root. */
static void send_partmix(struct sim_world *w, struct sim_node *node, const struct cons_msg *a,
                         const struct cons_msg *b)
{
    uint32_t self = node->m.cfg.self;
    uint32_t len_a = sim_encode(w, a, w->enc), len_b = sim_encode(w, b, w->enc_alt);
    uint8_t root_a[CONS_HASH_BYTES];
    struct cons_frag_iter unused;
    if (len_a != len_b || !cons_frag_needed(len_a)) {
        send_split(w, node, a, b);
        return;
    }
    /* Both in our cache, so that we answer requests for either like an honest sender. */
    int err = cons_frag_send(&node->frag, w->enc, len_a, &unused);
    DC_ASSERT(err == 0);
    err = cons_frag_send(&node->frag, w->enc_alt, len_b, &unused);
    DC_ASSERT(err == 0);
    crypto_generichash(root_a, sizeof(root_a), w->enc, len_a, NULL, 0);
    w->res->byz_part_acts++;
    for (uint32_t j = 0; j < w->n; j++) {
        if (j == self) {
            continue;
        }
        switch (sim_rng_below(&w->rng, 3)) {
        case 0:
            send_parts_to(w, self, j, w->enc, len_a);
            break;
        case 1:
            send_parts_to(w, self, j, w->enc_alt, len_b);
            break;
        default:
            send_mix(w, self, j, len_a, root_a);
            break;
        }
    }
}

/* ---- withhold: some parts of our proposals never reach some validators ---- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/*
 * Whether part `index` of the proposal for (height, round) is withheld from `to`: the victims
 * and their missing parts are a function of the run's seed, the height and the round, so a
 * rebroadcast withholds the same parts again (about a third of each victim's).
 */
static int withheld(const struct sim_world *w, uint64_t height, uint32_t round, uint32_t to,
                    uint16_t index)
{
    uint64_t v = mix64(w->seed ^ mix64(height * 0x100000001b3ull + round));
    if (((v >> to) & 1) == 0) {
        return 0;
    }
    return mix64(v ^ ((uint64_t)to << 32) ^ index) % 3 == 0;
}

static void send_withholding(struct sim_world *w, struct sim_node *node,
                             const struct cons_msg *msg)
{
    uint8_t body[CONS_FRAG_RECORD_BYTES_MAX];
    uint32_t self = node->m.cfg.self;
    uint32_t len = sim_encode(w, msg, w->enc);
    struct cons_frag_iter it;
    size_t n;
    if (!cons_frag_needed(len)) {
        sim_send_bytes(w, node, CONS_TO_ALL, w->enc, len, 1);
        return;
    }
    w->res->byz_part_acts++;
    int err = cons_frag_send(&node->frag, w->enc, len, &it);
    DC_ASSERT(err == 0);
    sim_net_burst_begin(w);
    for (uint16_t i = 0; (n = cons_frag_iter_next(&it, body, sizeof(body))) > 0; i++) {
        for (uint32_t j = 0; j < w->n; j++) {
            if (j != self && !withheld(w, msg->proposal.height, msg->proposal.round, j, i)) {
                sim_net_send(w, self, j, body, (uint32_t)n);
                w->res->parts_sent++;
            }
        }
    }
    sim_net_burst_end(w);
}

/* A second block for the same height and round: same ids, a later timestamp. */
static void equivocate_proposal(struct sim_world *w, struct sim_node *node,
                                const struct cons_msg *msg)
{
    struct cons_block alt;
    struct cons_msg second = *msg;
    cons_block_init(&alt, w->alt_ids, w->block_ids_max);
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
    if (w->sc->byz_mode == SIM_BYZ_PARTMIX) {
        send_partmix(w, node, msg, &second);
    } else {
        send_split(w, node, msg, &second);
    }
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
        sim_send(w, node, CONS_TO_ALL, msg);
        return;
    }
    cons_vote_sign_ops(v, SIM_CHAIN, node->sk, w->sig_ops);
    w->res->equivocations++;
    send_split(w, node, msg, &second);
}

void sim_byz_send(struct sim_world *w, struct sim_node *node, const struct cons_action *a)
{
    int own_proposal = a->msg.kind == CONS_MSG_PROPOSAL &&
                       a->msg.proposal.proposer == node->m.cfg.self;
    if (w->sc->byz_mode == SIM_BYZ_WITHHOLD) {
        if (a->to == CONS_TO_ALL && own_proposal) {
            send_withholding(w, node, &a->msg);
        } else {
            sim_send(w, node, a->to, &a->msg);
        }
        return;
    }
    if (a->to == CONS_TO_ALL && w->n > 2) {
        if (own_proposal) {
            equivocate_proposal(w, node, &a->msg);
            return;
        }
        if (a->msg.kind == CONS_MSG_VOTE && a->msg.vote.validator == node->m.cfg.self) {
            equivocate_vote(w, node, &a->msg);
            return;
        }
    }
    sim_send(w, node, a->to, &a->msg);
}
