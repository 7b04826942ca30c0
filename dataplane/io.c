#include "dataplane/io.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <string.h>

#define RX_BURST 256
#define SPINS_BEFORE_SLEEP 16 /* short: a shared core is better given back than spun on */
#define SLEEP_MS_MAX 1000

int dp_io_init(struct dp_io *io, const struct dp_io_conf *conf)
{
    if (conf->worker_count > DP_FANOUT_PEERS_MAX ||
        (!conf->skip_verify && (conf->worker_count == 0 || conf->msg_count == 0))) {
        return -EINVAL;
    }
    memset(io, 0, sizeof(*io));
    io->ops = conf->ops;
    io->be = conf->be;
    io->port = conf->port;
    io->cons_port = conf->cons_port;
    io->cons_ids = conf->cons_ids;
    io->finals = conf->finals;
    io->links = conf->links;
    io->forge_every = conf->forge_every;
    io->workers = conf->workers;
    io->worker_count = conf->worker_count;
    io->skip_verify = conf->skip_verify;
    io->busy_poll = conf->busy_poll;
    io->stop = conf->stop;
    io->clock_s = conf->clock_s;
    io->stats = conf->stats;
    atomic_init(&io->sleeping, 0);
    atomic_init(&io->ready, 0);
    int rc = dp_dedup_init(&io->dedup, conf->dedup_entries, conf->dedup_window_s);
    if (rc != 0) {
        return rc;
    }
    rc = dp_fanout_init(&io->fanout, conf->ops, conf->be, io->stats, conf->mtu,
                        conf->subs_max, conf->sub_expiry_s);
    if (rc != 0) {
        dp_dedup_fini(&io->dedup);
        return rc;
    }
    if (io->finals != NULL) {
        rc = dp_deliv_init(&io->deliv, DP_DELIV_ENTRIES_DEFAULT);
        if (rc != 0) {
            dp_fanout_fini(&io->fanout);
            dp_dedup_fini(&io->dedup);
            return rc;
        }
    }
    io->msg_count = conf->skip_verify ? 0 : conf->msg_count;
    if (io->msg_count > 0) {
        io->msgs = dc_alloc((size_t)io->msg_count * sizeof(io->msgs[0]));
        io->free = dc_alloc((size_t)io->msg_count * sizeof(io->free[0]));
        if (io->msgs == NULL || io->free == NULL) {
            dp_io_fini(io);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < io->msg_count; i++) {
            io->free[io->free_count++] = &io->msgs[i];
            /* touch every page now: no page fault when the slot is first used */
            ((volatile uint8_t *)&io->msgs[i])[0] = 0;
        }
    }
    return 0;
}

void dp_io_fini(struct dp_io *io)
{
    dp_deliv_fini(&io->deliv);
    dp_fanout_fini(&io->fanout);
    dp_dedup_fini(&io->dedup);
    dc_free(io->msgs);
    dc_free(io->free);
    io->msgs = NULL;
    io->free = NULL;
}

void dp_io_wake(void *arg)
{
    struct dp_io *io = arg;
    io->ops->wake(io->be);
}

/* The burst of ids so far to the consensus thread; what does not fit is a counted drop. */
static void flush_ids(struct dp_io *io)
{
    if (io->ids_count == 0) {
        return;
    }
    uint32_t n = dp_idring_push_burst(io->cons_ids, io->ids, io->ids_count);
    dp_stats_add(io->stats, DP_STAT_CONS_IDS, n);
    if (n < io->ids_count) {
        dp_stats_add(io->stats, DP_STAT_DROP_CONS_IDS, io->ids_count - n);
    }
    if (n > 0) {
        dp_ctl_port_note(io->cons_port);
    }
    io->ids_count = 0;
}

