#include "consensus/frag.h"

#include <sodium.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/wire.h"

_Static_assert(CONS_HASH_BYTES == crypto_generichash_BYTES, "message root is BLAKE2b-256");
_Static_assert(CONS_CERT_BYTES_MAX >= CONS_PROPOSAL_BYTES, "a sync block is the largest");
_Static_assert((CONS_FRAG_MSG_BYTES_MAX + CONS_FRAG_DATA_BYTES_MAX - 1) /
                       CONS_FRAG_DATA_BYTES_MAX <= CONS_FRAG_PARTS_MAX,
               "the largest message fits the part count and the request bitmap");
_Static_assert(CONS_FRAG_PARTS_MAX % 8 == 0, "the bitmap is whole bytes");
_Static_assert(CONS_FRAG_PARTS_MAX <= UINT16_MAX, "index and count are 16-bit");
_Static_assert(CONS_FRAG_MSG_BYTES_MAX <= UINT32_MAX, "total length is 32-bit");

enum slot_state {
    SLOT_FREE = 0,
    SLOT_PARTIAL = 1,
    SLOT_COMPLETE = 2,
};

struct cons_frag_slot {
    uint8_t root[CONS_HASH_BYTES];
    uint8_t have[CONS_FRAG_BITMAP_BYTES];
    uint8_t again[CONS_FRAG_BITMAP_BYTES]; /* complete: parts seen again since the hand-out */
    uint8_t state;              /* enum slot_state */
    uint16_t count;
    uint16_t received;          /* bits set in `have` */
    uint16_t repeated;          /* bits set in `again` */
    uint32_t total_len;
    uint32_t tries;             /* requests sent for this message */
    uint64_t seq;               /* when the slot was taken: the smallest is recycled first */
    uint64_t part_ticks;        /* when the last new part came */
    uint64_t request_ticks;     /* when the last request went out (tries > 0) */
    uint8_t *buf;               /* msg_bytes_max bytes */
};

struct cons_frag_cached {
    uint8_t root[CONS_HASH_BYTES];
    uint32_t len;               /* 0: empty */
    uint64_t seq;               /* last sent: the smallest is replaced first */
    uint8_t *buf;
};

/* ---- Geometry: part i holds bytes [i*s, min(T, (i+1)*s)) with s = ceil(T / count) ---- */

static uint32_t chunk_bytes(uint32_t total_len, uint16_t count)
{
    return (uint32_t)(((uint64_t)total_len + count - 1) / count);
}

/* Whether `total_len` bytes can be cut into `count` non-empty parts that each fit a record. */
static int geometry_ok(uint32_t total_len, uint16_t count)
{
    uint32_t chunk = chunk_bytes(total_len, count);
    return chunk <= CONS_FRAG_DATA_BYTES_MAX && (uint64_t)(count - 1) * chunk < total_len;
}

static uint32_t part_offset(uint32_t total_len, uint16_t count, uint16_t index)
{
    return (uint32_t)index * chunk_bytes(total_len, count);
}

static uint16_t part_len(uint32_t total_len, uint16_t count, uint16_t index)
{
    uint32_t off = part_offset(total_len, count, index);
    uint32_t chunk = chunk_bytes(total_len, count);
    DC_ASSERT(index < count);
    DC_ASSERT(off < total_len);
    return (uint16_t)(total_len - off < chunk ? total_len - off : chunk);
}

static int bit_get(const uint8_t *map, uint16_t i)
{
    return (map[i / 8] >> (i % 8)) & 1;
}

static void bit_set(uint8_t *map, uint16_t i)
{
    map[i / 8] = (uint8_t)(map[i / 8] | (1u << (i % 8)));
}

static void msg_root(const uint8_t *msg, size_t len, uint8_t root[CONS_HASH_BYTES])
{
    crypto_generichash(root, CONS_HASH_BYTES, msg, len, NULL, 0);
}

/* ---- Codec ---- */

int cons_frag_needed(size_t len)
{
    return len > CONS_FRAG_RECORD_BYTES_MAX;
}

