#include "dataplane/link.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define NONE (-1)
#define TAI64_BASE (1ull << 62) /* TAI64 labels second 0 as 2^62 */

static const struct {
    int err;
    const char *name;
} drops[DP_LINK_DROP_COUNT] = {
    [DP_LINK_DROP_MALFORMED] = { DC_EMALFORMED, "link_drop_malformed" },
    [DP_LINK_DROP_UNKNOWN_INDEX] = { DC_ENOTFOUND, "link_drop_unknown_index" },
    [DP_LINK_DROP_UNKNOWN_PEER] = { DC_EMEMBER, "link_drop_unknown_peer" },
    [DP_LINK_DROP_AUTH] = { DC_EAUTH, "link_drop_auth" },
    [DP_LINK_DROP_REPLAY] = { DC_EDUPLICATE, "link_drop_replay" },
    [DP_LINK_DROP_TOO_OLD] = { DC_EWINDOW, "link_drop_too_old" },
    [DP_LINK_DROP_EXPIRED] = { DC_EEXPIRED, "link_drop_expired" },
    [DP_LINK_DROP_BAD_MAC1] = { DC_EMAC, "link_drop_bad_mac1" },
    [DP_LINK_DROP_NEEDS_COOKIE] = { DC_ECOOKIE, "link_drop_needs_cookie" },
    [DP_LINK_DROP_STALE_TIMESTAMP] = { DC_ESTALE, "link_drop_stale_timestamp" },
    [DP_LINK_DROP_TOO_BIG] = { DC_ETOOBIG, "link_drop_too_big" },
};

enum dp_link_drop dp_link_drop_of(int err)
{
    for (int i = 0; i < DP_LINK_DROP_COUNT; i++) {
        if (drops[i].err == err) {
            return (enum dp_link_drop)i;
        }
    }
    return DP_LINK_DROP_COUNT;
}

const char *dp_link_drop_name(enum dp_link_drop drop)
{
    DC_ASSERT(drop < DP_LINK_DROP_COUNT);
    return drops[drop].name;
}

/* ---- time ---- */

static uint64_t age(uint64_t now_ms, uint64_t birth_ms)
{
    return now_ms > birth_ms ? now_ms - birth_ms : 0;
}

/* TAI64N: seconds + 2^62, then nanoseconds, both big-endian. */
static void tai64n(uint8_t out[DP_HS_TIMESTAMP_BYTES], uint64_t unix_ns)
{
    dp_hs_put64(out, TAI64_BASE + unix_ns / 1000000000u);
    dp_hs_put32(out + 8, (uint32_t)(unix_ns % 1000000000u));
}

/* ---- tables ---- */

static uint32_t pow2_bits(uint64_t n)
{
    uint32_t bits = 0;
    while (((uint64_t)1 << bits) < n) {
        bits++;
    }
    return bits;
}

static uint32_t static_hash(const struct dp_link_table *t, const uint8_t pub[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, pub, 32, t->by_static_key);
    return dp_hs_get32(h);
}

/* The peer whose static X25519 key is `pub`, or NONE. O(1) expected. */
static int find_static(const struct dp_link_table *t, const uint8_t pub[32])
{
    for (uint32_t i = static_hash(t, pub);; i++) {
        uint32_t e = t->by_static[i & t->by_static_mask];
        if (e == 0) {
            return NONE;
        }
        if (sodium_memcmp(t->peers[e - 1].remote.pub, pub, 32) == 0) {
            return (int)(e - 1);
        }
    }
}

static uint32_t new_index(const struct dp_link_table *t, uint32_t peer, int slot)
{
    uint32_t low = ((peer * DP_LINK_SLOTS + (uint32_t)slot) ^ t->index_xor);
    uint32_t mask = (uint32_t)(((uint64_t)1 << t->index_bits) - 1);
    uint32_t high = t->index_bits >= 32 ? 0 : randombytes_random() << t->index_bits;
    return high | (low & mask);
}

