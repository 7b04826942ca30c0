#include "dataplane/cookie.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "dataplane/handshake.h"

#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

static const char label_mac1[8] = "mac1----";
static const char label_cookie[8] = "cookie--";

static void labelled_key(uint8_t key[DP_COOKIE_KEY_BYTES], const char label[8],
                         const uint8_t pub[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, DP_COOKIE_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)label, 8);
    crypto_generichash_update(&st, pub, 32);
    crypto_generichash_final(&st, key, DP_COOKIE_KEY_BYTES);
}

/* BLAKE2b-128 keyed with `key` (16 or 32 bytes). */
static void mac(uint8_t out[DP_COOKIE_MAC_BYTES], const uint8_t *key, size_t key_len,
                const uint8_t *in, size_t in_len)
{
    crypto_generichash(out, DP_COOKIE_MAC_BYTES, in, in_len, key, key_len);
}

void dp_cookie_checker_init(struct dp_cookie_checker *c, const uint8_t own_pub[32])
{
    memset(c, 0, sizeof(*c));
    labelled_key(c->mac1_key, label_mac1, own_pub);
    labelled_key(c->reply_key, label_cookie, own_pub);
}

void dp_cookie_maker_init(struct dp_cookie_maker *m, const uint8_t peer_pub[32])
{
    memset(m, 0, sizeof(*m));
    labelled_key(m->mac1_key, label_mac1, peer_pub);
    labelled_key(m->reply_key, label_cookie, peer_pub);
}

void dp_cookie_checker_fini(struct dp_cookie_checker *c)
{
    sodium_memzero(c, sizeof(*c));
}

void dp_cookie_maker_fini(struct dp_cookie_maker *m)
{
    sodium_memzero(m, sizeof(*m));
}

void dp_cookie_add_macs(struct dp_cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ms)
{
    DC_ASSERT(len >= 2 * DP_COOKIE_MAC_BYTES);
    size_t mac1_off = len - 2 * DP_COOKIE_MAC_BYTES;
    size_t mac2_off = len - DP_COOKIE_MAC_BYTES;
    mac(msg + mac1_off, m->mac1_key, sizeof(m->mac1_key), msg, mac1_off);
    memcpy(m->last_mac1, msg + mac1_off, DP_COOKIE_MAC_BYTES);
    m->last_mac1_valid = 1;
    int fresh = m->cookie_valid && now_ms >= m->cookie_birth_ms &&
                now_ms - m->cookie_birth_ms < DP_COOKIE_SECRET_AGE_MS - DP_COOKIE_LATENCY_MS;
    if (fresh) {
        mac(msg + mac2_off, m->cookie, sizeof(m->cookie), msg, mac2_off);
    } else {
        memset(msg + mac2_off, 0, DP_COOKIE_MAC_BYTES);
    }
}

void dp_cookie_add_mac1(const struct dp_cookie_maker *m, uint8_t *msg, size_t len)
{
    DC_ASSERT(len >= DP_COOKIE_MAC_BYTES);
    size_t mac1_off = len - DP_COOKIE_MAC_BYTES;
    mac(msg + mac1_off, m->mac1_key, sizeof(m->mac1_key), msg, mac1_off);
}

int dp_cookie_check_mac1(const struct dp_cookie_checker *c, const uint8_t *msg,
                         size_t mac1_off)
{
    uint8_t want[DP_COOKIE_MAC_BYTES];
    mac(want, c->mac1_key, sizeof(c->mac1_key), msg, mac1_off);
    return sodium_memcmp(want, msg + mac1_off, sizeof(want)) == 0 ? 0 : DC_EMAC;
}

