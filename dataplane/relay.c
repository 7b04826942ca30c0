#include "dataplane/relay.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RX_BUFS 256
#define TX_BUFS 256
#define GSO_BYTES_MAX 65000u
#define START_WAIT_MS 5000

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int init_workers(struct dp_relay *r, uint32_t pool)
{
    r->workers = dc_alloc_aligned(DP_CACHE_LINE, r->worker_count * sizeof(r->workers[0]));
    if (r->workers == NULL) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < r->worker_count; i++) {
        int rc = dp_verify_worker_init(&r->workers[i], DP_RELAY_VERIFY_RING_SLOTS, pool,
                                       r->params.busy_poll, &r->stop);
        if (rc != 0) {
            while (i-- > 0) {
                dp_verify_worker_fini(&r->workers[i]);
            }
            dc_free(r->workers);
            r->workers = NULL;
            return rc;
        }
    }
    return 0;
}

static int init_io(struct dp_relay *r, uint32_t pool)
{
    const struct dp_relay_params *p = &r->params;
    r->io = dc_alloc_aligned(DP_CACHE_LINE, sizeof(*r->io));
    if (r->io == NULL) {
        return -ENOMEM;
    }
    struct dp_io_conf conf = {
        .ops = r->ops, .be = r->be, .port = &r->port, .stats = r->io_stats,
        .cons_port = p->cons_feed || p->follow ? &r->cons_port : NULL,
        .cons_ids = p->cons_feed ? &r->cons_ids : NULL,
        .finals = p->follow ? &r->finals : NULL, .links = r->links,
        .forge_every = p->forge_every,
        .workers = r->workers,
        .worker_count = r->worker_count, .msg_count = pool, .skip_verify = p->skip_verify,
        .busy_poll = p->busy_poll, .stop = &r->stop, .clock_s = &r->clock_s, .mtu = p->mtu,
        .subs_max = p->subscribers_max, .sub_expiry_s = p->sub_expiry_s,
        .dedup_entries = p->dedup_entries, .dedup_window_s = p->dedup_window_s,
    };
    int rc = dp_io_init(r->io, &conf);
    for (uint32_t i = 0; rc == 0 && i < p->peer_count; i++) {
        rc = dp_fanout_add_peer(&r->io->fanout, (const struct sockaddr *)&p->peers[i],
                                p->peer_lens[i]);
    }
    if (rc == 0 && r->links != NULL) {
        dp_fanout_use_links(&r->io->fanout, &r->links->t);
        rc = r->io->fanout.sealed == NULL ? -ENOMEM : 0;
    }
    for (uint32_t i = 0; rc == 0 && i < r->worker_count; i++) {
        r->workers[i].io_sleeping = &r->io->sleeping;
        r->workers[i].io_wake = dp_io_wake;
        r->workers[i].io_wake_arg = r->io;
    }
    if (rc != 0) {
        dp_io_fini(r->io);
        dc_free(r->io);
        r->io = NULL;
    }
    return rc;
}

static int open_backend(struct dp_relay *r, char *err, size_t err_size)
{
    const struct dp_relay_params *p = &r->params;
    uint32_t tx_bytes = (GSO_BYTES_MAX / p->mtu) * p->mtu;
    struct dp_backend_conf conf = {
        .listen = (const struct sockaddr *)&p->listen, .listen_len = p->listen_len,
        .rx_buf_count = RX_BUFS, .tx_buf_count = TX_BUFS, .tx_buf_bytes = tx_bytes,
        .stats = r->io_stats,
    };
    r->ops = &dp_backend_uring;
    int rc = r->ops->open(&r->be, &conf);
    if (rc == -EADDRINUSE) {
        snprintf(err, err_size, "cannot listen: address already in use");
    } else if (rc != 0) {
        snprintf(err, err_size, "cannot open the %s backend: %s", r->ops->name,
                 dc_strerror(rc));
    }
    return rc;
}