/* The session a receiver index names, or NULL; *peer and *slot say where it lives. */
static struct dp_link_session *lookup(struct dp_link_table *t, uint32_t index, uint32_t *peer,
                                      int *slot)
{
    uint32_t mask = (uint32_t)(((uint64_t)1 << t->index_bits) - 1);
    uint32_t g = (index ^ t->index_xor) & mask;
    if (g / DP_LINK_SLOTS >= t->peer_count) {
        return NULL;
    }
    struct dp_link_session *s = &t->peers[g / DP_LINK_SLOTS].slots[g % DP_LINK_SLOTS];
    if (s->state == DP_LINK_SLOT_FREE || s->local_index != index) {
        return NULL;
    }
    *peer = g / DP_LINK_SLOTS;
    *slot = (int)(g % DP_LINK_SLOTS);
    return s;
}

int dp_link_init(struct dp_link_table *t, const struct dp_link_conf *conf)
{
    memset(t, 0, sizeof(*t));
    if (conf->peers_max == 0 || conf->peers_max > DP_LINK_PEERS_MAX) {
        return -EINVAL;
    }
    t->rekey_after_ms = conf->rekey_after_ms ? conf->rekey_after_ms : DP_LINK_REKEY_AFTER_MS;
    t->reject_after_ms = conf->reject_after_ms ? conf->reject_after_ms : DP_LINK_REJECT_AFTER_MS;
    t->rekey_after_messages = conf->rekey_after_messages ? conf->rekey_after_messages
                                                         : DP_LINK_REKEY_AFTER_MESSAGES;
    t->rekey_after_bytes = conf->rekey_after_bytes ? conf->rekey_after_bytes
                                                   : DP_LINK_REKEY_AFTER_BYTES;
    if (t->reject_after_ms <= t->rekey_after_ms) {
        return -EINVAL;
    }
    if (sodium_init() < 0) {
        return -ENOSYS;
    }
    int rc = dp_hs_static_init(&t->own, conf->ed_sk);
    if (rc != 0) {
        return rc;
    }
    memcpy(t->own_ed_pk, conf->ed_sk + 32, 32);
    dp_cookie_checker_init(&t->checker, t->own.pub);
    uint32_t by_static_bits = pow2_bits((uint64_t)conf->peers_max * 2);
    t->peers = dc_alloc(sizeof(*t->peers) * conf->peers_max);
    t->by_static = dc_alloc(sizeof(*t->by_static) << by_static_bits);
    if (t->peers == NULL || t->by_static == NULL) {
        dc_free(t->peers);
        dc_free(t->by_static);
        dp_hs_wipe(t, sizeof(*t));
        return -ENOMEM;
    }
    t->by_static_mask = (1u << by_static_bits) - 1;
    randombytes_buf(t->by_static_key, sizeof(t->by_static_key));
    t->peers_max = conf->peers_max;
    t->index_bits = pow2_bits((uint64_t)conf->peers_max * DP_LINK_SLOTS);
    t->index_xor = randombytes_random();
    t->wall_offset_ms = conf->wall_offset_ms;
    return 0;
}

void dp_link_fini(struct dp_link_table *t)
{
    if (t->peers != NULL) {
        dp_hs_wipe(t->peers, sizeof(*t->peers) * t->peers_max);
    }
    dc_free(t->peers);
    dc_free(t->by_static);
    dp_hs_wipe(t, sizeof(*t));
}

int dp_link_peer_find(const struct dp_link_table *t, const uint8_t ed_pk[32])
{
    for (uint32_t i = 0; i < t->peer_count; i++) {
        if (memcmp(t->peers[i].ed_pk, ed_pk, 32) == 0) {
            return (int)i;
        }
    }
    return DC_ENOTFOUND;
}

static void set_addr(struct dp_link_peer *p, const struct sockaddr *addr, socklen_t len)
{
    if (addr == NULL || len == 0 || len > sizeof(p->addr)) {
        return;
    }
    memcpy(&p->addr, addr, len);
    p->addr_len = len;
}

