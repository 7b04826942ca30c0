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

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

struct eng_node_config; /* engine/node_config.h */
struct dp_ctl_port;     /* dataplane/ctl_port.h */
struct eng_ctl_state;   /* engine/ctl.c */

#define ENG_CTL_BOOTSTRAP_MAX 16
#define ENG_CTL_ADDR_MAX 4 /* addresses in our own node record */

/* Everything the control thread needs, independent of the config structure. */
struct eng_ctl_params {
    struct eng_key key;
    uint8_t role;                          /* ENG_NODEREC_ROLE_* (engine/noderec.h) */
    struct sockaddr_storage listen;        /* the node's one UDP address */
    const char *rpc_listen;                /* "HOST:PORT"; NULL or "" = no RPC server */
    const char *data_dir;                  /* NULL or "" = nothing saved */
    const char *bootstrap;                 /* "host:port,..." ("" = start alone) */
    uint32_t peer_check_interval_ms;       /* liveness ping period; 3 missed = disconnected */
    int udp_fd;                            /* the node's socket; -1 = bind `listen` here */
    struct dp_ctl_port *port;              /* where received records arrive; NULL with -1 */
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
                  struct dp_ctl_port *port);

/* Same, from explicit parameters (tests, and nodes built without the dataplane). */
int eng_ctl_start_params(struct eng_ctl *ctl, const struct eng_ctl_params *params);

/* Stops and joins both threads, saves the peers file, frees the state. Idempotent. */
void eng_ctl_stop(struct eng_ctl *ctl);

#endif