/* A message whose final position came first (it waited in the deliv table): tell it now. */
static void final_late(struct dp_io *io, const uint8_t *id, const uint8_t *target)
{
    uint64_t height;
    uint32_t index;
    if (!dp_deliv_note(&io->deliv, id, target, &height, &index)) {
        return;
    }
    const struct dp_io_final_block *fb = &io->final_blocks[height % DP_IO_FINAL_BLOCKS];
    if (fb->height != height) {
        return; /* the block is too old to name here; GET /messages/{id} still knows */
    }
    struct dp_fanout_final_entry e = { .index = index, .id = id, .target = target };
    dp_fanout_final(&io->fanout, height, fb->hash, &e, 1);
    dp_stats_add(io->stats, DP_STAT_FINAL_IDS, 1);
}

/*
 * A message this node accepted: fan it out; on a validator queue its id for ordering, on a
 * chain follower remember its target for the FINAL records to come.
 */
/* TESTS ONLY (bench_forge_every): this copy leaves with one signature bit flipped. */
static int forge(struct dp_io *io, const struct dp_wire_msg *msg, struct dp_wire_msg *out)
{
    if (io->forge_every == 0 || ++io->forge_count % io->forge_every != 0) {
        return 0;
    }
    memcpy(io->forged, msg->body, msg->body_len);
    io->forged[msg->body_len - 1] ^= 0x01; /* the signature's last byte */
    struct dp_wire_rec rec = { .type = DP_WIRE_REC_MSG, .body_len = msg->body_len,
                               .body = io->forged };
    return dp_wire_msg_parse(&rec, out) == 0;
}

static void accept_msg(struct dp_io *io, const struct dp_wire_msg *msg, int src_peer)
{
    struct dp_wire_msg forged;
    dp_fanout_msg(&io->fanout, forge(io, msg, &forged) ? &forged : msg, src_peer);
    if (io->cons_ids == NULL && io->finals == NULL) {
        return;
    }
    uint8_t *id = io->ids[io->ids_count];
    dp_wire_msg_id(msg, id);
    if (io->finals != NULL) {
        final_late(io, id, msg->target);
    }
    if (io->cons_ids != NULL && ++io->ids_count == DP_IO_IDS_BATCH) {
        flush_ids(io);
    }
}

/* Final positions from the follower, a block at a time, to the subscribers they concern. */
static uint32_t drain_finals(struct dp_io *io)
{
    static _Thread_local struct dp_final_item items[DP_IO_FINALS_BATCH];
    static _Thread_local struct dp_fanout_final_entry entries[DP_IO_FINALS_BATCH];
    uint32_t n = dp_idring_pop_burst(io->finals, items, DP_IO_FINALS_BATCH);
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct dp_final_item *it = &items[i];
        const uint8_t *target;
        struct dp_io_final_block *fb = &io->final_blocks[it->height % DP_IO_FINAL_BLOCKS];
        fb->height = it->height;
        memcpy(fb->hash, it->block_hash, DP_WIRE_HASH_BYTES);
        if (dp_deliv_final(&io->deliv, it->id, it->height, it->index, &target)) {
            entries[count++] = (struct dp_fanout_final_entry){ .index = it->index,
                                                               .id = it->id, .target = target };
        } else {
            dp_stats_add(io->stats, DP_STAT_FINAL_WAITING, 1);
        }
        /* one call per block: the entries of one call share height and hash */
        if (count > 0 && (i + 1 == n || items[i + 1].height != it->height)) {
            dp_fanout_final(&io->fanout, it->height, it->block_hash, entries, count);
            dp_stats_add(io->stats, DP_STAT_FINAL_IDS, count);
            count = 0;
        }
    }
    return n;
}

/* Good messages out, every slot back to the pool. Returns how many came back. */
static uint32_t drain_results(struct dp_io *io)
{
    uint32_t total = 0;
    void *items[64];
    for (uint32_t w = 0; w < io->worker_count; w++) {
        uint32_t n = dp_ring_dequeue_burst(&io->workers[w].out, items, 64);
        for (uint32_t i = 0; i < n; i++) {
            struct dp_msg *m = items[i];
            if (!m->good && m->link_peer >= 0) {
                dp_linkio_ban(io->links, &io->fanout, io->stats, m->link_peer, io->now_s);
            }
            if (m->good) {
                struct dp_wire_rec rec = { .type = DP_WIRE_REC_MSG, .body_len = m->body_len,
                                           .body = m->body };
                struct dp_wire_msg msg;
                int rc = dp_wire_msg_parse(&rec, &msg);
                DC_ASSERT(rc == 0);
                accept_msg(io, &msg, m->src_peer);
            }
            DC_ASSERT(io->free_count < io->msg_count);
            io->free[io->free_count++] = m;
        }
        total += n;
    }
    return total;
}