uint16_t cons_frag_part_count(uint32_t total_len)
{
    DC_ASSERT(total_len >= 1);
    DC_ASSERT(total_len <= CONS_FRAG_MSG_BYTES_MAX);
    uint32_t count = (total_len + CONS_FRAG_DATA_BYTES_MAX - 1) / CONS_FRAG_DATA_BYTES_MAX;
    DC_ASSERT(count <= CONS_FRAG_PARTS_MAX);
    DC_ASSERT(geometry_ok(total_len, (uint16_t)count));
    return (uint16_t)count;
}

/* Checks shared by parts and requests: the message's size and how it is cut. */
static int check_shape(uint32_t total_len, uint16_t count, uint16_t origin)
{
    if (total_len == 0) {
        return DC_EMALFORMED;
    }
    if (total_len > CONS_FRAG_MSG_BYTES_MAX) {
        return DC_ETOOBIG;
    }
    if (count == 0 || count > CONS_FRAG_PARTS_MAX || origin >= CONS_VALIDATORS_MAX) {
        return DC_ERANGE;
    }
    return geometry_ok(total_len, count) ? 0 : DC_EMALFORMED;
}

int cons_frag_part_decode(const uint8_t *body, size_t len, struct cons_frag_part *part)
{
    struct cons_rd rd = { .buf = body, .len = len, .off = 0, .err = 0 };
    memset(part, 0, sizeof(*part));
    uint8_t kind = cons_rd_u8(&rd);
    cons_rd_bytes(&rd, part->root, CONS_HASH_BYTES);
    part->total_len = cons_rd_u32(&rd);
    part->index = cons_rd_u16(&rd);
    part->count = cons_rd_u16(&rd);
    part->origin = cons_rd_u16(&rd);
    if (rd.err != 0) {
        return rd.err;
    }
    DC_ASSERT(rd.off == CONS_FRAG_PART_HEADER_BYTES);
    if (kind != CONS_MSG_PART) {
        return DC_EMALFORMED;
    }
    int err = check_shape(part->total_len, part->count, part->origin);
    if (err != 0) {
        return err;
    }
    if (part->index >= part->count) {
        return DC_ERANGE;
    }
    uint16_t want = part_len(part->total_len, part->count, part->index);
    if (len - rd.off < want) {
        return DC_ETRUNCATED;
    }
    if (len - rd.off > want) {
        return DC_EMALFORMED;
    }
    part->data_len = want;
    part->data = body + rd.off;
    return 0;
}

size_t cons_frag_part_encode(const struct cons_frag_part *part, uint8_t *out, size_t cap)
{
    struct cons_wr wr = { .buf = out, .len = 0, .cap = cap };
    DC_ASSERT(check_shape(part->total_len, part->count, part->origin) == 0);
    DC_ASSERT(part->index < part->count);
    DC_ASSERT(part->data_len == part_len(part->total_len, part->count, part->index));
    cons_wr_u8(&wr, CONS_MSG_PART);
    cons_wr_bytes(&wr, part->root, CONS_HASH_BYTES);
    cons_wr_u32(&wr, part->total_len);
    cons_wr_u16(&wr, part->index);
    cons_wr_u16(&wr, part->count);
    cons_wr_u16(&wr, part->origin);
    cons_wr_bytes(&wr, part->data, part->data_len);
    DC_ASSERT(wr.len <= CONS_FRAG_RECORD_BYTES_MAX);
    return wr.len;
}

static uint16_t bitmap_bytes(uint16_t count)
{
    return (uint16_t)((count + 7u) / 8u);
}

/* Whether the bitmap asks for something and names no part past `count`. */
static int bitmap_ok(const uint8_t *map, uint16_t count)
{
    uint8_t any = 0;
    for (uint16_t i = 0; i < bitmap_bytes(count); i++) {
        any |= map[i];
    }
    uint8_t last = map[bitmap_bytes(count) - 1];
    return any != 0 && (count % 8 == 0 || (last >> (count % 8)) == 0);
}

