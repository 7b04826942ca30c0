/*
 * uring: the io_uring backend (struct dp_backend_ops dp_backend_uring).
 *
 * Receive: one multishot recvmsg into a provided-buffer ring; each completion names the buffer
 * the kernel filled, we hand its datagrams out and put the buffer back after the burst. The
 * socket has UDP_GRO on, so a GSO train from another relay arrives as one buffer that we cut
 * at the segment size. Multishot is re-armed only when a completion lacks IORING_CQE_F_MORE
 * (e.g. -ENOBUFS when every buffer was in use: counted, then re-armed after the buffers return).
 *
 * Send: a fixed array of send buffers; tx_send prepares a sendmsg SQE (with a UDP_SEGMENT
 * cmsg when the buffer holds several datagrams) and tx_flush submits the lot in one
 * io_uring_enter. A buffer returns to the free list on its completion.
 *
 * Wake-ups: an eventfd read is kept armed in the ring, so another thread's write to it ends
 * a sleeping wait(). user_data is a tag and an index, never a pointer.
 */
#include "dataplane/backend.h"
#include "dataplane/stats.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define BGID 7
#define SQ_ENTRIES 1024
#define TAG_RX 1ull
#define TAG_TX 2ull
#define TAG_WAKE 3ull
#define TAG(tag, index) ((tag) << 32 | (uint64_t)(index))
/* rounded up to 8 so the control messages after the name are aligned for struct cmsghdr */
#define RX_NAME_BYTES ((uint32_t)(sizeof(struct sockaddr_in6) + 7) & ~7u)
/* UDP_GRO: the segment size of a coalesced receive */
#define RX_CONTROL_BYTES ((uint32_t)CMSG_SPACE(sizeof(int)))
#define RX_PAYLOAD_BYTES 65536u

struct tx_slot {
    struct dp_tx_buf buf;
    struct msghdr msg;
    struct iovec iov;
    struct sockaddr_storage dst;
    union {
        char bytes[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } control;
};

struct dp_backend {
    struct io_uring ring;
    int ring_ready;
    int fd;
    int wake_fd;
    uint64_t wake_value;
    int wake_armed;
    struct dp_stats_block *stats;
    /* receive */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint8_t *rx_mem;
    size_t rx_mem_bytes;
    uint32_t rx_count;
    uint32_t rx_buf_bytes;
    struct msghdr rx_msg; /* multishot template: name and control lengths */
    int rx_armed;
    uint16_t *rx_held;    /* buffers handed out by the last burst */
    uint32_t rx_held_count;
    /* send */
    struct tx_slot *tx;
    uint32_t tx_count;
    uint8_t *tx_mem;
    uint32_t tx_buf_bytes;
    uint32_t *tx_free;
    uint32_t tx_free_count;
};

/*
 * Zeroed memory for buffers, on huge pages where the kernel allows (the receive ring cycles
 * through 16 MiB: one TLB entry per 2 MiB instead of per 4 KiB), touched now so that no page
 * fault happens on the hot path.
 */
static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    memset(p, 0, bytes);
    return p;
}

