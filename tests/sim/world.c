/*
 * The simulator's world loop: a simulated network (delay, loss, duplication, reordering,
 * partitions), simulated disks (write-ahead log and block store that lose unsynced writes
 * on a crash), skewed clocks, and n real state machines driven by them.
 */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "world.h"

#define LIVE_BUDGET 40000           /* time units the healed network gets to commit */
#define MEMPOOL_IDS 256             /* pending ids per validator ... */
#define MEMPOOL_PARTS_IDS 4096      /* ... with large blocks */
#define CRASH_MID_BATCH_PM 4        /* chance a group commit is cut by a power loss */
#define BURST_STRAGGLER_PM 30       /* a part of a burst that takes a path of its own */

static const uint8_t genesis_hash[CONS_HASH_BYTES] = { 'g', 'e', 'n', 'e', 's', 'i', 's' };

void sim_fail(struct sim_world *w, const char *fmt, ...)
{
    va_list ap;
    if (w->failed) {
        return;
    }
    w->failed = 1;
    va_start(ap, fmt);
    vsnprintf(w->res->why, sizeof(w->res->why), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ network */

static int msg_before(const struct sim_world *w, uint32_t a, uint32_t b)
{
    const struct sim_msg *x = &w->msgs[a], *y = &w->msgs[b];
    return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void heap_push(struct sim_world *w, uint32_t index)
{
    uint32_t at = w->heap_len++;
    w->heap[at] = index;
    while (at > 0 && msg_before(w, w->heap[at], w->heap[(at - 1) / 2])) {
        uint32_t up = (at - 1) / 2;
        uint32_t tmp = w->heap[up];
        w->heap[up] = w->heap[at];
        w->heap[at] = tmp;
        at = up;
    }
}

static uint32_t heap_pop(struct sim_world *w)
{
    uint32_t top = w->heap[0];
    uint32_t at = 0;
    w->heap[0] = w->heap[--w->heap_len];
    for (;;) {
        uint32_t l = 2 * at + 1, r = l + 1, best = at;
        if (l < w->heap_len && msg_before(w, w->heap[l], w->heap[best])) {
            best = l;
        }
        if (r < w->heap_len && msg_before(w, w->heap[r], w->heap[best])) {
            best = r;
        }
        if (best == at) {
            return top;
        }
        uint32_t tmp = w->heap[best];
        w->heap[best] = w->heap[at];
        w->heap[at] = tmp;
        at = best;
    }
}

/*
 * A datagram's delay: independent, 1..delay_max; within a burst (the parts of one message)
 * the burst's delay to that destination plus a jitter of up to an eighth of it, and now
 * and then (a straggler) independent again. Parts sent together arrive roughly together,
 * as on a real path, yet reorder among themselves and against other messages.
 */
static uint64_t datagram_delay(struct sim_world *w, uint32_t to)
{
    if (!w->burst || sim_rng_chance(&w->rng, BURST_STRAGGLER_PM)) {
        return 1 + sim_rng_below(&w->rng, w->delay_max);
    }
    return w->burst_delay[to] + sim_rng_below(&w->rng, w->delay_max / 8 + 1);
}

void sim_net_burst_begin(struct sim_world *w)
{
    DC_ASSERT(!w->burst);
    w->burst = 1;
    for (uint32_t j = 0; j < w->n; j++) {
        w->burst_delay[j] = 1 + sim_rng_below(&w->rng, w->delay_max);
    }
}

void sim_net_burst_end(struct sim_world *w)
{
    DC_ASSERT(w->burst);
    w->burst = 0;
}

static void enqueue(struct sim_world *w, uint32_t from, uint32_t to, const uint8_t *bytes,
                    uint32_t len)
{
    uint32_t copies = 1 + (uint32_t)sim_rng_chance(&w->rng, w->dup_pm);
    if (w->nodes[from].group != w->nodes[to].group || sim_rng_chance(&w->rng, w->drop_pm)) {
        return;
    }
    for (uint32_t c = 0; c < copies; c++) {
        if (w->free_len == 0) {
            return; /* the network's buffers are full: a drop like any other */
        }
        uint32_t index = w->free_list[--w->free_len];
        struct sim_msg *msg = &w->msgs[index];
        msg->at = w->now + datagram_delay(w, to);
        msg->seq = w->seq++;
        msg->from = (uint16_t)from;
        msg->to = (uint16_t)to;
        msg->len = len;
        memcpy(msg->bytes, bytes, len);
        heap_push(w, index);
        w->res->messages++;
    }
}

void sim_net_send(struct sim_world *w, uint32_t from, uint32_t to, const uint8_t *bytes,
                  uint32_t len)
{
    if (to != CONS_TO_ALL) {
        DC_ASSERT(to < w->n);
        enqueue(w, from, to, bytes, len);
        return;
    }
    for (uint32_t j = 0; j < w->n; j++) {
        if (j != from) {
            enqueue(w, from, j, bytes, len);
        }
    }
}

uint32_t sim_encode(const struct sim_world *w, const struct cons_msg *msg, uint8_t *out)
{
    size_t size = cons_msg_encoded_size(msg);
    DC_ASSERT(size > 0 && size <= w->msg_bytes_max);
    return (uint32_t)cons_msg_encode(msg, out, w->msg_bytes_max);
}

/* The largest message of a run whose blocks hold up to `ids` ids: a full sync block. */
static uint32_t msg_bytes_for(uint32_t ids)
{
    return 1 + CONS_HEADER_BYTES_MAX + ids * CONS_ID_BYTES + CONS_CERT_BYTES_MAX;
}

/* ------------------------------------------------------------------ disks */

static void wal_append(struct sim_world *w, struct sim_node *node, const struct cons_msg *rec)
{
    uint8_t *buf = w->rec_buf;
    size_t size = cons_record_encoded_size(rec);
    DC_ASSERT(size > 0 && size <= w->msg_bytes_max);
    size = cons_record_encode(rec, buf, w->msg_bytes_max);
    int err = cons_wal_append(&node->wal, 1, buf, (uint32_t)size, NULL);
    if (err != 0) {
        sim_fail(w, "node %u: WAL append failed: %s", node->m.cfg.self, dc_strerror(err));
    }
}

static void store_append(struct sim_world *w, struct sim_node *node,
                         const struct cons_block *block, const struct cons_cert *cert)
{
    uint64_t h = block->header.height;
    struct cons_msg msg = { .kind = CONS_MSG_SYNC_BLOCK, .block = block, .cert = cert };
    if (h >= SIM_HEIGHTS_MAX) {
        sim_fail(w, "simulated block store full (raise SIM_HEIGHTS_MAX)");
        return;
    }
    DC_ASSERT(h == node->store_top + 1);
    struct sim_stored *st = &node->store[h];
    size_t size = cons_msg_encoded_size(&msg);
    if (st->cap < size) {
        free(st->bytes);
        st->cap = (uint32_t)size < SIM_MSG_BYTES_MAX ? SIM_MSG_BYTES_MAX : (uint32_t)size;
        st->bytes = malloc(st->cap);
        DC_ASSERT(st->bytes != NULL);
    }
    st->len = sim_encode(w, &msg, st->bytes);
    node->store[h].synced = 0;
    node->store_top = h;
}

static int node_dirty(const struct sim_node *node)
{
    return cons_wal_next_seq(&node->wal) - 1 > cons_wal_synced_seq(&node->wal) ||
           (node->store_top > 0 && !node->store[node->store_top].synced);
}

/*
 * Power loss: whatever was written after the last sync is gone, except (sometimes) a prefix
 * of the log's unsynced bytes, which recovery must cut at a record boundary.
 */
static void node_crash(struct sim_world *w, struct sim_node *node)
{
    uint64_t unsynced = node->wal_mem.len - node->wal_mem.durable_len;
    uint64_t keep = sim_rng_chance(&w->rng, 500) ? sim_rng_below(&w->rng, unsynced + 1) : 0;
    cons_wal_fini(&node->wal);
    node->wal_open = 0;
    cons_disk_mem_crash(&node->wal_mem, keep);
    while (node->store_top > 0 && !node->store[node->store_top].synced) {
        node->store[node->store_top].len = 0;
        node->store_top--;
    }
    node->up = 0;
    w->res->crashes++;
    if (w->verbose) {
        printf("t=%llu node %u crashes (store at %llu, log keeps %llu of %llu unsynced bytes)\n",
               (unsigned long long)w->now, node->m.cfg.self,
               (unsigned long long)node->store_top, (unsigned long long)keep,
               (unsigned long long)unsynced);
    }
}

/* Group commit: one sync for everything written since the last. 0 when power failed first. */
static int flush(struct sim_world *w, struct sim_node *node)
{
    if (!node_dirty(node)) {
        return 1;
    }
    if (w->sc->crashes && !w->healed && sim_rng_chance(&w->rng, CRASH_MID_BATCH_PM)) {
        /* The log may have written part of the batch out already: write it, then fail. */
        (void)cons_wal_flush(&node->wal);
        node_crash(w, node);
        return 0;
    }
    int err = cons_wal_sync(&node->wal);
    if (err != 0) {
        sim_fail(w, "node %u: WAL sync failed: %s", node->m.cfg.self, dc_strerror(err));
        return 0;
    }
    for (uint64_t h = node->store_top; h > 0 && !node->store[h].synced; h--) {
        node->store[h].synced = 1;
    }
    return 1;
}

/* ------------------------------------------------------------------ nodes */

static void run_actions(struct sim_world *w, struct sim_node *node);

static void serve_sync(struct sim_world *w, struct sim_node *node, uint16_t to, uint64_t from)
{
    if (w->verbose > 1) {
        printf("t=%llu node %u serves node %u heights %llu..%llu\n", (unsigned long long)w->now,
               node->m.cfg.self, to, (unsigned long long)from,
               (unsigned long long)node->store_top);
    }
    /* A few blocks per request: the requester asks again while it is behind. */
    for (uint64_t h = from; h <= node->store_top && h < from + 4; h++) {
        if (node->store[h].len > 0) {
            /* one-off: cut into parts uncached, as the node does */
            sim_send_bytes(w, node, to, node->store[h].bytes, node->store[h].len, 0);
        }
    }
}

static void do_send(struct sim_world *w, struct sim_node *node, const struct cons_action *a)
{
    if (a->msg.kind == CONS_MSG_VOTE) {
        sim_check_vote(w, node, &a->msg.vote);
    }
    if (w->verbose > 1 && a->msg.kind == CONS_MSG_VOTE &&
        a->msg.vote.validator == node->m.cfg.self) {
        printf("t=%llu node %u %s h=%llu r=%u %s%02x%02x (locked %lld)\n",
               (unsigned long long)w->now, node->m.cfg.self,
               a->msg.vote.type == CONS_VOTE_PREVOTE ? "prevote" : "precommit",
               (unsigned long long)a->msg.vote.height, a->msg.vote.round,
               a->msg.vote.has_block ? "" : "nil ", a->msg.vote.block_hash[0],
               a->msg.vote.block_hash[1], (long long)node->m.locked_round);
    }
    if (w->verbose > 1 && a->msg.kind == CONS_MSG_PROPOSAL &&
        a->msg.proposal.proposer == node->m.cfg.self) {
        printf("t=%llu node %u proposes h=%llu r=%u pol=%d %02x%02x\n",
               (unsigned long long)w->now, node->m.cfg.self,
               (unsigned long long)a->msg.proposal.height, a->msg.proposal.round,
               a->msg.proposal.pol_round, a->msg.proposal.block_hash[0],
               a->msg.proposal.block_hash[1]);
    }
    if (node->byzantine) {
        sim_byz_send(w, node, a);
        return;
    }
    sim_send(w, node, a->to, &a->msg);
}

static void do_commit(struct sim_world *w, struct sim_node *node, const struct cons_action *a)
{
    sim_check_commit(w, node, a->block, a->cert);
    store_append(w, node, a->block, a->cert);
    if (w->verbose) {
        printf("t=%llu node %u commits height %llu (%u ids, cert round %u)\n",
               (unsigned long long)w->now, node->m.cfg.self,
               (unsigned long long)a->block->header.height, a->block->header.id_count,
               a->cert->round);
    }
}

/* Carry out a batch in order; a SEND waits for the PERSISTs before it to be synced. */
static void run_actions(struct sim_world *w, struct sim_node *node)
{
    for (uint32_t i = 0; i < node->out.count && node->up && !w->failed; i++) {
        const struct cons_action *a = &node->out.items[i];
        switch (a->type) {
        case CONS_ACT_PERSIST:
            wal_append(w, node, &a->msg);
            break;
        case CONS_ACT_COMMIT:
            do_commit(w, node, a);
            break;
        case CONS_ACT_SEND:
            if (!flush(w, node)) {
                return;
            }
            do_send(w, node, a);
            break;
        case CONS_ACT_SERVE_SYNC:
            serve_sync(w, node, a->to, a->height);
            break;
        case CONS_ACT_SCHEDULE:
            DC_ASSERT(a->at_tick > node->ticks);
            break;
        default:
            DC_ASSERT(0);
        }
    }
    if (node->up) {
        (void)flush(w, node);
    }
}

static void node_config(struct sim_world *w, struct sim_node *node, uint32_t index,
                        struct cons_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->valset = &w->valset;
    cfg->chain_id = SIM_CHAIN;
    cfg->self = index;
    memcpy(cfg->secret_key, node->sk, CONS_SK_BYTES);
    cfg->timeout_propose_ticks = 30;
    cfg->timeout_prevote_ticks = 10;
    cfg->timeout_precommit_ticks = 10;
    cfg->timeout_delta_ticks = 5;
    cfg->empty_block_interval_ticks = SIM_EMPTY_BLOCK_TICKS;
    cfg->rebroadcast_ticks = 12;
    cfg->sync_retry_ticks = 10;
    cfg->block_ids_max = w->block_ids_max;
    cfg->mempool_ids_max = w->parts ? MEMPOOL_PARTS_IDS : MEMPOOL_IDS;
    cfg->recent_ids_max = w->ids_total;
    memcpy(cfg->hash_key, &w->seed, 8);
    cfg->hash_key[8] = (uint8_t)index;
    cfg->sig_ops = w->sig_ops;
    cfg->block_valid = sim_block_valid;
    cfg->block_valid_ctx = w;
}

/* Recover the log (cutting a torn tail) and replay our own records into the machine. */
static int replay_log(struct sim_world *w, struct sim_node *node)
{
    struct cons_wal_config cfg = {
        .kind = CONS_WAL_KIND_VOTES, .payload_bytes_max = w->msg_bytes_max,
        .buffer = node->wal_buffer, .buffer_bytes = SIM_WAL_BUFFER_BYTES, .first_seq = 1,
    };
    struct cons_wal_report report;
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    struct cons_msg msg;
    if (node->wal_open) {
        cons_wal_fini(&node->wal);
    }
    int err = cons_wal_open(&node->wal, cons_disk_mem_disk(&node->wal_mem), &cfg, &report);
    if (err != 0) {
        sim_fail(w, "node %u: WAL recovery failed: %s (%s)", node->m.cfg.self,
                 dc_strerror(err), report.why != NULL ? report.why : "?");
        return err;
    }
    node->wal_open = 1;
    cons_wal_cursor_init(&node->wal, &cursor);
    while ((err = cons_wal_next(&node->wal, &cursor, &rec, w->wal_payload,
                                w->msg_bytes_max)) == 1) {
        err = cons_record_decode(rec.payload, rec.payload_len, &msg, &w->dec_block);
        DC_ASSERT(err == 0); /* the log checksums what we wrote */
        err = cons_machine_restore(&node->m, &msg);
        if (err != 0 && err != DC_ESTALE) {
            sim_fail(w, "node %u: restoring its own log failed: %s", node->m.cfg.self,
                     dc_strerror(err));
            return err;
        }
    }
    if (err != 0) {
        sim_fail(w, "node %u: reading the WAL failed: %s", node->m.cfg.self, dc_strerror(err));
    }
    return err;
}

/* (Re)start a validator from its disk: the stored chain, then its log for the next height. */
static void node_boot(struct sim_world *w, struct sim_node *node, uint32_t index)
{
    struct cons_config cfg;
    uint8_t prev_hash[CONS_HASH_BYTES];
    uint64_t prev_time = 0;
    struct cons_msg rec;
    node_config(w, node, index, &cfg);
    int err = cons_machine_init(&node->m, &cfg, node->arena, cons_machine_arena_size(&cfg));
    DC_ASSERT(err == 0);
    sim_parts_boot(w, node);
    memcpy(prev_hash, genesis_hash, CONS_HASH_BYTES);
    if (node->store_top > 0) {
        const struct sim_stored *top = &node->store[node->store_top];
        err = cons_msg_decode(top->bytes, top->len, &rec, &w->dec_block, &w->dec_cert);
        DC_ASSERT(err == 0);
        cons_block_hash(&w->dec_block, prev_hash);
        prev_time = w->dec_block.header.time_ticks;
    }
    cons_machine_start(&node->m, node->store_top + 1, prev_hash, prev_time);
    /* The recent-id window holds every id of a run: give it the whole stored chain. */
    for (uint64_t h = 1; h <= node->store_top; h++) {
        err = cons_msg_decode(node->store[h].bytes, node->store[h].len, &rec, &w->dec_block,
                              &w->dec_cert);
        DC_ASSERT(err == 0);
        cons_machine_remember(&node->m, &w->dec_block);
    }
    if (replay_log(w, node) != 0) {
        return;
    }
    node->up = 1;
    cons_machine_begin(&node->m, node->ticks, &node->out);
    run_actions(w, node);
}

void sim_hand_message(struct sim_world *w, struct sim_node *node, uint32_t from,
                      const uint8_t *bytes, size_t len)
{
    struct cons_msg cm;
    uint32_t self = node->m.cfg.self;
    int err = cons_msg_decode(bytes, len, &cm, &w->dec_block, &w->dec_cert);
    /* Everything on this wire was encoded by cons_msg_encode: a whole message, or one whose
     * parts hashed to their root. */
    DC_ASSERT(err == 0);
    err = cons_on_message(&node->m, &cm, &node->out);
    if (cm.kind == CONS_MSG_SYNC_BLOCK && err != 0 && w->verbose > 1) {
        printf("t=%llu node %u: sync block for height %llu from %u refused: %s\n",
               (unsigned long long)w->now, self, (unsigned long long)cm.block->header.height,
               from, dc_strerror(err));
    }
    if (err == DC_ESIGNATURE && w->verbose) {
        printf("t=%llu node %u: bad signature on kind %u from %u\n", (unsigned long long)w->now,
               self, cm.kind, from);
    }
    run_actions(w, node);
}

static void deliver(struct sim_world *w, const struct sim_msg *msg)
{
    struct sim_node *node = &w->nodes[msg->to];
    if (node->up) {
        sim_parts_recv(w, node, msg->from, msg->bytes, msg->len);
    }
}

static void node_tick(struct sim_world *w, struct sim_node *node)
{
    node->ticks++;
    node->next_tick_at += node->period;
    if (node->up) {
        cons_tick(&node->m, node->ticks, &node->out);
        run_actions(w, node);
    }
    if (node->up && !w->failed) {
        sim_parts_tick(w, node);
    }
}

/* ------------------------------------------------------------------ faults and clients */

static uint32_t pick_node(struct sim_world *w, int up, int honest_only)
{
    uint32_t candidates[SIM_NODES_MAX];
    uint32_t count = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->nodes[i].up == up && !(honest_only && w->nodes[i].byzantine)) {
            candidates[count++] = i;
        }
    }
    return count == 0 ? w->n : candidates[sim_rng_below(&w->rng, count)];
}

static void fault_partition(struct sim_world *w)
{
    int split = sim_rng_chance(&w->rng, 600);
    for (uint32_t i = 0; i < w->n; i++) {
        w->nodes[i].group = split ? (uint8_t)sim_rng_below(&w->rng, 2) : 0;
    }
    if (w->verbose) {
        printf("t=%llu network %s\n", (unsigned long long)w->now, split ? "splits" : "heals");
    }
}

static void fault_crash_or_restart(struct sim_world *w)
{
    uint32_t victim = pick_node(w, 1, 1);
    uint32_t sleeper = pick_node(w, 0, 0);
    if (sleeper < w->n && (victim == w->n || sim_rng_chance(&w->rng, 500))) {
        w->nodes[sleeper].restarts++;
        node_boot(w, &w->nodes[sleeper], sleeper);
        return;
    }
    if (victim < w->n) {
        node_crash(w, &w->nodes[victim]);
    }
}

static void fault_step(struct sim_world *w)
{
    int crash = w->sc->crashes && (!w->sc->partitions || sim_rng_chance(&w->rng, 500));
    if (crash) {
        fault_crash_or_restart(w);
    } else if (w->sc->partitions) {
        fault_partition(w);
    }
    w->next_fault_at = w->now + 100 + sim_rng_below(&w->rng, 1500);
}

/*
 * A client hands the next ids to one or two validators: one id, or with large blocks a burst
 * of up to burst_max (a batch the node would take in one loop).
 */
static void submit_step(struct sim_world *w)
{
    uint32_t copies = 1 + (uint32_t)sim_rng_below(&w->rng, 2);
    uint32_t burst = w->parts ? 1 + (uint32_t)sim_rng_below(&w->rng, w->burst_max) : 1;
    w->next_submit_at = w->now + 5 + sim_rng_below(&w->rng, 40);
    if (w->ids_submitted + burst > w->ids_total) {
        burst = (uint32_t)(w->ids_total - w->ids_submitted);
    }
    if (burst == 0) {
        return;
    }
    uint64_t first = w->ids_submitted;
    w->ids_submitted += burst;
    for (uint32_t k = 0; k < burst; k++) {
        sim_submitted_id(w, first + k);
    }
    for (uint32_t c = 0; c < copies; c++) {
        uint32_t to = pick_node(w, 1, 0);
        int accepted = 0;
        for (uint32_t k = 0; to < w->n && k < burst; k++) {
            accepted |= cons_submit(&w->nodes[to].m, w->ids[first + k]) == 0;
        }
        if (accepted) {
            /* As the node does: a tick after submitting lets a waiting proposer propose. */
            cons_tick(&w->nodes[to].m, w->nodes[to].ticks, &w->nodes[to].out);
            run_actions(w, &w->nodes[to]);
        }
    }
}

static uint64_t honest_height_max(const struct sim_world *w)
{
    uint64_t best = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].byzantine && w->nodes[i].m.height - 1 > best) {
            best = w->nodes[i].m.height - 1;
        }
    }
    return best;
}

