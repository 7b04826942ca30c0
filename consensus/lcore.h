/*
 * cons_lcore: the consensus thread of a validator node.
 *
 * One thread owns the state machine (consensus/machine.h), the data directory
 * (consensus/datadir.h) and the map of final positions (consensus/posindex.h). Its loop,
 * cons_main_loop(), takes three inputs and nothing else:
 *
 *   - CONSENSUS records from the dataplane's consensus port (an SPSC ring of its own, so
 *     consensus never queues behind discovery on the control thread);
 *   - the ids of messages the dataplane's verify workers accepted, from an id ring
 *     (dataplane/idring.h), straight into the mempool; a tick follows at once, so a waiting
 *     proposer proposes as soon as there is something to order;
 *   - time: the machine's tick is one millisecond of CLOCK_MONOTONIC, and the thread sleeps
 *     (poll on two eventfds) until the machine's next SCHEDULE deadline or new input.
 *
 * Actions are carried out by consensus/exec.h in the order datadir.h requires (persist, one
 * sync before any send, commit); a storage failure stops the node (SIGTERM to itself)
 * rather than sign on.
 * After a change the thread publishes a view (height, hash, validators heard from, ids
 * ordered) through a callback that must not block for long (the RPC server's setter), and,
 * at most every CONS_LCORE_COUNTERS_MS and only when one changed, a copy of its counters
 * (struct cons_lcore_counters) through a second one: other threads never read them live.
 *
 * Other threads ask questions through a one-slot mailbox (consensus/mailbox.h):
 * cons_lcore_query_id() (status and final position of a message id) and
 * cons_lcore_query_block() (a committed block with its certificate). The caller blocks until
 * the consensus thread answers (it looks once per loop pass) or the timeout passes; the
 * consensus thread never blocks on a caller and never takes a lock.
 *
 * Relays that hold the genesis follow the chain (consensus/followmsg.h, consensus/follow.h):
 * a FOLLOW with a valid address cookie makes its sender a follower for 30 s, and every block
 * committed from then on goes to each follower as a SYNC_BLOCK message.
 *
 * Threads: init/start/stop/fini on the main thread; cons_main_loop() on the consensus thread
 * started by cons_lcore_start(); the queries from any other thread.
 */
#ifndef CONS_LCORE_H
#define CONS_LCORE_H

#include "consensus/datadir.h"
#include "consensus/exec.h"
#include "consensus/machine.h"
#include "consensus/mailbox.h"
#include "consensus/posindex.h"
#include "consensus/transport.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

struct dp_ctl_port; /* dataplane/ctl_port.h */
struct dp_idring;   /* dataplane/idring.h */

#define CONS_LCORE_IDS_PER_PASS 16384u   /* ids taken into the mempool per loop pass */
#define CONS_LCORE_RECORDS_PER_PASS 256u /* consensus records handled per loop pass */
#define CONS_LCORE_ONLINE_MS 5000u       /* a validator heard from within this is online */
#define CONS_LCORE_SYNC_BLOCKS_MAX 16u   /* blocks sent per sync request */
#define CONS_LCORE_POSITIONS 262144u     /* final positions remembered for queries */
#define CONS_LCORE_SLEEP_MS_MAX 1000u
#define CONS_LCORE_FOLLOWERS_MAX 64u     /* relays following this validator */
#define CONS_LCORE_FOLLOW_EXPIRY_MS 30000u /* a follower that stops asking is dropped */
#define CONS_LCORE_COOKIE_EPOCH_MS 30000u /* cookies are valid for this epoch and the last */
#define CONS_LCORE_COUNTERS_MS 100u      /* counters are published at most this often */
#define CONS_LCORE_MSG_KINDS 8u          /* counters by enum cons_msg_kind (0: unused) */
#define CONS_LCORE_HISTO_BUCKETS 12u

/* Upper bounds of the histograms' buckets, microseconds (the last bucket: +Inf). */
extern const uint64_t cons_lcore_commit_bounds_us[CONS_LCORE_HISTO_BUCKETS];
extern const uint64_t cons_lcore_wal_sync_bounds_us[CONS_LCORE_HISTO_BUCKETS];

/* A fixed-bucket histogram that only the consensus thread writes (published by copy). */
struct cons_lcore_histo {
    uint64_t bucket[CONS_LCORE_HISTO_BUCKETS + 1]; /* not cumulative; last: +Inf */
    uint64_t count;
    uint64_t sum_us;
};

/* What the consensus thread publishes after every change. */
struct cons_lcore_view {
    uint64_t height;
    uint8_t hash[CONS_HASH_BYTES];
    uint32_t validators;
    uint32_t online_validators;    /* ourselves + those whose messages passed, recently */
    uint64_t messages_ordered;     /* ids in every committed block (the same on every node) */
    uint64_t ids_received;         /* verified ids taken into the mempool */
    uint64_t ids_refused;          /* already pending or committed, or the mempool full */
    uint32_t mempool_pending;
};

