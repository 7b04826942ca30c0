/*
 * phase: one measured pass of a load through a relay (or through the kernel baseline).
 *
 * The subscriber socket subscribes at `subscribe` (renewing every second) and a receiver
 * thread tallies what arrives. Warm-up probes are sent to `target` until one comes back, so
 * the timed window starts only once the path works end to end. Then the sender pushes every
 * datagram of the load with sendmmsg, at full speed or paced to `rate_msgs_per_s`, and, with
 * a window, never more than `window_msgs` messages ahead of what was delivered (flow control:
 * the load then runs at whatever rate the relays sustain, however busy the machine is), and
 * finally waits for stragglers: until everything arrived, or nothing new arrived for
 * `drain_ms` (a hard cap bounds the wait even under a trickle). After that the loss figure is
 * final. With `finality`, it then waits up to `final_wait_ms` more for FINAL records, or
 * until every delivered message is final, whichever comes first.
 *
 * Called from the main thread; it starts and joins its own receiver thread.
 */
#ifndef BENCH_PHASE_H
#define BENCH_PHASE_H

#include "bench/load.h"
#include "bench/net.h"
#include "bench/tally.h"

#include <stdint.h>

struct bench_phase_cfg {
    const struct bench_load *load;
    struct bench_addr target;
    struct bench_addr subscribe;
    uint64_t rate_msgs_per_s;  /* 0 = as fast as the kernel takes them */
    int send_garbage;          /* 0 for the baseline: it measures the same frames only */
    int all_items;             /* see bench_tally_init() */
    uint64_t window_msgs;      /* 0, or at most this many messages sent and not yet delivered */
    uint32_t warmup_ms;
    uint32_t drain_ms;
    int finality;              /* match FINAL records (the load must have ids) */
    uint32_t final_wait_ms;    /* with finality: the longest wait for them after the drain */
    const char *label;         /* for progress lines on stderr */
};

struct bench_phase_result {
    uint64_t items_sent;       /* messages, valid and invalid */
    uint64_t invalid_sent;
    uint64_t unsent;           /* messages never sent: the window stalled (losses filled it) */
    uint64_t garbage_sent;
    uint64_t dgrams_sent;
    uint64_t send_retries;     /* sendmmsg said "no buffer": retried, not lost */
    uint64_t expected;         /* what should arrive: the valid messages sent (baseline: all) */
    uint64_t delivered;
    uint64_t lost;             /* expected - delivered, after the drain */
    uint64_t duplicates;
    uint64_t invalid_delivered;
    uint64_t foreign;
    uint64_t other_records;
    uint64_t sink_drops;       /* datagrams the subscriber's own socket dropped (kernel) */
    double send_s;             /* first send to last send */
    double deliver_s;          /* first send to last first delivery */
    struct bench_latency latency;
    /* With finality only (zeros otherwise); see bench/tally.h. */
    uint64_t final;            /* valid messages reported final */
    uint64_t not_final;        /* valid messages sent that got no FINAL by the end */
    uint64_t final_invalid;
    uint64_t final_duplicates;
    uint64_t final_conflicts;
    uint64_t final_foreign;
    uint64_t final_malformed;
    double final_s;            /* first send to last first FINAL */
    struct bench_latency finality;
    struct bench_final_conflict first_conflict; /* valid when final_conflicts > 0 */
};

/*
 * Runs the phase. 0; -ETIMEDOUT when no probe came back within warmup_ms; -ENOMEM; or a
 * negative errno from the sockets. Progress lines go to stderr once a second.
 */
int bench_phase_run(const struct bench_phase_cfg *cfg, struct bench_phase_result *res);

#endif
