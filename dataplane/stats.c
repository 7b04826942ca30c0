#include "dataplane/stats.h"

#include "common/dc_err.h"

static const struct {
    const char *name;
    const char *help;
} info[DP_STAT_COUNT] = {
    [DP_STAT_RX_DATAGRAMS] = { "rx_datagrams", "UDP datagrams received" },
    [DP_STAT_RX_BYTES] = { "rx_bytes", "UDP payload bytes received" },
    [DP_STAT_RX_MSGS] = { "rx_msgs", "user-message records received" },
    [DP_STAT_RX_SUBSCRIBES] = { "rx_subscribes", "subscribe records received" },
    [DP_STAT_RX_CTL_RECORDS] = { "rx_ctl_records", "records handed to the control thread" },
    [DP_STAT_RX_ENOBUFS] = { "rx_enobufs", "receive stopped because buffers ran out" },
    [DP_STAT_RX_TRUNCATED] = { "rx_truncated", "datagrams larger than a receive buffer" },
    [DP_STAT_RX_ERRORS] = { "rx_errors", "receive completions with another error" },
    [DP_STAT_BAD_FRAME_TRUNCATED] = { "bad_frame_truncated", "frames cut short" },
    [DP_STAT_BAD_FRAME_MAGIC] = { "bad_frame_magic", "datagrams without the dchat magic" },
    [DP_STAT_BAD_FRAME_VERSION] = { "bad_frame_version", "frames of an unknown version" },
    [DP_STAT_BAD_FRAME_OTHER] = { "bad_frame_other", "frames with bad reserved bits/count" },
    [DP_STAT_BAD_MSG] = { "bad_msg", "user-message records that do not parse" },
    [DP_STAT_BAD_SUB] = { "bad_sub", "subscribe records that do not parse" },
    [DP_STAT_BAD_RECORD_TYPE] = { "bad_record_type", "records of an unknown type" },
    [DP_STAT_DUPLICATES] = { "duplicates", "messages dropped as already seen" },
    [DP_STAT_VERIFIED] = { "verified", "messages with a good signature" },
    [DP_STAT_INVALID_SIG] = { "invalid_sig", "messages dropped for a bad signature" },
    [DP_STAT_SKIPPED_VERIFY] = { "skipped_verify", "messages forwarded unchecked (bench)" },
    [DP_STAT_DROP_VERIFY_RING] = { "drop_verify_ring", "messages dropped: verify queue full" },
    [DP_STAT_DROP_DONE_RING] = { "drop_done_ring", "messages dropped: return queue full" },
    [DP_STAT_DROP_CTL_RING] = { "drop_ctl_ring", "records dropped: control queue full" },
    [DP_STAT_DROP_CONS_RING] = { "drop_cons_ring",
                                 "consensus records dropped: consensus queue full" },
    [DP_STAT_DROP_CONS_IDS] = { "drop_cons_ids",
                                "verified message ids not ordered: consensus id ring full" },
    [DP_STAT_CONS_IDS] = { "cons_ids", "verified message ids handed to consensus" },
    [DP_STAT_FINAL_IDS] = { "final_ids", "final positions of delivered messages told to "
                                         "subscribers" },
    [DP_STAT_LINK_RX_PACKETS] = { "link_rx_packets", "link packets received" },
    [DP_STAT_LINK_TX_SEALED] = { "link_tx_sealed", "frames sent sealed over a peer link" },
    [DP_STAT_LINK_SESSIONS] = { "link_sessions", "peer link sessions established" },
    [DP_STAT_TRUSTED] = { "trusted", "messages from a peer link forwarded without a signature "
                                     "check (verified where they entered)" },
    [DP_STAT_SAMPLED] = { "sampled", "messages from a peer link whose signature was checked "
                                     "again (the sample)" },
    [DP_STAT_PEER_BANS] = { "peer_bans", "peers banned for forwarding a bad signature" },
    [DP_STAT_MESH_JOINS] = { "mesh_joins", "gossip peers added from what discovery found" },
    [DP_STAT_LINK_DROPS] = { "link_drops", "link packets refused (bad, replayed, unknown)" },
    [DP_STAT_LINK_BANNED_DROPS] = { "link_banned_drops", "link packets from a banned peer" },
    [DP_STAT_BANNED_FRAMES] = { "banned_frames", "frames from a banned peer's address" },
    [DP_STAT_FINAL_WAITING] = { "final_waiting",
                                "final positions that came before their message (held)" },
    [DP_STAT_FINAL_EVICTED] = { "final_evicted", "held final positions pushed out of the table "
                                                 "before their message came (no FINAL sent)" },
    [DP_STAT_DROP_POOL] = { "drop_pool", "messages dropped: no free buffer" },
    [DP_STAT_DROP_TX] = { "drop_tx", "records not sent (send error or no send buffer)" },
    [DP_STAT_DROP_UNPROVEN] = { "drop_unproven", "records not sent to a subscriber that has "
                                                 "not returned its address cookie (3x budget)" },
    [DP_STAT_SUB_UNPROVEN] = { "sub_unproven", "subscribes and unsubscribes for a proven "
                                               "subscriber without its cookie: ignored" },
    [DP_STAT_DROP_SUB_IP] = { "drop_sub_ip", "subscribes refused: the source IP holds its share" },
    [DP_STAT_DROP_SUB_FULL] = { "drop_sub_full", "subscribes refused: table full" },
    [DP_STAT_DEDUP_EVICTIONS] = { "dedup_evictions", "live de-dup entries overwritten" },
    [DP_STAT_TX_DATAGRAMS] = { "tx_datagrams", "UDP datagrams sent" },
    [DP_STAT_TX_BYTES] = { "tx_bytes", "UDP payload bytes sent" },
    [DP_STAT_TX_MSGS] = { "tx_msgs", "message records sent, one per destination" },
    [DP_STAT_TX_SENDS] = { "tx_sends", "send operations (a GSO send carries many datagrams)" },
    [DP_STAT_RX_KERNEL_DROPS] = { "rx_kernel_drops",
                                  "datagrams the kernel dropped: socket receive queue full" },
    [DP_STAT_SUBSCRIBERS] = { "subscribers", "live subscriptions" },
    [DP_STAT_PEERS] = { "peers", "configured gossip peers" },
};