int cons_frag_request_decode(const uint8_t *body, size_t len, struct cons_frag_want *want)
{
    struct cons_rd rd = { .buf = body, .len = len, .off = 0, .err = 0 };
    memset(want, 0, sizeof(*want));
    uint8_t kind = cons_rd_u8(&rd);
    cons_rd_bytes(&rd, want->root, CONS_HASH_BYTES);
    want->total_len = cons_rd_u32(&rd);
    want->count = cons_rd_u16(&rd);
    want->origin = cons_rd_u16(&rd);
    want->requester = cons_rd_u16(&rd);
    if (rd.err != 0) {
        return rd.err;
    }
    DC_ASSERT(rd.off == CONS_FRAG_REQUEST_HEADER_BYTES);
    if (kind != CONS_MSG_PART_REQUEST) {
        return DC_EMALFORMED;
    }
    int err = check_shape(want->total_len, want->count, want->origin);
    if (err != 0) {
        return err;
    }
    if (want->requester >= CONS_VALIDATORS_MAX) {
        return DC_ERANGE;
    }
    uint16_t map_len = bitmap_bytes(want->count);
    if (len - rd.off < map_len) {
        return DC_ETRUNCATED;
    }
    if (len - rd.off > map_len) {
        return DC_EMALFORMED;
    }
    memcpy(want->missing, body + rd.off, map_len);
    return bitmap_ok(want->missing, want->count) ? 0 : DC_EMALFORMED;
}

size_t cons_frag_request_encode(const struct cons_frag_want *want, uint8_t *out, size_t cap)
{
    struct cons_wr wr = { .buf = out, .len = 0, .cap = cap };
    DC_ASSERT(check_shape(want->total_len, want->count, want->origin) == 0);
    DC_ASSERT(want->requester < CONS_VALIDATORS_MAX);
    DC_ASSERT(bitmap_ok(want->missing, want->count));
    cons_wr_u8(&wr, CONS_MSG_PART_REQUEST);
    cons_wr_bytes(&wr, want->root, CONS_HASH_BYTES);
    cons_wr_u32(&wr, want->total_len);
    cons_wr_u16(&wr, want->count);
    cons_wr_u16(&wr, want->origin);
    cons_wr_u16(&wr, want->requester);
    cons_wr_bytes(&wr, want->missing, bitmap_bytes(want->count));
    DC_ASSERT(wr.len <= CONS_FRAG_REQUEST_BYTES_MAX);
    return wr.len;
}

/* An iterator over every part of a message whose root is known. */
static void iter_all(struct cons_frag_iter *it, const uint8_t *msg, uint32_t len,
                     const uint8_t root[CONS_HASH_BYTES], uint16_t origin)
{
    memset(it, 0, sizeof(*it));
    it->msg = msg;
    it->total_len = len;
    it->count = cons_frag_part_count(len);
    it->origin = origin;
    it->to = origin;
    memcpy(it->root, root, CONS_HASH_BYTES);
    for (uint16_t i = 0; i < it->count; i++) {
        bit_set(it->want, i);
    }
}

int cons_frag_split(const uint8_t *msg, size_t len, uint16_t origin, struct cons_frag_iter *it)
{
    uint8_t root[CONS_HASH_BYTES];
    DC_ASSERT(origin < CONS_VALIDATORS_MAX);
    memset(it, 0, sizeof(*it));
    if (len == 0) {
        return DC_EMALFORMED;
    }
    if (len > CONS_FRAG_MSG_BYTES_MAX) {
        return DC_ETOOBIG;
    }
    msg_root(msg, len, root);
    iter_all(it, msg, (uint32_t)len, root, origin);
    return 0;
}

size_t cons_frag_iter_next(struct cons_frag_iter *it, uint8_t *out, size_t cap)
{
    while (it->next < it->count && !bit_get(it->want, it->next)) {
        it->next++;
    }
    if (it->next >= it->count) {
        return 0;
    }
    struct cons_frag_part part = {
        .total_len = it->total_len, .index = it->next, .count = it->count,
        .origin = it->origin,
    };
    memcpy(part.root, it->root, CONS_HASH_BYTES);
    part.data_len = part_len(it->total_len, it->count, it->next);
    part.data = it->msg + part_offset(it->total_len, it->count, it->next);
    it->next++;
    return cons_frag_part_encode(&part, out, cap);
}

