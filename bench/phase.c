#include "bench/phase.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "dataplane/wire.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RX_BATCH 64
#define RX_SLOT_BYTES 65536 /* a relay may send up to the largest UDP payload */
#define TX_BATCH 32
#define SINK_BUF_BYTES (32 << 20)
#define SEND_BUF_BYTES (8 << 20)
#define RCV_TIMEOUT_MS 20
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define RESUBSCRIBE_NS NS_PER_S
#define PROGRESS_NS NS_PER_S
#define COMPLETE_GRACE_NS (300 * NS_PER_MS) /* after the last item: late duplicates */

struct phase {
    const struct bench_phase_cfg *cfg;
    struct bench_tally tally;
    _Atomic uint64_t *send_ns;
    uint8_t *rx_buf;
    int sink_fd;
    int send_fd;
    atomic_int stop;
    uint8_t sub_frame[DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES + DP_WIRE_SUB_BYTES_MAX];
    size_t sub_len;
    uint64_t t0_ns;
    uint64_t next_progress_ns;
    _Atomic uint64_t sink_drops; /* SO_RXQ_OVFL: datagrams our own socket had no room for */
};

/* Room for one SO_RXQ_OVFL control message per received datagram. */
#define CMSG_ROOM CMSG_SPACE(sizeof(uint32_t))

/* The subscribe frame, with the relay's address cookie once its echo gave us one. */
static void build_subscribe(struct phase *ph, const uint8_t *cookie)
{
    struct dp_wire_builder b;
    uint8_t body[DP_WIRE_SUB_BYTES_MAX];
    static const uint8_t every_channel[DP_WIRE_KEY_BYTES];
    size_t len = dp_wire_sub_encode_cookie(body, 0, every_channel, cookie);
    dp_wire_builder_init(&b, ph->sub_frame, sizeof(ph->sub_frame));
    int rc = dp_wire_builder_add(&b, DP_WIRE_REC_SUBSCRIBE, body, (uint16_t)len);
    DC_ASSERT(rc == 0);
    ph->sub_len = dp_wire_builder_finish(&b);
}

static void subscribe(struct phase *ph)
{
    const struct bench_addr *to = &ph->cfg->subscribe;
    /* A lost subscription is renewed a second later; nothing to do about an error here. */
    (void)sendto(ph->sink_fd, ph->sub_frame, ph->sub_len, 0, (const struct sockaddr *)&to->ss,
                 to->len);
}

/* The kernel reports its socket's cumulative drop count with each datagram. */
static void note_sink_drops(struct phase *ph, struct msghdr *hdr)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(hdr); c != NULL; c = CMSG_NXTHDR(hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t drops = 0;
            memcpy(&drops, CMSG_DATA(c), sizeof(drops));
            atomic_store_explicit(&ph->sink_drops, drops, memory_order_relaxed);
        }
    }
}

static void *receiver_main(void *arg)
{
    struct phase *ph = arg;
    struct mmsghdr rx[RX_BATCH];
    struct iovec iov[RX_BATCH];
    _Alignas(struct cmsghdr) uint8_t ctl[RX_BATCH][CMSG_ROOM];
    uint64_t next_sub_ns = bench_now_ns() + RESUBSCRIBE_NS;
    while (!atomic_load_explicit(&ph->stop, memory_order_relaxed)) {
        if (bench_now_ns() >= next_sub_ns) {
            subscribe(ph);
            next_sub_ns += RESUBSCRIBE_NS;
        }
        for (unsigned i = 0; i < RX_BATCH; i++) {
            iov[i] = (struct iovec){ ph->rx_buf + (size_t)i * RX_SLOT_BYTES, RX_SLOT_BYTES };
            rx[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1,
                                             .msg_control = ctl[i],
                                             .msg_controllen = CMSG_ROOM };
        }
        int n = recvmmsg(ph->sink_fd, rx, RX_BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) {
            continue; /* timeout: look at stop and the subscription clock */
        }
        uint64_t now = bench_now_ns();
        for (int i = 0; i < n; i++) {
            bench_tally_datagram(&ph->tally, iov[i].iov_base, rx[i].msg_len, now);
        }
        if (ph->tally.sub_cookie_new) { /* prove our address at once: no 3x limit after */
            ph->tally.sub_cookie_new = 0;
            build_subscribe(ph, ph->tally.sub_cookie);
            subscribe(ph);
        }
        note_sink_drops(ph, &rx[n - 1].msg_hdr);
    }
    return NULL;
}