int dp_link_peer_add(struct dp_link_table *t, const uint8_t ed_pk[32], const struct sockaddr *addr,
                     socklen_t addr_len)
{
    if (t->peer_count == t->peers_max) {
        return DC_EFULL;
    }
    if (memcmp(ed_pk, t->own_ed_pk, 32) == 0 || addr_len > sizeof(struct sockaddr_storage)) {
        return -EINVAL;
    }
    if (dp_link_peer_find(t, ed_pk) >= 0) {
        return DC_EDUPLICATE;
    }
    uint32_t index = t->peer_count;
    struct dp_link_peer *p = &t->peers[index];
    memset(p, 0, sizeof(*p));
    int rc = dp_hs_remote_init(&p->remote, &t->own, ed_pk);
    if (rc != 0) {
        return rc;
    }
    if (find_static(t, p->remote.pub) != NONE) {
        return DC_EDUPLICATE; /* two Ed25519 encodings of one point */
    }
    memcpy(p->ed_pk, ed_pk, 32);
    dp_cookie_maker_init(&p->cookie, p->remote.pub);
    p->hs_slot = NONE;
    p->cur = NONE;
    p->prev = NONE;
    p->next = NONE;
    set_addr(p, addr, addr_len);
    uint32_t i = static_hash(t, p->remote.pub);
    while (t->by_static[i & t->by_static_mask] != 0) {
        i++;
    }
    t->by_static[i & t->by_static_mask] = index + 1;
    t->peer_count++;
    return (int)index;
}

const struct sockaddr *dp_link_peer_addr(const struct dp_link_table *t, uint32_t peer,
                                         socklen_t *len)
{
    DC_ASSERT(peer < t->peer_count);
    *len = t->peers[peer].addr_len;
    return (const struct sockaddr *)&t->peers[peer].addr;
}

void dp_link_set_under_load(struct dp_link_table *t, int under_load)
{
    t->under_load = under_load != 0;
}

/* ---- session slots ---- */

static void release(struct dp_link_peer *p, int slot)
{
    if (slot != NONE) {
        dp_hs_wipe(&p->slots[slot], sizeof(p->slots[slot]));
    }
}

/* A slot no role holds; there are DP_LINK_SLOTS and at most DP_LINK_SLOTS - 1 roles are held
 * whenever one is asked for. */
static int free_slot(const struct dp_link_peer *p)
{
    for (int k = 0; k < DP_LINK_SLOTS; k++) {
        if (k != p->cur && k != p->prev && k != p->next && k != p->hs_slot) {
            DC_ASSERT(p->slots[k].state == DP_LINK_SLOT_FREE);
            return k;
        }
    }
    DC_ASSERT(0 && "every slot is held");
    return NONE;
}

static void session_start(struct dp_link_session *s, const struct dp_hs_keys *keys,
                          uint32_t remote_index, int initiator, uint64_t now_ms)
{
    s->state = DP_LINK_SLOT_LIVE;
    s->initiator = (uint8_t)initiator;
    s->remote_index = remote_index;
    s->birth_ms = now_ms;
    s->send_counter = 0;
    s->send_bytes = 0;
    memcpy(s->send_key, keys->send, sizeof(s->send_key));
    memcpy(s->recv_key, keys->recv, sizeof(s->recv_key));
    dp_replay_init(&s->replay);
}

static int session_expired(const struct dp_link_table *t, const struct dp_link_session *s,
                           uint64_t now_ms)
{
    return age(now_ms, s->birth_ms) >= t->reject_after_ms;
}

static int sealable(const struct dp_link_table *t, const struct dp_link_peer *p, uint64_t now_ms)
{
    if (p->cur == NONE) {
        return 0;
    }
    const struct dp_link_session *s = &p->slots[p->cur];
    return !session_expired(t, s, now_ms) && s->send_counter < DP_LINK_REJECT_AFTER_MESSAGES;
}

/* Our initiation was answered: its slot becomes cur; cur (or an unconfirmed next, which the
 * peer may already be sending on) becomes prev. */
