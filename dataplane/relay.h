/*
 * relay: the dataplane of one node, assembled: backend + I/O thread + verify workers + the
 * control port. The node runtime (engine/node.c) is its only user:
 *
 *   dp_relay_init()   main thread: socket bound, every buffer and ring allocated
 *   dp_relay_start()  main thread: threads launched (pinned when cores are given)
 *   dp_relay_tick()   main thread, about once a second: the coarse clock the hot path reads
 *   dp_relay_stop()   main thread: threads woken and joined
 *   dp_relay_fini()   main thread: everything freed
 *
 * A validator's dataplane (params.cons_feed) also feeds its consensus thread: CONSENSUS records
 * through a port of their own and the ids of verified messages through an id ring. A relay
 * that follows the chain (params.follow) hands CONSENSUS records to its follower the same way
 * and takes final positions back through a ring, for FINAL records to its subscribers.
 *
 * With the node's key (params.ed_sk) gossip between dataplanes runs over authenticated peer
 * links (dataplane/linkio.h), fed with the identities the control thread learns.
 *
 * dp_relay_ctl_port() and dp_relay_stats() may be read from any thread between start and stop.
 */
#ifndef DP_RELAY_H
#define DP_RELAY_H

#include "dataplane/backend.h"
#include "dataplane/ctl_port.h"
#include "dataplane/idring.h"
#include "dataplane/io.h"
#include "dataplane/linkio.h"
#include "dataplane/stats.h"
#include "dataplane/verify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#define DP_RELAY_WORKERS_MAX 16
#define DP_RELAY_CORES_MAX 64
#define DP_RELAY_VERIFY_RING_SLOTS 8192
#define DP_RELAY_CONS_SLOTS 2048        /* consensus records queued for the consensus thread */
#define DP_RELAY_CONS_IDS (1u << 17)    /* verified ids queued for the consensus thread */
#define DP_RELAY_FINALS (1u << 16)      /* final positions queued for the I/O thread */

struct dp_relay_params {
    struct sockaddr_storage listen;
    socklen_t listen_len;
    struct sockaddr_storage peers[DP_FANOUT_PEERS_MAX];
    socklen_t peer_lens[DP_FANOUT_PEERS_MAX];
    uint32_t peer_count;
    uint32_t verify_workers;      /* 1..DP_RELAY_WORKERS_MAX (none run with skip_verify) */
    int cores[DP_RELAY_CORES_MAX]; /* I/O thread on cores[0], worker i on cores[1 + i] */
    uint32_t core_count;          /* 0: no pinning; fewer than threads: wraps around */
    int busy_poll;
    int skip_verify;
    uint32_t mtu;
    uint32_t subscribers_max;
    uint32_t sub_expiry_s;
    uint32_t dedup_entries;
    uint32_t dedup_window_s;
    int cons_feed;                /* validator: a consensus port and an id ring (see io.h) */
    int follow;                   /* chain follower: a consensus port and a finals ring */
    const uint8_t *ed_sk;         /* the node's key (64 bytes) for peer links; NULL: none */
    uint32_t reverify_sample;     /* with links: re-verify 1 in this many linked messages */
    uint32_t ban_s;               /* with links: a forging peer is cut off this long */
    uint32_t mesh_max;            /* with links: gossip to discovered nodes up to this many */
    uint32_t forge_every;         /* TESTS ONLY: forward 1 in N messages forged (0: never) */
};

struct dp_relay {
    struct dp_relay_params params;
    const struct dp_backend_ops *ops;
    struct dp_backend *be;
    struct dp_io *io;             /* cache-aligned, allocated */
    struct dp_stats_block *io_stats; /* the I/O thread's (and its backend's) counters */
    struct dp_stats_block *main_stats; /* written by dp_relay_tick() (main thread) */
    struct dp_verify_worker *workers;
    uint32_t worker_count;
    struct dp_ctl_port port;
    struct dp_ctl_port cons_port; /* with params.cons_feed */
    struct dp_idring cons_ids;    /* with params.cons_feed */
    struct dp_idring finals;      /* with params.follow: struct dp_final_item */
    struct dp_linkio *links;      /* with params.ed_sk: peer links, else NULL */
    struct dp_idring peer_keys;   /* with params.ed_sk: control thread -> I/O thread */
    struct dp_stats_set stats;
    pthread_t io_thread;
    pthread_t worker_threads[DP_RELAY_WORKERS_MAX];
    uint32_t threads_started;     /* workers started; the I/O thread counts once more */
    _Atomic int stop;
    _Atomic uint32_t clock_s;
    uint64_t start_ns;
};

/*
 * Binds the socket and allocates everything. 0 or -errno (-EADDRINUSE: port in use), with a
 * one-line reason in err[err_size]. On error nothing is left to free.
 */
int dp_relay_init(struct dp_relay *relay, const struct dp_relay_params *params, char *err,
                  size_t err_size);
/* Launches the threads and waits until the I/O thread runs. 0 or -errno (+ err line). */
int dp_relay_start(struct dp_relay *relay, char *err, size_t err_size);
/* Advances the coarse clock (seconds since init) and samples the socket's kernel drops. */
void dp_relay_tick(struct dp_relay *relay);
/* Stops and joins every thread. Idempotent. */
void dp_relay_stop(struct dp_relay *relay);
void dp_relay_fini(struct dp_relay *relay);

struct dp_ctl_port *dp_relay_ctl_port(struct dp_relay *relay);
/* With params.cons_feed or .follow: the port of CONSENSUS records; NULL otherwise. */
struct dp_ctl_port *dp_relay_cons_port(struct dp_relay *relay);
/* With params.cons_feed: the id ring to the consensus thread; NULL otherwise. */
struct dp_idring *dp_relay_cons_ids(struct dp_relay *relay);
/* With params.follow: the ring of final positions to the I/O thread; NULL otherwise. */
struct dp_idring *dp_relay_finals(struct dp_relay *relay);
/* With params.ed_sk: where the control thread pushes the identities it learns; else NULL. */
struct dp_idring *dp_relay_peer_keys(struct dp_relay *relay);
/* Any thread: wake the I/O thread (after pushing final positions). */
void dp_relay_wake_io(struct dp_relay *relay);
const struct dp_stats_set *dp_relay_stats(const struct dp_relay *relay);

#endif
