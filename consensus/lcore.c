/*
 * cons_lcore: the consensus thread (see lcore.h).
 */
#include "consensus/lcore.h"

#include "consensus/wakeup.h"

#include "consensus/followmsg.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "dataplane/ctl_port.h"
#include "dataplane/idring.h"
#include "dataplane/wire.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>


_Static_assert(DP_IDRING_ID_BYTES == CONS_ID_BYTES, "ids are ids");
_Static_assert(CONS_MSG_SYNC_BLOCK < CONS_LCORE_MSG_KINDS, "every message kind has a counter");

/* A height takes ~1 s with an empty mempool (the heartbeat) and less under load. */
const uint64_t cons_lcore_commit_bounds_us[CONS_LCORE_HISTO_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
    30000000,
};
/* fdatasync: microseconds on tmpfs or a drive with power-loss protection, ms on others. */
const uint64_t cons_lcore_wal_sync_bounds_us[CONS_LCORE_HISTO_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 1000000,
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void histo_observe(struct cons_lcore_histo *h, const uint64_t *bounds_us, uint64_t us)
{
    uint32_t i = 0;
    while (i < CONS_LCORE_HISTO_BUCKETS && us > bounds_us[i]) {
        i++;
    }
    h->bucket[i]++;
    h->count++;
    h->sum_us += us;
}

/* ---- set-up (main thread) ---- */

static int alloc_buffers(struct cons_lcore *l)
{
    uint8_t key[CONS_POSINDEX_KEY_BYTES];
    uint8_t (*ids)[CONS_ID_BYTES] = dc_alloc((size_t)CONS_BLOCK_IDS_MAX * CONS_ID_BYTES);
    l->out = dc_alloc(sizeof(*l->out));
    l->rx = dc_alloc(sizeof(*l->rx));
    l->positions_mem = dc_alloc_aligned(64, cons_posindex_mem_size(CONS_LCORE_POSITIONS));
    if (ids == NULL || l->out == NULL || l->rx == NULL || l->positions_mem == NULL) {
        dc_free(ids);
        return -ENOMEM;
    }
    cons_block_init(&l->rx_block, ids, CONS_BLOCK_IDS_MAX);
    randombytes_buf(key, sizeof(key));
    cons_posindex_init(&l->positions, l->positions_mem, CONS_LCORE_POSITIONS, key);
    return 0;
}

static void free_buffers(struct cons_lcore *l)
{
    dc_free(l->rx_block.ids);
    dc_free(l->out);
    dc_free(l->rx);
    dc_free(l->positions_mem);
}

static const struct cons_exec_ops exec_ops; /* the executor's callbacks, defined below */

int cons_lcore_init(struct cons_lcore *l, const struct cons_lcore_params *params)
{
    DC_ASSERT(params->count <= CONS_VALIDATORS_MAX);
    DC_ASSERT(params->self < params->count);
    memset(l, 0, sizeof(*l));
    l->p = *params;
    l->wake_fd = -1;
    l->mail.answer_fd = -1;
    atomic_init(&l->stop, 0);
    randombytes_buf(l->cookie_key, sizeof(l->cookie_key));
    int rc = alloc_buffers(l);
    if (rc != 0) {
        goto err_buffers;
    }
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wake_fd < 0) {
        rc = -errno;
        goto err_buffers;
    }
    rc = cons_mailbox_init(&l->mail, l->wake_fd);
    if (rc != 0) {
        goto err_wake;
    }
    rc = cons_transport_init(&l->net, l->p.port, l->p.self, l->p.count, l->p.addrs,
                             l->p.addr_lens);
    if (rc != 0) {
        goto err_mail;
    }
    l->net_init = 1;
    cons_exec_init(&l->exec, l->p.dd, &exec_ops, l, CONS_LCORE_SYNC_BLOCKS_MAX);
    return 0;
err_mail:
    cons_transport_fini(&l->net);
    cons_mailbox_fini(&l->mail);
err_wake:
    close(l->wake_fd);
    l->wake_fd = -1;
err_buffers:
    free_buffers(l);
    return rc;
}

static void *thread_main(void *arg)
{
    cons_main_loop(arg);
    return NULL;
}

