/*
 * linkio: peer links in the I/O thread (see linkio.h).
 */
#include "dataplane/linkio.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

int dp_linkio_init(struct dp_linkio *lio, const uint8_t ed_sk[64], struct dp_idring *keys,
                   uint32_t sample_every, uint32_t ban_s, uint64_t wall_offset_ms)
{
    memset(lio, 0, sizeof(*lio));
    if (sample_every == 0 || keys == NULL) {
        return -EINVAL;
    }
    lio->keys = keys;
    lio->sample_every = sample_every;
    lio->ban_s = ban_s;
    for (uint32_t i = 0; i < DP_LINKIO_PEERS_MAX; i++) {
        lio->fanout_of[i] = -1;
    }
    randombytes_buf(&lio->rng, sizeof(lio->rng));
    lio->rng |= 1;
    struct dp_link_conf conf = { .ed_sk = ed_sk, .peers_max = DP_LINKIO_PEERS_MAX,
                                 .wall_offset_ms = wall_offset_ms };
    return dp_link_init(&lio->t, &conf);
}

void dp_linkio_set_mesh(struct dp_linkio *lio, uint32_t mesh_max)
{
    lio->mesh_max = mesh_max < DP_FANOUT_PEERS_MAX ? mesh_max : DP_FANOUT_PEERS_MAX;
}

void dp_linkio_fini(struct dp_linkio *lio)
{
    if (lio->keys != NULL) {
        dp_link_fini(&lio->t);
        lio->keys = NULL;
    }
}

/* A new identity: a link peer; the fan-out peer with its address (if any) gets the link. */
static void add_key(struct dp_linkio *lio, struct dp_fanout *fo, const struct dp_peer_key *k)
{
    if (dp_link_peer_find(&lio->t, k->ed_pk) >= 0) {
        return; /* known: its address follows its authenticated packets */
    }
    int peer = dp_link_peer_add(&lio->t, k->ed_pk, (const struct sockaddr *)&k->addr,
                                k->addr_len);
    if (peer < 0) {
        return; /* our own key, a full table, a key that is not a point */
    }
    int fp = dp_fanout_find_peer(fo, (const struct sockaddr *)&k->addr, k->addr_len);
    if (fp < 0 && fo->peer_count < lio->mesh_max && k->addr_len > 0 &&
        (k->role == DP_PEER_ROLE_RELAY || k->role == DP_PEER_ROLE_VALIDATOR) &&
        dp_fanout_add_peer(fo, (const struct sockaddr *)&k->addr, k->addr_len) == 0) {
        fp = (int)fo->peer_count - 1; /* a node discovery found joins our mesh */
        dp_stats_add(fo->stats, DP_STAT_MESH_JOINS, 1);
    }
    lio->fanout_of[peer] = (int16_t)fp;
    if (fp >= 0) {
        dp_fanout_set_link(fo, fp, peer);
    }
}

void dp_linkio_tick(struct dp_linkio *lio, struct dp_fanout *fo, uint32_t now_s)
{
    struct dp_peer_key keys[8];
    uint32_t taken = 0;
    uint32_t n;
    while (taken < DP_LINKIO_KEYS_PER_PASS && (n = dp_idring_pop_burst(lio->keys, keys, 8)) > 0) {
        for (uint32_t i = 0; i < n; i++) {
            add_key(lio, fo, &keys[i]);
        }
        taken += n;
    }
    uint64_t now_ms = (uint64_t)now_s * 1000u;
    for (uint32_t p = 0; p < lio->t.peer_count; p++) {
        /* we open links to the peers we gossip to; the others open theirs to us */
        if (lio->fanout_of[p] < 0 || lio->banned_until_s[p] > now_s ||
            !dp_link_want_handshake(&lio->t, p, now_ms)) {
            continue;
        }
        socklen_t len = 0;
        const struct sockaddr *to = dp_link_peer_addr(&lio->t, p, &len);
        int n_init = dp_link_initiate(&lio->t, p, now_ms, lio->out, sizeof(lio->out));
        if (len > 0 && n_init > 0) {
            dp_fanout_raw(fo, to, len, lio->out, (uint32_t)n_init);
        }
    }
}