/* End of the fault phase: heal the network, restart everyone, start the liveness clock. */
static void heal(struct sim_world *w)
{
    w->healed = 1;
    w->drop_pm = 0;
    w->dup_pm = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        w->nodes[i].group = 0;
        if (!w->nodes[i].up) {
            node_boot(w, &w->nodes[i], i);
        }
    }
    w->heal_height = honest_height_max(w);
    w->res->fault_heights = w->heal_height;
    w->res->fault_time = w->now;
    w->live_deadline = w->now + LIVE_BUDGET;
    if (w->verbose) {
        printf("t=%llu healed at height %llu\n", (unsigned long long)w->now,
               (unsigned long long)w->heal_height);
    }
}

/* Progress: after the heal every honest validator commits a block past the heal height. */
static int live_done(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].byzantine && w->nodes[i].m.height - 1 < w->heal_height + 1) {
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ the run */

/* The machine arena of the largest configuration a run can have. */
static size_t arena_bytes_max(void)
{
    struct cons_config cfg = {
        .block_ids_max = SIM_PARTS_IDS_MAX, .mempool_ids_max = MEMPOOL_PARTS_IDS,
        .recent_ids_max = SIM_PARTS_IDS_TOTAL,
    };
    return cons_machine_arena_size(&cfg);
}

static struct sim_world *world_get(void)
{
    static struct sim_world *w;
    if (w != NULL) {
        return w;
    }
    w = calloc(1, sizeof(*w));
    DC_ASSERT(w != NULL);
    w->msgs = calloc(SIM_INFLIGHT_MAX, sizeof(*w->msgs));
    w->heap = calloc(SIM_INFLIGHT_MAX, sizeof(*w->heap));
    w->free_list = calloc(SIM_INFLIGHT_MAX, sizeof(*w->free_list));
    w->committed_hash = calloc(SIM_HEIGHTS_MAX, CONS_HASH_BYTES);
    w->committed_set = calloc(SIM_HEIGHTS_MAX, 1);
    w->id_committed = calloc(SIM_PARTS_IDS_TOTAL, 1);
    w->ids = calloc(SIM_PARTS_IDS_TOTAL, CONS_ID_BYTES);
    w->votes = calloc(SIM_VOTES_MAX, sizeof(*w->votes));
    w->enc = malloc(msg_bytes_for(SIM_PARTS_IDS_MAX));
    w->enc_alt = malloc(msg_bytes_for(SIM_PARTS_IDS_MAX));
    w->rec_buf = malloc(msg_bytes_for(SIM_PARTS_IDS_MAX));
    w->wal_payload = malloc(msg_bytes_for(SIM_PARTS_IDS_MAX));
    w->dec_ids = calloc(SIM_PARTS_IDS_MAX, CONS_ID_BYTES);
    w->alt_ids = calloc(SIM_PARTS_IDS_MAX, CONS_ID_BYTES);
    DC_ASSERT(w->msgs && w->heap && w->free_list && w->committed_hash && w->committed_set &&
              w->id_committed && w->votes && w->enc && w->enc_alt && w->rec_buf &&
              w->wal_payload && w->dec_ids && w->alt_ids && w->ids);
    for (uint32_t i = 0; i < SIM_NODES_MAX; i++) {
        w->nodes[i].wal_bytes = calloc(1, SIM_WAL_BYTES);
        w->nodes[i].wal_buffer = calloc(1, SIM_WAL_BUFFER_BYTES);
        w->nodes[i].store = calloc(SIM_HEIGHTS_MAX, sizeof(struct sim_stored));
        w->nodes[i].arena = aligned_alloc(64, (arena_bytes_max() + 63) & ~(size_t)63);
        DC_ASSERT(w->nodes[i].wal_bytes && w->nodes[i].wal_buffer && w->nodes[i].store &&
                  w->nodes[i].arena);
    }
    return w;
}

void sim_release(void)
{
    struct sim_world *w = world_get();
    for (uint32_t i = 0; i < SIM_NODES_MAX; i++) {
        for (uint32_t h = 0; h < SIM_HEIGHTS_MAX; h++) {
            free(w->nodes[i].store[h].bytes);
        }
        free(w->nodes[i].frag_mem);
        free(w->nodes[i].wal_bytes);
        free(w->nodes[i].wal_buffer);
        free(w->nodes[i].store);
        free(w->nodes[i].arena);
    }
    free(w->msgs);
    free(w->heap);
    free(w->free_list);
    free(w->committed_hash);
    free(w->committed_set);
    free(w->id_committed);
    free(w->votes);
    free(w->enc);
    free(w->enc_alt);
    free(w->rec_buf);
    free(w->wal_payload);
    free(w->dec_ids);
    free(w->alt_ids);
    free(w->ids);
    free(w);
}

static void world_reset(struct sim_world *w, const struct sim_scenario *sc, uint64_t seed,
                        int parts)
{
    w->sc = sc;
    w->seed = seed;
    sim_rng_seed(&w->rng, seed);
    w->failed = 0;
    w->n = sc->nodes;
    w->now = 0;
    w->heap_len = 0;
    w->free_len = SIM_INFLIGHT_MAX;
    for (uint32_t i = 0; i < SIM_INFLIGHT_MAX; i++) {
        w->free_list[i] = SIM_INFLIGHT_MAX - 1 - i;
    }
    w->seq = 0;
    w->burst = 0;
    memset(w->committed_set, 0, SIM_HEIGHTS_MAX);
    memset(w->id_committed, 0, SIM_PARTS_IDS_TOTAL);
    w->ids_submitted = 0;
    w->gen++;
    w->healed = 0;
    w->drop_pm = (uint32_t)sim_rng_below(&w->rng, sc->drop_pm_max + 1);
    w->dup_pm = (uint32_t)sim_rng_below(&w->rng, sc->dup_pm_max + 1);
    w->delay_max = 1 + (uint32_t)sim_rng_below(&w->rng, sc->delay_max);
    w->faults_end = 1500 + sim_rng_below(&w->rng, 2500);
    w->next_fault_at = 200 + sim_rng_below(&w->rng, 800);
    w->next_submit_at = 1;
    /* The Byzantine validators (at most f): distinct, drawn at random; they collude. */
    w->byz_mask = 0;
    DC_ASSERT(sc->byzantine <= cons_valset_faulty_max(sc->nodes));
    while ((uint32_t)__builtin_popcountll(w->byz_mask) < sc->byzantine) {
        w->byz_mask |= (uint64_t)1 << sim_rng_below(&w->rng, sc->nodes);
    }
    /* Message sizes: drawn last, so that a run without parts replays as it always did. */
    w->parts = parts || sc->parts;
    w->block_ids_max = SIM_BLOCK_IDS;
    w->ids_total = SIM_IDS_MAX;
    w->burst_max = 1;
    if (w->parts) {
        uint32_t span = SIM_PARTS_IDS_MAX - SIM_PARTS_IDS_MIN + 1;
        w->block_ids_max = SIM_PARTS_IDS_MIN + (uint32_t)sim_rng_below(&w->rng, span);
        w->ids_total = SIM_PARTS_IDS_TOTAL;
        w->burst_max = 20 + (uint32_t)sim_rng_below(&w->rng, SIM_PARTS_BURST_MAX - 20 + 1);
    }
    w->msg_bytes_max = msg_bytes_for(w->block_ids_max);
    cons_block_init(&w->dec_block, w->dec_ids, w->block_ids_max);
}

static void world_setup(struct sim_world *w)
{
    uint8_t pks[SIM_NODES_MAX][CONS_PK_BYTES];
    for (uint32_t i = 0; i < w->n; i++) {
        struct sim_node *node = &w->nodes[i];
        uint8_t key_seed[crypto_sign_SEEDBYTES] = { 0 };
        memcpy(key_seed, &w->seed, 8);
        key_seed[8] = (uint8_t)i;
        crypto_sign_seed_keypair(node->pk, node->sk, key_seed);
        memcpy(pks[i], node->pk, CONS_PK_BYTES);
        node->up = 0;
        node->byzantine = (w->byz_mask >> i) & 1;
        node->group = 0;
        /* Clock rates within +-20%: see docs/CONSENSUS.md on why not 4x. */
        node->period = w->sc->skew ? 8 + (uint32_t)sim_rng_below(&w->rng, 5) : SIM_TICK_UNITS;
        node->ticks = w->sc->skew ? sim_rng_below(&w->rng, 1000) : 0;
        node->next_tick_at = 1 + sim_rng_below(&w->rng, node->period);
        if (node->wal_open) {
            cons_wal_fini(&node->wal);
            node->wal_open = 0;
        }
        cons_disk_mem_init(&node->wal_mem, node->wal_bytes, SIM_WAL_BYTES);
        node->store_top = 0;
        node->restarts = 0;
    }
    int err = cons_valset_init(&w->valset, (const uint8_t (*)[CONS_PK_BYTES])pks, w->n, 0);
    DC_ASSERT(err == 0);
    for (uint32_t i = 0; i < w->n; i++) {
        struct cons_config cfg;
        node_config(w, &w->nodes[i], i, &cfg);
        DC_ASSERT(cons_machine_arena_size(&cfg) <= arena_bytes_max());
        node_boot(w, &w->nodes[i], i);
    }
}

/* The earliest thing that happens next. */
static uint64_t next_event(const struct sim_world *w)
{
    uint64_t t = w->next_submit_at;
    if (w->heap_len > 0 && w->msgs[w->heap[0]].at < t) {
        t = w->msgs[w->heap[0]].at;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->nodes[i].next_tick_at < t) {
            t = w->nodes[i].next_tick_at;
        }
    }
    if (!w->healed) {
        uint64_t f = w->next_fault_at < w->faults_end ? w->next_fault_at : w->faults_end;
        t = f < t ? f : t;
    }
    return t;
}

