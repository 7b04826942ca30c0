#include "bench/tally.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "dataplane/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bench_tally_init(struct bench_tally *tally, const struct bench_load *load,
                     const _Atomic uint64_t *send_ns, int all_items, int finality)
{
    memset(tally, 0, sizeof(*tally));
    tally->load = load;
    tally->send_ns = send_ns;
    tally->all_items = all_items;
    tally->seen = dc_alloc(load->item_count);
    tally->lat_us = dc_alloc(load->item_count * sizeof(uint32_t));
    if (tally->seen == NULL || tally->lat_us == NULL) {
        bench_tally_fini(tally);
        return -ENOMEM;
    }
    if (!finality) {
        return 0;
    }
    DC_ASSERT(load->ids != NULL);
    tally->fin_seen = dc_alloc(load->item_count);
    tally->fin_height = dc_alloc(load->item_count * sizeof(uint64_t));
    tally->fin_index = dc_alloc(load->item_count * sizeof(uint32_t));
    tally->fin_lat_us = dc_alloc(load->item_count * sizeof(uint32_t));
    if (tally->fin_seen == NULL || tally->fin_height == NULL || tally->fin_index == NULL ||
        tally->fin_lat_us == NULL) {
        bench_tally_fini(tally);
        return -ENOMEM;
    }
    return 0;
}

void bench_tally_fini(struct bench_tally *tally)
{
    dc_free(tally->seen);
    dc_free(tally->lat_us);
    dc_free(tally->fin_seen);
    dc_free(tally->fin_height);
    dc_free(tally->fin_index);
    dc_free(tally->fin_lat_us);
    tally->seen = NULL;
    tally->lat_us = NULL;
    tally->fin_seen = NULL;
    tally->fin_height = NULL;
    tally->fin_index = NULL;
    tally->fin_lat_us = NULL;
}

