/*
 * cons_follow: a relay's chain follower (see follow.h).
 */
#include "consensus/follow.h"

#include "consensus/wakeup.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "consensus/frag.h"
#include "consensus/msg.h"
#include "consensus/transport.h"
#include "dataplane/ctl_port.h"
#include "dataplane/idring.h"
#include "dataplane/io.h"
#include "dataplane/wire.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define POSITIONS 262144u
#define FINALS_BATCH 64u
#define FINALS_WAIT_MS 1000u
#define ONLINE_MS 5000u

/* ---- set-up (main thread) ---- */

/* Reassembly of blocks sent as parts: the follower is one more index no validator uses. */
static int init_frag(struct cons_follow *f)
{
    struct cons_frag_config cfg = {
        .self = (uint16_t)f->p.count, .validator_count = (uint16_t)(f->p.count + 1),
        .msg_bytes_max = CONS_FRAG_MSG_BYTES_MAX, .slots_per_origin = 2, .cache_count = 1,
        .request_after_ticks = 1, .request_retry_ticks = 1,
        .request_tries_max = 0, /* validators answer part requests only from validators:
                                   a block that lost a part is asked for again by FOLLOW */
    };
    size_t size = cons_frag_mem_size(&cfg);
    f->frag_mem = size == 0 ? NULL : dc_alloc_aligned(64, size);
    f->frag = dc_alloc(sizeof(*f->frag));
    if (f->frag_mem == NULL || f->frag == NULL) {
        return -ENOMEM;
    }
    return cons_frag_init(f->frag, &cfg, f->frag_mem, size);
}

int cons_follow_init(struct cons_follow *f, const struct cons_follow_params *params)
{
    DC_ASSERT(params->count >= 1);
    DC_ASSERT(params->count < CONS_VALIDATORS_MAX);
    memset(f, 0, sizeof(*f));
    f->p = *params;
    f->wake_fd = -1;
    f->mail.answer_fd = -1;
    f->next_height = 1;
    memcpy(f->head_hash, params->genesis_hash, CONS_HASH_BYTES);
    atomic_init(&f->stop, 0);
    uint8_t (*ids)[CONS_ID_BYTES] = dc_alloc((size_t)CONS_BLOCK_IDS_MAX * CONS_ID_BYTES);
    f->rx = dc_alloc(sizeof(*f->rx));
    f->positions_mem = dc_alloc_aligned(64, cons_posindex_mem_size(POSITIONS));
    int rc = ids == NULL || f->rx == NULL || f->positions_mem == NULL ? -ENOMEM : init_frag(f);
    if (ids != NULL) {
        cons_block_init(&f->rx_block, ids, CONS_BLOCK_IDS_MAX);
    }
    if (rc == 0) {
        uint8_t key[CONS_POSINDEX_KEY_BYTES];
        randombytes_buf(key, sizeof(key));
        cons_posindex_init(&f->positions, f->positions_mem, POSITIONS, key);
        f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rc = f->wake_fd < 0 ? -errno : cons_mailbox_init(&f->mail, f->wake_fd);
    }
    if (rc != 0) {
        cons_follow_fini(f);
    }
    return rc;
}

static void *thread_main(void *arg)
{
    cons_follow_main_loop(arg);
    return NULL;
}

int cons_follow_start(struct cons_follow *f)
{
    int rc = -pthread_create(&f->thread, NULL, thread_main, f);
    if (rc == 0) {
        f->started = 1;
        (void)pthread_setname_np(f->thread, "dchat-follow");
    }
    return rc;
}

void cons_follow_stop(struct cons_follow *f)
{
    if (!f->started) {
        return;
    }
    atomic_store(&f->stop, 1);
    cons_wakeup_signal(f->wake_fd);
    pthread_join(f->thread, NULL);
    f->started = 0;
}

void cons_follow_fini(struct cons_follow *f)
{
    cons_follow_stop(f);
    cons_mailbox_fini(&f->mail); /* answer_fd -1: never set up */
    if (f->wake_fd >= 0) {
        close(f->wake_fd);
    }
    dc_free(f->rx_block.ids);
    dc_free(f->rx);
    dc_free(f->positions_mem);
    dc_free(f->frag_mem);
    dc_free(f->frag);
    memset(f, 0, sizeof(*f));
    f->wake_fd = -1;
}

/* ---- the follower thread ---- */