static void progress(struct phase *ph, const char *what, uint64_t items_sent)
{
    uint64_t now = bench_now_ns();
    if (now < ph->next_progress_ns) {
        return;
    }
    ph->next_progress_ns = now + PROGRESS_NS;
    char final[48] = "";
    if (ph->cfg->finality) {
        snprintf(final, sizeof(final), ", final %llu",
                 (unsigned long long)atomic_load_explicit(&ph->tally.final,
                                                          memory_order_relaxed));
    }
    fprintf(stderr, "dchat-bench: %s: %.1f s %s: sent %llu/%llu msgs, delivered %llu%s\n",
            ph->cfg->label, (double)(now - ph->t0_ns) / NS_PER_S, what,
            (unsigned long long)items_sent, (unsigned long long)ph->cfg->load->item_count,
            (unsigned long long)atomic_load_explicit(&ph->tally.delivered,
                                                     memory_order_relaxed),
            final);
}

/* Sends probe frames until one reaches the subscriber: the path works end to end. */
static int warm_up(struct phase *ph)
{
    const struct bench_phase_cfg *cfg = ph->cfg;
    uint64_t start = bench_now_ns();
    uint64_t deadline = start + (uint64_t)cfg->warmup_ms * NS_PER_MS;
    uint64_t interval = (uint64_t)cfg->warmup_ms * NS_PER_MS / BENCH_PROBES_MAX;
    interval = interval < 100 * NS_PER_MS ? 100 * NS_PER_MS : interval;
    uint64_t next = start;
    uint32_t sent = 0;
    while (atomic_load_explicit(&ph->tally.probes, memory_order_relaxed) == 0) {
        uint64_t now = bench_now_ns();
        if (now >= deadline) {
            return -ETIMEDOUT;
        }
        if (now >= next && sent < BENCH_PROBES_MAX) {
            size_t len = 0;
            const uint8_t *probe = bench_load_probe(cfg->load, sent++, &len);
            (void)sendto(ph->send_fd, probe, len, 0, (const struct sockaddr *)&cfg->target.ss,
                         cfg->target.len);
            next = now + interval;
        }
        bench_sleep_until(now + 5 * NS_PER_MS);
    }
    return 0;
}

/* Pushes tx[0..count) through sendmmsg; a full buffer is retried, never dropped silently. */
static int send_batch(struct phase *ph, struct mmsghdr *tx, unsigned count,
                      struct bench_phase_result *res)
{
    unsigned done = 0;
    while (done < count) {
        int n = sendmmsg(ph->send_fd, tx + done, count - done, 0);
        if (n < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN ||
                errno == ECONNREFUSED) {
                res->send_retries++;
                sched_yield();
                continue;
            }
            return -errno;
        }
        done += (unsigned)n;
    }
    return 0;
}

/* How many datagrams go in one sendmmsg: about a millisecond of traffic when paced. */
static unsigned batch_size(const struct bench_phase_cfg *cfg)
{
    uint64_t batch = TX_BATCH;
    if (cfg->rate_msgs_per_s != 0) {
        uint64_t per_ms = cfg->rate_msgs_per_s / 1000 / cfg->load->per_frame;
        batch = per_ms < batch ? per_ms : batch;
    }
    if (cfg->window_msgs != 0) { /* a batch never overfills the window by itself */
        uint64_t fit = cfg->window_msgs / cfg->load->per_frame;
        batch = fit < batch ? fit : batch;
    }
    return batch < 1 ? 1 : (unsigned)batch;
}

static uint64_t in_flight(struct phase *ph, const struct bench_phase_result *res)
{
    uint64_t sent = ph->cfg->all_items ? res->items_sent : res->items_sent - res->invalid_sent;
    uint64_t got = atomic_load_explicit(&ph->tally.delivered, memory_order_relaxed);
    return sent > got ? sent - got : 0;
}

/*
 * Window flow control: waits until `next` more messages fit. 0, or DC_EFULL when nothing was
 * delivered for drain_ms: lost messages fill the window and the sender gives up.
 */
static int wait_window(struct phase *ph, const struct bench_phase_result *res, uint64_t next)
{
    uint64_t window = ph->cfg->window_msgs;
    uint64_t last = atomic_load_explicit(&ph->tally.delivered, memory_order_relaxed);
    uint64_t last_change = bench_now_ns();
    for (;;) {
        uint64_t busy = in_flight(ph, res);
        if (busy == 0 || busy + next <= window) {
            return 0;
        }
        uint64_t now = bench_now_ns();
        uint64_t got = atomic_load_explicit(&ph->tally.delivered, memory_order_relaxed);
        if (got != last) {
            last = got;
            last_change = now;
        } else if (now - last_change >= (uint64_t)ph->cfg->drain_ms * NS_PER_MS) {
            return DC_EFULL;
        }
        progress(ph, "sending (window full)", res->items_sent);
        bench_sleep_until(now + 100000);
    }
}

