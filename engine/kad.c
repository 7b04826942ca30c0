/*
 * kad: Kademlia routing table and iterative lookup state (engine/kad.h).
 */
#include "engine/kad.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <string.h>

int eng_kad_init(struct eng_kad_table *t, const uint8_t self[ENG_KAD_ID_BYTES])
{
    memset(t, 0, sizeof(*t));
    memcpy(t->self, self, ENG_KAD_ID_BYTES);
    t->buckets = dc_alloc(ENG_KAD_BUCKETS * sizeof(*t->buckets));
    return t->buckets ? 0 : -ENOMEM;
}

void eng_kad_fini(struct eng_kad_table *t)
{
    dc_free(t->buckets);
    t->buckets = NULL;
    t->count = 0;
}

int eng_kad_bucket_index(const uint8_t a[ENG_KAD_ID_BYTES], const uint8_t b[ENG_KAD_ID_BYTES])
{
    for (int i = 0; i < ENG_KAD_ID_BYTES; i++) {
        uint8_t x = a[i] ^ b[i];
        if (x != 0) {
            return i * 8 + __builtin_clz((unsigned)x) - 24;
        }
    }
    return -1;
}

int eng_kad_cmp(const uint8_t target[ENG_KAD_ID_BYTES], const uint8_t a[ENG_KAD_ID_BYTES],
                const uint8_t b[ENG_KAD_ID_BYTES])
{
    for (int i = 0; i < ENG_KAD_ID_BYTES; i++) {
        uint8_t da = a[i] ^ target[i];
        uint8_t db = b[i] ^ target[i];
        if (da != db) {
            return da < db ? -1 : 1;
        }
    }
    return 0;
}

struct eng_kad_peer *eng_kad_get(struct eng_kad_table *t, const uint8_t id[ENG_KAD_ID_BYTES])
{
    int b = eng_kad_bucket_index(t->self, id);
    if (b < 0) {
        return NULL;
    }
    for (int i = 0; i < ENG_KAD_K; i++) {
        struct eng_kad_peer *p = &t->buckets[b].peers[i];
        if (p->in_use && memcmp(p->rec.id, id, ENG_KAD_ID_BYTES) == 0) {
            return p;
        }
    }
    return NULL;
}

/* A free slot in the bucket, else the disconnected peer heard from longest ago, else NULL. */
static struct eng_kad_peer *slot_for(struct eng_kad_table *t, struct eng_kad_bucket *bucket)
{
    struct eng_kad_peer *victim = NULL;
    for (int i = 0; i < ENG_KAD_K; i++) {
        struct eng_kad_peer *p = &bucket->peers[i];
        if (!p->in_use) {
            return p;
        }
        if (!p->connected && (victim == NULL || p->last_pong_ms < victim->last_pong_ms)) {
            victim = p;
        }
    }
    if (victim != NULL) {
        t->count--;
    }
    return victim;
}

int eng_kad_insert(struct eng_kad_table *t, const struct eng_noderec *rec,
                   const struct sockaddr *addr, socklen_t addr_len, uint64_t now_ms,
                   struct eng_kad_peer **out)
{
    DC_ASSERT(addr_len <= sizeof(struct sockaddr_storage));
    *out = NULL;
    int b = eng_kad_bucket_index(t->self, rec->id);
    if (b < 0) {
        return DC_ECONFLICT;
    }
    struct eng_kad_peer *p = eng_kad_get(t, rec->id);
    if (p != NULL) {
        *out = p;
        return DC_EDUPLICATE;
    }
    p = slot_for(t, &t->buckets[b]);
    if (p == NULL) {
        return DC_EFULL;
    }
    memset(p, 0, sizeof(*p));
    p->rec = *rec;
    memcpy(&p->addr, addr, addr_len);
    p->addr_len = addr_len;
    p->added_ms = now_ms;
    p->in_use = 1;
    t->count++;
    *out = p;
    return 0;
}

int eng_kad_remove(struct eng_kad_table *t, const uint8_t id[ENG_KAD_ID_BYTES])
{
    struct eng_kad_peer *p = eng_kad_get(t, id);
    if (p == NULL) {
        return DC_ENOTFOUND;
    }
    DC_ASSERT(t->count > 0);
    memset(p, 0, sizeof(*p));
    t->count--;
    return 0;
}

struct eng_kad_peer *eng_kad_next(struct eng_kad_table *t, struct eng_kad_peer *prev)
{
    size_t total = (size_t)ENG_KAD_BUCKETS * ENG_KAD_K;
    struct eng_kad_peer *all = &t->buckets[0].peers[0];
    size_t i = prev == NULL ? 0 : (size_t)(prev - all) + 1;
    for (; i < total; i++) {
        if (all[i].in_use) {
            return &all[i];
        }
    }
    return NULL;
}

