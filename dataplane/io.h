/*
 * io: the I/O thread: receive, parse, de-duplicate, hand to verify workers, fan out, send.
 *
 * One loop (dp_io_main_loop), one iteration at a time:
 *   1. drain the workers' result rings: fan out the good messages, free every slot;
 *   2. take a burst of datagrams from the backend; for each frame: drop malformed ones
 *      (counted per reason), and per record: user message -> de-dup -> verify queue (or
 *      straight to fan-out with --bench-skip-verify); subscribe -> subscriber table + ack;
 *      discovery -> control port; consensus -> the consensus port when the node is a
 *      validator (the control port otherwise);
 *   3. hand the per-worker batches over, close frames, submit every send in one go.
 * On a validator, the id of every message a worker accepted goes to the consensus thread's id
 * ring as well (dataplane/idring.h); one eventfd signal per iteration wakes that thread. On a
 * relay that follows the chain, the I/O thread remembers which target each delivered message
 * had (dataplane/deliv.h) and turns the final positions the follower sends it (a ring of
 * struct dp_final_item) into FINAL records for the subscribers of those targets.
 * With peer links (dataplane/linkio.h) a datagram whose first byte is a link type is opened
 * (or answers a handshake); the frame inside is handled as any other, but its messages skip
 * the signature check except a random sample, and a peer whose sample fails is banned.
 * When an iteration finds nothing to do it counts; past a threshold (adaptive polling) it
 * sleeps in the backend until a datagram, a worker's result or a stop request arrives.
 *
 * Everything here is preallocated by dp_io_init; the thread seals its allocator on entry.
 */
#ifndef DP_IO_H
#define DP_IO_H

#include "dataplane/backend.h"
#include "dataplane/ctl_port.h"
#include "dataplane/dedup.h"
#include "dataplane/deliv.h"
#include "dataplane/fanout.h"
#include "dataplane/idring.h"
#include "dataplane/linkio.h"
#include "dataplane/stats.h"
#include "dataplane/verify.h"

#include <stdatomic.h>
#include <stdint.h>

#define DP_IO_VERIFY_BATCH 32
#define DP_IO_PENDING_MAX 1024
#define DP_IO_IDS_BATCH 64
#define DP_IO_FINALS_BATCH 256
#define DP_IO_FINALS_PASSES 16 /* batches of final positions per loop iteration at most */
#define DP_IO_FINAL_BLOCKS 256 /* heights whose hash a late message can still be told */

/* The hash of a recent final block, for messages that arrive after their position. */
struct dp_io_final_block {
    uint64_t height;
    uint8_t hash[DP_WIRE_HASH_BYTES];
};

/* One message that became final, as a chain follower tells the I/O thread (idring items). */
struct dp_final_item {
    uint8_t id[DP_WIRE_ID_BYTES];
    uint8_t block_hash[DP_WIRE_HASH_BYTES];
    uint64_t height;
    uint32_t index;
    uint32_t reserved;
};

/* A parsed message of the current receive burst, waiting for its de-dup lookup. */
struct dp_io_pending {
    struct dp_wire_msg msg; /* points into the receive buffer */
    uint64_t hash;
    int src_peer;
    int link_peer;          /* came over this peer link (verified where it entered); -1 */
};

struct dp_io {
    const struct dp_backend_ops *ops;
    struct dp_backend *be;
    struct dp_stats_block *stats; /* the I/O thread's counters (shared with the backend) */
    struct dp_dedup dedup;
    struct dp_fanout fanout;
    struct dp_ctl_port *port;
    struct dp_ctl_port *cons_port;   /* validators: CONSENSUS records; NULL on relays */
    struct dp_idring *cons_ids;      /* validators: verified message ids; NULL on relays */
    uint8_t ids[DP_IO_IDS_BATCH][DP_IDRING_ID_BYTES]; /* ids waiting for one burst push */
    uint32_t ids_count;
    struct dp_idring *finals;        /* chain follower -> I/O thread; NULL: not following */
    struct dp_linkio *links;         /* peer links; NULL: every peer is plain (and verified) */
    uint32_t forge_every;            /* TESTS ONLY: 1 in N fanned out with a broken signature */
    uint32_t forge_count;
    uint8_t forged[DP_WIRE_MSG_BYTES_MAX];
    struct dp_deliv deliv;           /* with finals: delivered messages x final positions */
    struct dp_io_final_block final_blocks[DP_IO_FINAL_BLOCKS]; /* by height % size */
    int skip_verify;
    int busy_poll;
    const _Atomic int *stop;
    _Alignas(DP_CACHE_LINE) _Atomic int sleeping;
    /* verify path */
    struct dp_verify_worker *workers;
    uint32_t worker_count;
    uint32_t next_worker;
    struct dp_msg *msgs;      /* the pool */
    struct dp_msg **free;     /* free slots (a stack) */
    uint32_t free_count;
    uint32_t msg_count;
    struct dp_msg *batch[DP_FANOUT_PEERS_MAX][DP_IO_VERIFY_BATCH];
    uint32_t batch_len[DP_FANOUT_PEERS_MAX];
    /* the burst's messages: hashed and prefetched first, looked up after */
    struct dp_io_pending pending[DP_IO_PENDING_MAX];
    uint32_t pending_count;
    /* clock: seconds since start, kept by the main thread (no clock calls on the hot path) */
    const _Atomic uint32_t *clock_s;
    uint32_t now_s;
    uint32_t last_sweep_s;
    int init_rc;              /* the backend's thread_init result, for the main thread */
    _Atomic int ready;        /* 1: running, -1: failed to start */
};

struct dp_io_conf {
    const struct dp_backend_ops *ops;
    struct dp_backend *be;
    struct dp_ctl_port *port;
    struct dp_ctl_port *cons_port;   /* NULL: consensus records go to `port` */
    struct dp_idring *cons_ids;      /* NULL: no id feed */
    struct dp_idring *finals;        /* NULL: not following the chain */
    struct dp_linkio *links;         /* NULL: no peer links */
    uint32_t forge_every;            /* TESTS ONLY (0: never) */
    struct dp_stats_block *stats;
    struct dp_verify_worker *workers;
    uint32_t worker_count;    /* <= DP_FANOUT_PEERS_MAX */
    uint32_t msg_count;       /* pool slots */
    int skip_verify;
    int busy_poll;
    const _Atomic int *stop;
    const _Atomic uint32_t *clock_s;
    uint32_t mtu;
    uint32_t subs_max;
    uint32_t sub_expiry_s;
    uint32_t dedup_entries;
    uint32_t dedup_window_s;
};

/* Main thread. 0, -EINVAL or -ENOMEM. */
int dp_io_init(struct dp_io *io, const struct dp_io_conf *conf);
void dp_io_fini(struct dp_io *io);
/* The I/O thread's loop; returns when *stop is set and the thread was woken. */
void dp_io_main_loop(struct dp_io *io);
/*
 * I/O thread (and the fuzzer): received datagrams through parse, de-dup, subscribe and the
 * control port; messages go to the verify batches (or to fan-out with skip_verify). Two
 * passes: parse and hash every message of the burst (prefetching its de-dup bucket), then
 * look them up. The datagrams must stay valid until it returns; nothing is sent until the
 * loop's flush.
 */
void dp_io_process(struct dp_io *io, const struct dp_rx_pkt *pkts, uint32_t count);
/* Any thread: wake a sleeping I/O thread (used by workers and on stop). */
void dp_io_wake(void *io);

#endif