static int send_load(struct phase *ph, struct bench_phase_result *res)
{
    const struct bench_phase_cfg *cfg = ph->cfg;
    const struct bench_load *load = cfg->load;
    struct mmsghdr tx[TX_BATCH];
    struct iovec iov[TX_BATCH];
    unsigned batch = batch_size(cfg);
    uint64_t d = 0;
    while (d < load->dgram_count) {
        if (cfg->rate_msgs_per_s != 0) {
            bench_sleep_until(ph->t0_ns + res->items_sent * NS_PER_S / cfg->rate_msgs_per_s);
        }
        if (cfg->window_msgs != 0 &&
            wait_window(ph, res, (uint64_t)batch * load->per_frame) != 0) {
            res->unsent = load->item_count - res->items_sent;
            return 0; /* stalled: what was sent is drained and counted */
        }
        unsigned count = 0;
        uint64_t now = bench_now_ns();
        for (; d < load->dgram_count && count < batch; d++) {
            size_t len = 0;
            uint64_t frame = 0;
            const uint8_t *buf = bench_load_dgram(load, d, &len, &frame);
            if (frame == UINT64_MAX) {
                if (!cfg->send_garbage) {
                    continue;
                }
                res->garbage_sent++;
            } else {
                atomic_store_explicit(&ph->send_ns[frame], now, memory_order_release);
                res->items_sent += bench_load_frame_items(load, frame);
                res->invalid_sent += bench_load_frame_invalid(load, frame);
            }
            iov[count] = (struct iovec){ (void *)buf, len };
            tx[count].msg_hdr = (struct msghdr){ .msg_name = (void *)&cfg->target.ss,
                                                 .msg_namelen = cfg->target.len,
                                                 .msg_iov = &iov[count], .msg_iovlen = 1 };
            count++;
        }
        int rc = send_batch(ph, tx, count, res);
        if (rc != 0) {
            return rc;
        }
        res->dgrams_sent += count;
        progress(ph, "sending", res->items_sent);
    }
    return 0;
}

/* Waits for stragglers: done when all arrived (plus a grace for late duplicates), or idle. */
static void drain(struct phase *ph, struct bench_phase_result *res)
{
    const struct bench_phase_cfg *cfg = ph->cfg;
    uint64_t start = bench_now_ns();
    uint64_t cap = start + 10ull * cfg->drain_ms * NS_PER_MS;
    uint64_t last_change = start;
    uint64_t last_seen = atomic_load(&ph->tally.delivered);
    uint64_t complete_at = 0;
    uint64_t expected = cfg->all_items ? res->items_sent : res->items_sent - res->invalid_sent;
    for (;;) {
        uint64_t now = bench_now_ns();
        uint64_t seen = atomic_load_explicit(&ph->tally.delivered, memory_order_relaxed);
        if (seen != last_seen) {
            last_seen = seen;
            last_change = now;
        }
        if (seen >= expected && complete_at == 0) {
            complete_at = now;
        }
        if ((complete_at != 0 && now - complete_at >= COMPLETE_GRACE_NS) ||
            now - last_change >= (uint64_t)cfg->drain_ms * NS_PER_MS || now >= cap) {
            return;
        }
        progress(ph, "draining", res->items_sent);
        bench_sleep_until(now + 10 * NS_PER_MS);
    }
}

/*
 * After the drain, with finality: waits until every delivered message is final or
 * final_wait_ms passed. FINAL records are best effort, so a shortfall is a figure.
 */
static void wait_final(struct phase *ph, const struct bench_phase_result *res)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)ph->cfg->final_wait_ms * NS_PER_MS;
    for (;;) {
        uint64_t now = bench_now_ns();
        uint64_t got = atomic_load_explicit(&ph->tally.delivered, memory_order_relaxed);
        uint64_t done = atomic_load_explicit(&ph->tally.final_delivered, memory_order_relaxed);
        if (done >= got || now >= deadline) {
            return;
        }
        progress(ph, "waiting for FINAL", res->items_sent);
        bench_sleep_until(now + 10 * NS_PER_MS);
    }
}

