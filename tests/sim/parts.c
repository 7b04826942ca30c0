/*
 * The simulated node's transport: what consensus/transport.c does in the node, over the
 * simulated network. A message that fits one record travels as one datagram; a larger one is
 * cut into parts (consensus/frag.h), proposals through the sender's cache so that it can
 * answer part requests, sync blocks without caching. Every part is a datagram of its own, so
 * each is lost, duplicated, delayed and reordered on its own. The receiver reassembles parts
 * in its cons_frag (only parts whose origin is the validator that sent them), hands
 * completed messages to the machine, asks for missing parts on its ticks (the origin first,
 * then round-robin) and answers requests to the requester, within a budget per requester.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/transport.h"
#include "world.h"

_Static_assert(CONS_FRAG_RECORD_BYTES_MAX <= SIM_MSG_BYTES_MAX, "a part fits a datagram");
_Static_assert(CONS_FRAG_REQUEST_BYTES_MAX <= SIM_MSG_BYTES_MAX, "a request fits a datagram");

/* The node's frag clock is its tick count; consensus/transport.c counts milliseconds. */
#define REQUEST_AFTER_TICKS 2
#define ANSWER_WINDOW_TICKS 100
#define REQUESTS_PER_POLL 16u

void sim_parts_boot(struct sim_world *w, struct sim_node *node)
{
    struct cons_frag_config cfg = {
        .self = (uint16_t)node->m.cfg.self, .validator_count = (uint16_t)w->n,
        .msg_bytes_max = w->msg_bytes_max, .slots_per_origin = 2, .cache_count = 4,
        .request_after_ticks = REQUEST_AFTER_TICKS, .request_retry_ticks = REQUEST_AFTER_TICKS,
        .request_tries_max = CONS_TRANSPORT_REQUEST_TRIES,
    };
    size_t size = cons_frag_mem_size(&cfg);
    DC_ASSERT(size > 0);
    if (node->frag_mem == NULL) {
        /* Sized once for the largest run (7 validators, the largest blocks). */
        struct cons_frag_config most = cfg;
        most.validator_count = SIM_NODES_MAX;
        most.msg_bytes_max = 1 + CONS_HEADER_BYTES_MAX + SIM_PARTS_IDS_MAX * CONS_ID_BYTES +
                             CONS_CERT_BYTES_MAX;
        /* C11: the size of an aligned_alloc is a multiple of the alignment */
        node->frag_mem = aligned_alloc(64, (cons_frag_mem_size(&most) + 63) & ~(size_t)63);
        DC_ASSERT(node->frag_mem != NULL);
    }
    DC_ASSERT(w->msg_bytes_max <= 1 + CONS_HEADER_BYTES_MAX + SIM_PARTS_IDS_MAX * CONS_ID_BYTES +
                                      CONS_CERT_BYTES_MAX);
    int err = cons_frag_init(&node->frag, &cfg, node->frag_mem, size);
    DC_ASSERT(err == 0);
    node->answer_window_at = node->ticks;
    memset(node->answers_in_window, 0, sizeof(node->answers_in_window));
}

void sim_send_bytes(struct sim_world *w, struct sim_node *node, uint32_t to,
                    const uint8_t *bytes, uint32_t len, int cached)
{
    uint8_t part[CONS_FRAG_RECORD_BYTES_MAX];
    uint16_t self = (uint16_t)node->m.cfg.self;
    struct cons_frag_iter it;
    size_t n;
    if (!cons_frag_needed(len)) {
        sim_net_send(w, self, to, bytes, len);
        return;
    }
    int err = cached ? cons_frag_send(&node->frag, bytes, len, &it)
                     : cons_frag_split(bytes, len, self, &it);
    DC_ASSERT(err == 0); /* the run's msg_bytes_max bounds every message */
    sim_net_burst_begin(w);
    while ((n = cons_frag_iter_next(&it, part, sizeof(part))) > 0) {
        sim_net_send(w, self, to, part, (uint32_t)n);
        w->res->parts_sent++;
    }
    sim_net_burst_end(w);
}

void sim_send(struct sim_world *w, struct sim_node *node, uint32_t to,
              const struct cons_msg *msg)
{
    uint32_t len = sim_encode(w, msg, w->enc);
    sim_send_bytes(w, node, to, w->enc, len, msg->kind == CONS_MSG_PROPOSAL);
}