/* Hands each worker its batch; what does not fit is a counted drop. */
static void submit_batches(struct dp_io *io)
{
    for (uint32_t w = 0; w < io->worker_count; w++) {
        uint32_t len = io->batch_len[w];
        if (len == 0) {
            continue;
        }
        uint32_t n = dp_ring_enqueue_burst(&io->workers[w].in, (void *const *)io->batch[w], len);
        for (uint32_t i = n; i < len; i++) {
            io->free[io->free_count++] = io->batch[w][i];
        }
        if (n < len) {
            dp_stats_add(io->stats, DP_STAT_DROP_VERIFY_RING, len - n);
        }
        io->batch_len[w] = 0;
        if (n > 0) {
            dp_verify_kick(&io->workers[w], 0);
        }
    }
}

static void to_verify(struct dp_io *io, const struct dp_wire_msg *msg, int src_peer,
                      int link_peer)
{
    if (io->free_count == 0) {
        dp_stats_add(io->stats, DP_STAT_DROP_POOL, 1);
        return;
    }
    struct dp_msg *m = io->free[--io->free_count];
    m->body_len = msg->body_len;
    m->src_peer = (int16_t)src_peer;
    m->link_peer = (int16_t)link_peer;
    m->good = 0;
    memcpy(m->body, msg->body, msg->body_len);
    uint32_t w = io->next_worker;
    io->next_worker = w + 1 == io->worker_count ? 0 : w + 1;
    io->batch[w][io->batch_len[w]++] = m;
    if (io->batch_len[w] == DP_IO_VERIFY_BATCH) {
        submit_batches(io);
    }
}

/* Pass two: the de-dup lookups (their buckets were prefetched), then verify or fan out. */
static void lookup_pending(struct dp_io *io)
{
    for (uint32_t i = 0; i < io->pending_count; i++) {
        struct dp_io_pending *p = &io->pending[i];
        if (dp_dedup_check_hash(&io->dedup, p->hash, io->now_s)) {
            dp_stats_add(io->stats, DP_STAT_DUPLICATES, 1);
        } else if (io->skip_verify) {
            dp_stats_add(io->stats, DP_STAT_SKIPPED_VERIFY, 1);
            accept_msg(io, &p->msg, p->src_peer);
        } else if (p->link_peer >= 0 && !dp_linkio_sample(io->links)) {
            /* verified where it entered the network, and the link says who forwarded it */
            dp_stats_add(io->stats, DP_STAT_TRUSTED, 1);
            accept_msg(io, &p->msg, p->src_peer);
        } else {
            if (p->link_peer >= 0) {
                dp_stats_add(io->stats, DP_STAT_SAMPLED, 1);
            }
            to_verify(io, &p->msg, p->src_peer, p->link_peer);
        }
    }
    io->pending_count = 0;
}

/* Pass one for a message record: parse, hash, prefetch. */
static void on_msg_record(struct dp_io *io, const struct dp_wire_rec *rec, int src_peer,
                          int link_peer)
{
    dp_stats_add(io->stats, DP_STAT_RX_MSGS, 1);
    if (io->pending_count == DP_IO_PENDING_MAX) {
        lookup_pending(io);
    }
    struct dp_io_pending *p = &io->pending[io->pending_count];
    if (dp_wire_msg_parse(rec, &p->msg) != 0) {
        dp_stats_add(io->stats, DP_STAT_BAD_MSG, 1);
        return;
    }
    p->hash = dp_dedup_hash(&io->dedup, p->msg.body, p->msg.body_len);
    p->src_peer = src_peer;
    p->link_peer = link_peer;
    dp_dedup_prefetch(&io->dedup, p->hash);
    io->pending_count++;
}

