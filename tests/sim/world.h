/*
 * The simulator's world: nodes, network, disks and the checkers' memory. Private to
 * tests/sim (world.c runs it, check.c judges it, byz.c plays the Byzantine validators).
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <stdint.h>

#include "consensus/wal.h"
#include "sim.h"

#define SIM_CHAIN "sim-chain"

struct sim_stored {
    uint32_t len;                       /* 0: not stored */
    uint8_t synced;
    uint8_t bytes[SIM_MSG_BYTES_MAX];   /* a SYNC_BLOCK message: block and certificate */
};

struct sim_node {
    struct cons_machine m;
    struct cons_actions out;
    uint8_t *arena;
    uint8_t pk[CONS_PK_BYTES];
    uint8_t sk[CONS_SK_BYTES];
    uint8_t up;
    uint8_t byzantine;
    uint8_t group;                      /* partitions: messages cross only within a group */
    uint32_t period;                    /* time units per tick: clock skew */
    uint64_t ticks;
    uint64_t next_tick_at;
    /* The vote log: the real write-ahead log (consensus/wal.c) over a memory disk that loses
     * unsynced writes, or keeps a torn prefix of them, on a crash. */
    struct cons_disk_mem wal_mem;
    uint8_t *wal_bytes;
    uint8_t *wal_buffer;                /* its group-commit buffer */
    struct cons_wal wal;
    uint8_t wal_open;
    struct sim_stored *store;           /* indexed by height */
    uint64_t store_top;
    uint64_t restarts;
};

struct sim_msg {
    uint64_t at;
    uint64_t seq;                       /* ties broken by send order: determinism */
    uint16_t from;
    uint16_t to;
    uint32_t len;
    uint8_t bytes[SIM_MSG_BYTES_MAX];
};

struct sim_vote_entry {
    uint64_t gen;
    uint64_t height;
    uint32_t round;
    uint16_t validator;
    uint8_t type;
    uint8_t has_block;
    uint8_t hash[CONS_HASH_BYTES];
};

struct sim_world {
    const struct sim_scenario *sc;
    uint64_t seed;
    struct sim_rng rng;
    int verbose;
    const struct cons_sig_ops *sig_ops; /* NULL: Ed25519 */
    struct sim_result *res;
    int failed;
    uint32_t n;
    struct cons_valset valset;
    struct sim_node nodes[SIM_NODES_MAX];
    uint64_t now;
    uint32_t drop_pm;
    uint32_t dup_pm;
    uint32_t delay_max;
    uint64_t faults_end;
    uint64_t next_fault_at;
    uint64_t next_submit_at;
    int healed;
    uint64_t heal_height;
    uint64_t live_deadline;
    uint64_t byz_mask;                  /* the Byzantine validators */
    uint64_t byz_alt_height;            /* their last double proposal: (height, round, hashes) */
    uint32_t byz_alt_round;
    uint8_t byz_orig_hash[CONS_HASH_BYTES];
    uint8_t byz_alt_hash[CONS_HASH_BYTES];
    /* network */
    struct sim_msg *msgs;
    uint32_t *heap;
    uint32_t heap_len;
    uint32_t *free_list;
    uint32_t free_len;
    uint64_t seq;
    /* checkers */
    uint8_t (*committed_hash)[CONS_HASH_BYTES];
    uint8_t *committed_set;
    uint64_t ids_submitted;
    uint8_t *id_committed;
    struct sim_vote_entry *votes;
    uint64_t gen;
    uint8_t wal_payload[SIM_MSG_BYTES_MAX];
    /* decode scratch */
    uint8_t dec_ids[SIM_BLOCK_IDS][CONS_ID_BYTES];
    struct cons_block dec_block;
    struct cons_cert dec_cert;
};

__attribute__((format(printf, 2, 3)))
void sim_fail(struct sim_world *w, const char *fmt, ...);

/* fastsig.c */
extern const struct cons_sig_ops sim_fast_sig;

/* check.c */
void sim_make_id(const struct sim_world *w, uint64_t counter, uint8_t id[CONS_ID_BYTES]);
int sim_block_valid(void *ctx, const struct cons_block *block);
void sim_check_vote(struct sim_world *w, const struct sim_node *node,
                    const struct cons_vote *vote);
void sim_check_commit(struct sim_world *w, const struct sim_node *node,
                      const struct cons_block *block, const struct cons_cert *cert);

/* world.c: put encoded bytes on the wire from `from` to `to` (CONS_TO_ALL: all others). */
void sim_net_send(struct sim_world *w, uint32_t from, uint32_t to, const uint8_t *bytes,
                  uint32_t len);
uint32_t sim_encode(const struct cons_msg *msg, uint8_t *out);

/* byz.c: the Byzantine validator's SEND: equivocate on proposals and votes. */
void sim_byz_send(struct sim_world *w, struct sim_node *node, const struct cons_action *a);

#endif
