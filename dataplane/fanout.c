#include "dataplane/fanout.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

int dp_fanout_init(struct dp_fanout *fo, const struct dp_backend_ops *ops,
                   struct dp_backend *be, struct dp_stats_block *stats, uint32_t mtu,
                   uint32_t subs_max, uint32_t sub_expiry_s)
{
    if (mtu < DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES + DP_WIRE_MSG_BYTES_MAX ||
        mtu > DP_WIRE_FRAME_BYTES_MAX || subs_max == 0 || sub_expiry_s == 0) {
        return -EINVAL;
    }
    memset(fo, 0, sizeof(*fo));
    fo->ops = ops;
    fo->be = be;
    fo->stats = stats;
    fo->mtu = mtu;
    fo->sub_expiry_s = sub_expiry_s;
    fo->subs_max = subs_max;
    fo->subs_per_ip = DP_FANOUT_SUBS_PER_IP_DEFAULT;
    randombytes_buf(fo->cookie_key, sizeof(fo->cookie_key));
    fo->subs = dc_alloc((size_t)subs_max * sizeof(fo->subs[0]));
    fo->live = dc_alloc((size_t)subs_max * sizeof(fo->live[0]));
    fo->active = dc_alloc(((size_t)subs_max + DP_FANOUT_PEERS_MAX) * sizeof(fo->active[0]));
    if (fo->subs == NULL || fo->live == NULL || fo->active == NULL) {
        dp_fanout_fini(fo);
        return -ENOMEM;
    }
    /* every peer slot's stage now: peers found by discovery join on the I/O thread */
    for (uint32_t i = 0; i < DP_FANOUT_PEERS_MAX; i++) {
        fo->peers[i].stage = dc_alloc(mtu);
        if (fo->peers[i].stage == NULL) {
            dp_fanout_fini(fo);
            return -ENOMEM;
        }
    }
    return 0;
}

void dp_fanout_fini(struct dp_fanout *fo)
{
    for (uint32_t i = 0; i < DP_FANOUT_PEERS_MAX; i++) {
        dc_free(fo->peers[i].stage);
        fo->peers[i].stage = NULL;
    }
    dc_free(fo->sealed);
    fo->sealed = NULL;
    dc_free(fo->subs);
    dc_free(fo->live);
    dc_free(fo->active);
    fo->subs = NULL;
    fo->live = NULL;
    fo->active = NULL;
}

int dp_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family) {
        return 0;
    }
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}

int dp_fanout_add_peer(struct dp_fanout *fo, const struct sockaddr *addr, socklen_t len)
{
    if (fo->peer_count == DP_FANOUT_PEERS_MAX) {
        return DC_EFULL;
    }
    if (len > sizeof(struct sockaddr_storage) ||
        (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)) {
        return -EINVAL;
    }
    struct dp_dest *d = &fo->peers[fo->peer_count++];
    uint8_t *stage = d->stage; /* allocated at init */
    memset(d, 0, sizeof(*d));
    memcpy(&d->addr, addr, len);
    d->addr_len = len;
    d->used = 1;
    d->link_peer = -1;
    d->stage = stage;
    dp_stats_set_gauge(fo->stats, DP_STAT_PEERS, fo->peer_count);
    return 0;
}

int dp_fanout_find_peer(const struct dp_fanout *fo, const struct sockaddr *addr,
                        socklen_t len)
{
    (void)len;
    for (uint32_t i = 0; i < fo->peer_count; i++) {
        if (dp_sockaddr_equal((const struct sockaddr *)&fo->peers[i].addr, addr)) {
            return (int)i;
        }
    }
    return -1;
}

/* Queues the destination's buffer (whole frames only) and forgets it. */
static void send_buf(struct dp_fanout *fo, struct dp_dest *d)
{
    DC_ASSERT(!d->frame_open);
    if (d->tx == NULL) {
        return;
    }
    if (d->tx->len == 0) {
        fo->ops->tx_put(fo->be, d->tx);
        d->tx = NULL;
        return;
    }
    fo->ops->tx_send(fo->be, d->tx, (const struct sockaddr *)&d->addr, d->addr_len);
    d->tx = NULL;
}