int cons_lcore_start(struct cons_lcore *l)
{
    int rc = -pthread_create(&l->thread, NULL, thread_main, l);
    if (rc != 0) {
        return rc;
    }
    l->started = 1;
    (void)pthread_setname_np(l->thread, "dchat-cons");
    if (l->p.core >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(l->p.core, &set);
        rc = -pthread_setaffinity_np(l->thread, sizeof(set), &set);
    }
    return rc;
}

void cons_lcore_stop(struct cons_lcore *l)
{
    if (!l->started) {
        return;
    }
    atomic_store(&l->stop, 1);
    cons_wakeup_signal(l->wake_fd);
    pthread_join(l->thread, NULL);
    l->started = 0;
}

void cons_lcore_fini(struct cons_lcore *l)
{
    cons_lcore_stop(l);
    cons_mailbox_fini(&l->mail);
    if (l->net_init) {
        cons_transport_fini(&l->net);
    }
    if (l->wake_fd >= 0) {
        close(l->wake_fd);
    }
    free_buffers(l);
    memset(l, 0, sizeof(*l));
}

/* ---- carrying out actions (consensus thread) ---- */

/* Storage failed: signing on could equivocate after a restart. Stop the node. */
static void fail(struct cons_lcore *l, const char *what, int rc)
{
    DC_ERROR("consensus", "%s failed: %s; stopping the node", what, dc_strerror(rc));
    l->failed = 1;
    kill(getpid(), SIGTERM);
}

static void send_msg(struct cons_lcore *l, uint16_t to, const struct cons_msg *msg)
{
    cons_transport_send(&l->net, to, msg, l->last_now);
}

/* A committed block, as a SYNC_BLOCK, to one follower. */
static void send_block_to(struct cons_lcore *l, const struct cons_lcore_follower *f,
                          const struct cons_block *block, const struct cons_cert *cert)
{
    struct cons_msg msg = { .kind = CONS_MSG_SYNC_BLOCK, .block = block, .cert = cert };
    cons_transport_send_to(&l->net, &f->sa, f->len, &msg);
    l->follower_blocks++;
}

static void on_commit(struct cons_lcore *l, const struct cons_block *block,
                      const struct cons_cert *cert)
{
    static struct dc_log_limit commit_log;
    uint32_t ids = block->header.id_count;
    for (uint32_t i = 0; i < CONS_LCORE_FOLLOWERS_MAX; i++) {
        if (l->followers[i].expires_ms > l->last_now) {
            send_block_to(l, &l->followers[i], block, cert);
        }
    }
    for (uint32_t i = 0; i < ids; i++) {
        cons_posindex_add(&l->positions, block->ids[i], block->header.height, i);
    }
    l->ids_committed += ids;
    /* Time the heights decided here; a block fetched by sync says nothing about our rounds. */
    uint64_t applied = l->p.m->stats.sync_applied;
    if (applied == l->sync_applied_seen) {
        histo_observe(&l->commit_latency, cons_lcore_commit_bounds_us,
                      (l->last_now - l->height_start_ms) * 1000u);
    }
    l->sync_applied_seen = applied;
    l->height_start_ms = l->last_now;
    if (ids > 0) {
        DC_LOG_RATELIMIT(&commit_log, DC_LOG_INFO, "validator",
                         "committed height %llu with %u message ids (%llu ordered so far, "
                         "%llu received)", (unsigned long long)block->header.height, ids,
                         (unsigned long long)l->ids_committed,
                         (unsigned long long)l->ids_received);
    }
}

/* ---- the executor's callbacks (consensus/exec.h) ---- */

static void exec_send(void *ctx, uint16_t to, const struct cons_msg *msg)
{
    send_msg(ctx, to, msg);
}

static void exec_commit(void *ctx, const struct cons_block *block, const struct cons_cert *cert)
{
    on_commit(ctx, block, cert);
}

static void exec_schedule(void *ctx, uint64_t at_tick)
{
    struct cons_lcore *l = ctx;
    l->next_tick = at_tick;
}

