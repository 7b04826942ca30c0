/*
 * ctl: the control thread. It runs Kademlia discovery (engine/kad.h) over signed node records
 * (engine/noderec.h), liveness pings that measure round-trip time, peer health, the peers file
 * in the data directory, and it starts the RPC server thread (engine/rpc.h). It publishes a
 * snapshot of the peer table that the RPC thread reads; it never touches hot-path state.
 *
 * The node's main thread calls eng_ctl_start() once after the dataplane is up and
 * eng_ctl_stop() once on shutdown; everything else runs on the control thread
 * (eng_ctl_main_loop(), which calls eng_ctl_cron() at a fixed rate) and the RPC thread.
 *
 * Discovery datagrams reach the control thread through the dataplane's control port
 * (dataplane/ctl_port.h: an SPSC ring of DISCOVERY/CONSENSUS records with their source address
 * and an eventfd); the control thread sends its own frames with sendto() on the node's UDP
 * socket, so a node is reached at its one --listen address for everything. Without a
 * dataplane (tests), eng_ctl_start_params() with `udp_fd` = -1 binds the listen address itself.
 */
#ifndef ENG_CTL_H
#define ENG_CTL_H

#include "engine/key.h"
#include "engine/rpc.h"

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

struct eng_node_config; /* engine/node_config.h */
struct dp_ctl_port;     /* dataplane/ctl_port.h */
struct dp_idring;       /* dataplane/idring.h */
struct eng_ctl_state;   /* engine/ctl.c */

#define ENG_CTL_BOOTSTRAP_MAX 64
#define ENG_CTL_PATH_MAX 1024
#define ENG_CTL_ADDR_TEXT_MAX 256
#define ENG_CTL_TICK_MS 100 /* eng_ctl_cron() period */

/* Everything the control thread needs, independent of the config structure. */
struct eng_ctl_params {
    struct eng_key key;
    uint8_t role;                          /* ENG_NODEREC_ROLE_* (engine/noderec.h) */
    struct sockaddr_storage listen;        /* the node's one UDP address */
    socklen_t listen_len;
    struct sockaddr_storage rpc;           /* RPC server address */
    socklen_t rpc_len;                     /* 0 = no RPC server */
    char data_dir[ENG_CTL_PATH_MAX];       /* "" = nothing saved or loaded */
    struct sockaddr_storage bootstrap[ENG_CTL_BOOTSTRAP_MAX];
    socklen_t bootstrap_len[ENG_CTL_BOOTSTRAP_MAX];
    uint32_t bootstrap_count;              /* 0 = start alone (or from saved peers) */
    /* As the operator wrote them ("" = use the address as is): names are resolved again
     * each time an unanswered bootstrap address is retried. */
    char bootstrap_text[ENG_CTL_BOOTSTRAP_MAX][ENG_CTL_ADDR_TEXT_MAX];
    uint32_t peer_check_interval_ms;       /* liveness ping period; 3 missed = disconnected */
    int udp_fd;                            /* the node's socket; -1 = bind `listen` here */
    struct dp_ctl_port *port;              /* where received records arrive; NULL with -1 */
    /* Where every identity learnt from a verified node record goes, for the dataplane's peer
     * links (struct dp_peer_key items, dataplane/linkio.h); NULL: nowhere. */
    struct dp_idring *peer_keys;
};

struct eng_ctl {
    struct eng_ctl_state *state; /* allocated by eng_ctl_start*(), freed by eng_ctl_stop() */
};

/*
 * Starts the control thread and the RPC server from the node's config and the dataplane's
 * control port. 0, or a negative errno / DC_E* code after logging one clear line (bad
 * bootstrap address, RPC port in use, unreadable data directory, ...); nothing keeps running
 * after an error. Call eng_ctl_stop() after a successful start.
 */
int eng_ctl_start(struct eng_ctl *ctl, const struct eng_node_config *cfg,
                  const struct eng_key *key, struct dp_ctl_port *port,
                  struct dp_idring *peer_keys);

/*
 * The parameters eng_ctl_start() would use: the node's own key (the one the node loaded or
 * generated, so discovery and the dataplane speak for one identity), role, addresses, data
 * directory, bootstrap list and interval. Cannot fail.
 */
void eng_ctl_params_from_config(struct eng_ctl_params *p, const struct eng_node_config *cfg,
                                const struct eng_key *key, struct dp_ctl_port *port);

/* Same, from explicit parameters (tests, and nodes built without the dataplane). */
int eng_ctl_start_params(struct eng_ctl *ctl, const struct eng_ctl_params *params);

/* The RPC server's address after start (its port, when 0 was asked for). 0 or DC_ENOTFOUND. */
int eng_ctl_rpc_port(const struct eng_ctl *ctl, uint16_t *port_out);

/* The UDP address the node is reached at (after start: the real port when 0 was asked). */
int eng_ctl_listen_addr(const struct eng_ctl *ctl, struct sockaddr_storage *out,
                        socklen_t *len_out);
/* Connected peers and known nodes (itself included) as last published. Any thread. */
void eng_ctl_peer_counts(const struct eng_ctl *ctl, uint32_t *connected, uint32_t *known);
/* The consensus integration publishes the committed head here (served by /chain/status). */
void eng_ctl_set_chain(struct eng_ctl *ctl, const struct eng_rpc_chain *chain);
/* The consensus integration publishes its counters here (served by /metrics). Any thread. */
void eng_ctl_set_consensus(struct eng_ctl *ctl, const struct eng_rpc_consensus *cons);
void eng_ctl_set_follow(struct eng_ctl *ctl, const struct eng_rpc_follow *follow);
/* The consensus integration answers the RPC server's chain questions (NULL: no more). */
void eng_ctl_set_chain_source(struct eng_ctl *ctl, const struct eng_rpc_chain_source *src);

/*
 * The control thread's loop (poll the control port and a stop eventfd) and the housekeeping
 * it runs every 100 ms. Internal to ctl.c; declared here so a reader finds the loop.
 */
void eng_ctl_main_loop(struct eng_ctl_state *s);
void eng_ctl_cron(struct eng_ctl_state *s, uint64_t now_ms);

/* Stops and joins both threads, saves the peers file, frees the state. Idempotent. */
void eng_ctl_stop(struct eng_ctl *ctl);

#endif