/*
 * Starts a frame in the destination's buffer (taking a buffer if needed). 0 or DC_EFULL. A
 * frame for a peer whose link can seal is built in the peer's stage, smaller by the link's
 * overhead, and sealed into the buffer when it closes.
 */
static int open_frame(struct dp_fanout *fo, struct dp_dest *d)
{
    if (d->tx == NULL) {
        d->tx = fo->ops->tx_get(fo->be);
        if (d->tx == NULL) {
            return DC_EFULL;
        }
    }
    DC_ASSERT(d->tx->cap - d->tx->len >= fo->mtu);
    d->sealing = d->stage != NULL && d->link_peer >= 0 && fo->links != NULL && /* peers only */
                 dp_link_can_seal(fo->links, (uint32_t)d->link_peer, fo->now_ms);
    if (d->sealing) {
        dp_wire_builder_init(&d->b, d->stage, fo->mtu - DP_LINK_DATA_OVERHEAD);
    } else {
        dp_wire_builder_init(&d->b, d->tx->data + d->tx->len, fo->mtu);
    }
    d->frame_open = 1;
    if (!d->active) {
        d->active = 1;
        fo->active[fo->active_count++] = d;
    }
    return 0;
}

/*
 * Ends the open frame. Frames of one buffer must share one length except the last, so a
 * shorter frame ends the buffer, and a longer one moves to a buffer of its own.
 */
static void close_frame(struct dp_fanout *fo, struct dp_dest *d)
{
    if (!d->frame_open) {
        return;
    }
    d->frame_open = 0;
    struct dp_tx_buf *tx = d->tx;
    uint32_t len = (uint32_t)dp_wire_builder_finish(&d->b);
    uint32_t records = d->b.count;
    if (len == 0) {
        return;
    }
    const uint8_t *datagram = tx->data + tx->len; /* plain: built in place */
    if (d->sealing) {
        int n = dp_link_seal(fo->links, (uint32_t)d->link_peer, d->stage, len, fo->now_ms,
                             fo->sealed, fo->mtu);
        if (n < 0) { /* cannot happen: open_frame checked; leave it plain rather than lose it */
            n = (int)len;
            memcpy(fo->sealed, d->stage, len);
        } else {
            dp_stats_add(fo->stats, DP_STAT_LINK_TX_SEALED, 1);
        }
        len = (uint32_t)n;
        datagram = fo->sealed;
    }
    if (tx->seg_count > 0 && len > tx->seg_bytes) {
        uint8_t frame[DP_WIRE_FRAME_BYTES_MAX];
        memcpy(frame, datagram, len);
        send_buf(fo, d);
        d->tx = fo->ops->tx_get(fo->be);
        if (d->tx == NULL) {
            dp_stats_add(fo->stats, DP_STAT_DROP_TX, records);
            return;
        }
        tx = d->tx;
        memcpy(tx->data, frame, len);
    } else if (datagram != tx->data + tx->len) {
        memcpy(tx->data + tx->len, datagram, len);
    }
    if (tx->seg_count == 0) {
        tx->seg_bytes = len;
    }
    tx->len += len;
    tx->seg_count++;
    tx->records += records;
    if (len < tx->seg_bytes || tx->seg_count == DP_FANOUT_GSO_SEGS_MAX ||
        tx->cap - tx->len < fo->mtu) {
        send_buf(fo, d);
    }
}

/* Appends one record for `d`; drops and counts it when no send buffer is free. */
static void append(struct dp_fanout *fo, struct dp_dest *d, uint8_t type, const uint8_t *body,
                   uint16_t body_len)
{
    if (d->frame_open && !dp_wire_builder_fits(&d->b, body_len)) {
        close_frame(fo, d);
    }
    if (d->is_sub && !d->proven) {
        /* an address that has not returned its cookie may be a forged one: 3x its bytes */
        uint64_t cost = (uint64_t)body_len + DP_WIRE_REC_HDR_BYTES;
        if (d->tx_bytes + cost > DP_FANOUT_UNPROVEN_FACTOR * d->rx_bytes) {
            dp_stats_add(fo->stats, DP_STAT_DROP_UNPROVEN, 1);
            return;
        }
        d->tx_bytes += cost;
    }
    if (!d->frame_open && open_frame(fo, d) != 0) {
        dp_stats_add(fo->stats, DP_STAT_DROP_TX, 1);
        return;
    }
    int rc = dp_wire_builder_add(&d->b, type, body, body_len);
    DC_ASSERT(rc == 0); /* an empty frame of mtu bytes holds the largest record */
    if (type == DP_WIRE_REC_MSG) {
        dp_stats_add(fo->stats, DP_STAT_TX_MSGS, 1);
    }
}

