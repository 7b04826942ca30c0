/*
 * cons_transport: consensus messages whole or as parts (see transport.h).
 */
#include "consensus/transport.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "dataplane/ctl_port.h"
#include "dataplane/wire.h"

#include <errno.h>
#include <string.h>

#define FRAME_MAX (DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES + DP_CTL_BODY_BYTES_MAX)
#define REQUESTS_PER_POLL 16u

_Static_assert(CONS_FRAG_RECORD_BYTES_MAX == DP_CTL_BODY_BYTES_MAX,
               "a part fills exactly one CONSENSUS record");

int cons_transport_init(struct cons_transport *t, struct dp_ctl_port *port, uint32_t self,
                        uint32_t count, const struct sockaddr_storage *addrs,
                        const socklen_t *addr_lens)
{
    memset(t, 0, sizeof(*t));
    t->port = port;
    t->self = self;
    t->count = count;
    t->addrs = addrs;
    t->addr_lens = addr_lens;
    struct cons_frag_config cfg = {
        .self = (uint16_t)self, .validator_count = (uint16_t)count,
        .msg_bytes_max = CONS_FRAG_MSG_BYTES_MAX, .slots_per_origin = 2, .cache_count = 4,
        .request_after_ticks = CONS_TRANSPORT_REQUEST_AFTER_MS,
        .request_retry_ticks = CONS_TRANSPORT_REQUEST_AFTER_MS,
        .request_tries_max = CONS_TRANSPORT_REQUEST_TRIES,
    };
    size_t size = cons_frag_mem_size(&cfg);
    if (size == 0) {
        return DC_ECONFIG;
    }
    t->frag_mem = dc_alloc_aligned(64, size);
    t->msg = dc_alloc(CONS_FRAG_MSG_BYTES_MAX);
    t->part = dc_alloc(CONS_FRAG_RECORD_BYTES_MAX);
    t->frame = dc_alloc(FRAME_MAX);
    if (t->frag_mem == NULL || t->msg == NULL || t->part == NULL || t->frame == NULL) {
        cons_transport_fini(t);
        return -ENOMEM;
    }
    return cons_frag_init(&t->frag, &cfg, t->frag_mem, size);
}

void cons_transport_fini(struct cons_transport *t)
{
    dc_free(t->frag_mem);
    dc_free(t->msg);
    dc_free(t->part);
    dc_free(t->frame);
    t->frag_mem = NULL;
    t->msg = NULL;
    t->part = NULL;
    t->frame = NULL;
}

void cons_transport_send_body(struct cons_transport *t, const struct sockaddr_storage *sa,
                              socklen_t sa_len, const uint8_t *body, size_t len)
{
    DC_ASSERT(len <= DP_CTL_BODY_BYTES_MAX);
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, t->frame, FRAME_MAX);
    int rc = dp_wire_builder_add(&b, DP_WIRE_REC_CONSENSUS, body, (uint16_t)len);
    DC_ASSERT(rc == 0);
    size_t frame_len = dp_wire_builder_finish(&b);
    if (dp_ctl_port_send(t->port, (const struct sockaddr *)sa, sa_len, t->frame, frame_len) != 0) {
        t->stats.send_errors++;
    }
}

/* Encode `msg` into t->msg: its length, or 0 (counted) when even parts cannot carry it. */
static size_t encode(struct cons_transport *t, const struct cons_msg *msg)
{
    static struct dc_log_limit too_big_log;
    size_t size = cons_msg_encoded_size(msg);
    if (size == 0 || size > CONS_FRAG_MSG_BYTES_MAX) {
        t->stats.too_big++;
        DC_LOG_RATELIMIT(&too_big_log, DC_LOG_WARN, "consensus",
                         "consensus message of kind %u is %zu bytes: not sent", msg->kind, size);
        return 0;
    }
    return cons_msg_encode(msg, t->msg, CONS_FRAG_MSG_BYTES_MAX);
}

static int is_dest(const struct cons_transport *t, uint16_t to, uint32_t i)
{
    return i != t->self && (to == CONS_TO_ALL || to == i);
}

/* Every part `it` yields, to each destination of `to`. */
static void send_parts(struct cons_transport *t, struct cons_frag_iter *it, uint16_t to)
{
    size_t n;
    while ((n = cons_frag_iter_next(it, t->part, CONS_FRAG_RECORD_BYTES_MAX)) > 0) {
        for (uint32_t i = 0; i < t->count; i++) {
            if (is_dest(t, to, i)) {
                cons_transport_send_body(t, &t->addrs[i], t->addr_lens[i], t->part, n);
                t->stats.parts_sent++;
            }
        }
    }
}

void cons_transport_send(struct cons_transport *t, uint16_t to, const struct cons_msg *msg,
                         uint64_t now)
{
    (void)now;
    size_t len = encode(t, msg);
    if (len == 0) {
        return;
    }
    if (!cons_frag_needed(len)) {
        for (uint32_t i = 0; i < t->count; i++) {
            if (is_dest(t, to, i)) {
                cons_transport_send_body(t, &t->addrs[i], t->addr_lens[i], t->msg, len);
            }
        }
        return;
    }
    struct cons_frag_iter it;
    int rc = msg->kind == CONS_MSG_PROPOSAL ? cons_frag_send(&t->frag, t->msg, len, &it)
                                            : cons_frag_split(t->msg, len, (uint16_t)t->self, &it);
    DC_ASSERT(rc == 0); /* encode() bounded the length */
    send_parts(t, &it, to);
}