static int open_socket(const struct dp_backend_conf *conf)
{
    int fd = socket(conf->listen->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int size = 8 << 20;
    /* FORCE passes rmem_max when we have CAP_NET_ADMIN; otherwise the plain one clamps. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    int on = 1;
    (void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on)); /* best effort */
    if (bind(fd, conf->listen, conf->listen_len) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int alloc_buffers(struct dp_backend *be, const struct dp_backend_conf *conf)
{
    be->rx_count = conf->rx_buf_count;
    be->rx_buf_bytes = (uint32_t)sizeof(struct io_uring_recvmsg_out) + RX_NAME_BYTES +
                       RX_CONTROL_BYTES + RX_PAYLOAD_BYTES;
    DC_ASSERT(be->rx_buf_bytes % 8 == 0 && sizeof(struct io_uring_recvmsg_out) % 8 == 0);
    be->rx_mem_bytes = (size_t)be->rx_count * be->rx_buf_bytes;
    be->rx_mem = map_zeroed(be->rx_mem_bytes);
    be->br_bytes = (size_t)be->rx_count * sizeof(struct io_uring_buf);
    be->br = map_zeroed(be->br_bytes);
    be->rx_held = dc_alloc((size_t)be->rx_count * sizeof(be->rx_held[0]));
    be->tx_count = conf->tx_buf_count;
    be->tx_buf_bytes = conf->tx_buf_bytes;
    be->tx = dc_alloc((size_t)be->tx_count * sizeof(be->tx[0]));
    be->tx_free = dc_alloc((size_t)be->tx_count * sizeof(be->tx_free[0]));
    be->tx_mem = map_zeroed((size_t)be->tx_count * conf->tx_buf_bytes);
    if (be->rx_mem == NULL || be->br == NULL || be->rx_held == NULL || be->tx == NULL ||
        be->tx_free == NULL || be->tx_mem == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < be->tx_count; i++) {
        struct tx_slot *t = &be->tx[i];
        t->buf.data = be->tx_mem + (size_t)i * conf->tx_buf_bytes;
        t->buf.cap = conf->tx_buf_bytes;
        t->buf.index = i;
        be->tx_free[be->tx_free_count++] = i;
    }
    return 0;
}

static void uring_close(struct dp_backend *be)
{
    if (be == NULL) {
        return;
    }
    if (be->ring_ready) {
        io_uring_queue_exit(&be->ring);
    }
    if (be->fd >= 0) {
        close(be->fd);
    }
    if (be->wake_fd >= 0) {
        close(be->wake_fd);
    }
    if (be->rx_mem != NULL) {
        munmap(be->rx_mem, be->rx_mem_bytes);
    }
    if (be->br != NULL) {
        munmap(be->br, be->br_bytes);
    }
    if (be->tx_mem != NULL) {
        munmap(be->tx_mem, (size_t)be->tx_count * be->tx_buf_bytes);
    }
    dc_free(be->rx_held);
    dc_free(be->tx);
    dc_free(be->tx_free);
    dc_free(be);
}

static int uring_open(struct dp_backend **out, const struct dp_backend_conf *conf)
{
    uint32_t n = conf->rx_buf_count;
    if (n == 0 || n > 32768 || (n & (n - 1)) != 0 || conf->tx_buf_count == 0 ||
        conf->tx_buf_bytes > 65000) {
        return -EINVAL;
    }
    struct dp_backend *be = dc_alloc(sizeof(*be));
    if (be == NULL) {
        return -ENOMEM;
    }
    be->fd = -1;
    be->wake_fd = -1;
    be->stats = conf->stats;
    int rc = alloc_buffers(be, conf);
    if (rc == 0) {
        be->wake_fd = eventfd(0, EFD_CLOEXEC); /* blocking: io_uring polls it */
        rc = be->wake_fd < 0 ? -errno : 0;
    }
    if (rc == 0) {
        be->fd = open_socket(conf);
        rc = be->fd < 0 ? be->fd : 0;
    }
    if (rc != 0) {
        uring_close(be);
        return rc;
    }
    be->rx_msg.msg_namelen = RX_NAME_BYTES;
    be->rx_msg.msg_controllen = RX_CONTROL_BYTES;
    *out = be;
    return 0;
}

static int uring_fd(const struct dp_backend *be)
{
    return be->fd;
}

static int uring_thread_init(struct dp_backend *be)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    /* One issuer, task work run only when we ask for completions: fewer interrupts. */
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
              IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    p.flags |= IORING_SETUP_CQSIZE;
    p.cq_entries = SQ_ENTRIES * 4;
    int rc = io_uring_queue_init_params(SQ_ENTRIES, &be->ring, &p);
    if (rc == -EINVAL) { /* older kernel: plain ring */
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = SQ_ENTRIES * 4;
        rc = io_uring_queue_init_params(SQ_ENTRIES, &be->ring, &p);
    }
    if (rc != 0) {
        return rc;
    }
    be->ring_ready = 1;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)be->br;
    reg.ring_entries = be->rx_count;
    reg.bgid = BGID;
    rc = io_uring_register_buf_ring(&be->ring, &reg, 0);
    if (rc != 0) {
        return rc;
    }
    io_uring_buf_ring_init(be->br);
    int mask = io_uring_buf_ring_mask(be->rx_count);
    for (uint32_t i = 0; i < be->rx_count; i++) {
        io_uring_buf_ring_add(be->br, be->rx_mem + (size_t)i * be->rx_buf_bytes,
                              be->rx_buf_bytes, (unsigned short)i, mask, (int)i);
    }
    io_uring_buf_ring_advance(be->br, (int)be->rx_count);
    return 0;
}

/* The SQE for one more request; submits first when the queue is full. */
static struct io_uring_sqe *get_sqe(struct dp_backend *be)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&be->ring);
    if (sqe == NULL) {
        (void)io_uring_submit(&be->ring);
        sqe = io_uring_get_sqe(&be->ring);
    }
    DC_ASSERT(sqe != NULL);
    return sqe;
}