size_t eng_kad_closest(struct eng_kad_table *t, const uint8_t target[ENG_KAD_ID_BYTES],
                       struct eng_kad_peer **out, size_t max, int connected_only)
{
    size_t n = 0;
    for (struct eng_kad_peer *p = eng_kad_next(t, NULL); p != NULL; p = eng_kad_next(t, p)) {
        if (connected_only && !p->connected) {
            continue;
        }
        /* Insertion into the sorted prefix; drop the farthest when full. */
        size_t pos = n;
        while (pos > 0 && eng_kad_cmp(target, p->rec.id, out[pos - 1]->rec.id) < 0) {
            pos--;
        }
        if (pos >= max) {
            continue;
        }
        size_t last = n < max ? n : max - 1;
        memmove(&out[pos + 1], &out[pos], (last - pos) * sizeof(out[0]));
        out[pos] = p;
        if (n < max) {
            n++;
        }
    }
    return n;
}

/* ---- iterative lookup -------------------------------------------------------------------- */

void eng_kad_lookup_start(struct eng_kad_lookup *l, const uint8_t target[ENG_KAD_ID_BYTES])
{
    memset(l, 0, sizeof(*l));
    memcpy(l->target, target, ENG_KAD_ID_BYTES);
    l->active = 1;
}

int eng_kad_lookup_add(struct eng_kad_lookup *l, const uint8_t id[ENG_KAD_ID_BYTES],
                       const struct sockaddr *addr, socklen_t addr_len)
{
    DC_ASSERT(addr_len <= sizeof(struct sockaddr_storage));
    uint32_t pos = 0;
    while (pos < l->count) {
        int c = eng_kad_cmp(l->target, id, l->cands[pos].id);
        if (c == 0) {
            return DC_EDUPLICATE;
        }
        if (c < 0) {
            break;
        }
        pos++;
    }
    if (pos == ENG_KAD_LOOKUP_MAX) {
        return DC_EFULL;
    }
    if (l->count == ENG_KAD_LOOKUP_MAX) {
        /* The farthest falls off; if it was in flight, its answer will simply be ignored. */
        if (l->cands[l->count - 1].state == ENG_KAD_CAND_ASKED) {
            l->in_flight--;
        }
        l->count--;
    }
    memmove(&l->cands[pos + 1], &l->cands[pos], (l->count - pos) * sizeof(l->cands[0]));
    struct eng_kad_cand *c = &l->cands[pos];
    memset(c, 0, sizeof(*c));
    memcpy(c->id, id, ENG_KAD_ID_BYTES);
    memcpy(&c->addr, addr, addr_len);
    c->addr_len = addr_len;
    l->count++;
    return 0;
}

struct eng_kad_cand *eng_kad_lookup_next(struct eng_kad_lookup *l, uint64_t now_ms,
                                         uint64_t nonce)
{
    if (!l->active || l->in_flight >= ENG_KAD_ALPHA) {
        return NULL;
    }
    uint32_t live = 0;
    for (uint32_t i = 0; i < l->count && live < ENG_KAD_K; i++) {
        struct eng_kad_cand *c = &l->cands[i];
        if (c->state == ENG_KAD_CAND_FAILED) {
            continue;
        }
        live++;
        if (c->state == ENG_KAD_CAND_NEW) {
            c->state = ENG_KAD_CAND_ASKED;
            c->sent_ms = now_ms;
            c->nonce = nonce;
            l->in_flight++;
            return c;
        }
    }
    return NULL;
}

struct eng_kad_cand *eng_kad_lookup_by_nonce(struct eng_kad_lookup *l, uint64_t nonce)
{
    for (uint32_t i = 0; i < l->count; i++) {
        uint8_t st = l->cands[i].state;
        if ((st == ENG_KAD_CAND_ASKED || st == ENG_KAD_CAND_DONE) && l->cands[i].nonce == nonce) {
            return &l->cands[i];
        }
    }
    return NULL;
}

void eng_kad_lookup_answered(struct eng_kad_lookup *l, struct eng_kad_cand *c)
{
    DC_ASSERT(c->state == ENG_KAD_CAND_ASKED);
    DC_ASSERT(l->in_flight > 0);
    c->state = ENG_KAD_CAND_DONE;
    l->in_flight--;
}

void eng_kad_lookup_expire(struct eng_kad_lookup *l, uint64_t now_ms, uint64_t timeout_ms)
{
    for (uint32_t i = 0; i < l->count; i++) {
        struct eng_kad_cand *c = &l->cands[i];
        if (c->state == ENG_KAD_CAND_ASKED && now_ms - c->sent_ms >= timeout_ms) {
            c->state = ENG_KAD_CAND_FAILED;
            DC_ASSERT(l->in_flight > 0);
            l->in_flight--;
        }
    }
}

int eng_kad_lookup_done(const struct eng_kad_lookup *l)
{
    if (l->in_flight > 0) {
        return 0;
    }
    uint32_t live = 0;
    for (uint32_t i = 0; i < l->count && live < ENG_KAD_K; i++) {
        if (l->cands[i].state == ENG_KAD_CAND_FAILED) {
            continue;
        }
        live++;
        if (l->cands[i].state == ENG_KAD_CAND_NEW) {
            return 0;
        }
    }
    return 1;
}