/* ---- State: memory ---- */

static size_t align8(size_t n)
{
    return (n + 7u) & ~(size_t)7;
}

static int config_ok(const struct cons_frag_config *cfg)
{
    return cfg->validator_count >= 1 && cfg->validator_count <= CONS_VALIDATORS_MAX &&
           cfg->self < cfg->validator_count && cfg->msg_bytes_max >= 1 &&
           cfg->msg_bytes_max <= CONS_FRAG_MSG_BYTES_MAX && cfg->slots_per_origin >= 1 &&
           cfg->slots_per_origin <= CONS_FRAG_SLOTS_PER_ORIGIN_MAX && cfg->cache_count >= 1 &&
           cfg->cache_count <= CONS_FRAG_CACHE_MAX && cfg->request_retry_ticks >= 1;
}

static uint32_t slot_total(const struct cons_frag_config *cfg)
{
    return (uint32_t)cfg->validator_count * cfg->slots_per_origin;
}

size_t cons_frag_mem_size(const struct cons_frag_config *cfg)
{
    if (!config_ok(cfg)) {
        return 0;
    }
    size_t bufs = (size_t)(slot_total(cfg) + cfg->cache_count) * align8(cfg->msg_bytes_max);
    return align8(slot_total(cfg) * sizeof(struct cons_frag_slot)) +
           align8(cfg->cache_count * sizeof(struct cons_frag_cached)) + bufs;
}

int cons_frag_init(struct cons_frag *frag, const struct cons_frag_config *cfg, void *mem,
                   size_t mem_size)
{
    uint8_t *at = mem;
    if (!config_ok(cfg) || mem_size < cons_frag_mem_size(cfg)) {
        return DC_ECONFIG;
    }
    DC_ASSERT(((uintptr_t)mem & 7u) == 0);
    memset(frag, 0, sizeof(*frag));
    frag->cfg = *cfg;
    frag->slots = (struct cons_frag_slot *)(void *)at;
    at += align8(slot_total(cfg) * sizeof(struct cons_frag_slot));
    frag->cache = (struct cons_frag_cached *)(void *)at;
    at += align8(cfg->cache_count * sizeof(struct cons_frag_cached));
    for (uint32_t i = 0; i < slot_total(cfg); i++) {
        memset(&frag->slots[i], 0, sizeof(frag->slots[i]));
        frag->slots[i].buf = at;
        at += align8(cfg->msg_bytes_max);
    }
    for (uint32_t i = 0; i < cfg->cache_count; i++) {
        memset(&frag->cache[i], 0, sizeof(frag->cache[i]));
        frag->cache[i].buf = at;
        at += align8(cfg->msg_bytes_max);
    }
    DC_ASSERT((size_t)(at - (uint8_t *)mem) == cons_frag_mem_size(cfg));
    return 0;
}

/* ---- Sender: cache ---- */

static struct cons_frag_cached *cache_find(struct cons_frag *frag,
                                           const uint8_t root[CONS_HASH_BYTES])
{
    for (uint32_t i = 0; i < frag->cfg.cache_count; i++) {
        struct cons_frag_cached *c = &frag->cache[i];
        if (c->len != 0 && memcmp(c->root, root, CONS_HASH_BYTES) == 0) {
            return c;
        }
    }
    return NULL;
}

static struct cons_frag_cached *cache_victim(struct cons_frag *frag)
{
    struct cons_frag_cached *victim = &frag->cache[0];
    for (uint32_t i = 0; i < frag->cfg.cache_count; i++) {
        struct cons_frag_cached *c = &frag->cache[i];
        if (c->len == 0) {
            return c;
        }
        if (c->seq < victim->seq) {
            victim = c;
        }
    }
    return victim;
}