/* The vote WAL's group-commit syncs, timed for /metrics. */
static void exec_sync_begin(void *ctx)
{
    struct cons_lcore *l = ctx;
    l->wal_sync_start_us = mono_us();
}

static void exec_sync_end(void *ctx, int rc)
{
    struct cons_lcore *l = ctx;
    if (rc == 0) {
        histo_observe(&l->wal_sync, cons_lcore_wal_sync_bounds_us,
                      mono_us() - l->wal_sync_start_us);
    }
}

static const struct cons_exec_ops exec_ops = {
    .send = exec_send,
    .commit = exec_commit,
    .schedule = exec_schedule,
    .sync_begin = exec_sync_begin,
    .sync_end = exec_sync_end,
};

/* One call's actions in order; one WAL sync covers the batch (group commit). */
static void run_actions(struct cons_lcore *l)
{
    if (l->failed) {
        return;
    }
    int rc = cons_exec_run(&l->exec, l->out);
    if (rc != 0) {
        fail(l, l->exec.failed_what, rc);
    }
}

/* ---- inputs (consensus thread) ---- */

/* The validator a message came from, for the online count; -1 when it names none. */
static int msg_sender(const struct cons_msg *msg)
{
    switch (msg->kind) {
    case CONS_MSG_PROPOSAL:
        return msg->proposal.proposer;
    case CONS_MSG_VOTE:
        return msg->vote.validator;
    default:
        return -1; /* a sync request is unsigned: it proves nothing about its requester */
    }
}

/* ---- relays that follow the chain (consensus thread) ---- */

/* The address cookie for `sa` in cookie epoch `epoch`: a keyed hash only we can make. */
static void make_cookie(const struct cons_lcore *l, const struct sockaddr_storage *sa,
                        socklen_t len, uint64_t epoch, uint8_t out[CONS_FOLLOW_COOKIE_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, l->cookie_key, sizeof(l->cookie_key), CONS_FOLLOW_COOKIE_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)&epoch, sizeof(epoch));
    crypto_generichash_update(&st, (const uint8_t *)sa, len);
    crypto_generichash_final(&st, out, CONS_FOLLOW_COOKIE_BYTES);
}