/* As consensus/transport.c: CONS_TRANSPORT_ANSWERS_PER_S per requester and window. */
static int answer_allowed(struct sim_node *node, uint16_t requester)
{
    if (node->ticks - node->answer_window_at >= ANSWER_WINDOW_TICKS) {
        node->answer_window_at = node->ticks;
        memset(node->answers_in_window, 0, sizeof(node->answers_in_window));
    }
    if (node->answers_in_window[requester] >= CONS_TRANSPORT_ANSWERS_PER_S) {
        return 0;
    }
    node->answers_in_window[requester]++;
    return 1;
}

static void on_request(struct sim_world *w, struct sim_node *node, uint32_t from,
                       const uint8_t *body, uint32_t len)
{
    uint8_t part[CONS_FRAG_RECORD_BYTES_MAX];
    struct cons_frag_want want;
    struct cons_frag_iter it;
    size_t n;
    /* The requester must be the validator the datagram came from. */
    if (cons_frag_request_decode(body, len, &want) != 0 || want.requester != from ||
        !answer_allowed(node, want.requester)) {
        return;
    }
    if (node->byzantine && w->sc->byz_mode == SIM_BYZ_WITHHOLD) {
        return; /* a withholder does not hand out what it withheld */
    }
    if (cons_frag_answer(&node->frag, body, len, &it) != 0) {
        return; /* counted by cons_frag */
    }
    w->res->requests_answered++;
    sim_net_burst_begin(w);
    while ((n = cons_frag_iter_next(&it, part, sizeof(part))) > 0) {
        sim_net_send(w, node->m.cfg.self, it.to, part, (uint32_t)n);
        w->res->parts_sent++;
    }
    sim_net_burst_end(w);
}

void sim_parts_recv(struct sim_world *w, struct sim_node *node, uint32_t from,
                    const uint8_t *bytes, uint32_t len)
{
    struct cons_frag_part part;
    struct cons_frag_done done;
    uint8_t kind = len > 0 ? bytes[0] : 0;
    if (kind == CONS_MSG_PART_REQUEST) {
        on_request(w, node, from, bytes, len);
        return;
    }
    if (kind != CONS_MSG_PART) {
        sim_hand_message(w, node, from, bytes, len);
        return;
    }
    /*
     * A part whose origin is not its sender is dropped, as the node does (parts_foreign),
     * unless it answers our request for that message: cons_frag_answer() stamps the parts
     * another validator sends back with the message's origin.
     */
    if (cons_frag_part_decode(bytes, len, &part) == 0 && part.origin != from &&
        !cons_frag_requesting(&node->frag, part.origin, part.root)) {
        w->res->parts_foreign++;
        return;
    }
    uint64_t mismatches = node->frag.stats.msgs_root_mismatch;
    int err = cons_frag_feed(&node->frag, bytes, len, node->ticks, &done);
    w->res->root_mismatches += node->frag.stats.msgs_root_mismatch - mismatches;
    if (err == DC_ECORRUPT && w->verbose > 1) {
        printf("t=%llu node %u: parts from %u hash to another root: dropped\n",
               (unsigned long long)w->now, node->m.cfg.self, from);
    }
    if (err != 0 || done.msg == NULL) {
        return;
    }
    w->res->msgs_reassembled++;
    sim_hand_message(w, node, from, done.msg, done.len);
}

void sim_parts_tick(struct sim_world *w, struct sim_node *node)
{
    struct cons_frag_request reqs[REQUESTS_PER_POLL];
    uint32_t self = node->m.cfg.self;
    uint32_t n = cons_frag_poll(&node->frag, node->ticks, reqs, REQUESTS_PER_POLL);
    for (uint32_t i = 0; i < n; i++) {
        /* first the origin; then round-robin over the others, who may have it too */
        uint32_t to = reqs[i].origin;
        if (reqs[i].tries > 1 && w->n > 2) {
            to = (reqs[i].origin + reqs[i].tries) % w->n;
            if (to == self) {
                to = reqs[i].origin;
            }
        }
        sim_net_send(w, self, to, reqs[i].body, (uint32_t)reqs[i].body_len);
        w->res->part_requests++;
    }
}