static void cookie_of(struct dp_cookie_checker *c, uint8_t out[DP_COOKIE_BYTES],
                      const uint8_t *addr, size_t addr_len, uint64_t now_ms)
{
    int old = now_ms < c->secret_birth_ms || now_ms - c->secret_birth_ms >= DP_COOKIE_SECRET_AGE_MS;
    if (!c->secret_valid || old) {
        randombytes_buf(c->secret, sizeof(c->secret));
        c->secret_birth_ms = now_ms;
        c->secret_valid = 1;
    }
    mac(out, c->secret, sizeof(c->secret), addr, addr_len);
}

int dp_cookie_check_mac2(struct dp_cookie_checker *c, const uint8_t *msg, size_t len,
                         const uint8_t *addr, size_t addr_len, uint64_t now_ms)
{
    DC_ASSERT(len >= DP_COOKIE_MAC_BYTES);
    uint8_t cookie[DP_COOKIE_BYTES];
    uint8_t want[DP_COOKIE_MAC_BYTES];
    size_t mac2_off = len - DP_COOKIE_MAC_BYTES;
    cookie_of(c, cookie, addr, addr_len, now_ms);
    mac(want, cookie, sizeof(cookie), msg, mac2_off);
    return sodium_memcmp(want, msg + mac2_off, sizeof(want)) == 0 ? 0 : DC_ECOOKIE;
}

void dp_cookie_reply_create(struct dp_cookie_checker *c, uint8_t out[DP_COOKIE_REPLY_BYTES],
                            uint32_t receiver_index, const uint8_t mac1[DP_COOKIE_MAC_BYTES],
                            const uint8_t *addr, size_t addr_len, uint64_t now_ms)
{
    uint8_t cookie[DP_COOKIE_BYTES];
    cookie_of(c, cookie, addr, addr_len, now_ms);
    memset(out, 0, 8);
    out[0] = DP_HS_TYPE_COOKIE;
    dp_hs_put32(out + 4, receiver_index);
    uint8_t *nonce = out + 8;
    randombytes_buf(nonce, DP_COOKIE_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 8 + DP_COOKIE_NONCE_BYTES, NULL, cookie,
                                               sizeof(cookie), mac1, DP_COOKIE_MAC_BYTES, NULL,
                                               nonce, c->reply_key);
}

int dp_cookie_reply_consume(struct dp_cookie_maker *m, const uint8_t msg[DP_COOKIE_REPLY_BYTES],
                            uint64_t now_ms)
{
    if (!m->last_mac1_valid) {
        return DC_ENOTFOUND;
    }
    uint8_t cookie[DP_COOKIE_BYTES];
    const uint8_t *nonce = msg + 8;
    const uint8_t *box = nonce + DP_COOKIE_NONCE_BYTES;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, NULL, NULL, box,
                                                   DP_COOKIE_REPLY_BYTES - 8 -
                                                       DP_COOKIE_NONCE_BYTES,
                                                   m->last_mac1, DP_COOKIE_MAC_BYTES, nonce,
                                                   m->reply_key) != 0) {
        return DC_EAUTH;
    }
    memcpy(m->cookie, cookie, sizeof(cookie));
    m->cookie_birth_ms = now_ms;
    m->cookie_valid = 1;
    /* One reply per initiation: a second copy of it could only refresh the cookie's age. */
    m->last_mac1_valid = 0;
    return 0;
}

size_t dp_cookie_addr_bytes(const struct sockaddr *sa, socklen_t sa_len,
                            uint8_t out[DP_COOKIE_ADDR_BYTES_MAX])
{
    if (sa->sa_family == AF_INET && sa_len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(out, &in->sin_addr, 4);
        memcpy(out + 4, &in->sin_port, 2);
        return 6;
    }
    if (sa->sa_family == AF_INET6 && sa_len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(out, &in6->sin6_addr, 16);
        memcpy(out + 16, &in6->sin6_port, 2);
        return 18;
    }
    size_t n = sa_len < DP_COOKIE_ADDR_BYTES_MAX ? sa_len : DP_COOKIE_ADDR_BYTES_MAX;
    memcpy(out, sa, n);
    return n;
}