void dp_fanout_msg(struct dp_fanout *fo, const struct dp_wire_msg *msg, int src_peer)
{
    for (uint32_t i = 0; i < fo->peer_count; i++) {
        if ((int)i != src_peer && fo->peers[i].banned_until_s <= fo->now_s) {
            append(fo, &fo->peers[i], DP_WIRE_REC_MSG, msg->body, msg->body_len);
        }
    }
    for (uint32_t i = 0; i < fo->sub_count; i++) {
        struct dp_dest *d = fo->live[i];
        if (d->all_channels || memcmp(d->channel, msg->target, DP_WIRE_KEY_BYTES) == 0) {
            append(fo, d, DP_WIRE_REC_MSG, msg->body, msg->body_len);
        }
    }
}

/* FINAL records for one subscriber: its entries, as many per record as its frames hold. */
static void final_to(struct dp_fanout *fo, struct dp_dest *d, uint64_t height,
                     const uint8_t *block_hash, const struct dp_fanout_final_entry *e,
                     uint32_t count)
{
    uint8_t body[DP_WIRE_FINAL_HDR_BYTES + DP_WIRE_FINAL_ENTRIES_MAX * DP_WIRE_FINAL_ENTRY_BYTES];
    uint32_t per = (fo->mtu - DP_WIRE_FRAME_HDR_BYTES - DP_WIRE_REC_HDR_BYTES -
                    DP_WIRE_FINAL_HDR_BYTES) / DP_WIRE_FINAL_ENTRY_BYTES;
    if (per > DP_WIRE_FINAL_ENTRIES_MAX) {
        per = DP_WIRE_FINAL_ENTRIES_MAX; /* a larger MTU packs several records per frame */
    }
    uint16_t n = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (!d->all_channels && memcmp(d->channel, e[i].target, DP_WIRE_KEY_BYTES) != 0) {
            continue;
        }
        dp_wire_final_encode_entry(body + DP_WIRE_FINAL_HDR_BYTES +
                                       (size_t)n * DP_WIRE_FINAL_ENTRY_BYTES,
                                   e[i].index, e[i].id);
        n++;
        if (n == per) {
            dp_wire_final_encode_header(body, height, block_hash, n);
            append(fo, d, DP_WIRE_REC_FINAL, body,
                   (uint16_t)(DP_WIRE_FINAL_HDR_BYTES + n * DP_WIRE_FINAL_ENTRY_BYTES));
            n = 0;
        }
    }
    if (n > 0) {
        dp_wire_final_encode_header(body, height, block_hash, n);
        append(fo, d, DP_WIRE_REC_FINAL, body,
               (uint16_t)(DP_WIRE_FINAL_HDR_BYTES + n * DP_WIRE_FINAL_ENTRY_BYTES));
    }
}

void dp_fanout_final(struct dp_fanout *fo, uint64_t height,
                     const uint8_t block_hash[DP_WIRE_HASH_BYTES],
                     const struct dp_fanout_final_entry *entries, uint32_t count)
{
    for (uint32_t i = 0; i < fo->sub_count; i++) {
        final_to(fo, fo->live[i], height, block_hash, entries, count);
    }
}

static struct dp_dest *find_sub(struct dp_fanout *fo, const struct sockaddr *src)
{
    for (uint32_t i = 0; i < fo->sub_count; i++) {
        if (dp_sockaddr_equal((const struct sockaddr *)&fo->live[i]->addr, src)) {
            return fo->live[i];
        }
    }
    return NULL;
}

/* A free slot: unused and not waiting to flush (its address is still needed). */
static struct dp_dest *free_sub(struct dp_fanout *fo)
{
    for (uint32_t i = 0; i < fo->subs_max; i++) {
        if (!fo->subs[i].used && !fo->subs[i].active && fo->subs[i].tx == NULL) {
            return &fo->subs[i];
        }
    }
    return NULL;
}