int cons_frag_send(struct cons_frag *frag, const uint8_t *msg, size_t len,
                   struct cons_frag_iter *it)
{
    uint8_t root[CONS_HASH_BYTES];
    memset(it, 0, sizeof(*it));
    if (len == 0) {
        return DC_EMALFORMED;
    }
    if (len > frag->cfg.msg_bytes_max) {
        return DC_ETOOBIG;
    }
    msg_root(msg, len, root);
    struct cons_frag_cached *c = cache_find(frag, root);
    if (c != NULL) {
        DC_ASSERT(c->len == len); /* BLAKE2b-256 does not collide */
        frag->stats.msgs_resent++;
    } else {
        c = cache_victim(frag);
        memcpy(c->root, root, CONS_HASH_BYTES);
        memcpy(c->buf, msg, len);
        c->len = (uint32_t)len;
        frag->stats.msgs_sent++;
    }
    c->seq = ++frag->seq;
    iter_all(it, c->buf, c->len, c->root, frag->cfg.self);
    return 0;
}

/* ---- Receiver: reassembly slots ---- */

static struct cons_frag_slot *origin_slots(struct cons_frag *frag, uint16_t origin)
{
    DC_ASSERT(origin < frag->cfg.validator_count);
    return &frag->slots[(size_t)origin * frag->cfg.slots_per_origin];
}

static struct cons_frag_slot *slot_find(struct cons_frag *frag, uint16_t origin,
                                        const uint8_t root[CONS_HASH_BYTES])
{
    struct cons_frag_slot *slots = origin_slots(frag, origin);
    for (uint32_t i = 0; i < frag->cfg.slots_per_origin; i++) {
        if (slots[i].state != SLOT_FREE && memcmp(slots[i].root, root, CONS_HASH_BYTES) == 0) {
            return &slots[i];
        }
    }
    return NULL;
}

int cons_frag_requesting(struct cons_frag *frag, uint16_t origin,
                         const uint8_t root[CONS_HASH_BYTES])
{
    if (origin >= frag->cfg.validator_count) {
        return 0;
    }
    const struct cons_frag_slot *slot = slot_find(frag, origin, root);
    return slot != NULL && slot->state == SLOT_PARTIAL && slot->tries > 0;
}

/* A free slot of `part`'s origin, or its oldest one, set up for `part`'s message. */
static struct cons_frag_slot *slot_take(struct cons_frag *frag, const struct cons_frag_part *part,
                                        uint64_t now)
{
    struct cons_frag_slot *slots = origin_slots(frag, part->origin);
    struct cons_frag_slot *slot = &slots[0];
    for (uint32_t i = 0; i < frag->cfg.slots_per_origin; i++) {
        if (slots[i].state == SLOT_FREE) {
            slot = &slots[i];
            break;
        }
        if (slots[i].seq < slot->seq) {
            slot = &slots[i];
        }
    }
    if (slot->state == SLOT_PARTIAL) {
        frag->stats.slots_evicted_incomplete++;
    }
    uint8_t *buf = slot->buf;
    memset(slot, 0, sizeof(*slot));
    slot->buf = buf;
    memcpy(slot->root, part->root, CONS_HASH_BYTES);
    slot->state = SLOT_PARTIAL;
    slot->count = part->count;
    slot->total_len = part->total_len;
    slot->seq = ++frag->seq;
    slot->part_ticks = now;
    return slot;
}

/*
 * All parts are in: hand the message out if it hashes to its root. If not, some part came
 * from another message (an equivocating origin, or a forger): which one cannot be told, so
 * every part is dropped and the message is asked for again from scratch.
 */
static int slot_finish(struct cons_frag *frag, struct cons_frag_slot *slot, uint16_t origin,
                       uint64_t now, struct cons_frag_done *done)
{
    uint8_t root[CONS_HASH_BYTES];
    DC_ASSERT(slot->state == SLOT_PARTIAL);
    DC_ASSERT(slot->received == slot->count);
    msg_root(slot->buf, slot->total_len, root);
    if (memcmp(root, slot->root, CONS_HASH_BYTES) != 0) {
        frag->stats.msgs_root_mismatch++;
        memset(slot->have, 0, sizeof(slot->have));
        slot->received = 0;
        slot->tries = 0;
        slot->part_ticks = now;
        return DC_ECORRUPT;
    }
    slot->state = SLOT_COMPLETE;
    frag->stats.msgs_complete++;
    done->msg = slot->buf;
    done->len = slot->total_len;
    done->origin = origin;
    memcpy(done->root, slot->root, CONS_HASH_BYTES);
    return 0;
}