void cons_transport_send_to(struct cons_transport *t, const struct sockaddr_storage *sa,
                            socklen_t sa_len, const struct cons_msg *msg)
{
    size_t len = encode(t, msg);
    if (len == 0) {
        return;
    }
    if (!cons_frag_needed(len)) {
        cons_transport_send_body(t, sa, sa_len, t->msg, len);
        return;
    }
    struct cons_frag_iter it;
    int rc = cons_frag_split(t->msg, len, (uint16_t)t->self, &it);
    DC_ASSERT(rc == 0);
    size_t n;
    while ((n = cons_frag_iter_next(&it, t->part, CONS_FRAG_RECORD_BYTES_MAX)) > 0) {
        cons_transport_send_body(t, sa, sa_len, t->part, n);
        t->stats.parts_sent++;
    }
}

int cons_transport_addr_index(const struct sockaddr_storage *addrs, const socklen_t *addr_lens,
                              uint32_t count, const struct dp_ctl_msg *rx)
{
    for (uint32_t i = 0; i < count; i++) {
        if (addr_lens[i] == rx->src_len && memcmp(&addrs[i], &rx->src, rx->src_len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int cons_transport_sender(const struct cons_transport *t, const struct dp_ctl_msg *rx)
{
    return cons_transport_addr_index(t->addrs, t->addr_lens, t->count, rx);
}

/* A requester's answer budget: CONS_TRANSPORT_ANSWERS_PER_S a second. */
static int answer_allowed(struct cons_transport *t, uint16_t requester, uint64_t now)
{
    if (now - t->answer_window_ms[requester] >= 1000) {
        t->answer_window_ms[requester] = now;
        t->answers_in_window[requester] = 0;
    }
    if (t->answers_in_window[requester] >= CONS_TRANSPORT_ANSWERS_PER_S) {
        t->stats.answers_limited++;
        return 0;
    }
    t->answers_in_window[requester]++;
    return 1;
}

static void on_request(struct cons_transport *t, const struct dp_ctl_msg *rx, int from,
                       uint64_t now)
{
    struct cons_frag_iter it;
    struct cons_frag_want want;
    /* the requester must be the validator the datagram came from */
    if (cons_frag_request_decode(rx->body, rx->body_len, &want) != 0 || from < 0 ||
        want.requester != (uint16_t)from || !answer_allowed(t, want.requester, now)) {
        return;
    }
    if (cons_frag_answer(&t->frag, rx->body, rx->body_len, &it) != 0) {
        return; /* counted by cons_frag */
    }
    size_t n;
    while ((n = cons_frag_iter_next(&it, t->part, CONS_FRAG_RECORD_BYTES_MAX)) > 0) {
        cons_transport_send_body(t, &t->addrs[it.to], t->addr_lens[it.to], t->part, n);
        t->stats.parts_sent++;
    }
}

int cons_transport_recv(struct cons_transport *t, const struct dp_ctl_msg *rx, int from,
                        uint64_t now, const uint8_t **msg, size_t *len)
{
    uint8_t kind = rx->body_len > 0 ? rx->body[0] : 0;
    if (kind == CONS_MSG_PART_REQUEST) {
        on_request(t, rx, from, now);
        return 0;
    }
    if (kind != CONS_MSG_PART) {
        *msg = rx->body;
        *len = rx->body_len;
        return 1;
    }
    struct cons_frag_part part;
    int rc = cons_frag_part_decode(rx->body, rx->body_len, &part);
    /* Parts come from their origin, or from a validator answering our request for them: a
     * part of any other message from elsewhere is refused, so a forger cannot recycle an
     * honest validator's slots (the root keeps forged bytes out of a message either way). */
    if (rc == 0 && (from < 0 || (part.origin != (uint16_t)from &&
                                 !cons_frag_requesting(&t->frag, part.origin, part.root)))) {
        t->stats.parts_foreign++;
        return 0;
    }
    struct cons_frag_done done; /* a part that does not decode is counted by cons_frag */
    if (cons_frag_feed(&t->frag, rx->body, rx->body_len, now, &done) != 0 || done.msg == NULL) {
        return 0;
    }
    *msg = done.msg;
    *len = done.len;
    return 1;
}

void cons_transport_poll(struct cons_transport *t, uint64_t now)
{
    struct cons_frag_request reqs[REQUESTS_PER_POLL];
    uint32_t n = cons_frag_poll(&t->frag, now, reqs, REQUESTS_PER_POLL);
    for (uint32_t i = 0; i < n; i++) {
        /* first the origin; then round-robin over the others, who may have it too */
        uint32_t to = reqs[i].origin;
        if (reqs[i].tries > 1 && t->count > 2) {
            to = (reqs[i].origin + reqs[i].tries) % t->count;
            if (to == t->self) {
                to = reqs[i].origin;
            }
        }
        cons_transport_send_body(t, &t->addrs[to], t->addr_lens[to], reqs[i].body,
                                 reqs[i].body_len);
    }
}

uint64_t cons_transport_next_due(const struct cons_transport *t)
{
    return cons_frag_next_due(&t->frag);
}
