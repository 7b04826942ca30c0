/*
 * ctl_port: the channel between the dataplane's I/O thread and the node's control thread.
 *
 * Inbound: the I/O thread hands every DISCOVERY (0x10) and CONSENSUS (0x20) record it
 * receives, with the datagram's source address, to the control thread through a bounded SPSC
 * ring of fixed-size slots. A full ring drops the record and counts it (DP_STAT_DROP_CTL_RING
 * and dp_ctl_port_drops()); the I/O thread never waits. After a receive batch the I/O thread
 * signals an eventfd once, so the control thread can sleep in poll()/epoll on
 * dp_ctl_port_event_fd() and then drain with dp_ctl_port_recv().
 *
 * Outbound: the control thread sends its own frames with dp_ctl_port_send() (sendto() on the
 * node's UDP socket, shared with io_uring: low rate, and UDP sends are atomic per datagram).
 *
 * Stats: dp_ctl_port_stats() reads the dataplane's counters (stats.h) for /metrics.
 *
 * A validator has a second port of the same kind for CONSENSUS records, consumed by its
 * consensus thread (consensus/lcore.h), so consensus never queues behind discovery.
 *
 * Threads: the I/O thread calls dp_ctl_port_push/note/flush; ONE consumer thread calls
 * recv/send/drain/stats/drops; init/fini run on the main thread before launch / after join.
 */
#ifndef DP_CTL_PORT_H
#define DP_CTL_PORT_H

#include "dataplane/ring.h"
#include "dataplane/stats.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DP_CTL_BODY_BYTES_MAX 1472 /* a record body never exceeds a default-MTU datagram */
#define DP_CTL_SLOTS_DEFAULT 1024

/* One record for the control thread. */
struct dp_ctl_msg {
    struct sockaddr_storage src; /* who sent the datagram */
    socklen_t src_len;
    uint8_t type;                /* DP_WIRE_REC_DISCOVERY or DP_WIRE_REC_CONSENSUS */
    uint16_t body_len;
    uint8_t body[DP_CTL_BODY_BYTES_MAX];
};

struct dp_ctl_port {
    /* producer (I/O thread) line */
    _Alignas(DP_CACHE_LINE) _Atomic uint32_t tail;
    uint32_t pushed_since_flush;
    /* consumer (control thread) line */
    _Alignas(DP_CACHE_LINE) _Atomic uint32_t head;
    /* read-only after init */
    _Alignas(DP_CACHE_LINE) uint32_t size;
    uint32_t mask;
    struct dp_ctl_msg *slots;
    int udp_fd;   /* the node's socket; not owned */
    int event_fd; /* owned */
    _Atomic uint64_t drops;
    _Atomic uint64_t tx_errors;
    const struct dp_stats_set *stats; /* the node's counters; may be NULL in tests */
    struct sockaddr_storage local;    /* the node's bound address */
    socklen_t local_len;
};

/*
 * Makes the port: `slots` (power of two) records, an eventfd, and the node's UDP socket fd
 * (borrowed, stays open until after fini). 0, -EINVAL or -errno.
 */
int dp_ctl_port_init(struct dp_ctl_port *port, uint32_t slots, int udp_fd,
                     const struct dp_stats_set *stats);
void dp_ctl_port_fini(struct dp_ctl_port *port);

/* I/O thread: queue one record. 0, DC_ETOOBIG (body too long) or DC_EFULL (counted drop). */
int dp_ctl_port_push(struct dp_ctl_port *port, uint8_t type, const uint8_t *body,
                     uint16_t body_len, const struct sockaddr *src, socklen_t src_len);
/* I/O thread: something else for the consumer was queued (e.g. ids): wake it at the flush. */
void dp_ctl_port_note(struct dp_ctl_port *port);
/* I/O thread: wake the control thread if anything was pushed since the last flush. */
void dp_ctl_port_flush(struct dp_ctl_port *port);

/* Control thread: the fd to poll for POLLIN (an eventfd). */
int dp_ctl_port_event_fd(const struct dp_ctl_port *port);
/* Control thread: clear the eventfd (call before draining, so no wake-up is lost). */
void dp_ctl_port_drain_event(struct dp_ctl_port *port);
/* Control thread: take the oldest record into `out`. 1 when one was taken, 0 when empty. */
int dp_ctl_port_recv(struct dp_ctl_port *port, struct dp_ctl_msg *out);
/*
 * Control thread: send one datagram (a whole frame, e.g. built with dp_wire_builder) from
 * the node's socket. 0 or -errno (EAGAIN when the socket buffer is full: retry later).
 */
int dp_ctl_port_send(struct dp_ctl_port *port, const struct sockaddr *dst, socklen_t dst_len,
                     const uint8_t *frame, size_t frame_len);
/* The node's UDP socket fd (for getsockname or a custom sendmsg) and its bound address. */
int dp_ctl_port_udp_fd(const struct dp_ctl_port *port);
const struct sockaddr *dp_ctl_port_local_addr(const struct dp_ctl_port *port,
                                              socklen_t *len_out);
/* Records dropped because the ring was full. Any thread. */
uint64_t dp_ctl_port_drops(const struct dp_ctl_port *port);
/* The dataplane's counters (zeros when the port has no stats set). Any thread. */
void dp_ctl_port_stats(const struct dp_ctl_port *port, struct dp_stats *out);

#endif