/*
 * A repeated part of a message already handed out. Once every part has come again (a
 * re-send: the origin's rebroadcast, a sync block served again), the message is handed out
 * again, as a whole message re-sent in one record would be: the receiver may have refused
 * the first copy (a block for a height it had not reached) and need this one. Scattered
 * network duplicates stay duplicates. 0 with done->msg set, or DC_EDUPLICATE.
 */
static int slot_repeat(struct cons_frag *frag, struct cons_frag_slot *slot,
                       const struct cons_frag_part *part, struct cons_frag_done *done)
{
    DC_ASSERT(slot->state == SLOT_COMPLETE);
    if (!bit_get(slot->again, part->index)) {
        bit_set(slot->again, part->index);
        slot->repeated++;
    }
    DC_ASSERT(slot->repeated <= slot->count);
    if (slot->repeated < slot->count) {
        return DC_EDUPLICATE;
    }
    memset(slot->again, 0, sizeof(slot->again));
    slot->repeated = 0;
    frag->stats.msgs_again++;
    done->msg = slot->buf;
    done->len = slot->total_len;
    done->origin = part->origin;
    memcpy(done->root, slot->root, CONS_HASH_BYTES);
    return 0;
}

/* A part for a slot that knows its root: a repeat, a contradiction, or new bytes. */
static int slot_check(struct cons_frag *frag, const struct cons_frag_slot *slot,
                      const struct cons_frag_part *part)
{
    if (slot->total_len != part->total_len || slot->count != part->count) {
        frag->stats.parts_conflict++;
        return DC_ECONFLICT;
    }
    if (slot->state != SLOT_COMPLETE && !bit_get(slot->have, part->index)) {
        return 0;
    }
    const uint8_t *held = slot->buf + part_offset(part->total_len, part->count, part->index);
    if (memcmp(held, part->data, part->data_len) != 0) {
        frag->stats.parts_conflict++;
        return DC_ECONFLICT;
    }
    frag->stats.parts_duplicate++;
    return DC_EDUPLICATE;
}

int cons_frag_feed(struct cons_frag *frag, const uint8_t *body, size_t len, uint64_t now,
                   struct cons_frag_done *done)
{
    struct cons_frag_part part;
    memset(done, 0, sizeof(*done));
    frag->stats.parts_in++;
    int err = cons_frag_part_decode(body, len, &part);
    /* Our own messages we hold already; a forger must not make us ask for them. */
    if (err == 0 && (part.origin >= frag->cfg.validator_count || part.origin == frag->cfg.self)) {
        err = DC_ERANGE;
    }
    if (err == 0 && part.total_len > frag->cfg.msg_bytes_max) {
        err = DC_ETOOBIG;
    }
    if (err != 0) {
        frag->stats.parts_malformed++;
        return err;
    }
    struct cons_frag_slot *slot = slot_find(frag, part.origin, part.root);
    if (slot != NULL) {
        err = slot_check(frag, slot, &part);
        if (err == DC_EDUPLICATE && slot->state == SLOT_COMPLETE) {
            return slot_repeat(frag, slot, &part, done);
        }
        if (err != 0) {
            return err;
        }
    } else {
        slot = slot_take(frag, &part, now);
    }
    DC_ASSERT(slot->state == SLOT_PARTIAL);
    DC_ASSERT(!bit_get(slot->have, part.index));
    memcpy(slot->buf + part_offset(part.total_len, part.count, part.index), part.data,
           part.data_len);
    bit_set(slot->have, part.index);
    slot->received++;
    slot->part_ticks = now;
    frag->stats.parts_accepted++;
    DC_ASSERT(slot->received <= slot->count);
    if (slot->received < slot->count) {
        return 0;
    }
    return slot_finish(frag, slot, part.origin, now, done);
}

