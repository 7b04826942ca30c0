/*
 * libFuzzer target for everything the relay does with an untrusted datagram: the wire parser
 * (frame, records, user message, subscribe) and the I/O thread's handling of it (de-dup,
 * subscriber table and its acks, the control port, fan-out into frames), over a fake backend.
 * Every frame the fan-out emits must itself parse.
 */
#include "dataplane/io.h"
#include "dataplane/wire.h"

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFS 16
#define BUF_BYTES 65000

static uint8_t mem[BUFS][BUF_BYTES];
static struct dp_tx_buf bufs[BUFS];
static int in_use[BUFS];

static struct dp_tx_buf *fake_get(struct dp_backend *be)
{
    (void)be;
    for (int i = 0; i < BUFS; i++) {
        if (!in_use[i]) {
            in_use[i] = 1;
            bufs[i] = (struct dp_tx_buf){ .data = mem[i], .cap = BUF_BYTES,
                                          .index = (uint32_t)i };
            return &bufs[i];
        }
    }
    return NULL;
}

static void fake_put(struct dp_backend *be, struct dp_tx_buf *buf)
{
    (void)be;
    in_use[buf->index] = 0;
}

static void fake_send(struct dp_backend *be, struct dp_tx_buf *buf, const struct sockaddr *dst,
                      socklen_t len)
{
    (void)be;
    (void)dst;
    (void)len;
    uint32_t seg = buf->seg_count > 1 ? buf->seg_bytes : buf->len;
    for (uint32_t off = 0; off < buf->len; off += seg) {
        uint32_t n = buf->len - off < seg ? buf->len - off : seg;
        struct dp_wire_iter it;
        if (dp_wire_frame_open(&it, buf->data + off, n) != 0) {
            __builtin_trap(); /* we emitted a frame we would reject */
        }
    }
    in_use[buf->index] = 0;
}

static const struct dp_backend_ops fake_ops = {
    .name = "fake", .tx_get = fake_get, .tx_put = fake_put, .tx_send = fake_send,
};

static struct dp_io io;
static struct dp_ctl_port port;
static struct dp_stats_block stats;
static _Atomic int stop;
static _Atomic uint32_t clock_s;

static void setup(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || dp_ctl_port_init(&port, 64, fd, NULL) != 0) {
        __builtin_trap();
    }
    dp_stats_block_init(&stats);
    struct dp_io_conf conf = {
        .ops = &fake_ops, .port = &port, .stats = &stats, .skip_verify = 1, .stop = &stop,
        .clock_s = &clock_s, .mtu = 1472, .subs_max = 8, .sub_expiry_s = 5,
        .dedup_entries = 1024, .dedup_window_s = 5,
    };
    if (dp_io_init(&io, &conf) != 0) {
        __builtin_trap();
    }
    struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(2) };
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)dp_fanout_add_peer(&io.fanout, (struct sockaddr *)&peer, sizeof(peer));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    /* The first byte picks the sender (a peer or a user) and advances the clock. */
    uint8_t who = size > 0 ? data[0] : 0;
    struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(1 + (who & 3)) };
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    io.now_s += who >> 6;
    struct dp_rx_pkt pkt = { .data = data, .len = 0, .src = (struct sockaddr *)&src,
                             .src_len = sizeof(src) };
    if (size > 0) {
        pkt.data = data + 1;
        pkt.len = (uint32_t)size - 1;
    }
    dp_io_process(&io, &pkt, 1);
    dp_fanout_flush(&io.fanout);
    dp_fanout_expire(&io.fanout, io.now_s);
    struct dp_ctl_msg msg;
    while (dp_ctl_port_recv(&port, &msg) == 1) {
        if (msg.body_len > DP_CTL_BODY_BYTES_MAX) {
            __builtin_trap();
        }
    }
    return 0;
}