static void rotate_initiator(struct dp_link_peer *p, int slot)
{
    int keep;
    if (p->next != NONE) {
        keep = p->next;
        release(p, p->cur);
    } else {
        keep = p->cur;
    }
    if (p->prev != keep) {
        release(p, p->prev);
    }
    p->prev = keep;
    p->next = NONE;
    p->cur = slot;
    p->hs_slot = NONE;
    dp_hs_wipe(&p->hs, sizeof(p->hs));
}

/* The initiator's first packet on next proved it has the keys: next becomes cur. */
static void rotate_confirmed(struct dp_link_peer *p)
{
    release(p, p->prev);
    p->prev = p->cur;
    p->cur = p->next;
    p->next = NONE;
}

/* ---- sending ---- */

int dp_link_initiate(struct dp_link_table *t, uint32_t peer, uint64_t now_ms, uint8_t *out,
                     size_t out_cap)
{
    DC_ASSERT(peer < t->peer_count);
    if (out_cap < DP_HS_INIT_BYTES) {
        return DC_ETOOBIG;
    }
    struct dp_link_peer *p = &t->peers[peer];
    int slot = p->hs_slot != NONE ? p->hs_slot : free_slot(p);
    struct dp_link_session *s = &p->slots[slot];
    dp_hs_wipe(s, sizeof(*s));
    s->state = DP_LINK_SLOT_HANDSHAKE;
    s->initiator = 1;
    s->local_index = new_index(t, peer, slot);
    s->birth_ms = now_ms;
    p->hs_slot = (int8_t)slot;
    p->hs_started_ms = now_ms;
    /* Strictly increasing within a run, even if two initiations share a millisecond. */
    uint64_t ns = (now_ms + t->wall_offset_ms) * 1000000u;
    if (ns <= p->ts_sent_ns) {
        ns = p->ts_sent_ns + 1;
    }
    p->ts_sent_ns = ns;
    uint8_t ts[DP_HS_TIMESTAMP_BYTES];
    tai64n(ts, ns);
    dp_hs_init_create(&p->hs, &t->own, &p->remote, s->local_index, ts, out);
    dp_cookie_add_macs(&p->cookie, out, DP_HS_INIT_BYTES, now_ms);
    t->stats.init_tx++;
    return DP_HS_INIT_BYTES;
}

static int rekey_due(const struct dp_link_table *t, const struct dp_link_session *s,
                     uint64_t now_ms)
{
    /* The side that did not initiate waits longer, so both rarely start at once. */
    uint64_t slack = (t->reject_after_ms - t->rekey_after_ms) / 2;
    uint64_t after = s->initiator ? t->rekey_after_ms : t->rekey_after_ms + slack;
    return age(now_ms, s->birth_ms) >= after || s->send_counter >= t->rekey_after_messages ||
           s->send_bytes >= t->rekey_after_bytes;
}

int dp_link_want_handshake(const struct dp_link_table *t, uint32_t peer, uint64_t now_ms)
{
    DC_ASSERT(peer < t->peer_count);
    const struct dp_link_peer *p = &t->peers[peer];
    if (p->hs_slot != NONE && age(now_ms, p->hs_started_ms) < DP_LINK_REKEY_TIMEOUT_MS) {
        return 0;
    }
    if (p->next != NONE && age(now_ms, p->slots[p->next].birth_ms) < DP_LINK_REKEY_TIMEOUT_MS) {
        return 0; /* the initiator's first packet is on its way */
    }
    if (!sealable(t, p, now_ms)) {
        return 1;
    }
    return rekey_due(t, &p->slots[p->cur], now_ms);
}

int dp_link_can_seal(const struct dp_link_table *t, uint32_t peer, uint64_t now_ms)
{
    DC_ASSERT(peer < t->peer_count);
    return sealable(t, &t->peers[peer], now_ms);
}

