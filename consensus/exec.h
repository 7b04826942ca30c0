/*
 * cons_exec: the action executor, the one piece of code that carries out what the state
 * machine asks for (consensus/machine.h) against a validator's data directory
 * (consensus/datadir.h).
 *
 * One cons_exec_run() takes the actions of one machine call, in order:
 *
 *   PERSIST    cons_datadir_persist(): queued in the vote WAL, not yet durable;
 *   SEND       one WAL sync for everything persisted so far (group commit), then ops->send;
 *   COMMIT     cons_datadir_commit() (store, sync, reset the WAL, prune), then ops->commit;
 *   SERVE_SYNC up to sync_blocks_max stored blocks from the asked height on, each read from
 *              the store and handed to ops->send as a SYNC_BLOCK message;
 *   SCHEDULE   ops->schedule;
 *
 * and one more WAL sync at the end of the batch, so nothing persisted stays volatile.
 *
 * Two programs use it: the node's consensus thread (consensus/lcore.c, over a real
 * directory) and the four-validator harness tests/integration/cons_net.c (real files). The
 * simulator still carries actions out with its own loop (docs/CONSENSUS.md says why). The network
 * side and what a caller does on a commit are callbacks; exec.c reads no clock and draws no
 * random number, so a deterministic simulator can use it.
 *
 * A storage error stops the batch and sticks: the machine signed something that may not be
 * durable, so signing on could equivocate after a restart. The node then stops. A block
 * that SERVE_SYNC cannot read (pruned, damaged) only ends that answer, with a warning and a
 * count.
 *
 * Threads: the thread that owns the machine and the data directory. Nothing allocates.
 */
#ifndef CONS_EXEC_H
#define CONS_EXEC_H

#include "consensus/datadir.h"
#include "consensus/machine.h"

#include <stdint.h>

/* Callbacks, each given the `ctx` passed to cons_exec_init(). Only `send` is required. */
struct cons_exec_ops {
    /* Put `msg` on the network to validator `to` (CONS_TO_ALL: every other one). Called
     * for SEND actions, only once every PERSIST before them is durable, and for each block
     * a SERVE_SYNC answers with (kind CONS_MSG_SYNC_BLOCK; `msg` valid during the call). */
    void (*send)(void *ctx, uint16_t to, const struct cons_msg *msg);
    /* A COMMIT whose block is durable in the store: the node's bookkeeping (positions,
     * followers), cons_net's checks. */
    void (*commit)(void *ctx, const struct cons_block *block, const struct cons_cert *cert);
    /* A SCHEDULE: call cons_tick() again no later than `at_tick`. */
    void (*schedule)(void *ctx, uint64_t at_tick);
    /* Around each group-commit sync of the vote WAL (called only when records are pending):
     * the node times the sync; the simulator may arm a disk fault in sync_begin. `rc` is the
     * sync's result. */
    void (*sync_begin)(void *ctx);
    void (*sync_end)(void *ctx, int rc);
};

struct cons_exec {
    struct cons_datadir *dd;
    const struct cons_exec_ops *ops;
    void *ctx;
    uint32_t sync_blocks_max;     /* blocks one SERVE_SYNC sends at most */
    int failed;                   /* the first storage error (sticky), 0 when none */
    const char *failed_what;      /* what failed: "vote WAL write", "vote WAL sync" or
                                   * "block store append"; NULL when nothing did */
    uint64_t serve_read_errors;   /* SERVE_SYNC answers cut short by a store read error */
};

/*
 * Set `ex` up over the opened, resumed `dd`. `ops` (send non-NULL) and `ctx` must outlive
 * it; `sync_blocks_max` >= 1.
 */
void cons_exec_init(struct cons_exec *ex, struct cons_datadir *dd,
                    const struct cons_exec_ops *ops, void *ctx, uint32_t sync_blocks_max);

/*
 * Carry out `actions` (one machine call's) in order, then sync what is still pending.
 * 0, or the first storage error (the datadir's / WAL's / store's code, see datadir.h), with
 * ex->failed and ex->failed_what set; the actions after it are not carried out, and every
 * later call returns the same error at once.
 */
int cons_exec_run(struct cons_exec *ex, const struct cons_actions *actions);

#endif