static void send_follow(struct cons_follow *f, uint32_t to)
{
    uint8_t body[CONS_FOLLOW_MSG_BYTES];
    struct cons_followmsg m = { .kind = CONS_FOLLOW_KIND_REQUEST, .height = f->next_height };
    memcpy(m.cookie, f->vals[to].cookie, sizeof(m.cookie));
    size_t len = cons_followmsg_encode(&m, body);
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, f->frame, sizeof(f->frame));
    int rc = dp_wire_builder_add(&b, DP_WIRE_REC_CONSENSUS, body, (uint16_t)len);
    DC_ASSERT(rc == 0);
    size_t frame_len = dp_wire_builder_finish(&b);
    (void)dp_ctl_port_send(f->p.port, (const struct sockaddr *)&f->p.addrs[to], f->p.addr_lens[to],
                           f->frame, frame_len);
}

static void ask_all(struct cons_follow *f, uint64_t now)
{
    f->asked_ms = now;
    for (uint32_t i = 0; i < f->p.count; i++) {
        send_follow(f, i);
    }
}

/*
 * Final positions onto the ring. A full ring (a burst of blocks after a stall) is waited out:
 * the I/O thread drains it within milliseconds, and the follower has nothing better to do;
 * only when it stays full for FINALS_WAIT_MS (the I/O thread stuck) is the rest dropped and
 * counted.
 */