/* Data nonce: four zero bytes, then the counter as in the header (big-endian). */
static void data_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES],
                       const uint8_t *hdr)
{
    memset(nonce, 0, 4);
    memcpy(nonce + 4, hdr + 8, 8);
}

int dp_link_seal(struct dp_link_table *t, uint32_t peer, const uint8_t *plain, size_t len,
                 uint64_t now_ms, uint8_t *out, size_t out_cap)
{
    DC_ASSERT(peer < t->peer_count);
    if (len > DP_LINK_PLAIN_BYTES_MAX || out_cap < len + DP_LINK_DATA_OVERHEAD) {
        return DC_ETOOBIG;
    }
    struct dp_link_peer *p = &t->peers[peer];
    if (!sealable(t, p, now_ms)) {
        return -ENOTCONN;
    }
    struct dp_link_session *s = &p->slots[p->cur];
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    memset(out, 0, 4);
    out[0] = DP_HS_TYPE_DATA;
    dp_hs_put32(out + 4, s->remote_index);
    dp_hs_put64(out + 8, s->send_counter++); /* each counter value seals once */
    data_nonce(nonce, out);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + DP_LINK_DATA_HDR_BYTES, NULL, plain, len, out,
                                              DP_LINK_DATA_HDR_BYTES, NULL, nonce, s->send_key);
    s->send_bytes += len;
    t->stats.data_tx++;
    t->stats.data_tx_bytes += len;
    return (int)(len + DP_LINK_DATA_OVERHEAD);
}

/* ---- receiving ---- */

static int under_load_check(struct dp_link_table *t, const struct sockaddr *src,
                            socklen_t src_len, const uint8_t *in, uint64_t now_ms,
                            uint8_t *out, struct dp_link_result *res)
{
    uint8_t addr[DP_COOKIE_ADDR_BYTES_MAX];
    size_t addr_len = dp_cookie_addr_bytes(src, src_len, addr);
    if (dp_cookie_check_mac2(&t->checker, in, DP_HS_INIT_BYTES, addr, addr_len, now_ms) == 0) {
        return 0;
    }
    /* No Diffie-Hellman for this one: the cookie costs a hash and an XChaCha20 block. */
    dp_cookie_reply_create(&t->checker, out, dp_hs_get32(in + DP_HS_INIT_SENDER_OFF),
                           in + DP_HS_INIT_MAC1_OFF, addr, addr_len, now_ms);
    res->action = DP_LINK_REPLY;
    res->len = DP_COOKIE_REPLY_BYTES;
    t->stats.cookie_tx++;
    return DC_ECOOKIE;
}

static int handle_init(struct dp_link_table *t, const struct sockaddr *src, socklen_t src_len,
                       const uint8_t *in, uint64_t now_ms, uint8_t *out,
                       struct dp_link_result *res)
{
    int rc = dp_cookie_check_mac1(&t->checker, in, DP_HS_INIT_MAC1_OFF);
    if (rc != 0) {
        return rc;
    }
    if (t->under_load && (rc = under_load_check(t, src, src_len, in, now_ms, out, res)) != 0) {
        return rc;
    }
    struct dp_hs_state st;
    uint8_t ts[DP_HS_TIMESTAMP_BYTES];
    if ((rc = dp_hs_init_open_static(&st, &t->own, in)) != 0) {
        goto out;
    }
    int peer = find_static(t, st.s_remote);
    if (peer == NONE) {
        rc = DC_EMEMBER;
        goto out;
    }
    struct dp_link_peer *p = &t->peers[peer];
    if ((rc = dp_hs_init_open_timestamp(&st, &p->remote, in, ts)) != 0) {
        goto out;
    }
    res->peer = peer;
    /* Big-endian seconds then nanoseconds: byte order is time order. */
    if (memcmp(ts, p->ts_recv, sizeof(ts)) <= 0) {
        rc = DC_ESTALE;
        goto out;
    }
    memcpy(p->ts_recv, ts, sizeof(ts));
    int slot = p->next != NONE ? p->next : free_slot(p);
    struct dp_link_session *s = &p->slots[slot];
    struct dp_hs_keys keys;
    dp_hs_wipe(s, sizeof(*s));
    s->local_index = new_index(t, (uint32_t)peer, slot);
    dp_hs_resp_create(&st, s->local_index, dp_hs_get32(in + DP_HS_INIT_SENDER_OFF), out, &keys);
    dp_cookie_add_mac1(&p->cookie, out, DP_HS_RESP_BYTES);
    session_start(s, &keys, dp_hs_get32(in + DP_HS_INIT_SENDER_OFF), 0, now_ms);
    dp_hs_wipe(&keys, sizeof(keys));
    p->next = (int8_t)slot;
    set_addr(p, src, src_len);
    res->action = DP_LINK_REPLY;
    res->len = DP_HS_RESP_BYTES;
    t->stats.init_rx++;
out:
    dp_hs_wipe(&st, sizeof(st));
    return rc;
}