static void remove_sub(struct dp_fanout *fo, struct dp_dest *d)
{
    for (uint32_t i = 0; i < fo->sub_count; i++) {
        if (fo->live[i] == d) {
            fo->live[i] = fo->live[--fo->sub_count];
            break;
        }
    }
    d->used = 0;
    dp_stats_set_gauge(fo->stats, DP_STAT_SUBSCRIBERS, fo->sub_count);
}

/* The address bytes of `sa` that a cookie covers: family, port, address. */
static size_t addr_key(const struct sockaddr *sa, uint8_t out[32])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out[0] = 4;
        memcpy(out + 1, &in->sin_port, 2);
        memcpy(out + 3, &in->sin_addr, 4);
        return 7;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    out[0] = 6;
    memcpy(out + 1, &in6->sin6_port, 2);
    memcpy(out + 3, &in6->sin6_addr, 16);
    return 19;
}

static void make_cookie(const struct dp_fanout *fo, const struct sockaddr *sa, uint32_t epoch,
                        uint8_t cookie[DP_WIRE_SUB_COOKIE_BYTES])
{
    uint8_t in[4 + 32];
    memcpy(in, &epoch, 4);
    size_t len = 4 + addr_key(sa, in + 4);
    crypto_generichash(cookie, DP_WIRE_SUB_COOKIE_BYTES, in, len, fo->cookie_key,
                       sizeof(fo->cookie_key));
}

/* Whether `cookie` is the one we gave `sa` in this epoch or the last. */
static int cookie_ok(const struct dp_fanout *fo, const struct sockaddr *sa, const uint8_t *cookie,
                     uint32_t now_s)
{
    uint32_t epoch = now_s / DP_FANOUT_COOKIE_EPOCH_S;
    for (uint32_t back = 0; cookie != NULL && back < 2 && back <= epoch; back++) {
        uint8_t want[DP_WIRE_SUB_COOKIE_BYTES];
        make_cookie(fo, sa, epoch - back, want);
        if (sodium_memcmp(want, cookie, sizeof(want)) == 0) {
            return 1;
        }
    }
    return 0;
}

static int same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    uint8_t ka[32], kb[32];
    size_t la = addr_key(a, ka), lb = addr_key(b, kb);
    return la == lb && ka[0] == kb[0] && memcmp(ka + 3, kb + 3, la - 3) == 0; /* not the port */
}

static uint32_t subs_of_ip(const struct dp_fanout *fo, const struct sockaddr *src)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < fo->sub_count; i++) {
        n += same_ip((const struct sockaddr *)&fo->live[i]->addr, src);
    }
    return n;
}

/* The acknowledgement: the request's flags and channel, with this address's current cookie. */
static void echo(struct dp_fanout *fo, struct dp_dest *d, const struct dp_wire_sub *sub,
                 uint32_t now_s)
{
    uint8_t body[DP_WIRE_SUB_BYTES_MAX];
    uint8_t cookie[DP_WIRE_SUB_COOKIE_BYTES];
    make_cookie(fo, (const struct sockaddr *)&d->addr, now_s / DP_FANOUT_COOKIE_EPOCH_S, cookie);
    size_t len = dp_wire_sub_encode_cookie(body, sub->flags, sub->channel, cookie);
    append(fo, d, DP_WIRE_REC_SUBSCRIBE, body, (uint16_t)len);
}

/* A new subscriber slot for `src`, or NULL (table full, or this IP holds its share). */
static struct dp_dest *new_sub(struct dp_fanout *fo, const struct sockaddr *src,
                               socklen_t src_len)
{
    if (subs_of_ip(fo, src) >= fo->subs_per_ip) {
        dp_stats_add(fo->stats, DP_STAT_DROP_SUB_IP, 1);
        return NULL;
    }
    struct dp_dest *d = free_sub(fo);
    if (d == NULL || src_len > sizeof(d->addr)) {
        dp_stats_add(fo->stats, DP_STAT_DROP_SUB_FULL, 1);
        return NULL;
    }
    memset(d, 0, sizeof(*d));
    memcpy(&d->addr, src, src_len);
    d->addr_len = src_len;
    d->used = 1;
    d->is_sub = 1;
    d->link_peer = -1;
    fo->live[fo->sub_count++] = d;
    dp_stats_set_gauge(fo->stats, DP_STAT_SUBSCRIBERS, fo->sub_count);
    return d;
}

