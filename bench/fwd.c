#include "bench/fwd.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "dataplane/wire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RCV_TIMEOUT_MS 100
#define SOCK_BUF_BYTES (8 << 20)

int bench_fwd_init(struct bench_fwd *fwd, const struct bench_addr *listen, uint32_t slot_bytes)
{
    memset(fwd, 0, sizeof(*fwd));
    fwd->slot_bytes = slot_bytes;
    fwd->copies = 1;
    fwd->rx_buf = dc_alloc((size_t)BENCH_FWD_BATCH * slot_bytes);
    if (fwd->rx_buf == NULL) {
        return -ENOMEM;
    }
    fwd->fd = bench_net_udp_socket(listen, listen, SOCK_BUF_BYTES, RCV_TIMEOUT_MS);
    if (fwd->fd < 0) {
        int err = fwd->fd;
        dc_free(fwd->rx_buf);
        fwd->rx_buf = NULL;
        return err;
    }
    return 0;
}

void bench_fwd_fini(struct bench_fwd *fwd)
{
    if (fwd->fd >= 0) {
        close(fwd->fd);
    }
    fwd->fd = -1;
    dc_free(fwd->rx_buf);
    dc_free(fwd->final_buf);
    fwd->rx_buf = NULL;
    fwd->final_buf = NULL;
}

int bench_fwd_final(struct bench_fwd *fwd, uint32_t conflict_every)
{
    fwd->final_conflict_every = conflict_every;
    /* One frame per datagram of a batch, and one scratch slot where a record body is built. */
    fwd->final_buf = dc_alloc((size_t)(BENCH_FWD_BATCH + 1) * fwd->slot_bytes);
    return fwd->final_buf == NULL ? -ENOMEM : 0;
}

void bench_fwd_faults(struct bench_fwd *fwd, uint32_t copies, uint32_t drop_every)
{
    DC_ASSERT(copies >= 1 && copies <= BENCH_FWD_COPIES_MAX);
    fwd->copies = copies;
    fwd->drop_every = drop_every;
}

void bench_fwd_stop(struct bench_fwd *fwd)
{
    atomic_store(&fwd->stop, 1);
}

static int same_addr(const struct bench_addr *a, const struct bench_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* 1 when the datagram was a subscription (handled here), 0 when it is to be forwarded. */
static int handle_subscribe(struct bench_fwd *fwd, const uint8_t *buf, size_t len,
                            const struct bench_addr *from)
{
    struct dp_wire_iter it;
    struct dp_wire_rec rec;
    struct dp_wire_sub sub;
    if (len < DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES ||
        buf[DP_WIRE_FRAME_HDR_BYTES] != DP_WIRE_REC_SUBSCRIBE) {
        return 0; /* the common case costs two compares */
    }
    if (dp_wire_frame_open(&it, buf, len) != 0 || !dp_wire_next(&it, &rec) ||
        dp_wire_sub_parse(&rec, &sub) != 0) {
        return 0;
    }
    uint32_t i = 0;
    while (i < fwd->sub_count && !same_addr(&fwd->subs[i], from)) {
        i++;
    }
    if (sub.flags & DP_WIRE_SUB_FLAG_UNSUBSCRIBE) {
        if (i < fwd->sub_count) {
            fwd->subs[i] = fwd->subs[--fwd->sub_count];
        }
    } else if (i == fwd->sub_count && fwd->sub_count < BENCH_FWD_SUBS_MAX) {
        fwd->subs[fwd->sub_count++] = *from;
    }
    return 1;
}

static void send_all(struct bench_fwd *fwd, struct mmsghdr *tx, unsigned count)
{
    unsigned done = 0;
    while (done < count) {
        int n = sendmmsg(fwd->fd, tx + done, count - done, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            /* Loopback refuses only when buffers are exhausted: drop this one, count it. */
            atomic_fetch_add_explicit(&fwd->tx_errors, 1, memory_order_relaxed);
            done++;
            continue;
        }
        atomic_fetch_add_explicit(&fwd->tx_dgrams, (uint64_t)n, memory_order_relaxed);
        done += (unsigned)n;
    }
}

/* Queues one datagram for every subscriber (`copies` times each); returns the new count. */
static unsigned queue_sends(struct bench_fwd *fwd, struct mmsghdr *tx, unsigned tx_count,
                            struct iovec *iov)
{
    for (uint32_t c = 0; c < fwd->copies; c++) {
        for (uint32_t s = 0; s < fwd->sub_count; s++) {
            struct bench_addr *to = &fwd->subs[s];
            tx[tx_count++].msg_hdr = (struct msghdr){ .msg_name = &to->ss,
                                                      .msg_namelen = to->len,
                                                      .msg_iov = iov, .msg_iovlen = 1 };
        }
    }
    return tx_count;
}

/*
 * Writes into out[cap] a FINAL frame naming the messages of data datagram buf[len] as the next
 * block; returns its length, 0 when the datagram holds no message that parses. A FINAL frame
 * is smaller than the frame it names (36 bytes per message against at least 152), so a slot
 * of the receive buffer's size always holds it.
 */
static size_t make_final(struct bench_fwd *fwd, const uint8_t *buf, size_t len, uint8_t *out,
                         size_t cap)
{
    struct dp_wire_iter it;
    struct dp_wire_rec rec;
    struct dp_wire_msg msg;
    static const uint8_t block_hash[DP_WIRE_HASH_BYTES];
    if (dp_wire_frame_open(&it, buf, len) != 0) {
        return 0;
    }
    uint8_t *body = fwd->final_buf + (size_t)BENCH_FWD_BATCH * fwd->slot_bytes; /* scratch */
    uint8_t *entry = body + DP_WIRE_FINAL_HDR_BYTES;
    uint16_t count = 0;
    for (uint32_t index = 0; dp_wire_next(&it, &rec); index++) {
        if (rec.type != DP_WIRE_REC_MSG || dp_wire_msg_parse(&rec, &msg) != 0) {
            continue;
        }
        uint8_t id[DP_WIRE_ID_BYTES];
        dp_wire_msg_id(&msg, id);
        DC_ASSERT(entry + DP_WIRE_FINAL_ENTRY_BYTES <= body + cap);
        dp_wire_final_encode_entry(entry, index, id);
        entry += DP_WIRE_FINAL_ENTRY_BYTES;
        count++;
    }
    if (count == 0) {
        return 0;
    }
    dp_wire_final_encode_header(body, ++fwd->final_height, block_hash, count);
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, out, cap);
    size_t body_len = (size_t)(entry - body);
    int rc = dp_wire_builder_add(&b, DP_WIRE_REC_FINAL, body, (uint16_t)body_len);
    DC_ASSERT(rc == 0);
    return dp_wire_builder_finish(&b);
}

