/*
 * verify: the Ed25519 verify workers.
 *
 * The I/O thread copies each new message into a `struct dp_msg` from its pool and enqueues it
 * on a worker's `in` ring; the worker checks the signature (libsodium), marks the message
 * good or bad and enqueues it on its `out` ring, which the I/O thread drains: good messages
 * are fanned out, every message goes back to the pool. Only the I/O thread allocates and
 * frees dp_msg slots, so the pool needs no lock. `out` holds as many slots as the pool, so a
 * worker never finds it full.
 *
 * Idle workers spin briefly, then sleep in read() on their eventfd; the I/O thread writes it
 * when it enqueues to a sleeping worker (dp_verify_kick). The sleeping flag and a full fence
 * on both sides make a lost wake-up impossible. One thread runs dp_verify_main_loop per
 * worker; the rest is the I/O thread's (enqueue, kick) or the main thread's (init/fini/stop).
 */
#ifndef DP_VERIFY_H
#define DP_VERIFY_H

#include "dataplane/ring.h"
#include "dataplane/stats.h"
#include "dataplane/wire.h"

#include <stdatomic.h>
#include <stdint.h>

/* One message in flight between the I/O thread and a worker. */
struct dp_msg {
    uint16_t body_len;
    int16_t src_peer; /* fan-out skips this peer; -1: from a user */
    int16_t link_peer; /* came over this peer link (a sampled re-check); -1: plain */
    uint8_t good;     /* set by the worker */
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
};

struct dp_verify_worker {
    struct dp_ring in;  /* I/O thread -> worker */
    struct dp_ring out; /* worker -> I/O thread */
    struct dp_stats_block stats;
    _Alignas(DP_CACHE_LINE) _Atomic int sleeping;
    int wake_fd;
    int busy_poll;
    const _Atomic int *stop;
    /* wakes the I/O thread after results were queued, if it sleeps */
    const _Atomic int *io_sleeping;
    void (*io_wake)(void *arg);
    void *io_wake_arg;
};

/* Main thread. 0 or -errno. */
int dp_verify_worker_init(struct dp_verify_worker *w, uint32_t in_slots, uint32_t out_slots,
                          int busy_poll, const _Atomic int *stop);
void dp_verify_worker_fini(struct dp_verify_worker *w);
/* The worker thread's loop; returns when *stop is set (and the worker is kicked). */
void dp_verify_main_loop(struct dp_verify_worker *w);
/* I/O or main thread: wake the worker if it sleeps (always, when `force`). */
void dp_verify_kick(struct dp_verify_worker *w, int force);

#endif