static int phase_open(struct phase *ph, const struct bench_phase_cfg *cfg)
{
    memset(ph, 0, sizeof(*ph));
    ph->cfg = cfg;
    ph->sink_fd = -1;
    ph->send_fd = -1;
    ph->send_ns = dc_alloc(cfg->load->frame_count * sizeof(*ph->send_ns));
    ph->rx_buf = dc_alloc((size_t)RX_BATCH * RX_SLOT_BYTES);
    if (ph->send_ns == NULL || ph->rx_buf == NULL) {
        return -ENOMEM;
    }
    int rc = bench_tally_init(&ph->tally, cfg->load, ph->send_ns, cfg->all_items,
                              cfg->finality);
    if (rc != 0) {
        return rc;
    }
    ph->sink_fd = bench_net_udp_socket(&cfg->subscribe, NULL, SINK_BUF_BYTES, RCV_TIMEOUT_MS);
    if (ph->sink_fd < 0) {
        return ph->sink_fd;
    }
    int on = 1;
    (void)setsockopt(ph->sink_fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on)); /* best effort */
    ph->send_fd = bench_net_udp_socket(&cfg->target, NULL, SEND_BUF_BYTES, 0);
    if (ph->send_fd < 0) {
        return ph->send_fd;
    }
    build_subscribe(ph, NULL);
    return 0;
}

static void phase_close(struct phase *ph)
{
    if (ph->sink_fd >= 0) {
        close(ph->sink_fd);
    }
    if (ph->send_fd >= 0) {
        close(ph->send_fd);
    }
    bench_tally_fini(&ph->tally);
    dc_free(ph->send_ns);
    dc_free(ph->rx_buf);
}

static void collect(struct phase *ph, struct bench_phase_result *res, uint64_t send_end_ns)
{
    struct bench_tally *t = &ph->tally;
    res->expected = ph->cfg->all_items ? res->items_sent : res->items_sent - res->invalid_sent;
    res->delivered = atomic_load(&t->delivered);
    res->lost = res->expected > res->delivered ? res->expected - res->delivered : 0;
    res->duplicates = atomic_load(&t->duplicates);
    res->invalid_delivered = atomic_load(&t->invalid_delivered);
    res->foreign = atomic_load(&t->foreign);
    res->other_records = atomic_load(&t->other_records);
    res->sink_drops = atomic_load(&ph->sink_drops);
    res->send_s = (double)(send_end_ns - ph->t0_ns) / NS_PER_S;
    uint64_t last = atomic_load(&t->last_ns);
    res->deliver_s = last > ph->t0_ns ? (double)(last - ph->t0_ns) / NS_PER_S : 0.0;
    bench_tally_latency(t, &res->latency);
    if (!ph->cfg->finality) {
        return;
    }
    res->final = atomic_load(&t->final);
    uint64_t valid_sent = res->items_sent - res->invalid_sent;
    res->not_final = valid_sent > res->final ? valid_sent - res->final : 0;
    res->final_invalid = atomic_load(&t->final_invalid);
    res->final_duplicates = atomic_load(&t->final_duplicates);
    res->final_conflicts = atomic_load(&t->final_conflicts);
    res->final_foreign = atomic_load(&t->final_foreign);
    res->final_malformed = atomic_load(&t->final_malformed);
    res->first_conflict = t->first_conflict; /* the receiver has stopped */
    uint64_t final_last = atomic_load(&t->final_last_ns);
    res->final_s = final_last > ph->t0_ns ? (double)(final_last - ph->t0_ns) / NS_PER_S : 0.0;
    bench_tally_finality(t, &res->finality);
}

int bench_phase_run(const struct bench_phase_cfg *cfg, struct bench_phase_result *res)
{
    struct phase ph;
    pthread_t rx_thread;
    memset(res, 0, sizeof(*res));
    int rc = phase_open(&ph, cfg);
    if (rc != 0) {
        phase_close(&ph);
        return rc;
    }
    subscribe(&ph); /* binds the sink socket before the receiver waits on it */
    if (pthread_create(&rx_thread, NULL, receiver_main, &ph) != 0) {
        phase_close(&ph);
        return -EAGAIN;
    }
    rc = warm_up(&ph);
    if (rc == 0) {
        ph.t0_ns = bench_now_ns();
        ph.next_progress_ns = ph.t0_ns + PROGRESS_NS;
        rc = send_load(&ph, res);
    }
    uint64_t send_end = bench_now_ns();
    if (rc == 0) {
        drain(&ph, res);
        if (cfg->finality) {
            wait_final(&ph, res);
        }
    }
    atomic_store(&ph.stop, 1);
    pthread_join(rx_thread, NULL);
    if (rc == 0) {
        collect(&ph, res, send_end);
    }
    phase_close(&ph);
    return rc;
}
