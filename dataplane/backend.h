/*
 * backend: the packet I/O interface the I/O thread drives, one ops table per backend
 * (dataplane/uring.c today; dataplane/dpdk.c when the dpdk feature is built).
 *
 * The I/O thread is the only caller of every op except open/close (main thread, before launch
 * and after join) and wake (any thread). The contract keeps the hot path free of system calls
 * per packet: rx_burst hands out datagrams that stay valid until rx_release; tx_send only
 * queues, tx_flush submits everything queued in one go.
 */
#ifndef DP_BACKEND_H
#define DP_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct dp_stats_block;

/* One received datagram (a GRO-coalesced buffer is split into datagrams by the backend). */
struct dp_rx_pkt {
    const uint8_t *data;
    uint32_t len;
    const struct sockaddr *src;
    socklen_t src_len;
};

/*
 * A send buffer: the I/O thread fills `data` with `len` bytes of whole datagrams, each exactly
 * `seg_bytes` long except the last (UDP segmentation offload), for one destination.
 */
struct dp_tx_buf {
    uint8_t *data;
    uint32_t cap;
    uint32_t len;
    uint32_t seg_bytes; /* 0 or >= len: one datagram */
    uint32_t seg_count;
    uint32_t records;   /* records in it: what a failed send loses */
    uint32_t index;     /* the backend's slot */
};

struct dp_backend_conf {
    const struct sockaddr *listen;
    socklen_t listen_len;
    uint32_t rx_buf_count;   /* receive buffers (power of two) */
    uint32_t tx_buf_count;   /* send buffers */
    uint32_t tx_buf_bytes;   /* bytes per send buffer (<= 65000: one GSO send) */
    struct dp_stats_block *stats; /* the I/O thread's counters */
};

struct dp_backend; /* the backend's own state */

struct dp_backend_ops {
    const char *name;
    /* Main thread. Binds the socket and builds every buffer. 0 or -errno (EADDRINUSE ...). */
    int (*open)(struct dp_backend **be, const struct dp_backend_conf *conf);
    void (*close)(struct dp_backend *be);
    /* I/O thread, once, before its loop (io_uring: the ring belongs to its one issuer). */
    int (*thread_init)(struct dp_backend *be);
    /* The UDP socket (the control plane sends with sendto() on it). */
    int (*fd)(const struct dp_backend *be);
    /*
     * Up to `max` received datagrams into pkts[] (max >= DP_BACKEND_RX_SEGS_MAX). Handles send
     * completions and wake-ups on the way; never blocks. Returns the count.
     */
    uint32_t (*rx_burst)(struct dp_backend *be, struct dp_rx_pkt *pkts, uint32_t max);
    /* Gives back every buffer of the last rx_burst. */
    void (*rx_release)(struct dp_backend *be);
    /* A free send buffer, or NULL when all are in flight (the caller counts a drop). */
    struct dp_tx_buf *(*tx_get)(struct dp_backend *be);
    /* Returns an unused buffer. */
    void (*tx_put)(struct dp_backend *be, struct dp_tx_buf *buf);
    /* Queues `buf` for `dst`; the buffer returns to the free list when the send completes. */
    void (*tx_send)(struct dp_backend *be, struct dp_tx_buf *buf, const struct sockaddr *dst,
                    socklen_t dst_len);
    /* Submits what was queued (and re-arms receive); one system call at most. */
    void (*tx_flush)(struct dp_backend *be);
    /* Sleeps until a datagram, a completion or a wake arrives, or `timeout_ms` passes. */
    void (*wait)(struct dp_backend *be, int timeout_ms);
    /* Any thread: makes a sleeping wait() return. */
    void (*wake)(struct dp_backend *be);
};

#define DP_BACKEND_RX_SEGS_MAX 128 /* datagrams one GRO buffer can hold, worst case */

extern const struct dp_backend_ops dp_backend_uring;

#endif