static void step(struct sim_world *w)
{
    w->now = next_event(w);
    while (w->heap_len > 0 && w->msgs[w->heap[0]].at <= w->now && !w->failed) {
        uint32_t index = heap_pop(w);
        deliver(w, &w->msgs[index]);
        w->free_list[w->free_len++] = index;
    }
    for (uint32_t i = 0; i < w->n && !w->failed; i++) {
        if (w->nodes[i].next_tick_at <= w->now) {
            node_tick(w, &w->nodes[i]);
        }
    }
    if (!w->healed && w->now >= w->faults_end) {
        heal(w);
    } else if (!w->healed && w->now >= w->next_fault_at &&
               (w->sc->crashes || w->sc->partitions)) {
        fault_step(w);
    } else if (!w->healed && w->now >= w->next_fault_at) {
        w->next_fault_at = w->faults_end;
    }
    if (w->now >= w->next_submit_at) {
        submit_step(w);
    }
}

/* Where every validator stands: printed with a failure in verbose runs. */
static void dump(const struct sim_world *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        const struct sim_node *node = &w->nodes[i];
        const struct cons_machine *m = &node->m;
        const struct cons_stats *st = &m->stats;
        printf("node %u%s%s: height %llu round %u step %u locked %lld valid %lld | in %llu "
               "sig-bad %llu stale %llu future %llu dup %llu equiv %llu invalid %llu "
               "sync-req %llu sync-ok %llu\n", i, node->byzantine ? " (byzantine)" : "",
               node->up ? "" : " (down)", (unsigned long long)m->height, m->round, m->step,
               (long long)m->locked_round, (long long)m->valid_round,
               (unsigned long long)st->msgs_in, (unsigned long long)st->drop_signature,
               (unsigned long long)st->drop_stale, (unsigned long long)st->drop_future,
               (unsigned long long)st->duplicates, (unsigned long long)st->equivocations,
               (unsigned long long)st->invalid_proposals, (unsigned long long)st->sync_requests,
               (unsigned long long)st->sync_applied);
    }
}

void sim_run(const struct sim_scenario *sc, uint64_t seed, int verbose, int ed25519, int parts,
             struct sim_result *result)
{
    struct sim_world *w = world_get();
    memset(result, 0, sizeof(*result));
    w->res = result;
    w->verbose = verbose;
    w->sig_ops = ed25519 ? NULL : &sim_fast_sig;
    world_reset(w, sc, seed, parts);
    world_setup(w);
    while (!w->failed) {
        step(w);
        if (w->healed && live_done(w)) {
            break;
        }
        if (w->healed && w->now > w->live_deadline) {
            sim_fail(w, "progress: no new block at every honest validator within %u time "
                        "units of the heal (heal height %llu)", LIVE_BUDGET,
                     (unsigned long long)w->heal_height);
        }
    }
    result->ok = !w->failed;
    if (w->failed && verbose) {
        dump(w);
    }
    result->heights = honest_height_max(w);
    result->time = w->now;
    for (uint32_t i = 0; i < w->n; i++) {
        result->equivocations += w->nodes[i].m.stats.equivocations;
    }
}
