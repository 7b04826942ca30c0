/*
 * The simulator's world: nodes, network, disks and the checkers' memory. Private to
 * tests/sim (world.c runs it, check.c judges it, byz.c plays the Byzantine validators).
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <stdint.h>

#include "consensus/frag.h"
#include "consensus/wal.h"
#include "sim.h"

#define SIM_CHAIN "sim-chain"

struct sim_stored {
    uint32_t len;                       /* 0: not stored */
    uint32_t cap;
    uint8_t synced;
    uint8_t *bytes;                     /* a SYNC_BLOCK message: block and certificate */
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
    /* Its transport (parts.c, as consensus/transport.c): reassembly slots and the cache of
     * proposals it sent, lost on a crash like any memory. */
    struct cons_frag frag;
    uint8_t *frag_mem;
    uint64_t answer_window_at;          /* ticks */
    uint32_t answers_in_window[SIM_NODES_MAX];
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
    /* message sizes of this run */
    int parts;                          /* large blocks, bursts of ids */
    uint32_t block_ids_max;
    uint32_t ids_total;                 /* ids a run submits at most */
    uint32_t burst_max;
    uint32_t msg_bytes_max;             /* the largest encoded message of this run */
    uint8_t *enc;                       /* one encoded message (sim_send) */
    uint8_t *enc_alt;                   /* a second one (byz.c) */
    /* network */
    struct sim_msg *msgs;
    uint32_t *heap;
    uint32_t heap_len;
    uint32_t *free_list;
    uint32_t free_len;
    uint64_t seq;
    int burst;                          /* between sim_net_burst_begin() and _end() */
    uint64_t burst_delay[SIM_NODES_MAX];
    /* checkers */
    uint8_t (*committed_hash)[CONS_HASH_BYTES];
    uint8_t *committed_set;
    uint64_t ids_submitted;
    uint8_t *id_committed;
    uint8_t (*ids)[CONS_ID_BYTES];      /* every id submitted, by counter */
    struct sim_vote_entry *votes;
    uint64_t gen;
    uint8_t *wal_payload;               /* msg_bytes_max */
    uint8_t *rec_buf;                   /* one WAL record being written */
    /* decode scratch */
    uint8_t (*dec_ids)[CONS_ID_BYTES];  /* SIM_PARTS_IDS_MAX */
    uint8_t (*alt_ids)[CONS_ID_BYTES];  /* byz.c's second block */
    struct cons_block dec_block;
    struct cons_cert dec_cert;
};

__attribute__((format(printf, 2, 3)))
void sim_fail(struct sim_world *w, const char *fmt, ...);

/* fastsig.c */
extern const struct cons_sig_ops sim_fast_sig;

/* check.c */
void sim_make_id(const struct sim_world *w, uint64_t counter, uint8_t id[CONS_ID_BYTES]);
/* Make id `counter` (the next one submitted) into w->ids[counter] for the checks. */
void sim_submitted_id(struct sim_world *w, uint64_t counter);
int sim_block_valid(void *ctx, const struct cons_block *block);
void sim_check_vote(struct sim_world *w, const struct sim_node *node,
                    const struct cons_vote *vote);
void sim_check_commit(struct sim_world *w, const struct sim_node *node,
                      const struct cons_block *block, const struct cons_cert *cert);

/* world.c: put one datagram (at most SIM_MSG_BYTES_MAX) on the wire from `from` to `to`
 * (CONS_TO_ALL: all others); each copy is lost, duplicated and delayed on its own. */
void sim_net_send(struct sim_world *w, uint32_t from, uint32_t to, const uint8_t *bytes,
                  uint32_t len);
/* Encode `msg` into `out` (w->msg_bytes_max). Returns its length. */
/* The datagrams sent between these two calls are one burst (the parts of one message):
 * per destination they share a delay, with a jitter and a few stragglers. */
void sim_net_burst_begin(struct sim_world *w);
void sim_net_burst_end(struct sim_world *w);
uint32_t sim_encode(const struct sim_world *w, const struct cons_msg *msg, uint8_t *out);
/* world.c: hand one whole encoded message to the node's machine. */
void sim_hand_message(struct sim_world *w, struct sim_node *node, uint32_t from,
                      const uint8_t *bytes, size_t len);

/* parts.c: the node's transport, as consensus/transport.c does it. */
/* (Re)initialise the node's cons_frag (boot: its memory is gone). */
void sim_parts_boot(struct sim_world *w, struct sim_node *node);
/* Send encoded `bytes` whole or as parts; proposals (`cached`) through the sender cache. */
void sim_send_bytes(struct sim_world *w, struct sim_node *node, uint32_t to,
                    const uint8_t *bytes, uint32_t len, int cached);
/* Encode and send a message: sim_send_bytes(), cached when it is a proposal. */
void sim_send(struct sim_world *w, struct sim_node *node, uint32_t to,
              const struct cons_msg *msg);
/* One datagram arrived: a whole message, a part or a part request. */
void sim_parts_recv(struct sim_world *w, struct sim_node *node, uint32_t from,
                    const uint8_t *bytes, uint32_t len);
/* The node's tick: due part requests, to the origin first, then round-robin. */
void sim_parts_tick(struct sim_world *w, struct sim_node *node);

/* byz.c: the Byzantine validator's SEND: equivocate on proposals and votes. */
void sim_byz_send(struct sim_world *w, struct sim_node *node, const struct cons_action *a);

#endif
