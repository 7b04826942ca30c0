/*
 * validator: the consensus engine inside a `dchat --role validator` node.
 *
 * It joins parts that exist on their own: the Tendermint state machine
 * (consensus/machine.h), the validator's data directory (consensus/datadir.h: genesis, vote
 * WAL, block store) and the consensus thread (consensus/lcore.h), which the dataplane feeds
 * directly: CONSENSUS records through a consensus port of their own and the ids of the
 * messages the verify workers accepted through an id ring (dataplane/relay.h, cons_feed).
 * The control thread keeps discovery and RPC; it sees consensus only through the view the
 * consensus thread publishes (/chain/status) and the chain questions the RPC server asks it
 * (/messages/{id}, /chain/blocks/{height}).
 *
 * The genesis is --genesis FILE or DATA_DIR/genesis.toml; a key that is not in it is refused
 * at open. Messages go to the other validators' genesis addresses as one-record frames from
 * the node's UDP socket (a message larger than one record as numbered parts). A proposer
 * proposes as soon as the previous height is committed and it has ids to order, up to
 * [consensus] block_ids_max of them; with nothing to order it sends an empty block every
 * [consensus] empty_block_interval_ms, so a live chain is visible.
 *
 * Threads: all four functions on the main thread: open before the dataplane is set up (it
 * decides whether the dataplane feeds consensus), start after the dataplane and the control
 * thread run, stop before they stop, close last. A storage failure stops the node (SIGTERM
 * to itself) rather than risk signing twice.
 */
#ifndef ENG_VALIDATOR_H
#define ENG_VALIDATOR_H

#include <stddef.h>
#include <stdint.h>

struct eng_ctl;             /* engine/ctl.h */
struct eng_key;             /* engine/key.h */
struct eng_node_config;     /* engine/node_config.h */
struct dp_relay;            /* dataplane/relay.h */
struct eng_validator_state; /* engine/validator.c */

#define ENG_VALIDATOR_QUERY_MS 2000u          /* an RPC question waits this long at most */

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
 * Starts the consensus thread over `relay`'s consensus port and id ring (the relay was set up
 * with cons_feed), publishing to `ctl`, pinned after the dataplane's threads when --cores
 * lists cores. 0 or -errno.
 */
int eng_validator_start(struct eng_validator *v, struct eng_ctl *ctl,
                        const struct eng_node_config *cfg, struct dp_relay *relay);

/* Stops and joins the consensus thread. Idempotent. */
void eng_validator_stop(struct eng_validator *v);

/* Stops the thread if it runs, closes the data directory and frees the state. Idempotent. */
void eng_validator_close(struct eng_validator *v);

#endif