static void push_some(struct cons_follow *f, const struct dp_final_item *items, uint32_t n)
{
    uint32_t done = 0;
    for (uint32_t waited_ms = 0; done < n; waited_ms++) {
        done += dp_idring_push_burst(f->p.finals, items + done, n - done);
        if (done == n || waited_ms == FINALS_WAIT_MS || atomic_load(&f->stop)) {
            break;
        }
        if (f->p.wake_io != NULL) {
            f->p.wake_io(f->p.wake_io_arg);
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    f->finals_dropped += n - done;
}

/* Every message of an accepted block to the I/O thread, in bursts. */
static void push_finals(struct cons_follow *f, const struct cons_block *block,
                        const uint8_t hash[CONS_HASH_BYTES])
{
    struct dp_final_item items[FINALS_BATCH];
    uint32_t n = 0;
    for (uint32_t i = 0; i < block->header.id_count; i++) {
        struct dp_final_item *it = &items[n++];
        memcpy(it->id, block->ids[i], CONS_ID_BYTES);
        memcpy(it->block_hash, hash, CONS_HASH_BYTES);
        it->height = block->header.height;
        it->index = i;
        it->reserved = 0;
        if (n == FINALS_BATCH || i + 1 == block->header.id_count) {
            push_some(f, items, n);
            n = 0;
        }
    }
    if (block->header.id_count > 0 && f->p.wake_io != NULL) {
        f->p.wake_io(f->p.wake_io_arg);
    }
}

/* A SYNC_BLOCK: accepted only as the next block of the chain with a quorum certificate. */
static void on_block(struct cons_follow *f, const struct cons_block *block,
                     const struct cons_cert *cert, uint64_t now)
{
    const struct cons_header *h = &block->header;
    if (h->height != f->next_height) {
        f->blocks_out_of_order += h->height > f->next_height;
        if (h->height > f->next_height && now - f->asked_ms >= 100) {
            ask_all(f, now); /* a gap: ask for what is missing at once */
        }
        return;
    }
    uint8_t hash[CONS_HASH_BYTES];
    cons_block_hash(block, hash);
    if (!cons_header_chain_is(h, f->p.chain_id) ||
        memcmp(h->prev_hash, f->head_hash, CONS_HASH_BYTES) != 0 || cert->height != h->height ||
        cons_cert_verify(cert, hash, f->p.valset, f->p.chain_id) != 0) {
        f->blocks_refused++;
        return;
    }
    for (uint32_t i = 0; i < h->id_count; i++) {
        cons_posindex_add(&f->positions, block->ids[i], h->height, i);
    }
    push_finals(f, block, hash);
    memcpy(f->head_hash, hash, CONS_HASH_BYTES);
    f->next_height = h->height + 1;
    f->ids_total += h->id_count;
    f->blocks_accepted++;
}

static void on_message(struct cons_follow *f, const uint8_t *body, size_t len, int from,
                       uint64_t now)
{
    struct cons_msg msg;
    if (cons_msg_decode(body, len, &msg, &f->rx_block, &f->rx_cert) != 0 ||
        msg.kind != CONS_MSG_SYNC_BLOCK) {
        f->bad_msgs++;
        return;
    }
    f->vals[from].heard_ms = now;
    on_block(f, msg.block, msg.cert, now);
}

static void on_record(struct cons_follow *f, const struct dp_ctl_msg *rx, uint64_t now)
{
    int from = cons_transport_addr_index(f->p.addrs, f->p.addr_lens, f->p.count, rx);
    if (from < 0) {
        f->bad_msgs++; /* only the genesis validators speak to a follower */
        return;
    }
    if (cons_followmsg_is(rx->body, rx->body_len)) {
        struct cons_followmsg m;
        if (cons_followmsg_decode(rx->body, rx->body_len, &m) == 0 &&
            m.kind == CONS_FOLLOW_KIND_COOKIE) {
            memcpy(f->vals[from].cookie, m.cookie, sizeof(m.cookie));
            f->vals[from].heard_ms = now;
            send_follow(f, (uint32_t)from); /* the cookie at once: no second of delay */
        } else {
            f->bad_msgs++;
        }
        return;
    }
    if (rx->body_len >= 1 && rx->body[0] == CONS_MSG_PART) {
        struct cons_frag_done done;
        if (cons_frag_feed(f->frag, rx->body, rx->body_len, now, &done) == 0 &&
            done.msg != NULL && done.origin == (uint16_t)from) {
            on_message(f, done.msg, done.len, from, now);
        }
        return;
    }
    on_message(f, rx->body, rx->body_len, from, now);
}

static void answer(void *arg, struct cons_mailbox *mb)
{
    struct cons_follow *f = arg;
    struct cons_id_answer *a = &mb->id_answer;
    memset(a, 0, sizeof(*a));
    mb->rc = 0;
    if (mb->kind != CONS_MAILBOX_ID) {
        mb->rc = DC_EUNSUPPORTED; /* a follower keeps positions, not blocks */
        return;
    }
    a->status = cons_posindex_find(&f->positions, mb->id, &a->height, &a->index) == 0
                    ? CONS_MSG_FINAL : CONS_MSG_UNKNOWN;
}

int cons_follow_query_id(struct cons_follow *f, const uint8_t id[CONS_ID_BYTES],
                         uint32_t timeout_ms, struct cons_id_answer *out)
{
    return cons_mailbox_ask_id(&f->mail, id, timeout_ms, out);
}

static void publish(struct cons_follow *f, uint64_t now)
{
    struct cons_follow_view v = { .height = f->next_height - 1, .validators = f->p.count,
                                  .messages_ordered = f->ids_total };
    memcpy(v.hash, f->head_hash, CONS_HASH_BYTES);
    for (uint32_t i = 0; i < f->p.count; i++) {
        uint64_t heard = f->vals[i].heard_ms;
        v.online_validators += heard != 0 && now - heard <= ONLINE_MS;
    }
    if (v.height == f->view.height && v.online_validators == f->view.online_validators &&
        f->view.validators != 0) {
        return;
    }
    f->view = v;
    if (f->p.publish != NULL) {
        f->p.publish(f->p.publish_arg, &v);
    }
}

/* The counters for /metrics: at most every CONS_FOLLOW_COUNTERS_MS, and only after a change. */
static void publish_counters(struct cons_follow *f, uint64_t now)
{
    uint64_t last_ms = f->counters_ms; /* 0: never published */
    if (f->p.publish_counters == NULL || now - last_ms < CONS_FOLLOW_COUNTERS_MS) {
        return;
    }
    f->counters_ms = now;
    struct cons_follow_counters c = {
        .height = f->next_height - 1, .blocks_accepted = f->blocks_accepted,
        .blocks_refused = f->blocks_refused, .blocks_out_of_order = f->blocks_out_of_order,
        .finals_dropped = f->finals_dropped, .bad_msgs = f->bad_msgs,
        .parts_in = f->frag->stats.parts_in, .parted_complete = f->frag->stats.msgs_complete,
    };
    if (last_ms != 0 && memcmp(&c, &f->counters, sizeof(c)) == 0) {
        return;
    }
    f->counters = c;
    f->p.publish_counters(f->p.publish_arg, &c);
}

void cons_follow_main_loop(struct cons_follow *f)
{
    dc_alloc_seal();
    while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
        uint64_t now = cons_wakeup_now_ms();
        uint32_t work = 0;
        while (work < CONS_FOLLOW_RECORDS_PER_PASS && dp_ctl_port_recv(f->p.port, f->rx)) {
            on_record(f, f->rx, now);
            work++;
        }
        if (now - f->asked_ms >= CONS_FOLLOW_ASK_MS) {
            ask_all(f, now);
        }
        work += (uint32_t)cons_mailbox_serve(&f->mail, answer, f);
        publish(f, now);
        publish_counters(f, now);
        if (work == 0) {
            uint64_t next = f->asked_ms + CONS_FOLLOW_ASK_MS;
            int wait_ms = next > now ? (int)(next - now) : 0;
            struct pollfd pfd[2] = {
                { .fd = dp_ctl_port_event_fd(f->p.port), .events = POLLIN },
                { .fd = f->wake_fd, .events = POLLIN },
            };
            (void)poll(pfd, 2, wait_ms);
            dp_ctl_port_drain_event(f->p.port);
            cons_wakeup_clear(f->wake_fd);
        }
    }
}