static void count_bad_frame(struct dp_io *io, int rc)
{
    enum dp_stat s = DP_STAT_BAD_FRAME_OTHER;
    if (rc == DC_ETRUNCATED) {
        s = DP_STAT_BAD_FRAME_TRUNCATED;
    } else if (rc == DC_EVERSION) {
        s = DP_STAT_BAD_FRAME_VERSION;
    }
    dp_stats_add(io->stats, s, 1);
}

/* The records of one opened frame from `pkt`'s source. */
static void on_frame(struct dp_io *io, const struct dp_rx_pkt *pkt, struct dp_wire_iter *it,
                     int src_peer, int link_peer)
{
    struct dp_wire_rec rec;
    while (dp_wire_next(it, &rec)) {
        if (rec.type == DP_WIRE_REC_MSG) {
            on_msg_record(io, &rec, src_peer, link_peer);
        } else if (rec.type == DP_WIRE_REC_SUBSCRIBE) {
            struct dp_wire_sub sub;
            dp_stats_add(io->stats, DP_STAT_RX_SUBSCRIBES, 1);
            if (dp_wire_sub_parse(&rec, &sub) != 0) {
                dp_stats_add(io->stats, DP_STAT_BAD_SUB, 1);
                continue;
            }
            (void)dp_fanout_subscribe(&io->fanout, pkt->src, pkt->src_len, &sub, rec.body,
                                      rec.body_len, io->now_s);
        } else if (rec.type == DP_WIRE_REC_CONSENSUS && io->cons_port != NULL) {
            dp_stats_add(io->stats, DP_STAT_RX_CTL_RECORDS, 1);
            if (dp_ctl_port_push(io->cons_port, rec.type, rec.body, rec.body_len, pkt->src,
                                 pkt->src_len) != 0) {
                dp_stats_add(io->stats, DP_STAT_DROP_CONS_RING, 1);
            }
        } else if (rec.type == DP_WIRE_REC_DISCOVERY || rec.type == DP_WIRE_REC_CONSENSUS) {
            dp_stats_add(io->stats, DP_STAT_RX_CTL_RECORDS, 1);
            if (dp_ctl_port_push(io->port, rec.type, rec.body, rec.body_len, pkt->src,
                                 pkt->src_len) != 0) {
                dp_stats_add(io->stats, DP_STAT_DROP_CTL_RING, 1);
            }
        } else {
            dp_stats_add(io->stats, DP_STAT_BAD_RECORD_TYPE, 1);
        }
    }
}

/* A link packet: a handshake is answered; a data packet's frame is handled at once. */
static void on_link_packet(struct dp_io *io, const struct dp_rx_pkt *pkt)
{
    size_t len = 0;
    int link_peer = -1;
    int src_peer = -1;
    const uint8_t *plain = dp_linkio_rx(io->links, &io->fanout, io->stats, pkt, io->now_s, &len,
                                        &link_peer, &src_peer);
    struct dp_wire_iter it;
    if (plain == NULL) {
        return;
    }
    int rc = dp_wire_frame_open(&it, plain, len);
    if (rc != 0) {
        count_bad_frame(io, rc);
        return;
    }
    on_frame(io, pkt, &it, src_peer, link_peer);
    /* the plaintext lives in the link's buffer until its next packet: look the messages up
     * now, while their bytes are still there */
    lookup_pending(io);
}

