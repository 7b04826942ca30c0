/*
 * The simulator's checkers: agreement, validity, no honest double-sign. Progress is judged
 * by the world loop (world.c), which knows when the network healed.
 */
#include <sodium.h>
#include <string.h>

#include "common/dc_assert.h"
#include "world.h"

/* Id `counter` of this world: counter in the first 8 bytes, a keyed hash of it after. */
void sim_make_id(const struct sim_world *w, uint64_t counter, uint8_t id[CONS_ID_BYTES])
{
    uint8_t key[16];
    uint8_t tag[CONS_ID_BYTES - 8];
    memcpy(key, &w->seed, 8);
    memcpy(key + 8, "sim-ids!", 8);
    crypto_generichash(tag, sizeof(tag), (const uint8_t *)&counter, sizeof(counter), key,
                       sizeof(key));
    memcpy(id, &counter, 8);
    memcpy(id + 8, tag, sizeof(tag));
}

/* The counter of a submitted id, or -1 for an id nobody submitted. */
static int64_t id_counter(const struct sim_world *w, const uint8_t id[CONS_ID_BYTES])
{
    uint64_t counter;
    memcpy(&counter, id, 8);
    if (counter >= w->ids_submitted) {
        return -1;
    }
    /* the ids made so far, kept by sim_submitted_id(): no hash per check */
    return memcmp(w->ids[counter], id, CONS_ID_BYTES) == 0 ? (int64_t)counter : -1;
}

void sim_submitted_id(struct sim_world *w, uint64_t counter)
{
    DC_ASSERT(counter < SIM_PARTS_IDS_TOTAL && counter < SIM_IDS_MAX);
    sim_make_id(w, counter, w->ids[counter]);
}

/* valid(v) for the machines: every id was submitted (a node holds the message it names). */
int sim_block_valid(void *ctx, const struct cons_block *block)
{
    const struct sim_world *w = ctx;
    for (uint32_t i = 0; i < block->header.id_count; i++) {
        if (id_counter(w, block->ids[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

static struct sim_vote_entry *vote_slot(struct sim_world *w, const struct cons_vote *vote)
{
    uint64_t h = vote->height * 0x9e3779b97f4a7c15ull ^ (uint64_t)vote->round * 0xff51afd7ull ^
                 (uint64_t)vote->validator * 131 ^ vote->type;
    for (uint32_t n = 0; n < SIM_VOTES_MAX; n++) {
        struct sim_vote_entry *e = &w->votes[(h + n) % SIM_VOTES_MAX];
        if (e->gen != w->gen) {
            return e;
        }
        if (e->height == vote->height && e->round == vote->round &&
            e->validator == vote->validator && e->type == vote->type) {
            return e;
        }
    }
    return NULL;
}

/* An honest validator sent `vote`: it must equal every vote it sent for that step. */
void sim_check_vote(struct sim_world *w, const struct sim_node *node,
                    const struct cons_vote *vote)
{
    struct sim_vote_entry *e;
    if (node->byzantine) {
        return;
    }
    e = vote_slot(w, vote);
    if (e == NULL) {
        sim_fail(w, "vote table full (raise SIM_VOTES_MAX)");
        return;
    }
    if (e->gen != w->gen) {
        e->gen = w->gen;
        e->height = vote->height;
        e->round = vote->round;
        e->validator = vote->validator;
        e->type = vote->type;
        e->has_block = vote->has_block;
        memcpy(e->hash, vote->block_hash, CONS_HASH_BYTES);
        return;
    }
    if (e->has_block != vote->has_block || memcmp(e->hash, vote->block_hash, CONS_HASH_BYTES)) {
        sim_fail(w, "double-sign: honest validator %u signed two different %s at height %llu "
                    "round %u", vote->validator,
                 vote->type == CONS_VOTE_PREVOTE ? "prevotes" : "precommits",
                 (unsigned long long)vote->height, vote->round);
    }
}

/* Validity of the first commit at a height: submitted ids only, each once in the chain. */
static void check_validity(struct sim_world *w, const struct cons_block *block)
{
    for (uint32_t i = 0; i < block->header.id_count; i++) {
        int64_t counter = id_counter(w, block->ids[i]);
        if (counter < 0) {
            sim_fail(w, "validity: height %llu holds an id nobody submitted",
                     (unsigned long long)block->header.height);
            return;
        }
        if (w->id_committed[counter]) {
            sim_fail(w, "validity: id %lld committed twice (again at height %llu)",
                     (long long)counter, (unsigned long long)block->header.height);
            return;
        }
        w->id_committed[counter] = 1;
    }
}

void sim_check_commit(struct sim_world *w, const struct sim_node *node,
                      const struct cons_block *block, const struct cons_cert *cert)
{
    uint64_t h = block->header.height;
    uint8_t hash[CONS_HASH_BYTES];
    if (node->byzantine) {
        return;
    }
    cons_block_hash(block, hash);
    if (cons_cert_verify_ops(cert, hash, &w->valset, SIM_CHAIN, w->sig_ops) != 0) {
        sim_fail(w, "commit at height %llu without a valid certificate", (unsigned long long)h);
        return;
    }
    if (h >= SIM_HEIGHTS_MAX) {
        return; /* the world stops before this matters */
    }
    if (w->committed_set[h]) {
        if (memcmp(w->committed_hash[h], hash, CONS_HASH_BYTES) != 0) {
            sim_fail(w, "agreement: two different blocks committed at height %llu "
                        "(node %u differs)", (unsigned long long)h, node->m.cfg.self);
        }
        return;
    }
    if (h > 1 && w->committed_set[h - 1] &&
        memcmp(w->committed_hash[h - 1], block->header.prev_hash, CONS_HASH_BYTES) != 0) {
        sim_fail(w, "agreement: block at height %llu does not extend the committed chain",
                 (unsigned long long)h);
        return;
    }
    w->committed_set[h] = 1;
    memcpy(w->committed_hash[h], hash, CONS_HASH_BYTES);
    check_validity(w, block);
}