void dp_stats_block_init(struct dp_stats_block *b)
{
    for (int i = 0; i < DP_STAT_COUNT; i++) {
        atomic_init(&b->v[i], 0);
    }
}

void dp_stats_set_init(struct dp_stats_set *set)
{
    set->count = 0;
}

int dp_stats_set_add(struct dp_stats_set *set, struct dp_stats_block *b)
{
    if (set->count == DP_STATS_BLOCKS_MAX) {
        return DC_EFULL;
    }
    set->blocks[set->count++] = b;
    return 0;
}

void dp_stats_read(const struct dp_stats_set *set, struct dp_stats *out)
{
    for (int i = 0; i < DP_STAT_COUNT; i++) {
        out->v[i] = 0;
    }
    for (uint32_t b = 0; b < set->count; b++) {
        for (int i = 0; i < DP_STAT_COUNT; i++) {
            out->v[i] += atomic_load_explicit(&set->blocks[b]->v[i], memory_order_relaxed);
        }
    }
}

const char *dp_stats_name(enum dp_stat s)
{
    return (unsigned)s < DP_STAT_COUNT ? info[s].name : "unknown";
}

const char *dp_stats_help(enum dp_stat s)
{
    return (unsigned)s < DP_STAT_COUNT ? info[s].help : "unknown";
}

int dp_stats_is_gauge(enum dp_stat s)
{
    return s == DP_STAT_SUBSCRIBERS || s == DP_STAT_PEERS || s == DP_STAT_RX_KERNEL_DROPS;
}

uint64_t dp_stats_dropped(const struct dp_stats *s)
{
    uint64_t sum = 0;
    sum += s->v[DP_STAT_RX_TRUNCATED] + s->v[DP_STAT_RX_KERNEL_DROPS];
    for (int i = DP_STAT_BAD_FRAME_TRUNCATED; i <= DP_STAT_DROP_SUB_FULL; i++) {
        if (i != DP_STAT_VERIFIED && i != DP_STAT_SKIPPED_VERIFY && i != DP_STAT_DUPLICATES) {
            sum += s->v[i];
        }
    }
    return sum;
}