static void on_datagram(struct dp_io *io, const struct dp_rx_pkt *pkt)
{
    dp_stats_add(io->stats, DP_STAT_RX_DATAGRAMS, 1);
    dp_stats_add(io->stats, DP_STAT_RX_BYTES, pkt->len);
    if (io->links != NULL && dp_link_is_packet(pkt->data, pkt->len)) {
        on_link_packet(io, pkt);
        return;
    }
    struct dp_wire_iter it;
    int rc = dp_wire_frame_open(&it, pkt->data, pkt->len);
    if (rc != 0) {
        if (rc == DC_EMALFORMED && pkt->len >= 2 &&
            (pkt->data[0] != DP_WIRE_MAGIC0 || pkt->data[1] != DP_WIRE_MAGIC1)) {
            dp_stats_add(io->stats, DP_STAT_BAD_FRAME_MAGIC, 1);
        } else {
            count_bad_frame(io, rc);
        }
        return;
    }
    int src_peer = dp_fanout_find_peer(&io->fanout, pkt->src, pkt->src_len);
    if (dp_fanout_banned(&io->fanout, src_peer, io->now_s)) {
        dp_stats_add(io->stats, DP_STAT_BANNED_FRAMES, 1);
        return;
    }
    on_frame(io, pkt, &it, src_peer, -1);
}

void dp_io_process(struct dp_io *io, const struct dp_rx_pkt *pkts, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        on_datagram(io, &pkts[i]);
    }
    lookup_pending(io);
}

/* One pass of the loop; returns how much work it found (0: idle). */
static uint32_t iteration(struct dp_io *io, struct dp_rx_pkt *pkts)
{
    io->now_s = atomic_load_explicit(io->clock_s, memory_order_relaxed);
    io->fanout.now_s = io->now_s;
    io->fanout.now_ms = (uint64_t)io->now_s * 1000u;
    if (io->now_s != io->last_sweep_s) { /* once a second, before the sends are flushed */
        io->last_sweep_s = io->now_s;
        dp_fanout_expire(&io->fanout, io->now_s);
        if (io->links != NULL) {
            dp_linkio_tick(io->links, &io->fanout, io->now_s);
        }
        if (io->finals != NULL) { /* a counter kept by the table, published once a second */
            dp_stats_set_gauge(io->stats, DP_STAT_FINAL_EVICTED, io->deliv.evicted_waiting);
        }
    }
    uint32_t work = io->skip_verify ? 0 : drain_results(io);
    for (uint32_t i = 0; io->finals != NULL && i < DP_IO_FINALS_PASSES; i++) {
        uint32_t n = drain_finals(io); /* a block of thousands of ids: several batches */
        work += n;
        if (n < DP_IO_FINALS_BATCH) {
            break;
        }
    }
    uint32_t n = io->ops->rx_burst(io->be, pkts, RX_BURST);
    dp_io_process(io, pkts, n);
    io->ops->rx_release(io->be);
    submit_batches(io);
    dp_fanout_flush(&io->fanout);
    dp_ctl_port_flush(io->port);
    if (io->cons_port != NULL) {
        flush_ids(io);
        dp_ctl_port_flush(io->cons_port);
    }
    io->ops->tx_flush(io->be);

    return work + n;
}

/* Nothing to do for a while: sleep in the backend unless a worker result slipped in. */
static void idle_sleep(struct dp_io *io)
{
    atomic_store_explicit(&io->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst); /* flag before re-checking the rings */
    int pending = atomic_load(io->stop);
    for (uint32_t w = 0; w < io->worker_count && !pending; w++) {
        pending = dp_ring_count(&io->workers[w].out) > 0;
    }
    if (io->finals != NULL && !pending) {
        pending = dp_idring_count(io->finals) > 0;
    }
    if (!pending) {
        io->ops->wait(io->be, SLEEP_MS_MAX);
    }
    atomic_store_explicit(&io->sleeping, 0, memory_order_relaxed);
}

void dp_io_main_loop(struct dp_io *io)
{
    io->init_rc = io->ops->thread_init(io->be);
    atomic_store(&io->ready, io->init_rc == 0 ? 1 : -1);
    if (io->init_rc != 0) {
        return;
    }
    static _Thread_local struct dp_rx_pkt pkts[RX_BURST];
    io->ops->tx_flush(io->be); /* arm receive */
    dc_alloc_seal();
    uint32_t idle = 0;
    while (!atomic_load_explicit(io->stop, memory_order_relaxed)) {
        if (iteration(io, pkts) > 0) {
            idle = 0;
        } else if (!io->busy_poll && ++idle > SPINS_BEFORE_SLEEP) {
            idle_sleep(io);
            idle = 0;
        }
    }
}