/* The consensus thread's counters as published: a copy, consistent at one moment. */
struct cons_lcore_counters {
    uint64_t height;
    uint32_t round;                /* of the height being decided */
    uint32_t mempool_pending;
    uint32_t followers;            /* relays following now */
    uint64_t messages_ordered;     /* ids in every committed block */
    uint64_t ids_received;         /* verified ids taken into the mempool */
    uint64_t ids_refused_duplicate; /* already pending or committed recently */
    uint64_t ids_refused_full;     /* the mempool full (its full_refusals) */
    uint64_t msgs_in[CONS_LCORE_MSG_KINDS]; /* decoded messages by kind */
    uint64_t bad_msgs;             /* undecodable messages and follow requests */
    uint64_t follow_refused;
    uint64_t follower_blocks;      /* blocks sent to followers */
    uint64_t store_syncs;          /* block store syncs (one per commit) */
    uint64_t store_bytes;          /* the block store on disk: segments and pruned headers */
    uint64_t store_oldest;         /* the oldest height stored whole */
    uint64_t wal_bytes;            /* the vote WAL on disk */
    struct cons_stats machine;
    struct cons_transport_stats transport;
    struct cons_frag_stats frag;
    struct cons_lcore_histo commit_latency; /* start of a height to its commit, ms clock */
    struct cons_lcore_histo wal_sync;       /* each vote WAL sync before a send */
};

struct cons_lcore_params {
    struct cons_datadir *dd;       /* opened; the machine resumed from it */
    struct cons_machine *m;        /* initialised over dd->valset, resumed, not begun */
    struct dp_ctl_port *port;      /* CONSENSUS records in; sends out on the node's socket */
    struct dp_idring *ids;         /* verified message ids; NULL: blocks stay empty */
    uint32_t self;
    uint32_t count;                /* validators */
    struct sockaddr_storage addrs[CONS_VALIDATORS_MAX]; /* each validator's address */
    socklen_t addr_lens[CONS_VALIDATORS_MAX];
    int core;                      /* pin the thread here; -1: no pinning */
    void (*publish)(void *arg, const struct cons_lcore_view *view);
    void *publish_arg;
    /* Counters (NULL: not published); called on the consensus thread, with publish_arg. */
    void (*publish_counters)(void *arg, const struct cons_lcore_counters *counters);
};

struct cons_lcore_peer {
    uint64_t heard_ms;             /* 0: never */
};

/* A relay that follows the chain (consensus/followmsg.h): it gets every committed block. */
struct cons_lcore_follower {
    struct sockaddr_storage sa;
    socklen_t len;
    uint64_t expires_ms;           /* 0: free slot */
    uint64_t served_ms;            /* the last catch-up range sent to it */
};

struct cons_lcore {
    struct cons_lcore_params p;
    struct cons_actions *out;
    struct cons_exec exec;         /* carries out->items against p.dd (consensus/exec.h) */
    struct cons_block rx_block;    /* decode storage for received messages */
    struct cons_cert rx_cert;
    uint8_t body[64];              /* one small record (a follow cookie) */
    struct cons_transport net;     /* messages whole or as parts */
    int net_init;
    struct dp_ctl_msg *rx;         /* one received record */
    struct cons_posindex positions;
    void *positions_mem;
    struct cons_lcore_peer peers[CONS_VALIDATORS_MAX];
    struct cons_lcore_view view;   /* last published */
    uint64_t next_tick;            /* the machine's last SCHEDULE deadline */
    uint64_t last_now;
    int wake_fd;                   /* eventfd: stop or a query */
    int failed;                    /* storage failed: nothing more is done */
    int started;
    pthread_t thread;
    _Atomic int stop;
    struct cons_mailbox mail;
    struct cons_lcore_follower followers[CONS_LCORE_FOLLOWERS_MAX];
    uint8_t cookie_key[32];        /* keys the followers' address cookies */
    /* counters, read at exit (and by the view) */
    uint64_t ids_received;
    uint64_t ids_refused;
    uint64_t ids_committed;
    uint64_t bad_msgs;

    uint64_t follow_refused;       /* FOLLOW without a valid cookie, or the table full */
    uint64_t msgs_in[CONS_LCORE_MSG_KINDS];
    uint64_t follower_blocks;
    uint64_t height_start_ms;      /* when the height being decided began here */
    uint64_t sync_applied_seen;    /* the machine's sync_applied at the last commit */
    struct cons_lcore_histo commit_latency;
    struct cons_lcore_histo wal_sync;
    uint64_t wal_sync_start_us;    /* when the WAL sync under way began */
    struct cons_lcore_counters counters; /* last published */
    uint64_t counters_ms;          /* when they were last looked at */
};

/* Main thread: allocates everything. 0 or -ENOMEM / -errno. */
int cons_lcore_init(struct cons_lcore *l, const struct cons_lcore_params *params);
/* Main thread: starts the consensus thread (pinned when p.core >= 0). 0 or -errno. */
int cons_lcore_start(struct cons_lcore *l);
/* Main thread: stops and joins the thread. Idempotent. */
void cons_lcore_stop(struct cons_lcore *l);
/* Main thread, after stop: frees everything (not the machine or the data directory). */
void cons_lcore_fini(struct cons_lcore *l);

/* The consensus thread's loop; returns after cons_lcore_stop() (or a storage failure). */
void cons_main_loop(struct cons_lcore *l);

/*
 * Any thread but the consensus thread: what the chain knows of message `id`.
 * 0 with `out` filled, or -ETIMEDOUT when the consensus thread did not answer within
 * `timeout_ms` (it is busy or stopped).
 */
int cons_lcore_query_id(struct cons_lcore *l, const uint8_t id[CONS_ID_BYTES],
                        uint32_t timeout_ms, struct cons_id_answer *out);
/*
 * Any thread but the consensus thread: the committed block at `height` and its certificate,
 * copied into `block` (ids storage for CONS_BLOCK_IDS_MAX ids) and `cert`.
 * 0, DC_ENOTFOUND (not committed here), -ETIMEDOUT or a block store read error.
 */
int cons_lcore_query_block(struct cons_lcore *l, uint64_t height, uint32_t timeout_ms,
                           struct cons_block *block, struct cons_cert *cert);

#endif
