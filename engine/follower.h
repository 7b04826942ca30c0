/*
 * follower: a relay's view of the chain, assembled (consensus/follow.h does the work).
 *
 * A relay given a genesis (--genesis FILE, or DATA_DIR/genesis.toml) follows the chain its
 * validators commit: it verifies each block's certificate against the genesis validators,
 * tells its subscribers which of their messages became final (FINAL records), answers
 * GET /messages/{id} and shows the chain's head in /chain/status. Without a genesis a relay
 * relays, and those endpoints say it does not follow the chain.
 *
 * Threads: all four functions on the main thread: open before the dataplane is set up (it
 * decides whether the dataplane keeps a finals ring), start after the dataplane and the
 * control thread run, stop before they stop, close last.
 */
#ifndef ENG_FOLLOWER_H
#define ENG_FOLLOWER_H

#include <stddef.h>

struct eng_ctl;            /* engine/ctl.h */
struct eng_node_config;    /* engine/node_config.h */
struct dp_relay;           /* dataplane/relay.h */
struct eng_follower_state; /* engine/follower.c */

#define ENG_FOLLOWER_QUERY_MS 2000u

struct eng_follower {
    struct eng_follower_state *state; /* allocated by open when there is a genesis */
};

/*
 * Loads the genesis named by the config (--genesis, else DATA_DIR/genesis.toml when it
 * exists). No genesis: 0 and f->state stays NULL. Otherwise 0, or an error with one line in
 * `err` (the genesis does not load, a validator address does not resolve).
 */
int eng_follower_open(struct eng_follower *f, const struct eng_node_config *cfg, char *err,
                      size_t err_size);
/* Starts the follower thread over the relay's consensus port and finals ring. 0 or -errno. */
int eng_follower_start(struct eng_follower *f, struct eng_ctl *ctl, struct dp_relay *relay);
void eng_follower_stop(struct eng_follower *f);
void eng_follower_close(struct eng_follower *f);

#endif