static void arm(struct dp_backend *be)
{
    if (!be->rx_armed) {
        struct io_uring_sqe *sqe = get_sqe(be);
        io_uring_prep_recvmsg_multishot(sqe, be->fd, &be->rx_msg, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = BGID;
        io_uring_sqe_set_data64(sqe, TAG(TAG_RX, 0));
        be->rx_armed = 1;
    }
    if (!be->wake_armed) {
        struct io_uring_sqe *sqe = get_sqe(be);
        io_uring_prep_read(sqe, be->wake_fd, &be->wake_value, sizeof(be->wake_value), 0);
        io_uring_sqe_set_data64(sqe, TAG(TAG_WAKE, 0));
        be->wake_armed = 1;
    }
}

/* The GRO segment size, or 0 for a single datagram. */
static int read_cmsgs(struct io_uring_recvmsg_out *o, struct msghdr *msg)
{
    int seg = 0;
    for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, msg); c != NULL;
         c = io_uring_recvmsg_cmsg_nexthdr(o, msg, c)) {
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            memcpy(&seg, CMSG_DATA(c), sizeof(seg));
        }
    }
    return seg;
}

/* One receive completion: its datagrams into pkts[]; returns how many. */
static uint32_t on_rx(struct dp_backend *be, const struct io_uring_cqe *cqe,
                      struct dp_rx_pkt *pkts)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        be->rx_armed = 0;
    }
    if (cqe->res == -ENOBUFS) {
        dp_stats_add(be->stats, DP_STAT_RX_ENOBUFS, 1);
    } else if (cqe->res < 0) {
        dp_stats_add(be->stats, DP_STAT_RX_ERRORS, 1);
    }
    if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
        return 0;
    }
    uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    DC_ASSERT(bid < be->rx_count);
    be->rx_held[be->rx_held_count++] = bid;
    uint8_t *buf = be->rx_mem + (size_t)bid * be->rx_buf_bytes;
    struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &be->rx_msg);
    if (cqe->res < 0 || o == NULL) {
        return 0;
    }
    if (o->flags & MSG_TRUNC) {
        dp_stats_add(be->stats, DP_STAT_RX_TRUNCATED, 1);
        return 0;
    }
    const uint8_t *payload = io_uring_recvmsg_payload(o, &be->rx_msg);
    uint32_t len = io_uring_recvmsg_payload_length(o, cqe->res, &be->rx_msg);
    uint32_t seg = (uint32_t)read_cmsgs(o, &be->rx_msg);
    if (seg == 0 || seg > len) {
        seg = len;
    }
    socklen_t name_len = o->namelen < RX_NAME_BYTES ? o->namelen : RX_NAME_BYTES;
    uint32_t n = 0;
    for (uint32_t off = 0; off < len || (len == 0 && n == 0); off += seg) {
        if (n == DP_BACKEND_RX_SEGS_MAX) {
            dp_stats_add(be->stats, DP_STAT_RX_TRUNCATED, 1);
            break;
        }
        pkts[n].data = payload + off;
        pkts[n].len = len - off < seg ? len - off : seg;
        pkts[n].src = io_uring_recvmsg_name(o);
        pkts[n].src_len = name_len;
        n++;
        if (len == 0) {
            break;
        }
    }
    return n;
}

static void on_tx(struct dp_backend *be, const struct io_uring_cqe *cqe)
{
    uint32_t index = (uint32_t)cqe->user_data;
    DC_ASSERT(index < be->tx_count);
    struct tx_slot *t = &be->tx[index];
    if (cqe->res < 0) {
        dp_stats_add(be->stats, DP_STAT_DROP_TX, t->buf.records);
    } else {
        dp_stats_add(be->stats, DP_STAT_TX_DATAGRAMS, t->buf.seg_count);
        dp_stats_add(be->stats, DP_STAT_TX_BYTES, (uint64_t)cqe->res);
    }
    DC_ASSERT(be->tx_free_count < be->tx_count);
    be->tx_free[be->tx_free_count++] = index;
}

static uint32_t uring_rx_burst(struct dp_backend *be, struct dp_rx_pkt *pkts, uint32_t max)
{
    DC_ASSERT(max >= DP_BACKEND_RX_SEGS_MAX);
    if (IO_URING_READ_ONCE(*be->ring.sq.kflags) & IORING_SQ_TASKRUN) {
        (void)io_uring_get_events(&be->ring); /* deferred task work: post the completions */
    }
    uint32_t n = 0;
    unsigned head;
    unsigned seen = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&be->ring, head, cqe) {
        if (max - n < DP_BACKEND_RX_SEGS_MAX || be->rx_held_count == be->rx_count) {
            break;
        }
        uint64_t tag = cqe->user_data >> 32;
        if (tag == TAG_RX) {
            n += on_rx(be, cqe, pkts + n);
        } else if (tag == TAG_TX) {
            on_tx(be, cqe);
        } else {
            DC_ASSERT(tag == TAG_WAKE);
            be->wake_armed = 0;
        }
        seen++;
    }
    io_uring_cq_advance(&be->ring, seen);
    return n;
}

