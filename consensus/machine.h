/*
 * cons_machine: the Tendermint consensus algorithm as a pure state machine.
 *
 * Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus" (2018): each height runs
 * rounds of propose, prevote and precommit with locked and valid values, timeouts that grow
 * with the round and a round-robin proposer. Comments in machine.c cite the paper's lines.
 *
 * Inputs: cons_on_message() for each decoded message, cons_tick() with the node's tick
 * count, cons_submit() for message ids to order. Outputs: actions appended to a
 * caller-owned struct cons_actions, which each call empties first:
 *   PERSIST   make `msg` durable: a vote or proposal we signed, or a prevote of the quorum
 *             behind our lock;
 *   SEND      send `msg` to validator `to` (CONS_TO_ALL: every other validator); a SEND may
 *             leave only once every PERSIST before it in the batch is durable (group
 *             commit: write them all, fsync once);
 *   COMMIT    `block` is final at its height with certificate `cert`: store it;
 *   SERVE_SYNC send validator `to` our committed blocks from `height` on (SYNC_BLOCK msgs);
 *   SCHEDULE  call cons_tick() again no later than tick `at_tick`.
 * Pointers inside actions point into the machine and stay valid until the next call.
 *
 * There are no sockets, clocks, threads, allocations or globals in here: the simulator
 * runs this same code over a simulated network and disk. Every message is checked
 * (membership, height and round sanity, signature) before it touches the state, and the
 * machine never signs two different votes for one height, round and step (asserted; a
 * restart replays the persisted records through cons_machine_restore()).
 *
 * Threads: one machine belongs to one thread (the consensus lcore).
 */
#ifndef CONS_MACHINE_H
#define CONS_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "consensus/block.h"
#include "consensus/cert.h"
#include "consensus/mempool.h"
#include "consensus/msg.h"
#include "consensus/valset.h"
#include "consensus/vote.h"

#define CONS_ROUND_SLOTS 8        /* rounds of one height tracked at once */
#define CONS_BLOCK_SLOTS 16       /* blocks held: one per round slot, lock, valid, spare */
#define CONS_ACTIONS_MAX (2 * CONS_VALIDATORS_MAX + 32) /* actions one call can emit */
#define CONS_TO_ALL 0xffffu
#define CONS_ROUND_AHEAD_MAX 100000u /* messages further ahead are dropped */

enum cons_step {
    CONS_STEP_PROPOSE = 1,
    CONS_STEP_PREVOTE = 2,
    CONS_STEP_PRECOMMIT = 3,
};

enum cons_action_type {
    CONS_ACT_PERSIST = 1,
    CONS_ACT_SEND = 2,
    CONS_ACT_COMMIT = 3,
    CONS_ACT_SERVE_SYNC = 4,
    CONS_ACT_SCHEDULE = 5,
};

struct cons_action {
    uint8_t type;                   /* enum cons_action_type */
    uint16_t to;                    /* SEND, SERVE_SYNC */
    uint64_t height;                /* SERVE_SYNC: first height wanted */
    uint64_t at_tick;               /* SCHEDULE */
    struct cons_msg msg;            /* PERSIST, SEND */
    const struct cons_block *block; /* COMMIT */
    const struct cons_cert *cert;   /* COMMIT */
};

struct cons_actions {
    uint32_t count;
    struct cons_action items[CONS_ACTIONS_MAX];
};

/* Why messages were dropped, and what the machine did: exported as /metrics counters. */
struct cons_stats {
    uint64_t msgs_in;
    uint64_t drop_malformed;     /* bad shape, wrong chain, block that fails checks */
    uint64_t drop_member;        /* unknown signer, or not the round's proposer */
    uint64_t drop_signature;
    uint64_t drop_stale;         /* older height or round no longer tracked */
    uint64_t drop_future;        /* later height (noted for sync) or round too far ahead */
    uint64_t duplicates;
    uint64_t equivocations;      /* a second, different vote or proposal for one slot */
    uint64_t signs;
    uint64_t verifies;
    uint64_t rounds_started;
    uint64_t commits;
    uint64_t sync_requests;
    uint64_t sync_applied;
    uint64_t invalid_proposals;  /* proposals we prevoted nil on because valid(v) failed */
};

