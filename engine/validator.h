/*
 * validator: the consensus engine inside a `dchat --role validator` node.
 *
 * It joins three parts that already exist: the Tendermint state machine
 * (consensus/machine.h), the validator's data directory (consensus/datadir.h: genesis, vote
 * WAL, block store) and the control thread (engine/ctl.h). The machine runs on the control
 * thread, driven by its two hooks: every CONSENSUS record the dataplane receives
 * (on_consensus) and a tick every ENG_CTL_TICK_MS (on_tick, the machine's clock). The actions
 * it emits are carried out in the order datadir.h requires (persist, one sync before any
 * send, commit), and messages go to the other validators' genesis addresses as one-record
 * frames from the node's UDP socket. The committed head, the set size and the validators
 * heard from recently are published to the RPC server (/chain/status).
 *
 * The genesis is --genesis FILE or DATA_DIR/genesis.toml; a key that is not in it is refused
 * at open. Blocks are committed even when empty, one about every
 * ENG_VALIDATOR_BLOCK_INTERVAL_MS (the commit wait), so a live chain is visible and an idle
 * validator sends a few datagrams a second. User messages reach the mempool through a
 * subscription to every channel of the node's own dataplane (only messages it verified).
 *
 * Threads: eng_validator_open(), eng_validator_ctl_start() and eng_validator_close() on the
 * main thread (open before the control thread starts, close after it stopped); everything
 * else on the control thread through the hooks. A storage failure stops the node (SIGTERM to
 * itself) rather than risk signing twice.
 */
#ifndef ENG_VALIDATOR_H
#define ENG_VALIDATOR_H

#include <stddef.h>
#include <stdint.h>

struct eng_ctl;             /* engine/ctl.h */
struct eng_key;             /* engine/key.h */
struct eng_node_config;     /* engine/node_config.h */
struct dp_ctl_port;         /* dataplane/ctl_port.h */
struct eng_validator_state; /* engine/validator.c */

#define ENG_VALIDATOR_BLOCK_INTERVAL_MS 1000u /* commit wait: at most one block per this */
#define ENG_VALIDATOR_ONLINE_MS 5000u         /* heard from within this: online */
#define ENG_VALIDATOR_SYNC_BLOCKS_MAX 16u     /* blocks sent per sync request */

struct eng_validator {
    struct eng_validator_state *state; /* allocated by open, freed by close */
};

/*
 * Opens the data directory cfg->data_dir with the genesis cfg->genesis_file (empty:
 * DATA_DIR/genesis.toml), which names the validators, checks
 * that `key` is one of them, resumes after the stored head and replays the vote WAL.
 * Without --genesis and without DATA_DIR/genesis.toml there is no chain to join: one
 * warning, 0, and v->state stays NULL (the node runs as a relay with the validator role in
 * its record). Otherwise 0, or an error with one line in `err` (genesis missing or invalid,
 * key not in the genesis, directory in use by another process, damaged logs, a validator
 * set too large for one datagram).
 */
int eng_validator_open(struct eng_validator *v, const struct eng_node_config *cfg,
                       const struct eng_key *key, char *err, size_t err_size);

/*
 * Starts the control thread (eng_ctl_params_from_config + eng_ctl_start_params) with the
 * validator's hooks, sending through `port`. 0 or eng_ctl_start_params()'s error.
 */
int eng_validator_ctl_start(struct eng_validator *v, struct eng_ctl *ctl,
                            const struct eng_node_config *cfg, const struct eng_key *key,
                            struct dp_ctl_port *port);

/* Closes the data directory and frees the state. Idempotent. */
void eng_validator_close(struct eng_validator *v);

#endif