const uint8_t *dp_linkio_rx(struct dp_linkio *lio, struct dp_fanout *fo,
                            struct dp_stats_block *stats, const struct dp_rx_pkt *pkt,
                            uint32_t now_s, size_t *len_out, int *link_peer_out,
                            int *fanout_peer_out)
{
    struct dp_link_result res;
    uint64_t now_ms = (uint64_t)now_s * 1000u;
    dp_stats_add(stats, DP_STAT_LINK_RX_PACKETS, 1);
    int rc = dp_link_handle(&lio->t, pkt->src, pkt->src_len, pkt->data, pkt->len, now_ms,
                            lio->out, sizeof(lio->out), &res);
    if (res.peer >= 0 && lio->banned_until_s[res.peer] > now_s) {
        dp_stats_add(stats, DP_STAT_LINK_BANNED_DROPS, 1);
        return NULL;
    }
    if (rc != 0 && res.action == DP_LINK_NONE) {
        dp_stats_add(stats, DP_STAT_LINK_DROPS, 1);
        return NULL;
    }
    if (res.action == DP_LINK_REPLY) {
        dp_fanout_raw(fo, pkt->src, pkt->src_len, lio->out, (uint32_t)res.len);
    }
    if (res.session_new) {
        dp_stats_add(stats, DP_STAT_LINK_SESSIONS, 1);
    }
    if (res.retry && res.peer >= 0) {
        int n_init = dp_link_initiate(&lio->t, (uint32_t)res.peer, now_ms, lio->out,
                                      sizeof(lio->out));
        if (n_init > 0) {
            dp_fanout_raw(fo, pkt->src, pkt->src_len, lio->out, (uint32_t)n_init);
        }
    }
    if (res.action != DP_LINK_DELIVER) {
        return NULL;
    }
    *len_out = res.len;
    *link_peer_out = res.peer;
    *fanout_peer_out = lio->fanout_of[res.peer];
    return lio->out;
}

int dp_linkio_sample(struct dp_linkio *lio)
{
    /* xorshift64: statistical sampling only; what is sampled need not be unpredictable,
     * a forger cannot see which of its messages will be checked */
    lio->rng ^= lio->rng << 13;
    lio->rng ^= lio->rng >> 7;
    lio->rng ^= lio->rng << 17;
    return lio->rng % lio->sample_every == 0;
}

void dp_linkio_ban(struct dp_linkio *lio, struct dp_fanout *fo, struct dp_stats_block *stats,
                   int link_peer, uint32_t now_s)
{
    static struct dc_log_limit ban_log;
    if (link_peer < 0 || (uint32_t)link_peer >= lio->t.peer_count ||
        lio->banned_until_s[link_peer] > now_s) {
        return;
    }
    lio->banned_until_s[link_peer] = now_s + lio->ban_s;
    dp_stats_add(stats, DP_STAT_PEER_BANS, 1);
    int fp = lio->fanout_of[link_peer];
    if (fp >= 0) {
        dp_fanout_set_banned(fo, fp, now_s + lio->ban_s);
    }
    char hex[17];
    for (int i = 0; i < 8; i++) {
        static const char digits[] = "0123456789abcdef";
        hex[2 * i] = digits[lio->t.peers[link_peer].ed_pk[i] >> 4];
        hex[2 * i + 1] = digits[lio->t.peers[link_peer].ed_pk[i] & 15];
    }
    hex[16] = '\0';
    DC_LOG_RATELIMIT(&ban_log, DC_LOG_WARN, "dataplane",
                     "peer %s forwarded a message with a bad signature: banned for %u s", hex,
                     lio->ban_s);
}