struct cons_config {
    const struct cons_valset *valset;   /* must outlive the machine */
    const char *chain_id;               /* copied */
    uint32_t self;                      /* our index in valset */
    uint8_t secret_key[CONS_SK_BYTES];
    uint32_t timeout_propose_ticks;     /* round 0 timeouts ... */
    uint32_t timeout_prevote_ticks;
    uint32_t timeout_precommit_ticks;
    uint32_t timeout_delta_ticks;       /* ... plus this much per round */
    /* Heartbeat: after a commit, round 0's proposer proposes as soon as its mempool holds
     * an id, and an empty block only once this many ticks have passed; 0: at once always. */
    uint32_t empty_block_interval_ticks;
    uint32_t rebroadcast_ticks;         /* re-send our current votes this often */
    uint32_t sync_retry_ticks;          /* at most one sync request per this many ticks */
    uint32_t block_ids_max;             /* ids per proposed block, <= CONS_BLOCK_IDS_MAX */
    uint32_t mempool_ids_max;
    uint32_t recent_ids_max;            /* committed ids remembered to refuse repeats */
    uint8_t hash_key[CONS_IDSET_KEY_BYTES]; /* secret per node: keys the id tables */
    /* Signature scheme: NULL for Ed25519 (always, in the node; see struct cons_sig_ops). */
    const struct cons_sig_ops *sig_ops;
    /* Optional application check valid(v) on a proposed block: 0 to accept. */
    int (*block_valid)(void *ctx, const struct cons_block *block);
    void *block_valid_ctx;
};

/*
 * One step's votes in one round: every validator's first vote and, for a validator caught
 * equivocating, one conflicting vote. A value's tally counts a validator once if either of
 * its votes is for it: that is the paper's model (a process receives every message), and two
 * quorums for different values still need more than f equivocators. Keeping the second vote
 * matters for liveness: it may be the one a proof of lock (line 28) needs.
 */
struct cons_voteset {
    uint64_t mask;
    uint64_t alt_mask;
    struct cons_vote first[CONS_VALIDATORS_MAX];
    struct cons_vote alt[CONS_VALIDATORS_MAX];
};

struct cons_round {
    uint8_t used;
    uint8_t has_proposal;
    uint8_t proposal_valid;         /* valid(v) held for the proposal's block */
    uint8_t prevote_timer_done;     /* line 34 fired */
    uint8_t precommit_timer_done;   /* line 47 fired */
    uint8_t l36_done;               /* line 36 fired */
    int16_t proposal_block;         /* block slot, -1 when none */
    uint32_t round;
    uint64_t sender_mask;           /* validators heard from in this round (line 55) */
    struct cons_proposal proposal;
    struct cons_voteset prevotes;
    struct cons_voteset precommits;
};

struct cons_block_slot {
    uint16_t refs;
    uint8_t pinned;                 /* referenced by an action of the current call */
    uint8_t hash[CONS_HASH_BYTES];
    struct cons_block block;
};

struct cons_timer {
    uint64_t at;                    /* 0: not armed */
    uint64_t height;
    uint32_t round;
};