int dp_fanout_subscribe(struct dp_fanout *fo, const struct sockaddr *src, socklen_t src_len,
                        const struct dp_wire_sub *sub, const uint8_t *body, uint16_t body_len,
                        uint32_t now_s)
{
    (void)body;
    struct dp_dest *d = find_sub(fo, src);
    int proven = cookie_ok(fo, src, sub->cookie, now_s);
    if (d != NULL) {
        d->rx_bytes += body_len + DP_WIRE_REC_HDR_BYTES;
    }
    if (d != NULL && d->proven && !proven) {
        /* a proven subscriber changes only with its cookie: this may be forged; the echo
         * (to the proven address) carries the current cookie, should its own be stale */
        dp_stats_add(fo->stats, DP_STAT_SUB_UNPROVEN, 1);
        echo(fo, d, sub, now_s);
        return 0;
    }
    if (sub->flags & DP_WIRE_SUB_FLAG_UNSUBSCRIBE) {
        if (d != NULL) {
            echo(fo, d, sub, now_s);
            remove_sub(fo, d); /* stays on the active list until the ack is flushed */
        }
        return 0;
    }
    if (d == NULL) {
        d = new_sub(fo, src, src_len);
        if (d == NULL) {
            return DC_EFULL;
        }
        d->rx_bytes = body_len + DP_WIRE_REC_HDR_BYTES;
    }
    memcpy(d->channel, sub->channel, DP_WIRE_KEY_BYTES);
    static const uint8_t zero[DP_WIRE_KEY_BYTES];
    d->all_channels = memcmp(sub->channel, zero, DP_WIRE_KEY_BYTES) == 0;
    d->expires_s = now_s + fo->sub_expiry_s;
    d->proven = d->proven || proven;
    echo(fo, d, sub, now_s);
    return 0;
}

void dp_fanout_expire(struct dp_fanout *fo, uint32_t now_s)
{
    for (uint32_t i = 0; i < fo->sub_count;) {
        struct dp_dest *d = fo->live[i];
        if ((int32_t)(now_s - d->expires_s) >= 0) {
            remove_sub(fo, d); /* moves the last one into slot i */
        } else {
            i++;
        }
    }
}

void dp_fanout_flush(struct dp_fanout *fo)
{
    for (uint32_t i = 0; i < fo->active_count; i++) {
        struct dp_dest *d = fo->active[i];
        close_frame(fo, d);
        send_buf(fo, d);
        d->active = 0;
    }
    fo->active_count = 0;
}

void dp_fanout_use_links(struct dp_fanout *fo, struct dp_link_table *links)
{
    fo->links = links;
    if (links != NULL && fo->sealed == NULL) {
        fo->sealed = dc_alloc(fo->mtu);
    }
}

void dp_fanout_set_link(struct dp_fanout *fo, int peer, int link_peer)
{
    DC_ASSERT(peer >= 0 && (uint32_t)peer < fo->peer_count);
    fo->peers[peer].link_peer = link_peer;
}

void dp_fanout_set_banned(struct dp_fanout *fo, int peer, uint32_t until_s)
{
    DC_ASSERT(peer >= 0 && (uint32_t)peer < fo->peer_count);
    fo->peers[peer].banned_until_s = until_s;
}

int dp_fanout_banned(const struct dp_fanout *fo, int peer, uint32_t now_s)
{
    return peer >= 0 && (uint32_t)peer < fo->peer_count &&
           fo->peers[peer].banned_until_s > now_s;
}

void dp_fanout_raw(struct dp_fanout *fo, const struct sockaddr *to, socklen_t to_len,
                   const uint8_t *data, uint32_t len)
{
    struct dp_tx_buf *tx = fo->ops->tx_get(fo->be);
    if (tx == NULL || len > tx->cap) {
        if (tx != NULL) {
            fo->ops->tx_put(fo->be, tx);
        }
        dp_stats_add(fo->stats, DP_STAT_DROP_TX, 1);
        return;
    }
    memcpy(tx->data, data, len);
    tx->len = len;
    tx->seg_bytes = len;
    tx->seg_count = 1;
    tx->records = 0;
    fo->ops->tx_send(fo->be, tx, to, to_len);
}