/* ---- Receiver: asking for missing parts ---- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t slot_due(const struct cons_frag *frag, const struct cons_frag_slot *slot)
{
    if (slot->state != SLOT_PARTIAL || slot->tries >= frag->cfg.request_tries_max) {
        return UINT64_MAX;
    }
    uint64_t due = add_sat(slot->part_ticks, frag->cfg.request_after_ticks);
    if (slot->tries > 0) {
        uint64_t retry = add_sat(slot->request_ticks, frag->cfg.request_retry_ticks);
        due = retry > due ? retry : due;
    }
    return due;
}

uint64_t cons_frag_next_due(const struct cons_frag *frag)
{
    uint64_t due = UINT64_MAX;
    for (uint32_t i = 0; i < slot_total(&frag->cfg); i++) {
        uint64_t d = slot_due(frag, &frag->slots[i]);
        due = d < due ? d : due;
    }
    return due;
}

static void request_build(const struct cons_frag *frag, const struct cons_frag_slot *slot,
                          uint16_t origin, struct cons_frag_request *req)
{
    struct cons_frag_want want = {
        .total_len = slot->total_len, .count = slot->count, .origin = origin,
        .requester = frag->cfg.self,
    };
    memcpy(want.root, slot->root, CONS_HASH_BYTES);
    memset(req, 0, sizeof(*req));
    for (uint16_t i = 0; i < slot->count; i++) {
        if (!bit_get(slot->have, i)) {
            bit_set(want.missing, i);
            req->missing_count++;
        }
    }
    DC_ASSERT(req->missing_count == slot->count - slot->received);
    DC_ASSERT(req->missing_count > 0);
    req->origin = origin;
    req->tries = slot->tries;
    memcpy(req->root, slot->root, CONS_HASH_BYTES);
    req->body_len = cons_frag_request_encode(&want, req->body, sizeof(req->body));
}

uint32_t cons_frag_poll(struct cons_frag *frag, uint64_t now, struct cons_frag_request *out,
                        uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < slot_total(&frag->cfg) && n < max; i++) {
        struct cons_frag_slot *slot = &frag->slots[i];
        if (slot_due(frag, slot) > now) {
            continue;
        }
        slot->tries++;
        slot->request_ticks = now;
        request_build(frag, slot, (uint16_t)(i / frag->cfg.slots_per_origin), &out[n]);
        n++;
        frag->stats.requests_out++;
    }
    return n;
}

/* ---- Answering requests ---- */

/* The bytes of a message we hold with this root: one we sent, or one we reassembled. */
static const uint8_t *held_find(struct cons_frag *frag, const uint8_t root[CONS_HASH_BYTES],
                                uint32_t *len_out)
{
    struct cons_frag_cached *c = cache_find(frag, root);
    if (c != NULL) {
        *len_out = c->len;
        return c->buf;
    }
    for (uint32_t i = 0; i < slot_total(&frag->cfg); i++) {
        struct cons_frag_slot *slot = &frag->slots[i];
        if (slot->state == SLOT_COMPLETE && memcmp(slot->root, root, CONS_HASH_BYTES) == 0) {
            *len_out = slot->total_len;
            return slot->buf;
        }
    }
    return NULL;
}

int cons_frag_answer(struct cons_frag *frag, const uint8_t *body, size_t len,
                     struct cons_frag_iter *it)
{
    struct cons_frag_want want;
    uint32_t held_len = 0;
    memset(it, 0, sizeof(*it));
    frag->stats.requests_in++;
    int err = cons_frag_request_decode(body, len, &want);
    if (err == 0 && want.requester >= frag->cfg.validator_count) {
        err = DC_ERANGE;
    }
    if (err != 0) {
        frag->stats.requests_bad++;
        return err;
    }
    const uint8_t *msg = held_find(frag, want.root, &held_len);
    if (msg == NULL) {
        frag->stats.requests_unknown++;
        return DC_ENOTFOUND;
    }
    if (held_len != want.total_len) {
        frag->stats.requests_bad++;
        return DC_ECONFLICT;
    }
    /* Cut the way the requester's parts were cut, whoever sent them. */
    it->msg = msg;
    it->total_len = want.total_len;
    it->count = want.count;
    it->origin = want.origin;
    it->to = want.requester;
    memcpy(it->root, want.root, CONS_HASH_BYTES);
    memcpy(it->want, want.missing, sizeof(it->want));
    frag->stats.requests_answered++;
    return 0;
}