static int init_cons_feed(struct dp_relay *r)
{
    const struct dp_relay_params *p = &r->params;
    if (!p->cons_feed && !p->follow) {
        return 0;
    }
    int rc = dp_ctl_port_init(&r->cons_port, DP_RELAY_CONS_SLOTS, r->ops->fd(r->be), &r->stats);
    if (rc != 0) {
        return rc;
    }
    rc = p->cons_feed ? dp_idring_init(&r->cons_ids, DP_RELAY_CONS_IDS)
                      : dp_idring_init_items(&r->finals, DP_RELAY_FINALS,
                                             sizeof(struct dp_final_item));
    if (rc != 0) {
        dp_ctl_port_fini(&r->cons_port);
    }
    return rc;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Peer links: the keys ring and the link table. */
static int init_links(struct dp_relay *r)
{
    const struct dp_relay_params *p = &r->params;
    if (p->ed_sk == NULL) {
        return 0;
    }
    int rc = dp_idring_init_items(&r->peer_keys, 1024, sizeof(struct dp_peer_key));
    if (rc != 0) {
        return rc;
    }
    r->links = dc_alloc_aligned(DP_CACHE_LINE, sizeof(*r->links));
    rc = r->links == NULL ? -ENOMEM
                          : dp_linkio_init(r->links, p->ed_sk, &r->peer_keys,
                                           p->reverify_sample ? p->reverify_sample : 64,
                                           p->ban_s ? p->ban_s : 300, wall_ms());
    if (rc != 0) {
        dc_free(r->links);
        r->links = NULL;
        dp_idring_fini(&r->peer_keys);
        return rc;
    }
    dp_linkio_set_mesh(r->links, p->mesh_max);
    return 0;
}

static void fini_links(struct dp_relay *r)
{
    if (r->links != NULL) {
        dp_linkio_fini(r->links);
        dc_free(r->links);
        r->links = NULL;
        dp_idring_fini(&r->peer_keys);
    }
}

static void fini_cons_feed(struct dp_relay *r)
{
    const struct dp_relay_params *p = &r->params;
    if (p->cons_feed) {
        dp_idring_fini(&r->cons_ids);
    } else if (p->follow) {
        dp_idring_fini(&r->finals);
    }
    if (p->cons_feed || p->follow) {
        dp_ctl_port_fini(&r->cons_port);
    }
}

static int params_ok(const struct dp_relay_params *params)
{
    return params->peer_count <= DP_FANOUT_PEERS_MAX && params->core_count <= DP_RELAY_CORES_MAX &&
           !(params->cons_feed && params->follow) &&
           (params->skip_verify ||
            (params->verify_workers > 0 && params->verify_workers <= DP_RELAY_WORKERS_MAX));
}

/* Every thread's counters, for the readers (dp_relay_stats). */
static void register_stats(struct dp_relay *r)
{
    dp_stats_set_init(&r->stats);
    (void)dp_stats_set_add(&r->stats, r->io_stats);
    (void)dp_stats_set_add(&r->stats, r->main_stats);
    for (uint32_t i = 0; i < r->worker_count; i++) {
        (void)dp_stats_set_add(&r->stats, &r->workers[i].stats);
    }
}

int dp_relay_init(struct dp_relay *r, const struct dp_relay_params *params, char *err,
                  size_t err_size)
{
    if (!params_ok(params)) {
        snprintf(err, err_size, "relay parameters out of range");
        return -EINVAL;
    }
    memset(r, 0, sizeof(*r));
    r->params = *params;
    atomic_init(&r->stop, 0);
    atomic_init(&r->clock_s, 0);
    r->start_ns = mono_ns();
    r->worker_count = params->skip_verify ? 0 : params->verify_workers;
    uint32_t pool = r->worker_count * DP_RELAY_VERIFY_RING_SLOTS;
    r->io_stats = dc_alloc_aligned(DP_CACHE_LINE, 2 * sizeof(*r->io_stats));
    if (r->io_stats == NULL) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    r->main_stats = r->io_stats + 1;
    dp_stats_block_init(r->io_stats);
    dp_stats_block_init(r->main_stats);
    int rc = open_backend(r, err, err_size);
    if (rc != 0) {
        dc_free(r->io_stats);
        return rc;
    }
    rc = dp_ctl_port_init(&r->port, DP_CTL_SLOTS_DEFAULT, r->ops->fd(r->be), &r->stats);
    if (rc != 0) {
        goto err_backend;
    }
    rc = init_cons_feed(r);
    if (rc != 0) {
        goto err_port;
    }
    rc = init_links(r);
    if (rc != 0) {
        goto err_cons;
    }
    if (r->worker_count > 0) {
        rc = init_workers(r, pool);
        if (rc != 0) {
            goto err_links;
        }
    }
    rc = init_io(r, pool);
    if (rc != 0) {
        goto err_workers;
    }
    register_stats(r);
    return 0;
err_workers:
    for (uint32_t i = 0; i < r->worker_count; i++) {
        dp_verify_worker_fini(&r->workers[i]);
    }
    dc_free(r->workers);
err_links:
    fini_links(r);
err_cons:
    fini_cons_feed(r);
err_port:
    dp_ctl_port_fini(&r->port);
err_backend:
    r->ops->close(r->be);
    dc_free(r->io_stats);
    snprintf(err, err_size, "cannot set up the dataplane: %s", dc_strerror(rc));
    return rc;
}

static void *io_thread_main(void *arg)
{
    dp_io_main_loop(arg);
    return NULL;
}

static void *worker_thread_main(void *arg)
{
    dp_verify_main_loop(arg);
    return NULL;
}

/* Pins `thread` to the core for thread number `n` (0: I/O). 0 or -errno. */
static int pin(const struct dp_relay *r, pthread_t thread, uint32_t n)
{
    if (r->params.core_count == 0) {
        return 0;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(r->params.cores[n % r->params.core_count], &set);
    return -pthread_setaffinity_np(thread, sizeof(set), &set);
}

static int wait_io_ready(struct dp_relay *r)
{
    for (int ms = 0; ms < START_WAIT_MS; ms++) {
        int ready = atomic_load(&r->io->ready);
        if (ready != 0) {
            return ready > 0 ? 0 : r->io->init_rc;
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return -ETIMEDOUT;
}

int dp_relay_start(struct dp_relay *r, char *err, size_t err_size)
{
    int rc = -pthread_create(&r->io_thread, NULL, io_thread_main, r->io);
    if (rc != 0) {
        snprintf(err, err_size, "cannot start the I/O thread: %s", dc_strerror(rc));
        return rc;
    }
    r->threads_started = 1;
    (void)pthread_setname_np(r->io_thread, "dchat-io");
    rc = pin(r, r->io_thread, 0);
    if (rc == 0) {
        rc = wait_io_ready(r);
        if (rc != 0) {
            snprintf(err, err_size, "the %s backend did not start: %s", r->ops->name,
                     dc_strerror(rc));
            return rc;
        }
    } else {
        snprintf(err, err_size, "--cores: cannot pin to core %d: %s", r->params.cores[0],
                 dc_strerror(rc));
        return rc;
    }
    for (uint32_t i = 0; i < r->worker_count; i++) {
        rc = -pthread_create(&r->worker_threads[i], NULL, worker_thread_main, &r->workers[i]);
        if (rc != 0) {
            snprintf(err, err_size, "cannot start verify worker %u: %s", i, dc_strerror(rc));
            return rc;
        }
        r->threads_started++;
        char name[16];
        snprintf(name, sizeof(name), "dchat-verify%u", i % 100);
        (void)pthread_setname_np(r->worker_threads[i], name);
        rc = pin(r, r->worker_threads[i], 1 + i);
        if (rc != 0) {
            snprintf(err, err_size, "--cores: cannot pin worker %u to core %d: %s", i,
                     r->params.cores[(1 + i) % r->params.core_count], dc_strerror(rc));
            return rc;
        }
    }
    return 0;
}

void dp_relay_tick(struct dp_relay *r)
{
    uint64_t s = (mono_ns() - r->start_ns) / 1000000000u;
    atomic_store_explicit(&r->clock_s, (uint32_t)s, memory_order_relaxed);
    /* The kernel's count of datagrams dropped at our socket (queue full): one system call a
     * second here instead of a control message on every receive. */
    uint32_t meminfo[SK_MEMINFO_VARS];
    socklen_t len = sizeof(meminfo);
    if (getsockopt(r->ops->fd(r->be), SOL_SOCKET, SO_MEMINFO, meminfo, &len) == 0 &&
        len > SK_MEMINFO_DROPS * sizeof(uint32_t)) {
        dp_stats_set_gauge(r->main_stats, DP_STAT_RX_KERNEL_DROPS, meminfo[SK_MEMINFO_DROPS]);
    }
}

void dp_relay_stop(struct dp_relay *r)
{
    if (r->threads_started == 0) {
        return;
    }
    atomic_store(&r->stop, 1);
    r->ops->wake(r->be);
    pthread_join(r->io_thread, NULL);
    for (uint32_t i = 0; i + 1 < r->threads_started; i++) {
        dp_verify_kick(&r->workers[i], 1);
        pthread_join(r->worker_threads[i], NULL);
    }
    r->threads_started = 0;
}

void dp_relay_fini(struct dp_relay *r)
{
    dp_relay_stop(r);
    dp_io_fini(r->io);
    dc_free(r->io);
    for (uint32_t i = 0; i < r->worker_count; i++) {
        dp_verify_worker_fini(&r->workers[i]);
    }
    dc_free(r->workers);
    fini_links(r);
    fini_cons_feed(r);
    dp_ctl_port_fini(&r->port);
    r->ops->close(r->be);
    dc_free(r->io_stats);
    memset(r, 0, sizeof(*r));
}

struct dp_ctl_port *dp_relay_ctl_port(struct dp_relay *r)
{
    return &r->port;
}

struct dp_ctl_port *dp_relay_cons_port(struct dp_relay *r)
{
    return r->params.cons_feed || r->params.follow ? &r->cons_port : NULL;
}

struct dp_idring *dp_relay_finals(struct dp_relay *r)
{
    return r->params.follow && !r->params.cons_feed ? &r->finals : NULL;
}

struct dp_idring *dp_relay_peer_keys(struct dp_relay *r)
{
    return r->links != NULL ? &r->peer_keys : NULL;
}

void dp_relay_wake_io(struct dp_relay *r)
{
    dp_io_wake(r->io);
}

struct dp_idring *dp_relay_cons_ids(struct dp_relay *r)
{
    return r->params.cons_feed ? &r->cons_ids : NULL;
}

const struct dp_stats_set *dp_relay_stats(const struct dp_relay *r)
{
    return &r->stats;
}
