#include "dataplane/ctl_port.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int dp_ctl_port_init(struct dp_ctl_port *port, uint32_t slots, int udp_fd,
                     const struct dp_stats_set *stats)
{
    if (slots < 2 || slots > (1u << 16) || (slots & (slots - 1)) != 0 || udp_fd < 0) {
        return -EINVAL;
    }
    memset(port, 0, sizeof(*port));
    port->slots = dc_alloc((size_t)slots * sizeof(port->slots[0]));
    if (port->slots == NULL) {
        return -ENOMEM;
    }
    port->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (port->event_fd < 0) {
        int rc = -errno;
        dc_free(port->slots);
        port->slots = NULL;
        return rc;
    }
    port->size = slots;
    port->mask = slots - 1;
    port->udp_fd = udp_fd;
    port->stats = stats;
    atomic_init(&port->head, 0);
    atomic_init(&port->tail, 0);
    atomic_init(&port->drops, 0);
    atomic_init(&port->tx_errors, 0);
    port->local_len = sizeof(port->local);
    if (getsockname(udp_fd, (struct sockaddr *)&port->local, &port->local_len) != 0) {
        port->local_len = 0;
    }
    return 0;
}

void dp_ctl_port_fini(struct dp_ctl_port *port)
{
    if (port->event_fd >= 0) {
        close(port->event_fd);
        port->event_fd = -1;
    }
    dc_free(port->slots);
    port->slots = NULL;
}

int dp_ctl_port_push(struct dp_ctl_port *port, uint8_t type, const uint8_t *body,
                     uint16_t body_len, const struct sockaddr *src, socklen_t src_len)
{
    if (body_len > DP_CTL_BODY_BYTES_MAX || src_len > sizeof(struct sockaddr_storage)) {
        return DC_ETOOBIG;
    }
    uint32_t tail = atomic_load_explicit(&port->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&port->head, memory_order_acquire);
    DC_ASSERT(tail - head <= port->size);
    if (tail - head == port->size) {
        atomic_fetch_add_explicit(&port->drops, 1, memory_order_relaxed);
        return DC_EFULL;
    }
    struct dp_ctl_msg *slot = &port->slots[tail & port->mask];
    memcpy(&slot->src, src, src_len);
    slot->src_len = src_len;
    slot->type = type;
    slot->body_len = body_len;
    memcpy(slot->body, body, body_len);
    atomic_store_explicit(&port->tail, tail + 1, memory_order_release);
    port->pushed_since_flush++;
    return 0;
}

void dp_ctl_port_note(struct dp_ctl_port *port)
{
    port->pushed_since_flush++;
}

void dp_ctl_port_flush(struct dp_ctl_port *port)
{
    if (port->pushed_since_flush == 0) {
        return;
    }
    port->pushed_since_flush = 0;
    uint64_t one = 1;
    /* EAGAIN only when the counter would overflow: the consumer is awake anyway. */
    ssize_t n = write(port->event_fd, &one, sizeof(one));
    (void)n;
}

int dp_ctl_port_event_fd(const struct dp_ctl_port *port)
{
    return port->event_fd;
}

void dp_ctl_port_drain_event(struct dp_ctl_port *port)
{
    uint64_t value = 0;
    ssize_t n = read(port->event_fd, &value, sizeof(value));
    (void)n; /* EAGAIN: nothing was signalled */
}

int dp_ctl_port_recv(struct dp_ctl_port *port, struct dp_ctl_msg *out)
{
    uint32_t head = atomic_load_explicit(&port->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&port->tail, memory_order_acquire);
    DC_ASSERT(tail - head <= port->size);
    if (tail == head) {
        return 0;
    }
    const struct dp_ctl_msg *slot = &port->slots[head & port->mask];
    DC_ASSERT(slot->body_len <= DP_CTL_BODY_BYTES_MAX);
    memcpy(&out->src, &slot->src, slot->src_len);
    out->src_len = slot->src_len;
    out->type = slot->type;
    out->body_len = slot->body_len;
    memcpy(out->body, slot->body, slot->body_len);
    atomic_store_explicit(&port->head, head + 1, memory_order_release);
    return 1;
}

int dp_ctl_port_send(struct dp_ctl_port *port, const struct sockaddr *dst, socklen_t dst_len,
                     const uint8_t *frame, size_t frame_len)
{
    ssize_t n = sendto(port->udp_fd, frame, frame_len, MSG_DONTWAIT, dst, dst_len);
    if (n < 0) {
        atomic_fetch_add_explicit(&port->tx_errors, 1, memory_order_relaxed);
        return -errno;
    }
    return 0;
}

int dp_ctl_port_udp_fd(const struct dp_ctl_port *port)
{
    return port->udp_fd;
}

const struct sockaddr *dp_ctl_port_local_addr(const struct dp_ctl_port *port,
                                              socklen_t *len_out)
{
    *len_out = port->local_len;
    return (const struct sockaddr *)&port->local;
}

uint64_t dp_ctl_port_drops(const struct dp_ctl_port *port)
{
    return atomic_load_explicit(&port->drops, memory_order_relaxed);
}

void dp_ctl_port_stats(const struct dp_ctl_port *port, struct dp_stats *out)
{
    if (port->stats == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    dp_stats_read(port->stats, out);
}
