/*
 * stats: the dataplane's counters, published without locks.
 *
 * Every hot thread owns one `struct dp_stats_block` (its own cache lines) and is its only
 * writer: dp_stats_add() is a relaxed load and store, no read-modify-write, no lock. Readers
 * (the control thread, the RPC server, the exit summary) call dp_stats_read(), which sums the
 * blocks of a `struct dp_stats_set` with relaxed loads: each counter is exact and monotonic,
 * the snapshot as a whole is not atomic (fine for metrics). Gauges (subscribers, peers) are
 * written by the I/O thread only and read the same way.
 *
 * Names and help strings (dp_stats_name/dp_stats_help) follow Prometheus conventions so the
 * control plane can export every counter by looping over DP_STAT_COUNT.
 */
#ifndef DP_STATS_H
#define DP_STATS_H

#include "dataplane/ring.h"

#include <stdatomic.h>
#include <stdint.h>

enum dp_stat {
    DP_STAT_RX_DATAGRAMS,       /* UDP datagrams received (after GRO split) */
    DP_STAT_RX_BYTES,
    DP_STAT_RX_MSGS,            /* user-message records received */
    DP_STAT_RX_SUBSCRIBES,      /* subscribe records received */
    DP_STAT_RX_CTL_RECORDS,     /* discovery/consensus records handed to the control thread */
    DP_STAT_RX_ENOBUFS,         /* receive stopped: provided buffers ran out */
    DP_STAT_RX_TRUNCATED,       /* datagram larger than a receive buffer */
    DP_STAT_RX_ERRORS,          /* receive completions with another error */
    DP_STAT_BAD_FRAME_TRUNCATED, /* frame header or record runs past the datagram */
    DP_STAT_BAD_FRAME_MAGIC,
    DP_STAT_BAD_FRAME_VERSION,
    DP_STAT_BAD_FRAME_OTHER,    /* reserved bits set, zero count, trailing bytes */
    DP_STAT_BAD_MSG,            /* user-message body does not parse */
    DP_STAT_BAD_SUB,            /* subscribe body does not parse */
    DP_STAT_BAD_RECORD_TYPE,    /* unknown record type */
    DP_STAT_DUPLICATES,         /* messages seen before (de-dup table hit) */
    DP_STAT_VERIFIED,           /* signature checked and good */
    DP_STAT_INVALID_SIG,        /* signature checked and bad: dropped */
    DP_STAT_SKIPPED_VERIFY,     /* forwarded unchecked (--bench-skip-verify) */
    DP_STAT_DROP_VERIFY_RING,   /* verify queue full */
    DP_STAT_DROP_DONE_RING,     /* worker's return queue full (never expected) */
    DP_STAT_DROP_CTL_RING,      /* control queue full */
    DP_STAT_DROP_CONS_RING,     /* consensus record queue full (validators) */
    DP_STAT_DROP_CONS_IDS,      /* verified ids not handed to consensus: id ring full */
    DP_STAT_DROP_POOL,          /* no free message buffer */
    DP_STAT_DROP_TX,            /* records not sent: send failed or no send buffer */
    DP_STAT_LINK_DROPS,         /* link packets refused (see the link's reasons) */
    DP_STAT_LINK_BANNED_DROPS,  /* link packets from a banned peer */
    DP_STAT_BANNED_FRAMES,      /* plain frames from a banned peer's address */
    DP_STAT_DROP_UNPROVEN,      /* records not sent: the address has not returned its cookie */
    DP_STAT_SUB_UNPROVEN,       /* subscribes refused: a proven subscriber's, without cookie */
    DP_STAT_DROP_SUB_IP,        /* subscribes refused: the source IP holds its share */
    DP_STAT_DROP_SUB_FULL,      /* subscriber table full: subscribe refused */
    DP_STAT_DEDUP_EVICTIONS,    /* a live de-dup entry overwritten (table too small) */
    DP_STAT_TX_DATAGRAMS,
    DP_STAT_TX_BYTES,
    DP_STAT_TX_MSGS,            /* message records sent (one per destination) */
    DP_STAT_TX_SENDS,           /* send operations (one GSO send carries many datagrams) */
    DP_STAT_CONS_IDS,           /* verified message ids handed to consensus (validators) */
    DP_STAT_FINAL_IDS,          /* final positions sent to subscribers (chain followers) */
    DP_STAT_FINAL_WAITING,      /* final positions that came before their message (held) */
    DP_STAT_FINAL_EVICTED,      /* held positions pushed out before their message came */
    DP_STAT_LINK_RX_PACKETS,    /* link packets received (handshakes and data) */
    DP_STAT_LINK_TX_SEALED,     /* frames sent sealed over a link */
    DP_STAT_LINK_SESSIONS,      /* link sessions that became usable */
    DP_STAT_TRUSTED,            /* messages from a link forwarded without a signature check */
    DP_STAT_SAMPLED,            /* messages from a link re-verified (the sample) */
    DP_STAT_PEER_BANS,          /* peers banned: a sampled message had a bad signature */
    DP_STAT_MESH_JOINS,         /* gossip peers added from discovery */
    DP_STAT_RX_KERNEL_DROPS,    /* gauge: datagrams the kernel dropped, socket queue full */
    DP_STAT_SUBSCRIBERS,        /* gauge */
    DP_STAT_PEERS,              /* gauge */
    DP_STAT_COUNT,
};

#define DP_STATS_BLOCKS_MAX 32

struct dp_stats {
    uint64_t v[DP_STAT_COUNT];
};

struct dp_stats_block {
    _Alignas(DP_CACHE_LINE) _Atomic uint64_t v[DP_STAT_COUNT];
};

/* The blocks of one node; registered before the threads start. */
struct dp_stats_set {
    struct dp_stats_block *blocks[DP_STATS_BLOCKS_MAX];
    uint32_t count;
};

/* Writer (the block's one thread): add `n`. */
static inline void dp_stats_add(struct dp_stats_block *b, enum dp_stat s, uint64_t n)
{
    uint64_t v = atomic_load_explicit(&b->v[s], memory_order_relaxed);
    atomic_store_explicit(&b->v[s], v + n, memory_order_relaxed);
}

/* Writer: set a gauge. */
static inline void dp_stats_set_gauge(struct dp_stats_block *b, enum dp_stat s, uint64_t v)
{
    atomic_store_explicit(&b->v[s], v, memory_order_relaxed);
}

void dp_stats_block_init(struct dp_stats_block *b);
void dp_stats_set_init(struct dp_stats_set *set);
/* Before launch (main thread). 0 or DC_EFULL. */
int dp_stats_set_add(struct dp_stats_set *set, struct dp_stats_block *b);
/* Any thread: the sum of every block. */
void dp_stats_read(const struct dp_stats_set *set, struct dp_stats *out);
/* Prometheus-style name without prefix ("rx_datagrams") and one-line help. */
const char *dp_stats_name(enum dp_stat s);
const char *dp_stats_help(enum dp_stat s);
/* 1 for gauges, 0 for counters. */
int dp_stats_is_gauge(enum dp_stat s);
/* Sum of every drop and malformed counter (duplicates excluded: they are normal gossip). */
uint64_t dp_stats_dropped(const struct dp_stats *s);

#endif
