/*
 * rpc: the node's HTTP/JSON API and Prometheus metrics (libmicrohttpd + cJSON), on its own
 * thread (libmicrohttpd's internal polling thread), bound to 127.0.0.1 unless configured.
 *
 *   GET /network/peers  connected_peers, known_peers (itself included), peers[]
 *   GET /chain/status   height, hash, role, validators, online_validators
 *   GET /health         200 + JSON summary, or 503 + reason
 *   GET /metrics        Prometheus text format: dataplane, discovery, RPC, and consensus on
 *                       validators (dchat_consensus_*) and following relays (dchat_follow_*)
 *   GET /node/info      id, role, version, addresses, uptime
 *   GET /messages/{id}  a message id's status (pending, final, unknown) and final position
 *   GET /chain/blocks/{height}  a committed block: hash, ordered ids, certificate
 * The last two need a chain source (a validator's consensus thread); without one they
 * answer 503 with the reason.
 * Anything else: 404 (JSON error); a known path with another method: 405; a request body over
 * ENG_RPC_BODY_BYTES_MAX: 413. Connections are limited in number, size and idle time, so no
 * client can exhaust the node.
 *
 * The RPC thread never reads live state: the control thread publishes a view
 * (eng_rpc_publish()), the consensus integration publishes the chain (eng_rpc_set_chain())
 * and copies of its counters (eng_rpc_set_consensus(), eng_rpc_set_follow()), and the other
 * counters are atomics. Both setters take a mutex that the RPC thread holds only while
 * copying; any thread may call them. eng_rpc_start/stop: the thread that owns the node.
 */
#ifndef ENG_RPC_H
#define ENG_RPC_H

#include "engine/noderec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

struct dp_ctl_port;
struct MHD_Daemon;
struct cons_block; /* consensus/block.h */
struct cons_cert;  /* consensus/cert.h */

#define ENG_RPC_PEERS_MAX 4096 /* = ENG_KAD_BUCKETS * ENG_KAD_K */
#define ENG_RPC_BODY_BYTES_MAX 4096
#define ENG_RPC_CONNECTIONS_MAX 64
#define ENG_RPC_IDLE_TIMEOUT_S 5
#define ENG_RPC_ADDR_TEXT_MAX 64