static int handle_resp(struct dp_link_table *t, const struct sockaddr *src, socklen_t src_len,
                       const uint8_t *in, uint64_t now_ms, uint8_t *out, size_t out_cap,
                       struct dp_link_result *res)
{
    int rc = dp_cookie_check_mac1(&t->checker, in, DP_HS_RESP_MAC1_OFF);
    if (rc != 0) {
        return rc;
    }
    uint32_t peer;
    int slot;
    struct dp_link_session *s = lookup(t, dp_hs_get32(in + DP_HS_RESP_RECEIVER_OFF), &peer, &slot);
    if (s == NULL || s->state != DP_LINK_SLOT_HANDSHAKE) {
        return DC_ENOTFOUND;
    }
    struct dp_link_peer *p = &t->peers[peer];
    DC_ASSERT(slot == p->hs_slot);
    res->peer = (int)peer;
    if (age(now_ms, p->hs_started_ms) >= t->reject_after_ms) {
        return DC_EEXPIRED;
    }
    struct dp_hs_keys keys;
    if ((rc = dp_hs_resp_open(&p->hs, &t->own, in, &keys)) != 0) {
        return rc;
    }
    session_start(s, &keys, dp_hs_get32(in + DP_HS_RESP_SENDER_OFF), 1, now_ms);
    dp_hs_wipe(&keys, sizeof(keys));
    rotate_initiator(p, slot);
    set_addr(p, src, src_len);
    t->stats.resp_rx++;
    /* The keepalive is the responder's proof that we hold the keys: it may then seal. */
    int n = dp_link_seal(t, peer, NULL, 0, now_ms, out, out_cap);
    DC_ASSERT(n == DP_LINK_DATA_OVERHEAD);
    res->action = DP_LINK_REPLY;
    res->len = (size_t)n;
    res->session_new = 1;
    return 0;
}

static int handle_cookie(struct dp_link_table *t, const uint8_t *in, uint64_t now_ms,
                         struct dp_link_result *res)
{
    uint32_t peer;
    int slot;
    struct dp_link_session *s = lookup(t, dp_hs_get32(in + 4), &peer, &slot);
    if (s == NULL || s->state != DP_LINK_SLOT_HANDSHAKE) {
        return DC_ENOTFOUND;
    }
    res->peer = (int)peer;
    int rc = dp_cookie_reply_consume(&t->peers[peer].cookie, in, now_ms);
    if (rc == DC_ENOTFOUND) {
        return DC_ENOTFOUND; /* this initiation's reply was taken already */
    }
    if (rc != 0) {
        return rc;
    }
    res->retry = 1;
    t->stats.cookie_rx++;
    return 0;
}

