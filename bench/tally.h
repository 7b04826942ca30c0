/*
 * tally: what the subscriber received, checked against the load that was sent.
 *
 * Every record that arrives is classified: a valid item delivered for the first time, a
 * duplicate, something that must never be delivered (an item signed wrongly on purpose, a
 * garbage message, a datagram that does not parse, a message whose bytes differ from what was
 * sent), a warm-up probe, a well-formed message from someone else, or a record of another type.
 * Latency is the receive time minus the time the carrying datagram was sent.
 *
 * One receiver thread calls bench_tally_datagram(); other threads may read the atomic counters
 * (relaxed) for progress. bench_tally_latency() runs after the receiver stopped.
 */
#ifndef BENCH_TALLY_H
#define BENCH_TALLY_H

#include "bench/load.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct bench_tally {
    const struct bench_load *load;
    const _Atomic uint64_t *send_ns; /* per frame, 0 until sent */
    int all_items;                   /* baseline: a plain forwarder delivers invalid items too */
    uint8_t *seen;                   /* per item, saturating count */
    uint32_t *lat_us;                /* first deliveries */
    uint64_t lat_count;
    _Atomic uint64_t delivered;      /* items delivered at least once */
    _Atomic uint64_t duplicates;
    _Atomic uint64_t invalid_delivered;
    _Atomic uint64_t foreign;
    _Atomic uint64_t probes;
    _Atomic uint64_t other_records;
    _Atomic uint64_t datagrams;
    _Atomic uint64_t last_ns;        /* time of the last first delivery */
};

struct bench_latency {
    uint32_t p50_us;
    uint32_t p99_us;
    uint32_t max_us;
};

/*
 * Counts against `load`; `send_ns` has one slot per frame. With `all_items`, invalid items
 * count as delivered (the kernel baseline does not verify). 0 or -ENOMEM.
 */
int bench_tally_init(struct bench_tally *tally, const struct bench_load *load,
                     const _Atomic uint64_t *send_ns, int all_items);
void bench_tally_fini(struct bench_tally *tally);
/* Classifies one received datagram. */
void bench_tally_datagram(struct bench_tally *tally, const uint8_t *buf, size_t len,
                          uint64_t now_ns);
/* Sorts the samples and reads p50/p99/max (zeros when there are none). */
void bench_tally_latency(struct bench_tally *tally, struct bench_latency *out);

#endif