/*
 * Sends the FINAL frames of this batch's data datagrams (tx_iov[i].iov_len != 0 marks one that
 * was forwarded), and, with final_conflict_every, some of them again at another height.
 */
static void send_finals(struct bench_fwd *fwd, struct mmsghdr *tx, const struct iovec *data,
                        const uint8_t *forwarded, int n)
{
    struct iovec fin_iov[BENCH_FWD_BATCH];
    uint64_t height[BENCH_FWD_BATCH];
    for (int pass = 0; pass < 2; pass++) {
        unsigned tx_count = 0;
        for (int i = 0; i < n; i++) {
            uint8_t *out = fwd->final_buf + (size_t)i * fwd->slot_bytes;
            if (!forwarded[i]) {
                continue;
            }
            if (pass == 0) {
                size_t len = make_final(fwd, data[i].iov_base, data[i].iov_len, out,
                                        fwd->slot_bytes);
                fin_iov[i] = (struct iovec){ out, len };
                height[i] = fwd->final_height;
            } else if (fin_iov[i].iov_len == 0 || height[i] % fwd->final_conflict_every != 0) {
                continue;
            } else { /* the same messages at a height no honest chain gave them */
                out[DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES + 1] ^= 0x80;
            }
            if (fin_iov[i].iov_len != 0) {
                tx_count = queue_sends(fwd, tx, tx_count, &fin_iov[i]);
            }
        }
        send_all(fwd, tx, tx_count);
        if (fwd->final_conflict_every == 0) {
            return;
        }
    }
}

void bench_fwd_run(struct bench_fwd *fwd)
{
    struct mmsghdr rx[BENCH_FWD_BATCH];
    struct iovec rx_iov[BENCH_FWD_BATCH];
    struct bench_addr from[BENCH_FWD_BATCH];
    struct mmsghdr tx[BENCH_FWD_BATCH * BENCH_FWD_SUBS_MAX * BENCH_FWD_COPIES_MAX];
    struct iovec tx_iov[BENCH_FWD_BATCH];
    uint8_t forwarded[BENCH_FWD_BATCH];
    while (!atomic_load_explicit(&fwd->stop, memory_order_relaxed)) {
        for (unsigned i = 0; i < BENCH_FWD_BATCH; i++) {
            rx_iov[i] = (struct iovec){ fwd->rx_buf + (size_t)i * fwd->slot_bytes,
                                        fwd->slot_bytes };
            rx[i].msg_hdr = (struct msghdr){ .msg_name = &from[i].ss,
                                             .msg_namelen = sizeof(from[i].ss),
                                             .msg_iov = &rx_iov[i], .msg_iovlen = 1 };
        }
        int n = recvmmsg(fwd->fd, rx, BENCH_FWD_BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) {
            continue; /* timeout (look at stop) or EINTR */
        }
        atomic_fetch_add_explicit(&fwd->rx_dgrams, (uint64_t)n, memory_order_relaxed);
        unsigned tx_count = 0;
        for (int i = 0; i < n; i++) {
            forwarded[i] = 0;
            from[i].len = rx[i].msg_hdr.msg_namelen;
            if (rx[i].msg_hdr.msg_flags & MSG_TRUNC) {
                atomic_fetch_add_explicit(&fwd->rx_truncated, 1, memory_order_relaxed);
                continue;
            }
            if (handle_subscribe(fwd, rx_iov[i].iov_base, rx[i].msg_len, &from[i])) {
                continue;
            }
            fwd->data_seen++;
            if (fwd->drop_every != 0 && fwd->data_seen % fwd->drop_every == 0) {
                continue;
            }
            tx_iov[i] = (struct iovec){ rx_iov[i].iov_base, rx[i].msg_len };
            tx_count = queue_sends(fwd, tx, tx_count, &tx_iov[i]);
            forwarded[i] = 1;
        }
        DC_ASSERT(tx_count <= DC_ARRAY_LEN(tx));
        send_all(fwd, tx, tx_count);
        if (fwd->final_buf != NULL) {
            send_finals(fwd, tx, tx_iov, forwarded, n);
        }
    }
    struct timespec cpu;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    fwd->cpu_ns = (uint64_t)cpu.tv_sec * 1000000000u + (uint64_t)cpu.tv_nsec;
}