static int handle_data(struct dp_link_table *t, const struct sockaddr *src, socklen_t src_len,
                       const uint8_t *in, size_t in_len, uint64_t now_ms, uint8_t *out,
                       size_t out_cap, struct dp_link_result *res)
{
    uint32_t peer;
    int slot;
    struct dp_link_session *s = lookup(t, dp_hs_get32(in + 4), &peer, &slot);
    if (s == NULL || s->state != DP_LINK_SLOT_LIVE) {
        return DC_ENOTFOUND;
    }
    res->peer = (int)peer;
    if (session_expired(t, s, now_ms)) {
        return DC_EEXPIRED;
    }
    uint64_t counter = dp_hs_get64(in + 8);
    if (counter >= DP_LINK_REJECT_AFTER_MESSAGES) {
        return DC_EWINDOW; /* no sender uses these: they are past every window */
    }
    int rc = dp_replay_check(&s->replay, counter);
    if (rc != 0) {
        return rc;
    }
    size_t plain_len = in_len - DP_LINK_DATA_OVERHEAD;
    if (plain_len > out_cap) {
        return DC_ETOOBIG;
    }
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    data_nonce(nonce, in);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in + DP_LINK_DATA_HDR_BYTES,
                                                  in_len - DP_LINK_DATA_HDR_BYTES, in,
                                                  DP_LINK_DATA_HDR_BYTES, nonce,
                                                  s->recv_key) != 0) {
        return DC_EAUTH;
    }
    /* Only an authentic packet moves the window, confirms a session or moves the peer. */
    dp_replay_commit(&s->replay, counter);
    struct dp_link_peer *p = &t->peers[peer];
    if (slot == p->next) {
        rotate_confirmed(p);
        res->session_new = 1;
    }
    set_addr(p, src, src_len);
    res->action = plain_len > 0 ? DP_LINK_DELIVER : DP_LINK_NONE;
    res->len = plain_len;
    t->stats.data_rx++;
    t->stats.data_rx_bytes += plain_len;
    return 0;
}

/* Length and reserved bytes by type: everything after this reads inside checked bounds. */
static int well_formed(const uint8_t *in, size_t in_len)
{
    if (in_len < 4 || in[1] != 0 || in[2] != 0 || in[3] != 0) {
        return 0;
    }
    switch (in[0]) {
    case DP_HS_TYPE_INIT:
        return in_len == DP_HS_INIT_BYTES;
    case DP_HS_TYPE_RESP:
        return in_len == DP_HS_RESP_BYTES;
    case DP_HS_TYPE_COOKIE:
        return in_len == DP_COOKIE_REPLY_BYTES;
    case DP_HS_TYPE_DATA:
        return in_len >= DP_LINK_DATA_OVERHEAD && in_len <= DP_LINK_PACKET_BYTES_MAX;
    default:
        return 0;
    }
}

int dp_link_handle(struct dp_link_table *t, const struct sockaddr *src, socklen_t src_len,
                   const uint8_t *in, size_t in_len, uint64_t now_ms, uint8_t *out,
                   size_t out_cap, struct dp_link_result *res)
{
    DC_ASSERT(out_cap >= DP_LINK_REPLY_BYTES_MAX);
    *res = (struct dp_link_result){ .action = DP_LINK_NONE, .peer = NONE };
    int rc;
    if (!well_formed(in, in_len)) {
        rc = DC_EMALFORMED;
    } else if (in[0] == DP_HS_TYPE_INIT) {
        rc = handle_init(t, src, src_len, in, now_ms, out, res);
    } else if (in[0] == DP_HS_TYPE_RESP) {
        rc = handle_resp(t, src, src_len, in, now_ms, out, out_cap, res);
    } else if (in[0] == DP_HS_TYPE_COOKIE) {
        rc = handle_cookie(t, in, now_ms, res);
    } else {
        rc = handle_data(t, src, src_len, in, in_len, now_ms, out, out_cap, res);
    }
    if (rc != 0) {
        enum dp_link_drop drop = dp_link_drop_of(rc);
        DC_ASSERT(drop < DP_LINK_DROP_COUNT);
        t->stats.drop[drop]++;
        DC_ASSERT(res->action == DP_LINK_NONE || rc == DC_ECOOKIE);
        res->len = res->action == DP_LINK_NONE ? 0 : res->len;
    }
    return rc;
}
