#include "dataplane/verify.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BURST 32
#define SPINS_BEFORE_SLEEP 100

int dp_verify_worker_init(struct dp_verify_worker *w, uint32_t in_slots, uint32_t out_slots,
                          int busy_poll, const _Atomic int *stop)
{
    w->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (w->wake_fd < 0) {
        return -errno;
    }
    int rc = dp_ring_init(&w->in, in_slots);
    if (rc == 0) {
        rc = dp_ring_init(&w->out, out_slots);
        if (rc != 0) {
            dp_ring_fini(&w->in);
        }
    }
    if (rc != 0) {
        close(w->wake_fd);
        w->wake_fd = -1;
        return rc;
    }
    dp_stats_block_init(&w->stats);
    atomic_init(&w->sleeping, 0);
    w->busy_poll = busy_poll;
    w->stop = stop;
    return 0;
}

void dp_verify_worker_fini(struct dp_verify_worker *w)
{
    dp_ring_fini(&w->in);
    dp_ring_fini(&w->out);
    if (w->wake_fd >= 0) {
        close(w->wake_fd);
        w->wake_fd = -1;
    }
}

void dp_verify_kick(struct dp_verify_worker *w, int force)
{
    atomic_thread_fence(memory_order_seq_cst); /* our enqueue before their flag */
    if (force || atomic_load_explicit(&w->sleeping, memory_order_relaxed)) {
        uint64_t one = 1;
        ssize_t n = write(w->wake_fd, &one, sizeof(one));
        (void)n;
    }
}

static void sleep_until_work(struct dp_verify_worker *w)
{
    atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst); /* our flag before their enqueue */
    if (dp_ring_count(&w->in) == 0 && !atomic_load(w->stop)) {
        uint64_t value;
        ssize_t n = read(w->wake_fd, &value, sizeof(value));
        (void)n;
    }
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

static void verify_one(struct dp_verify_worker *w, struct dp_msg *m)
{
    struct dp_wire_rec rec = { .type = DP_WIRE_REC_MSG, .body_len = m->body_len,
                               .body = m->body };
    struct dp_wire_msg msg;
    int rc = dp_wire_msg_parse(&rec, &msg);
    DC_ASSERT(rc == 0); /* the I/O thread parsed it before queueing */
    m->good = dp_wire_msg_verify(&msg) == 0;
    dp_stats_add(&w->stats, m->good ? DP_STAT_VERIFIED : DP_STAT_INVALID_SIG, 1);
}

void dp_verify_main_loop(struct dp_verify_worker *w)
{
    dc_alloc_seal();
    void *items[BURST];
    uint32_t idle = 0;
    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        uint32_t n = dp_ring_dequeue_burst(&w->in, items, BURST);
        if (n == 0) {
            if (!w->busy_poll && ++idle > SPINS_BEFORE_SLEEP) {
                sleep_until_work(w);
                idle = 0;
            }
            dp_cpu_relax();
            continue;
        }
        idle = 0;
        for (uint32_t i = 0; i < n; i++) {
            verify_one(w, items[i]);
        }
        uint32_t queued = dp_ring_enqueue_burst(&w->out, items, n);
        DC_ASSERT(queued == n); /* out holds the whole pool */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(w->io_sleeping, memory_order_relaxed)) {
            w->io_wake(w->io_wake_arg);
        }
    }
}
