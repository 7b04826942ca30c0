/*
 * fwd: the kernel baseline forwarder, a plain recvmmsg/sendmmsg loop.
 *
 * It is what a relay would be with nothing but the kernel's UDP path: it receives datagrams in
 * batches and sends each one unchanged to every subscriber, in batches. A datagram whose first
 * record is a SUBSCRIBE makes its sender a subscriber (or removes it, with the unsubscribe
 * flag), the same way a dchat relay learns its subscribers, so dchat-bench drives both alike.
 * No parsing beyond that, no verification, no de-duplication: it is the bound that the
 * kernel's per-datagram cost sets, measured in the same run as the relay.
 *
 * For testing dchat-bench --finality without a chain, bench_fwd_final() makes it also play a
 * relay that follows one: after each data datagram it sends every subscriber a FINAL record
 * naming the datagram's messages (every one that parses, verified or not) as block `height`
 * (one block per datagram, counting from 1) at their positions in it; optionally it also
 * sends every Nth FINAL again at another height, a safety violation the bench must catch.
 *
 * One thread runs bench_fwd_run(); any thread may call bench_fwd_stop() and read the counters.
 */
#ifndef BENCH_FWD_H
#define BENCH_FWD_H

#include "bench/net.h"

#include <stdatomic.h>
#include <stdint.h>

#define BENCH_FWD_BATCH 64
#define BENCH_FWD_SUBS_MAX 16
#define BENCH_FWD_COPIES_MAX 4

struct bench_fwd {
    int fd;
    uint32_t slot_bytes;
    uint8_t *rx_buf;                 /* BENCH_FWD_BATCH slots */
    struct bench_addr subs[BENCH_FWD_SUBS_MAX];
    uint32_t sub_count;
    uint32_t copies;                 /* sends per datagram and subscriber (tests: 1) */
    uint32_t drop_every;             /* tests: drop every Nth data datagram (0: none) */
    uint64_t data_seen;
    uint8_t *final_buf;              /* with bench_fwd_final(): BENCH_FWD_BATCH FINAL frames */
    uint32_t final_conflict_every;   /* tests: resend every Nth FINAL at another height */
    uint64_t final_height;           /* the last block named */
    atomic_int stop;
    _Atomic uint64_t rx_dgrams;
    _Atomic uint64_t tx_dgrams;
    _Atomic uint64_t tx_errors;      /* datagrams the kernel refused to send */
    _Atomic uint64_t rx_truncated;   /* larger than a slot: dropped */
    uint64_t cpu_ns;                 /* CPU time of bench_fwd_run's thread, set on return */
};

/*
 * Binds a UDP socket at `listen` (port 0 picks one: read it with bench_net_local(fwd->fd)).
 * `slot_bytes` is the largest datagram forwarded whole. 0, -ENOMEM or -errno from bind.
 */
int bench_fwd_init(struct bench_fwd *fwd, const struct bench_addr *listen, uint32_t slot_bytes);
void bench_fwd_fini(struct bench_fwd *fwd);
/*
 * Test hooks, so dchat-bench's loss and duplicate accounting can be shown to work: send every
 * datagram `copies` times, drop every `drop_every`th data datagram (0: none). Before run().
 */
void bench_fwd_faults(struct bench_fwd *fwd, uint32_t copies, uint32_t drop_every);
/*
 * Test hook: send FINAL records after each data datagram (above); with `conflict_every` N > 0,
 * every Nth of them also a second time at another height. Before run(). 0 or -ENOMEM.
 */
int bench_fwd_final(struct bench_fwd *fwd, uint32_t conflict_every);
/* Forwards until bench_fwd_stop(); returns within ~100 ms of it. */
void bench_fwd_run(struct bench_fwd *fwd);
void bench_fwd_stop(struct bench_fwd *fwd);

#endif