static void uring_rx_release(struct dp_backend *be)
{
    if (be->rx_held_count == 0) {
        return;
    }
    int mask = io_uring_buf_ring_mask(be->rx_count);
    for (uint32_t i = 0; i < be->rx_held_count; i++) {
        uint16_t bid = be->rx_held[i];
        io_uring_buf_ring_add(be->br, be->rx_mem + (size_t)bid * be->rx_buf_bytes,
                              be->rx_buf_bytes, bid, mask, (int)i);
    }
    io_uring_buf_ring_advance(be->br, (int)be->rx_held_count);
    be->rx_held_count = 0;
}

static struct dp_tx_buf *uring_tx_get(struct dp_backend *be)
{
    if (be->tx_free_count == 0) {
        return NULL;
    }
    struct tx_slot *t = &be->tx[be->tx_free[--be->tx_free_count]];
    t->buf.len = 0;
    t->buf.seg_bytes = 0;
    t->buf.seg_count = 0;
    t->buf.records = 0;
    return &t->buf;
}

static void uring_tx_put(struct dp_backend *be, struct dp_tx_buf *buf)
{
    DC_ASSERT(buf->index < be->tx_count && be->tx_free_count < be->tx_count);
    be->tx_free[be->tx_free_count++] = buf->index;
}

static void uring_tx_send(struct dp_backend *be, struct dp_tx_buf *buf,
                          const struct sockaddr *dst, socklen_t dst_len)
{
    DC_ASSERT(buf->index < be->tx_count && buf->len > 0 && buf->len <= buf->cap);
    struct tx_slot *t = &be->tx[buf->index];
    DC_ASSERT(&t->buf == buf);
    memcpy(&t->dst, dst, dst_len);
    t->iov.iov_base = buf->data;
    t->iov.iov_len = buf->len;
    memset(&t->msg, 0, sizeof(t->msg));
    t->msg.msg_name = &t->dst;
    t->msg.msg_namelen = dst_len;
    t->msg.msg_iov = &t->iov;
    t->msg.msg_iovlen = 1;
    if (buf->seg_count > 1) {
        t->msg.msg_control = t->control.bytes;
        t->msg.msg_controllen = sizeof(t->control.bytes);
        struct cmsghdr *c = CMSG_FIRSTHDR(&t->msg);
        c->cmsg_level = IPPROTO_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg = (uint16_t)buf->seg_bytes;
        memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    }
    struct io_uring_sqe *sqe = get_sqe(be);
    io_uring_prep_sendmsg(sqe, be->fd, &t->msg, 0);
    io_uring_sqe_set_data64(sqe, TAG(TAG_TX, buf->index));
    dp_stats_add(be->stats, DP_STAT_TX_SENDS, 1);
}

static void uring_tx_flush(struct dp_backend *be)
{
    arm(be);
    if (io_uring_sq_ready(&be->ring) > 0) {
        (void)io_uring_submit(&be->ring);
    }
}

static void uring_wait(struct dp_backend *be, int timeout_ms)
{
    arm(be);
    struct io_uring_cqe *cqe = NULL;
    if (timeout_ms < 0) {
        (void)io_uring_submit_and_wait(&be->ring, 1);
        return;
    }
    struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000,
                                    .tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };
    (void)io_uring_submit_and_wait_timeout(&be->ring, &cqe, 1, &ts, NULL);
}

static void uring_wake(struct dp_backend *be)
{
    uint64_t one = 1;
    ssize_t n = write(be->wake_fd, &one, sizeof(one));
    (void)n; /* EAGAIN: the counter is already non-zero, a wake-up is pending */
}

const struct dp_backend_ops dp_backend_uring = {
    .name = "io_uring",
    .open = uring_open,
    .close = uring_close,
    .thread_init = uring_thread_init,
    .fd = uring_fd,
    .rx_burst = uring_rx_burst,
    .rx_release = uring_rx_release,
    .tx_get = uring_tx_get,
    .tx_put = uring_tx_put,
    .tx_send = uring_tx_send,
    .tx_flush = uring_tx_flush,
    .wait = uring_wait,
    .wake = uring_wake,
};