static int cookie_ok(const struct cons_lcore *l, const struct dp_ctl_msg *rx,
                     const uint8_t cookie[CONS_FOLLOW_COOKIE_BYTES], uint64_t now)
{
    uint64_t epoch = now / CONS_LCORE_COOKIE_EPOCH_MS;
    for (uint64_t back = 0; back < 2 && back <= epoch; back++) { /* this epoch and the last */
        uint8_t want[CONS_FOLLOW_COOKIE_BYTES];
        make_cookie(l, &rx->src, rx->src_len, epoch - back, want);
        if (sodium_memcmp(want, cookie, CONS_FOLLOW_COOKIE_BYTES) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The follower slot of `rx`'s source: its own, a free or expired one, or NULL (full). */
static struct cons_lcore_follower *follower_slot(struct cons_lcore *l,
                                                 const struct dp_ctl_msg *rx, uint64_t now)
{
    struct cons_lcore_follower *free_slot = NULL;
    for (uint32_t i = 0; i < CONS_LCORE_FOLLOWERS_MAX; i++) {
        struct cons_lcore_follower *f = &l->followers[i];
        if (f->expires_ms > now && f->len == rx->src_len && memcmp(&f->sa, &rx->src, f->len) == 0) {
            return f;
        }
        if (f->expires_ms <= now && free_slot == NULL) {
            free_slot = f;
        }
    }
    if (free_slot != NULL) {
        memset(free_slot, 0, sizeof(*free_slot));
        memcpy(&free_slot->sa, &rx->src, rx->src_len);
        free_slot->len = rx->src_len;
    }
    return free_slot;
}

/* Blocks from `from` on (at most CONS_LCORE_SYNC_BLOCKS_MAX, at most every 100 ms). */
static void serve_follower(struct cons_lcore *l, struct cons_lcore_follower *f, uint64_t from,
                           uint64_t now)
{
    uint64_t top = cons_datadir_height(l->p.dd);
    if (from == 0 || from > top || now - f->served_ms < 100) {
        return;
    }
    f->served_ms = now;
    for (uint64_t h = from; h <= top && h < from + CONS_LCORE_SYNC_BLOCKS_MAX; h++) {
        const struct cons_block *block;
        const struct cons_cert *cert;
        if (cons_datadir_read(l->p.dd, h, &block, &cert) != 0) {
            return;
        }
        send_block_to(l, f, block, cert);
    }
}

/* A FOLLOW (or a stray COOKIE) from a relay. */
static void on_follow(struct cons_lcore *l, const struct dp_ctl_msg *rx, uint64_t now)
{
    struct cons_followmsg m;
    if (cons_followmsg_decode(rx->body, rx->body_len, &m) != 0 ||
        m.kind != CONS_FOLLOW_KIND_REQUEST) {
        l->bad_msgs++;
        return;
    }
    if (!cookie_ok(l, rx, m.cookie, now)) {
        /* the same size back: a forged source gets no amplification */
        struct cons_followmsg reply = { .kind = CONS_FOLLOW_KIND_COOKIE };
        make_cookie(l, &rx->src, rx->src_len, now / CONS_LCORE_COOKIE_EPOCH_MS, reply.cookie);
        size_t len = cons_followmsg_encode(&reply, l->body);
        cons_transport_send_body(&l->net, &rx->src, rx->src_len, l->body, len);
        l->follow_refused++;
        return;
    }
    struct cons_lcore_follower *f = follower_slot(l, rx, now);
    if (f == NULL) {
        l->follow_refused++;
        return;
    }
    f->expires_ms = now + CONS_LCORE_FOLLOW_EXPIRY_MS;
    serve_follower(l, f, m.height, now);
}

static uint32_t take_records(struct cons_lcore *l, uint64_t now)
{
    uint32_t n = 0;
    while (n < CONS_LCORE_RECORDS_PER_PASS && !l->failed && dp_ctl_port_recv(l->p.port, l->rx)) {
        n++;
        if (cons_followmsg_is(l->rx->body, l->rx->body_len)) {
            on_follow(l, l->rx, now);
            continue;
        }
        const uint8_t *body;
        size_t len;
        int sender = cons_transport_sender(&l->net, l->rx);
        if (!cons_transport_recv(&l->net, l->rx, sender, now, &body, &len)) {
            continue; /* a part (or a request for parts), or refused */
        }
        struct cons_msg msg;
        if (cons_msg_decode(body, len, &msg, &l->rx_block, &l->rx_cert) != 0) {
            l->bad_msgs++;
            continue;
        }
        l->msgs_in[msg.kind < CONS_LCORE_MSG_KINDS ? msg.kind : 0]++;
        int rc = cons_on_message(l->p.m, &msg, l->out);
        int from = msg_sender(&msg);
        /* Only a message the machine accepted (signature checked) proves the sender is up. */
        if (rc == 0 && from >= 0 && (uint32_t)from < l->p.count) {
            l->peers[from].heard_ms = now;
        }
        run_actions(l);
    }
    return n;
}

/* Verified ids into the mempool, then a tick, so a waiting proposer proposes at once. */
static uint32_t take_ids(struct cons_lcore *l, uint64_t now)
{
    if (l->p.ids == NULL) {
        return 0;
    }
    uint8_t batch[64][CONS_ID_BYTES];
    uint32_t taken = 0;
    uint32_t accepted = 0;
    while (taken < CONS_LCORE_IDS_PER_PASS) {
        uint32_t n = dp_idring_pop_burst(l->p.ids, batch, 64);
        for (uint32_t i = 0; i < n; i++) {
            if (cons_submit(l->p.m, batch[i]) == 0) {
                accepted++;
            } else {
                l->ids_refused++;
            }
        }
        taken += n;
        if (n < 64) {
            break;
        }
    }
    l->ids_received += accepted;
    if (accepted > 0 && !l->failed) {
        cons_tick(l->p.m, now, l->out);
        run_actions(l);
    }
    return taken;
}

/* ---- queries (consensus thread answers, other threads ask) ---- */

static void answer_id(struct cons_lcore *l, struct cons_mailbox *mb)
{
    struct cons_id_answer *a = &mb->id_answer;
    memset(a, 0, sizeof(*a));
    mb->rc = 0;
    if (cons_posindex_find(&l->positions, mb->id, &a->height, &a->index) == 0) {
        const struct cons_block *block;
        const struct cons_cert *cert;
        a->status = CONS_MSG_FINAL;
        if (cons_datadir_read(l->p.dd, a->height, &block, &cert) == 0) {
            memcpy(a->block_hash, cert->block_hash, CONS_HASH_BYTES);
        }
    } else if (cons_mempool_is_pending(&l->p.m->mempool, mb->id)) {
        a->status = CONS_MSG_PENDING;
    } else {
        a->status = CONS_MSG_UNKNOWN;
    }
}

static void answer_block(struct cons_lcore *l, struct cons_mailbox *mb)
{
    const struct cons_block *block;
    const struct cons_cert *cert;
    mb->rc = mb->height == 0 || mb->height > cons_datadir_height(l->p.dd)
                 ? DC_ENOTFOUND
                 : cons_datadir_read(l->p.dd, mb->height, &block, &cert);
    if (mb->rc == 0) {
        mb->rc = cons_block_copy(&mb->block, block);
        mb->cert = *cert;
    }
}

static void answer(void *arg, struct cons_mailbox *mb)
{
    if (mb->kind == CONS_MAILBOX_ID) {
        answer_id(arg, mb);
    } else {
        answer_block(arg, mb);
    }
}

int cons_lcore_query_id(struct cons_lcore *l, const uint8_t id[CONS_ID_BYTES],
                        uint32_t timeout_ms, struct cons_id_answer *out)
{
    return cons_mailbox_ask_id(&l->mail, id, timeout_ms, out);
}

int cons_lcore_query_block(struct cons_lcore *l, uint64_t height, uint32_t timeout_ms,
                           struct cons_block *block, struct cons_cert *cert)
{
    return cons_mailbox_ask_block(&l->mail, height, timeout_ms, block, cert);
}

/* ---- the loop (consensus thread) ---- */

static uint32_t online_count(const struct cons_lcore *l, uint64_t now)
{
    uint32_t online = 1; /* ourselves */
    for (uint32_t i = 0; i < l->p.count; i++) {
        uint64_t heard = l->peers[i].heard_ms;
        if (i != l->p.self && heard != 0 && now - heard <= CONS_LCORE_ONLINE_MS) {
            online++;
        }
    }
    return online;
}

/* The view for RPC, only when something an operator sees changed. */
static void publish(struct cons_lcore *l, uint64_t now)
{
    struct cons_lcore_view v = {
        .height = cons_datadir_height(l->p.dd), .validators = l->p.count,
        .online_validators = online_count(l, now),
        .messages_ordered = cons_datadir_ids_total(l->p.dd),
        .ids_received = l->ids_received, .ids_refused = l->ids_refused,
        .mempool_pending = cons_mempool_pending(&l->p.m->mempool),
    };
    memcpy(v.hash, cons_datadir_head_hash(l->p.dd), CONS_HASH_BYTES);
    const struct cons_lcore_view *old = &l->view;
    if (v.height == old->height && v.online_validators == old->online_validators &&
        v.ids_received == old->ids_received && l->view.validators != 0) {
        return;
    }
    l->view = v;
    if (l->p.publish != NULL) {
        l->p.publish(l->p.publish_arg, &v);
    }
}

/* The counters for /metrics: at most every CONS_LCORE_COUNTERS_MS, and only after a change. */
static void publish_counters(struct cons_lcore *l, uint64_t now)
{
    uint64_t last_ms = l->counters_ms; /* 0: never published */
    if (l->p.publish_counters == NULL || now - last_ms < CONS_LCORE_COUNTERS_MS) {
        return;
    }
    l->counters_ms = now;
    const struct cons_machine *m = l->p.m;
    struct cons_lcore_counters c;
    memset(&c, 0, sizeof(c)); /* padding too: the copies are compared with memcmp */
    c.height = cons_datadir_height(l->p.dd);
    c.round = m->round;
    c.mempool_pending = cons_mempool_pending(&m->mempool);
    for (uint32_t i = 0; i < CONS_LCORE_FOLLOWERS_MAX; i++) {
        c.followers += l->followers[i].expires_ms > now;
    }
    c.messages_ordered = cons_datadir_ids_total(l->p.dd);
    c.ids_received = l->ids_received;
    c.ids_refused_full = m->mempool.full_refusals;
    c.ids_refused_duplicate = l->ids_refused - c.ids_refused_full; /* the other refusal */
    memcpy(c.msgs_in, l->msgs_in, sizeof(c.msgs_in));
    c.bad_msgs = l->bad_msgs;
    c.follow_refused = l->follow_refused;
    c.follower_blocks = l->follower_blocks;
    c.store_syncs = l->p.dd->store_syncs;
    c.store_bytes = cons_datadir_store_bytes(l->p.dd);
    c.store_oldest = cons_datadir_oldest_height(l->p.dd);
    c.wal_bytes = cons_datadir_wal_bytes(l->p.dd);
    c.machine = m->stats;
    c.transport = l->net.stats;
    c.frag = l->net.frag.stats;
    c.commit_latency = l->commit_latency;
    c.wal_sync = l->wal_sync;
    if (last_ms != 0 && memcmp(&c, &l->counters, sizeof(c)) == 0) {
        return;
    }
    memcpy(&l->counters, &c, sizeof(c)); /* with its padding, for the next memcmp */
    l->p.publish_counters(l->p.publish_arg, &c);
}

/* Monotonic milliseconds, never going back (the machine's ticks must not decrease). */
static uint64_t now_tick(struct cons_lcore *l)
{
    uint64_t now = cons_wakeup_now_ms();
    if (now < l->last_now) {
        now = l->last_now;
    }
    l->last_now = now;
    return now;
}

/* Nothing to do: sleep until the machine's deadline, a record, an id or a wake-up. */
static void idle_wait(struct cons_lcore *l, uint64_t now)
{
    uint64_t due = cons_transport_next_due(&l->net);
    uint64_t until = due < l->next_tick ? due : l->next_tick;
    uint64_t wait_ms = until > now ? until - now : 0;
    if (wait_ms > CONS_LCORE_SLEEP_MS_MAX) {
        wait_ms = CONS_LCORE_SLEEP_MS_MAX;
    }
    if (wait_ms == 0) {
        return;
    }
    struct pollfd pfd[2] = {
        { .fd = dp_ctl_port_event_fd(l->p.port), .events = POLLIN },
        { .fd = l->wake_fd, .events = POLLIN },
    };
    (void)poll(pfd, 2, (int)wait_ms);
    dp_ctl_port_drain_event(l->p.port);
    cons_wakeup_clear(l->wake_fd);
}

void cons_main_loop(struct cons_lcore *l)
{
    uint64_t now = now_tick(l);
    l->height_start_ms = now;
    l->sync_applied_seen = l->p.m->stats.sync_applied;
    cons_machine_begin(l->p.m, now, l->out);
    run_actions(l);
    publish(l, now);
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed) && !l->failed) {
        now = now_tick(l);
        /* The machine's clock advances only in cons_tick(): tick before the inputs, or a
         * commit inside cons_on_message() would time its next step from a stale `now`. */
        if (now > l->p.m->now && !l->failed) {
            cons_tick(l->p.m, now, l->out);
            run_actions(l);
        }
        uint32_t work = take_records(l, now);
        work += take_ids(l, now);
        if (cons_transport_next_due(&l->net) <= now) {
            cons_transport_poll(&l->net, now);
        }
        work += (uint32_t)cons_mailbox_serve(&l->mail, answer, l);
        publish(l, now);
        publish_counters(l, now);
        if (work == 0) {
            idle_wait(l, now_tick(l));
        }
    }
    /* A storage failure: keep answering nothing, but wait for the stop like any thread. */
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        struct pollfd pfd = { .fd = l->wake_fd, .events = POLLIN };
        (void)poll(&pfd, 1, CONS_LCORE_SLEEP_MS_MAX);
        cons_wakeup_clear(l->wake_fd);
    }
}
