/*
 * tally: what the subscriber received, checked against the load that was sent.
 *
 * Every record that arrives is classified: a valid item delivered for the first time, a
 * duplicate, something that must never be delivered (an item signed wrongly on purpose, a
 * garbage message, a datagram that does not parse, a message whose bytes differ from what was
 * sent), a warm-up probe, a well-formed message from someone else, or a record of another type.
 * Latency is the receive time minus the time the carrying datagram was sent.
 *
 * With finality on, FINAL records (a relay says at which block height and index a message
 * became final) are matched to items by message id through the load's id index, O(1) per
 * entry. The first FINAL for an item sets its position and samples its finality latency: the
 * record's arrival minus the send time of the datagram that carried the item (a FINAL counts
 * whether or not the MSG itself arrived: finality is about order). Another FINAL for the same
 * item at the same position is a harmless duplicate; at another position it is a safety
 * violation (a conflict). Ids the bench never sent are foreign; a FINAL body that does not
 * parse is malformed. With finality off, FINAL records are "other records" as any other type.
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
    uint8_t sub_cookie[16];          /* the relay's address cookie from its subscribe echo */
    int sub_cookie_new;              /* a new cookie came: subscribe again with it */
    /* Finality (bench_tally_init's `finality`); the arrays are NULL without it. */
    uint8_t *fin_seen;               /* per item: 1 once a FINAL named it */
    uint64_t *fin_height;            /* per item: its first FINAL's position */
    uint32_t *fin_index;
    uint32_t *fin_lat_us;            /* first FINALs of valid items */
    uint64_t fin_lat_count;
    _Atomic uint64_t final;          /* valid items reported final */
    _Atomic uint64_t final_delivered; /* items both delivered and final */
    _Atomic uint64_t final_invalid;  /* deliberately invalid items reported final */
    _Atomic uint64_t final_duplicates; /* a further FINAL for an item, at the same position */
    _Atomic uint64_t final_conflicts;  /* a further FINAL for an item, at another position */
    _Atomic uint64_t final_foreign;  /* entries naming ids the bench never sent */
    _Atomic uint64_t final_malformed; /* FINAL records whose body does not parse */
    _Atomic uint64_t final_last_ns;  /* time of the last first FINAL of a valid item */
    struct bench_final_conflict {    /* the first conflict, for the warning */
        uint64_t item;
        uint64_t height_first;
        uint32_t index_first;
        uint64_t height_then;
        uint32_t index_then;
    } first_conflict;
};

struct bench_latency {
    uint32_t p50_us;
    uint32_t p99_us;
    uint32_t max_us;
};

/*
 * Counts against `load`; `send_ns` has one slot per frame. With `all_items`, invalid items
 * count as delivered (the kernel baseline does not verify). With `finality`, FINAL records are
 * matched (the load must have been built with ids). 0 or -ENOMEM.
 */
int bench_tally_init(struct bench_tally *tally, const struct bench_load *load,
                     const _Atomic uint64_t *send_ns, int all_items, int finality);
void bench_tally_fini(struct bench_tally *tally);
/* Classifies one received datagram. */
void bench_tally_datagram(struct bench_tally *tally, const uint8_t *buf, size_t len,
                          uint64_t now_ns);
/* Sorts the samples and reads p50/p99/max (zeros when there are none). */
void bench_tally_latency(struct bench_tally *tally, struct bench_latency *out);
/* The same for finality latency (zeros without finality or samples). */
void bench_tally_finality(struct bench_tally *tally, struct bench_latency *out);

#endif