struct cons_machine {
    struct cons_config cfg;
    char chain_id[CONS_CHAIN_ID_MAX + 1];
    uint32_t quorum;
    uint32_t skip_quorum;           /* f+1: some honest validator is in that round */
    uint8_t started;
    uint8_t replaying;              /* inside cons_machine_restore() */
    uint8_t step;
    uint32_t round;
    uint64_t height;
    uint64_t now;
    uint8_t prev_hash[CONS_HASH_BYTES];
    uint64_t prev_time;
    int64_t locked_round;           /* -1: none */
    uint8_t locked_hash[CONS_HASH_BYTES];
    int16_t locked_block;           /* block slot, -1 when unknown (restored lock) */
    int64_t valid_round;
    int16_t valid_block;
    struct cons_timer timer_propose;
    struct cons_timer timer_prevote;
    struct cons_timer timer_precommit;
    struct cons_timer timer_empty_block; /* armed: round 0's proposer waits for ids */
    uint8_t after_commit;           /* the round being entered is round 0 after a commit */
    uint64_t rebroadcast_at;
    uint64_t sync_height_seen;      /* highest height heard of */
    uint16_t sync_peer;             /* who we heard it from */
    uint64_t sync_next_at;
    uint8_t sync_wanted;            /* a quorum precommitted a block we lack */
    struct cons_round rounds[CONS_ROUND_SLOTS];
    struct cons_block_slot blocks[CONS_BLOCK_SLOTS];
    struct cons_block commit_block;
    struct cons_cert commit_cert;
    struct cons_idset scratch;      /* duplicate-id check of one block */
    struct cons_mempool mempool;
    struct cons_actions *out;       /* set during a call */
    struct cons_stats stats;
};

/* Bytes of caller memory (the arena) a machine with this config needs. */
size_t cons_machine_arena_size(const struct cons_config *cfg);
/*
 * Set the machine up in `m` over `arena` (8-byte aligned, cons_machine_arena_size bytes).
 * 0, or DC_ECONFIG (self outside the set, zero timeouts, chain id empty or too long,
 * block_ids_max out of range, arena too small).
 */
int cons_machine_init(struct cons_machine *m, const struct cons_config *cfg, void *arena,
                      size_t arena_size);
/*
 * Decide heights from `height` on, after the block hashing to `prev_hash` with time
 * `prev_time` (height 1: the genesis hash and 0). Call before restoring and beginning.
 */
void cons_machine_start(struct cons_machine *m, uint64_t height,
                        const uint8_t prev_hash[CONS_HASH_BYTES], uint64_t prev_time);
/*
 * Remember the ids of a block committed before this start (the newest blocks of the block
 * store, oldest first, as many as the recent window holds) so that a restarted validator
 * still refuses proposals that repeat them. Call between start and begin.
 */
void cons_machine_remember(struct cons_machine *m, const struct cons_block *block);
/*
 * Replay one record from the write-ahead log (a PERSIST action's message), oldest first:
 * our own proposals and votes, and the other validators' prevotes that backed a lock (their
 * signatures are checked again). 0, DC_ESTALE (another height: skip it) or DC_EMALFORMED.
 */
int cons_machine_restore(struct cons_machine *m, const struct cons_msg *record);
/* Enter the restored (or first) round at tick `now` and emit the first actions. */
void cons_machine_begin(struct cons_machine *m, uint64_t now, struct cons_actions *out);

/*
 * One message from the network. 0 when it was used; otherwise why it was dropped:
 * DC_EMALFORMED, DC_EMEMBER, DC_ESIGNATURE, DC_ESTALE, DC_ERANGE (too far ahead),
 * DC_EDUPLICATE, DC_ECONFLICT (equivocation, recorded) or DC_EQUORUM (sync block whose
 * certificate fails) and the other cons_cert_verify() codes.
 */
int cons_on_message(struct cons_machine *m, const struct cons_msg *msg,
                    struct cons_actions *out);
/*
 * Time passes: `now` is the node's tick count and never decreases (it may repeat). Also the
 * moment a proposer waiting for ids (see cons_submit) proposes.
 */
void cons_tick(struct cons_machine *m, uint64_t now, struct cons_actions *out);
/*
 * Queue a message id for ordering: 0, DC_EDUPLICATE or DC_EFULL (see cons_mempool_submit).
 * It emits nothing: a proposer waiting for ids after a commit proposes at the next
 * cons_tick(), so call cons_tick() (with the current tick count, even if unchanged) after a
 * burst of submits that returned 0.
 */
int cons_submit(struct cons_machine *m, const uint8_t id[CONS_ID_BYTES]);

/* Proposer of (height, round): round-robin over the set, shifted by the height. */
uint32_t cons_proposer(uint32_t validators, uint64_t height, uint32_t round);

#endif