static void bump(_Atomic uint64_t *counter)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Appends now - (send time of the item's datagram) to samples[*count]. */
static void sample_latency(const struct bench_tally *tally, uint64_t item, uint64_t now_ns,
                           uint32_t *samples, uint64_t *count)
{
    uint64_t frame = item / tally->load->per_frame;
    uint64_t sent = atomic_load_explicit(&tally->send_ns[frame], memory_order_acquire);
    if (sent == 0 || now_ns < sent) {
        return; /* arrived before the sender published its time: no honest sample */
    }
    uint64_t us = (now_ns - sent) / 1000u;
    DC_ASSERT(*count < tally->load->item_count);
    samples[(*count)++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* A record that claims to be one of our items: it must be byte-for-byte what we sent. */
static void item_arrived(struct bench_tally *tally, const struct dp_wire_msg *msg,
                         uint8_t kind, uint64_t item, uint64_t now_ns)
{
    const struct bench_load *load = tally->load;
    if (item >= load->item_count || msg->body_len != load->msg_bytes ||
        memcmp(msg->body, bench_load_item_body(load, item), load->msg_bytes) != 0 ||
        (kind == BENCH_ITEM_INVALID) != bench_load_item_invalid(load, item)) {
        bump(&tally->invalid_delivered); /* altered on the way, or forged */
        return;
    }
    if (kind == BENCH_ITEM_INVALID && !tally->all_items) {
        bump(&tally->invalid_delivered);
        return;
    }
    if (tally->seen[item] != 0) {
        if (tally->seen[item] != UINT8_MAX) {
            tally->seen[item]++;
        }
        bump(&tally->duplicates);
        return;
    }
    tally->seen[item] = 1;
    bump(&tally->delivered);
    if (tally->fin_seen != NULL && tally->fin_seen[item] != 0) {
        bump(&tally->final_delivered); /* its FINAL overtook it */
    }
    atomic_store_explicit(&tally->last_ns, now_ns, memory_order_relaxed);
    sample_latency(tally, item, now_ns, tally->lat_us, &tally->lat_count);
}

/* One FINAL entry: item `id` is final at (height, index). O(1) expected. */
static void final_entry(struct bench_tally *tally, uint64_t height, uint32_t index,
                        const uint8_t *id, uint64_t now_ns)
{
    uint64_t item = bench_load_find_id(tally->load, id);
    if (item == UINT64_MAX) {
        bump(&tally->final_foreign);
        return;
    }
    if (tally->fin_seen[item] != 0) {
        if (tally->fin_height[item] == height && tally->fin_index[item] == index) {
            bump(&tally->final_duplicates);
            return;
        }
        if (atomic_load_explicit(&tally->final_conflicts, memory_order_relaxed) == 0) {
            tally->first_conflict = (struct bench_final_conflict){
                item, tally->fin_height[item], tally->fin_index[item], height, index };
        }
        bump(&tally->final_conflicts); /* two positions for one message: a safety violation */
        return;
    }
    tally->fin_seen[item] = 1;
    tally->fin_height[item] = height;
    tally->fin_index[item] = index;
    if (bench_load_item_invalid(tally->load, item)) {
        bump(&tally->final_invalid); /* ordered although its signature is broken */
        return;
    }
    if (tally->seen[item] != 0) {
        bump(&tally->final_delivered);
    }
    bump(&tally->final);
    atomic_store_explicit(&tally->final_last_ns, now_ns, memory_order_relaxed);
    sample_latency(tally, item, now_ns, tally->fin_lat_us, &tally->fin_lat_count);
}

static void final_arrived(struct bench_tally *tally, const struct dp_wire_rec *rec,
                          uint64_t now_ns)
{
    struct dp_wire_final fin;
    if (dp_wire_final_parse(rec, &fin) != 0) {
        bump(&tally->final_malformed);
        return;
    }
    for (uint16_t i = 0; i < fin.count; i++) {
        uint32_t index = 0;
        const uint8_t *id = NULL;
        dp_wire_final_entry(&fin, i, &index, &id);
        final_entry(tally, fin.height, index, id, now_ns);
    }
}

static void record_arrived(struct bench_tally *tally, const struct dp_wire_rec *rec,
                           uint64_t now_ns)
{
    struct dp_wire_msg msg;
    uint8_t kind = 0;
    uint64_t run_id = 0;
    uint64_t index = 0;
    if (rec->type != DP_WIRE_REC_MSG) {
        struct dp_wire_sub sub;
        if (rec->type == DP_WIRE_REC_SUBSCRIBE && dp_wire_sub_parse(rec, &sub) == 0 &&
            sub.cookie != NULL) {
            if (memcmp(tally->sub_cookie, sub.cookie, sizeof(tally->sub_cookie)) != 0) {
                memcpy(tally->sub_cookie, sub.cookie, sizeof(tally->sub_cookie));
                tally->sub_cookie_new = 1; /* the receiver thread subscribes again with it */
            }
        }
        if (rec->type == DP_WIRE_REC_FINAL && tally->fin_seen != NULL) {
            final_arrived(tally, rec, now_ns);
        } else {
            bump(&tally->other_records);
        }
        return;
    }
    if (dp_wire_msg_parse(rec, &msg) != 0) {
        bump(&tally->invalid_delivered);
        return;
    }
    if (bench_payload_read(msg.payload, msg.payload_len, &kind, &run_id, &index) != 0 ||
        run_id != tally->load->p.run_id) {
        bump(&tally->foreign);
        return;
    }
    switch (kind) {
    case BENCH_ITEM_VALID:
    case BENCH_ITEM_INVALID:
        item_arrived(tally, &msg, kind, index, now_ns);
        break;
    case BENCH_ITEM_PROBE:
        bump(&tally->probes);
        break;
    default: /* garbage, or a kind we never send */
        bump(&tally->invalid_delivered);
        break;
    }
}

void bench_tally_datagram(struct bench_tally *tally, const uint8_t *buf, size_t len,
                          uint64_t now_ns)
{
    struct dp_wire_iter it;
    struct dp_wire_rec rec;
    bump(&tally->datagrams);
    if (dp_wire_frame_open(&it, buf, len) != 0) {
        bump(&tally->invalid_delivered);
        return;
    }
    while (dp_wire_next(&it, &rec)) {
        record_arrived(tally, &rec, now_ns);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void percentiles(uint32_t *samples, uint64_t n, struct bench_latency *out)
{
    memset(out, 0, sizeof(*out));
    if (n == 0) {
        return;
    }
    qsort(samples, n, sizeof(uint32_t), cmp_u32);
    out->p50_us = samples[(n - 1) * 50 / 100];
    out->p99_us = samples[(n - 1) * 99 / 100];
    out->max_us = samples[n - 1];
}

void bench_tally_latency(struct bench_tally *tally, struct bench_latency *out)
{
    percentiles(tally->lat_us, tally->lat_count, out);
}

void bench_tally_finality(struct bench_tally *tally, struct bench_latency *out)
{
    percentiles(tally->fin_lat_us, tally->fin_lat_count, out);
}