/* Fixed-bucket histogram, written by one thread, read by the RPC thread. */
#define ENG_HISTO_BUCKETS 12
struct eng_histo {
    const double *bounds; /* ENG_HISTO_BUCKETS upper bounds, seconds */
    _Atomic uint64_t bucket[ENG_HISTO_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
};
void eng_histo_init(struct eng_histo *h, const double *bounds);
void eng_histo_observe_us(struct eng_histo *h, uint64_t us);
/* Set `h` to a histogram counted elsewhere: ENG_HISTO_BUCKETS + 1 buckets, not cumulative. */
void eng_histo_load(struct eng_histo *h, const double *bounds, const uint64_t *buckets,
                    uint64_t sum_us);

/* Discovery counters, written by the control thread. */
enum eng_disc_stat {
    ENG_DISC_STAT_RX,            /* discovery records received */
    ENG_DISC_STAT_RX_PING,
    ENG_DISC_STAT_RX_PONG,
    ENG_DISC_STAT_RX_FIND,
    ENG_DISC_STAT_RX_NODES,
    ENG_DISC_STAT_TX,            /* discovery datagrams sent */
    ENG_DISC_STAT_TX_ERRORS,
    ENG_DISC_STAT_BAD_MALFORMED, /* does not parse */
    ENG_DISC_STAT_BAD_SIGNATURE, /* unsigned or forged record */
    ENG_DISC_STAT_STALE_RECORD,  /* older than the one held: a replay */
    ENG_DISC_STAT_CONFLICT_RECORD, /* same sequence number, different contents */
    ENG_DISC_STAT_UNSOLICITED,   /* PONG / NODES that match no nonce we sent */
    ENG_DISC_STAT_TABLE_FULL,    /* node not added: its bucket is full of live peers */
    ENG_DISC_STAT_LOOKUPS,       /* iterative lookups started */
    ENG_DISC_STAT_PEERS_DISCONNECTED, /* connected -> disconnected transitions */
    ENG_DISC_STAT_PEERS_DROPPED, /* forgotten after a long silence */
    ENG_DISC_STAT_CONSENSUS_UNHANDLED, /* consensus records at a node without a chain */
    ENG_DISC_STAT_COUNT,
};

struct eng_disc_stats {
    _Atomic uint64_t v[ENG_DISC_STAT_COUNT];
    struct eng_histo rtt; /* ping round trips */
};
void eng_disc_stats_init(struct eng_disc_stats *s);
static inline void eng_disc_stats_inc(struct eng_disc_stats *s, enum eng_disc_stat which)
{
    atomic_fetch_add_explicit(&s->v[which], 1, memory_order_relaxed);
}

/* One peer as the RPC shows it. */
struct eng_rpc_peer {
    char id[2 * ENG_NODEREC_ID_BYTES + 1];
    char address[ENG_RPC_ADDR_TEXT_MAX];
    uint32_t latency_ms;
    uint8_t role;
    uint8_t connected;
};

/* What the control thread publishes. */
struct eng_rpc_view {
    char id[2 * ENG_NODEREC_ID_BYTES + 1];
    uint8_t role;
    char address[ENG_RPC_ADDR_TEXT_MAX];
    uint64_t record_seq;
    uint32_t connected_peers;
    uint32_t known_peers;     /* itself included */
    double messages_per_s;    /* user messages received per second, last interval */
    uint64_t published_ms;    /* monotonic; /health reports a stalled control thread */
    uint32_t peer_count;
    struct eng_rpc_peer *peers; /* ENG_RPC_PEERS_MAX, allocated by the owner */
};

/* The chain as consensus publishes it; zeros and an empty hash until consensus is wired. */
struct eng_rpc_chain {
    uint64_t height;
    uint8_t hash[32];
    uint8_t has_hash;
    uint8_t has_chain_api;          /* messages_ordered and mempool_pending are meaningful */
    uint32_t validators;
    uint32_t online_validators;
    uint64_t messages_ordered;      /* ids in every committed block of the chain */
    uint32_t mempool_pending;
};

/* A validator's consensus counters (dchat_consensus_*_total), in /metrics order. */
enum eng_cons_stat {
    ENG_CONS_STAT_ROUNDS_STARTED,
    ENG_CONS_STAT_COMMITS,
    ENG_CONS_STAT_MSGS_PROPOSAL,      /* decoded messages, by kind */
    ENG_CONS_STAT_MSGS_VOTE,
    ENG_CONS_STAT_MSGS_SYNC_REQUEST,
    ENG_CONS_STAT_MSGS_SYNC_BLOCK,
    ENG_CONS_STAT_DROP_UNDECODABLE,   /* dropped messages, by reason */
    ENG_CONS_STAT_DROP_MALFORMED,
    ENG_CONS_STAT_DROP_MEMBER,
    ENG_CONS_STAT_DROP_SIGNATURE,
    ENG_CONS_STAT_DROP_STALE,
    ENG_CONS_STAT_DROP_FUTURE,
    ENG_CONS_STAT_DROP_DUPLICATE,
    ENG_CONS_STAT_EQUIVOCATIONS,
    ENG_CONS_STAT_INVALID_PROPOSALS,
    ENG_CONS_STAT_SYNC_REQUESTS,
    ENG_CONS_STAT_SYNC_APPLIED,
    ENG_CONS_STAT_SIGNS,
    ENG_CONS_STAT_VERIFIES,
    ENG_CONS_STAT_IDS_RECEIVED,
    ENG_CONS_STAT_IDS_REFUSED_DUPLICATE,
    ENG_CONS_STAT_IDS_REFUSED_FULL,
    ENG_CONS_STAT_IDS_ORDERED,
    ENG_CONS_STAT_STORE_SYNCS,
    ENG_CONS_STAT_SEND_ERRORS,
    ENG_CONS_STAT_TOO_BIG,
    ENG_CONS_STAT_PARTS_SENT,
    ENG_CONS_STAT_PARTS_FOREIGN,
    ENG_CONS_STAT_PART_ANSWERS_LIMITED,
    ENG_CONS_STAT_PARTS_IN,
    ENG_CONS_STAT_PARTS_ACCEPTED,
    ENG_CONS_STAT_PARTS_DUPLICATE,    /* refused parts, by reason */
    ENG_CONS_STAT_PARTS_MALFORMED,
    ENG_CONS_STAT_PARTS_CONFLICT,
    ENG_CONS_STAT_PARTED_COMPLETE,
    ENG_CONS_STAT_PARTED_ROOT_MISMATCH,
    ENG_CONS_STAT_PARTED_EVICTED,
    ENG_CONS_STAT_PARTED_SENT,
    ENG_CONS_STAT_PARTED_RESENT,
    ENG_CONS_STAT_PART_REQUESTS_OUT,
    ENG_CONS_STAT_PART_REQUESTS_IN,
    ENG_CONS_STAT_PART_REQUESTS_BAD,
    ENG_CONS_STAT_PART_REQUESTS_UNKNOWN,
    ENG_CONS_STAT_PART_REQUESTS_ANSWERED,
    ENG_CONS_STAT_FOLLOWER_BLOCKS,
    ENG_CONS_STAT_FOLLOW_REFUSED,
    ENG_CONS_STAT_COUNT,
};

/* What a validator's consensus thread publishes for /metrics (a copy; has = 0: none). */
struct eng_rpc_consensus {
    uint8_t has;
    uint64_t height;
    uint32_t round;
    uint32_t mempool_pending;
    uint32_t followers;
    uint64_t store_bytes;
    uint64_t store_oldest;
    uint64_t wal_bytes;
    uint64_t v[ENG_CONS_STAT_COUNT];
    struct eng_histo commit_latency;
    struct eng_histo wal_sync;
};

/* A following relay's counters (dchat_follow_*_total), in /metrics order. */
enum eng_follow_stat {
    ENG_FOLLOW_STAT_BLOCKS_ACCEPTED,
    ENG_FOLLOW_STAT_BLOCKS_REFUSED,
    ENG_FOLLOW_STAT_BLOCKS_OUT_OF_ORDER,
    ENG_FOLLOW_STAT_FINALS_DROPPED,
    ENG_FOLLOW_STAT_BAD_MSGS,
    ENG_FOLLOW_STAT_PARTS_IN,
    ENG_FOLLOW_STAT_PARTED_COMPLETE,
    ENG_FOLLOW_STAT_COUNT,
};

/* What a following relay's follower thread publishes for /metrics (has = 0: none). */
struct eng_rpc_follow {
    uint8_t has;
    uint64_t height;
    uint64_t v[ENG_FOLLOW_STAT_COUNT];
};

#define ENG_RPC_ID_BYTES 32

enum eng_rpc_msg_status { ENG_RPC_MSG_UNKNOWN, ENG_RPC_MSG_PENDING, ENG_RPC_MSG_FINAL };

/* What the chain knows of one message id. */
struct eng_rpc_msg {
    uint8_t status;                 /* enum eng_rpc_msg_status */
    uint64_t height;                /* final: the block */
    uint32_t index;                 /* final: the position inside it */
    uint8_t block_hash[32];
};

/*
 * Where the RPC thread asks chain questions (a validator's consensus thread). Both calls
 * block the RPC thread for a bounded time. query_id: 0 or -ETIMEDOUT. query_block: 0,
 * DC_ENOTFOUND, -ETIMEDOUT or a read error; `block` has storage for CONS_BLOCK_IDS_MAX ids.
 */
struct eng_rpc_chain_source {
    void *arg;
    int (*query_id)(void *arg, const uint8_t id[ENG_RPC_ID_BYTES], struct eng_rpc_msg *out);
    int (*query_block)(void *arg, uint64_t height, struct cons_block *block,
                       struct cons_cert *cert);
};

struct eng_rpc {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock; /* guards view, chain, cons, follow and source */
    struct eng_rpc_view view;
    struct eng_rpc_chain chain;
    struct eng_rpc_consensus cons;
    struct eng_rpc_follow follow;
    struct eng_rpc_chain_source source; /* guarded by lock; source.arg NULL: none */
    uint64_t started_ms;
    uint32_t stall_ms;    /* /health fails when the view is older than this */
    struct dp_ctl_port *port;           /* dataplane counters; may be NULL */
    const struct eng_disc_stats *disc;  /* may be NULL */
    _Atomic uint64_t requests[6];       /* 200, 404, 405, 413, 503, other */
    struct eng_histo duration;
};

/*
 * Starts the server on `addr` ("HOST:PORT", numeric IPv4/IPv6, port may be 0 only in tests).
 * 0, DC_ECONFIG for an address that does not parse, or -errno (-EADDRINUSE ...) with one
 * clear log line.
 */
int eng_rpc_start(struct eng_rpc *rpc, const struct sockaddr *addr, socklen_t addr_len,
                  struct dp_ctl_port *port, const struct eng_disc_stats *disc,
                  uint32_t stall_ms);
/* The port the server listens on (useful with port 0). */
uint16_t eng_rpc_port(const struct eng_rpc *rpc);
/* Stops the thread and frees everything. Safe on a server that failed to start. */
void eng_rpc_stop(struct eng_rpc *rpc);

/* Control thread: copy a new view in. */
void eng_rpc_publish(struct eng_rpc *rpc, const struct eng_rpc_view *view);
/* Consensus integration: the committed head and the validator counts. */
void eng_rpc_set_chain(struct eng_rpc *rpc, const struct eng_rpc_chain *chain);
/* Consensus integration: a validator's counters, copied in (at most ~10 times a second). */
void eng_rpc_set_consensus(struct eng_rpc *rpc, const struct eng_rpc_consensus *cons);
/* Consensus integration: a following relay's counters, copied in. */
void eng_rpc_set_follow(struct eng_rpc *rpc, const struct eng_rpc_follow *follow);
/* Consensus integration: where chain questions go (NULL: nowhere, before a stop). */
void eng_rpc_set_chain_source(struct eng_rpc *rpc, const struct eng_rpc_chain_source *src);

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
uint64_t eng_now_ms(void);

#endif
