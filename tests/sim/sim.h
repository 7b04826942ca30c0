/*
 * The deterministic consensus simulator: n real state machines (consensus/machine.c) over
 * a simulated network and disk, every choice drawn from one 64-bit seed.
 *
 * One run ("world") is a safety phase with the scenario's faults (delays, drops,
 * duplicates, reordering, partitions, crashes losing unsynced writes, clock skew, one
 * equivocating validator) followed by a liveness phase on a healed network in which every
 * honest validator must commit a new block within a bounded simulated time. Messages larger
 * than one record travel as parts through each validator's cons_frag (parts.c). Checkers run on
 * every step: agreement, validity, no honest double-sign, progress. Single-threaded test
 * code; it may allocate (it is not consensus/).
 */
#ifndef SIM_H
#define SIM_H

#include <stdint.h>

#include "consensus/machine.h"

#define SIM_NODES_MAX 7
#define SIM_BLOCK_IDS 8            /* ids per block: small blocks keep the messages small */
/* With parts (a scenario's `parts`, or --parts): block_ids_max drawn per run in this range,
 * ids submitted in bursts, so that most proposals and sync blocks travel as parts. */
#define SIM_PARTS_IDS_MIN 200
#define SIM_PARTS_IDS_MAX 2000
#define SIM_PARTS_BURST_MAX 200    /* ids one client step submits at most */
#define SIM_MSG_BYTES_MAX 1536     /* one datagram: a whole small message, a part, a request */
#define SIM_INFLIGHT_MAX 32768
#define SIM_HEIGHTS_MAX 1024
#define SIM_WAL_BYTES (4u << 20)
#define SIM_WAL_BUFFER_BYTES 8192
#define SIM_IDS_MAX 8192           /* ids submitted per run without parts */
#define SIM_PARTS_IDS_TOTAL 8192   /* ... and with parts (each costs every validator time) */
#define SIM_VOTES_MAX 65536
#define SIM_TICK_UNITS 10          /* time units per tick (without skew) */
#define SIM_EMPTY_BLOCK_TICKS 20   /* the heartbeat: an idle proposer waits this long */
/* A pace scenario must commit this many times the heights the heartbeat alone would allow. */
#define SIM_PACE_FACTOR_MIN 3

struct sim_scenario {
    const char *name;
    const char *what;
    uint32_t nodes;
    uint32_t drop_pm_max;          /* per-mille loss, drawn up to this */
    uint32_t dup_pm_max;
    uint32_t delay_max;            /* time units; reordering comes from spread delays */
    uint8_t partitions;
    uint8_t crashes;
    uint8_t skew;
    uint8_t byzantine;             /* how many validators equivocate (colluding), <= f */
    uint8_t pace;                  /* ids keep coming: blocks must not wait for the heartbeat */
    uint8_t parts;                 /* large blocks: messages travel as parts (SIM_PARTS_*) */
    uint8_t byz_mode;              /* what the Byzantine validators do (enum sim_byz_mode) */
};

enum sim_byz_mode {
    SIM_BYZ_EQUIVOCATE = 0,        /* two proposals per round, a conflicting vote per vote */
    SIM_BYZ_WITHHOLD = 1,          /* its proposals' parts withheld from some validators */
    SIM_BYZ_PARTMIX = 2,           /* two proposals' parts: per validator one, the other or
                                    * a mix of both under one root */
};

/* xoshiro256** seeded through splitmix64: our own, so a seed means the same run anywhere. */
struct sim_rng {
    uint64_t s[4];
};

void sim_rng_seed(struct sim_rng *rng, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *rng);
/* Uniform in [0, bound). */
uint64_t sim_rng_below(struct sim_rng *rng, uint64_t bound);
/* True with probability per_mille / 1000. */
int sim_rng_chance(struct sim_rng *rng, uint32_t per_mille);

extern const struct sim_scenario sim_scenarios[];
extern const uint32_t sim_scenario_count;
const struct sim_scenario *sim_scenario_find(const char *name);

struct sim_result {
    int ok;
    char why[256];
    uint64_t heights;              /* committed height reached by the honest validators */
    uint64_t time;                 /* simulated time at the end */
    uint64_t messages;
    uint64_t crashes;
    uint64_t equivocations;
    uint64_t parts_sent;           /* datagrams that were parts of a larger message */
    uint64_t msgs_reassembled;     /* messages completed from parts */
    uint64_t part_requests;        /* PART_REQUESTs sent ... */
    uint64_t requests_answered;    /* ... and answered */
    uint64_t root_mismatches;      /* reassembled messages refused: parts of mixed messages */
    uint64_t parts_foreign;        /* parts dropped: their origin is not their sender */
    uint64_t byz_part_acts;        /* proposals whose parts a Byzantine validator tampered with */
    uint64_t fault_heights;        /* committed by the end of the fault phase ... */
    uint64_t fault_time;           /* ... which lasted this long */
};

/*
 * Run one world. `verbose` prints a line per commit and fault (2: every vote and proposal).
 * `ed25519` signs with Ed25519; otherwise with the fast stand-in (fastsig.c). `parts`
 * gives the run large blocks whatever the scenario says (--parts).
 */
void sim_run(const struct sim_scenario *sc, uint64_t seed, int verbose, int ed25519, int parts,
             struct sim_result *result);
/* Free the world's buffers (allocated once, reused by every run). */
void sim_release(void);

#endif
