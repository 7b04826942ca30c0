#include "dataplane/handshake.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <sodium.h>
#include <string.h>

/* Not Noise's BLAKE2b (HASHLEN 64, HMAC): the name says so, so no one mistakes the two. */
static const char construction[] = "Noise_IK_25519_ChaChaPoly_BLAKE2b256-keyed";
static const char identifier[] = "dchat link v1";

_Static_assert(DP_HS_KEY_BYTES == crypto_aead_chacha20poly1305_ietf_KEYBYTES, "AEAD key");
_Static_assert(DP_HS_TAG_BYTES == crypto_aead_chacha20poly1305_ietf_ABYTES, "AEAD tag");
_Static_assert(DP_HS_KEY_BYTES == crypto_scalarmult_BYTES, "X25519");

/* HASH(a || b), BLAKE2b-256. */
static void hash2(uint8_t out[DP_HS_HASH_BYTES], const uint8_t *a, size_t a_len,
                  const uint8_t *b, size_t b_len)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, DP_HS_HASH_BYTES);
    crypto_generichash_update(&st, a, a_len);
    crypto_generichash_update(&st, b, b_len);
    crypto_generichash_final(&st, out, DP_HS_HASH_BYTES);
}

/* PRF(key, a || b): BLAKE2b-256 keyed with the 32-byte key. */
static void prf(uint8_t out[DP_HS_HASH_BYTES], const uint8_t key[DP_HS_HASH_BYTES],
                const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, DP_HS_HASH_BYTES, DP_HS_HASH_BYTES);
    crypto_generichash_update(&st, a, a_len);
    crypto_generichash_update(&st, b, b_len);
    crypto_generichash_final(&st, out, DP_HS_HASH_BYTES);
}

/*
 * HKDF over PRF: t0 = PRF(ck, input), t1 = PRF(t0, 0x01), t2 = PRF(t0, t1 || 0x02).
 * out1 becomes the new chaining key; out2 (may be NULL) the message key.
 */
static void kdf(uint8_t out1[DP_HS_HASH_BYTES], uint8_t *out2, const uint8_t ck[DP_HS_HASH_BYTES],
                const uint8_t *input, size_t input_len)
{
    uint8_t t0[DP_HS_HASH_BYTES];
    uint8_t t1[DP_HS_HASH_BYTES];
    const uint8_t one = 1;
    const uint8_t two = 2;
    prf(t0, ck, input, input_len, NULL, 0);
    prf(t1, t0, &one, 1, NULL, 0);
    if (out2 != NULL) {
        prf(out2, t0, t1, sizeof(t1), &two, 1);
    }
    memcpy(out1, t1, sizeof(t1));
    sodium_memzero(t0, sizeof(t0));
    sodium_memzero(t1, sizeof(t1));
}

/* The handshake AEAD: ChaCha20-Poly1305 IETF, nonce zero (every key encrypts once). */
static void seal(uint8_t *out, const uint8_t *in, size_t len, const uint8_t key[32],
                 const uint8_t h[DP_HS_HASH_BYTES])
{
    static const uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, len, h, DP_HS_HASH_BYTES, NULL,
                                              nonce, key);
}

static int open_(uint8_t *out, const uint8_t *in, size_t len, const uint8_t key[32],
                 const uint8_t h[DP_HS_HASH_BYTES])
{
    static const uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    int rc = crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, len, h,
                                                       DP_HS_HASH_BYTES, nonce, key);
    return rc == 0 ? 0 : DC_EAUTH;
}

static void mix_hash(uint8_t h[DP_HS_HASH_BYTES], const uint8_t *in, size_t len)
{
    hash2(h, h, DP_HS_HASH_BYTES, in, len);
}

static void initial(uint8_t ck[DP_HS_HASH_BYTES], uint8_t h0[DP_HS_HASH_BYTES])
{
    crypto_generichash(ck, DP_HS_HASH_BYTES, (const uint8_t *)construction,
                       sizeof(construction) - 1, NULL, 0);
    hash2(h0, ck, DP_HS_HASH_BYTES, (const uint8_t *)identifier, sizeof(identifier) - 1);
}

void dp_hs_wipe(void *p, size_t len)
{
    sodium_memzero(p, len);
}

int dp_hs_static_init(struct dp_hs_static *s, const uint8_t ed_sk[64])
{
    uint8_t ck[DP_HS_HASH_BYTES];
    uint8_t h0[DP_HS_HASH_BYTES];
    if (crypto_sign_ed25519_sk_to_curve25519(s->priv, ed_sk) != 0 ||
        crypto_scalarmult_base(s->pub, s->priv) != 0) {
        return DC_EMALFORMED;
    }
    initial(ck, h0);
    hash2(s->h_resp, h0, sizeof(h0), s->pub, sizeof(s->pub));
    return 0;
}

int dp_hs_remote_init(struct dp_hs_remote *r, const struct dp_hs_static *own,
                      const uint8_t ed_pk[32])
{
    uint8_t ck[DP_HS_HASH_BYTES];
    uint8_t h0[DP_HS_HASH_BYTES];
    memset(r, 0, sizeof(*r));
    if (crypto_sign_ed25519_pk_to_curve25519(r->pub, ed_pk) != 0) {
        return DC_EMALFORMED;
    }
    /* Fails for a low-order point: such a key would make every DH with it public. */
    if (crypto_scalarmult(r->ss, own->priv, r->pub) != 0) {
        return DC_EMALFORMED;
    }
    initial(ck, h0);
    hash2(r->h_init, h0, sizeof(h0), r->pub, sizeof(r->pub));
    return 0;
}

static void ephemeral(uint8_t priv[DP_HS_KEY_BYTES], uint8_t pub[DP_HS_KEY_BYTES])
{
    randombytes_buf(priv, DP_HS_KEY_BYTES);
    DC_ASSERT(crypto_scalarmult_base(pub, priv) == 0);
}

void dp_hs_init_create(struct dp_hs_state *st, const struct dp_hs_static *own,
                       const struct dp_hs_remote *peer, uint32_t sender_index,
                       const uint8_t timestamp[DP_HS_TIMESTAMP_BYTES],
                       uint8_t msg[DP_HS_INIT_BYTES])
{
    uint8_t h0[DP_HS_HASH_BYTES];
    uint8_t key[DP_HS_KEY_BYTES];
    uint8_t dh[DP_HS_KEY_BYTES];
    uint8_t *e_pub = msg + DP_HS_INIT_EPHEMERAL_OFF;
    memset(msg, 0, DP_HS_INIT_BYTES);
    msg[0] = DP_HS_TYPE_INIT;
    dp_hs_put32(msg + DP_HS_INIT_SENDER_OFF, sender_index);
    initial(st->ck, h0);
    memcpy(st->h, peer->h_init, DP_HS_HASH_BYTES);
    /* e */
    ephemeral(st->e_priv, e_pub);
    mix_hash(st->h, e_pub, DP_HS_KEY_BYTES);
    kdf(st->ck, NULL, st->ck, e_pub, DP_HS_KEY_BYTES);
    /* es; peer->pub passed remote_init's low-order check, so this cannot fail */
    DC_ASSERT(crypto_scalarmult(dh, st->e_priv, peer->pub) == 0);
    kdf(st->ck, key, st->ck, dh, sizeof(dh));
    /* s */
    seal(msg + DP_HS_INIT_STATIC_OFF, own->pub, DP_HS_KEY_BYTES, key, st->h);
    mix_hash(st->h, msg + DP_HS_INIT_STATIC_OFF, DP_HS_KEY_BYTES + DP_HS_TAG_BYTES);
    /* ss, precomputed */
    kdf(st->ck, key, st->ck, peer->ss, sizeof(peer->ss));
    seal(msg + DP_HS_INIT_TIMESTAMP_OFF, timestamp, DP_HS_TIMESTAMP_BYTES, key, st->h);
    mix_hash(st->h, msg + DP_HS_INIT_TIMESTAMP_OFF, DP_HS_TIMESTAMP_BYTES + DP_HS_TAG_BYTES);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(dh, sizeof(dh));
}

int dp_hs_init_open_static(struct dp_hs_state *st, const struct dp_hs_static *own,
                           const uint8_t msg[DP_HS_INIT_BYTES])
{
    uint8_t h0[DP_HS_HASH_BYTES];
    uint8_t key[DP_HS_KEY_BYTES];
    uint8_t dh[DP_HS_KEY_BYTES];
    const uint8_t *e_pub = msg + DP_HS_INIT_EPHEMERAL_OFF;
    initial(st->ck, h0);
    memcpy(st->h, own->h_resp, DP_HS_HASH_BYTES);
    memcpy(st->e_remote, e_pub, DP_HS_KEY_BYTES);
    mix_hash(st->h, e_pub, DP_HS_KEY_BYTES);
    kdf(st->ck, NULL, st->ck, e_pub, DP_HS_KEY_BYTES);
    if (crypto_scalarmult(dh, own->priv, e_pub) != 0) {
        return DC_EAUTH; /* a low-order ephemeral */
    }
    kdf(st->ck, key, st->ck, dh, sizeof(dh));
    sodium_memzero(dh, sizeof(dh));
    int rc = open_(st->s_remote, msg + DP_HS_INIT_STATIC_OFF, DP_HS_KEY_BYTES + DP_HS_TAG_BYTES,
                   key, st->h);
    sodium_memzero(key, sizeof(key));
    if (rc != 0) {
        return rc;
    }
    mix_hash(st->h, msg + DP_HS_INIT_STATIC_OFF, DP_HS_KEY_BYTES + DP_HS_TAG_BYTES);
    return 0;
}

int dp_hs_init_open_timestamp(struct dp_hs_state *st, const struct dp_hs_remote *peer,
                              const uint8_t msg[DP_HS_INIT_BYTES],
                              uint8_t timestamp[DP_HS_TIMESTAMP_BYTES])
{
    uint8_t key[DP_HS_KEY_BYTES];
    DC_ASSERT(memcmp(peer->pub, st->s_remote, DP_HS_KEY_BYTES) == 0);
    kdf(st->ck, key, st->ck, peer->ss, sizeof(peer->ss));
    int rc = open_(timestamp, msg + DP_HS_INIT_TIMESTAMP_OFF,
                   DP_HS_TIMESTAMP_BYTES + DP_HS_TAG_BYTES, key, st->h);
    sodium_memzero(key, sizeof(key));
    if (rc != 0) {
        return rc;
    }
    mix_hash(st->h, msg + DP_HS_INIT_TIMESTAMP_OFF, DP_HS_TIMESTAMP_BYTES + DP_HS_TAG_BYTES);
    return 0;
}

void dp_hs_resp_create(struct dp_hs_state *st, uint32_t sender_index, uint32_t receiver_index,
                       uint8_t msg[DP_HS_RESP_BYTES], struct dp_hs_keys *keys)
{
    uint8_t e_priv[DP_HS_KEY_BYTES];
    uint8_t key[DP_HS_KEY_BYTES];
    uint8_t dh[DP_HS_KEY_BYTES];
    uint8_t *e_pub = msg + DP_HS_RESP_EPHEMERAL_OFF;
    memset(msg, 0, DP_HS_RESP_BYTES);
    msg[0] = DP_HS_TYPE_RESP;
    dp_hs_put32(msg + DP_HS_RESP_SENDER_OFF, sender_index);
    dp_hs_put32(msg + DP_HS_RESP_RECEIVER_OFF, receiver_index);
    /* e */
    ephemeral(e_priv, e_pub);
    mix_hash(st->h, e_pub, DP_HS_KEY_BYTES);
    kdf(st->ck, NULL, st->ck, e_pub, DP_HS_KEY_BYTES);
    /* ee: the initiator's ephemeral already gave a non-zero DH with our static */
    DC_ASSERT(crypto_scalarmult(dh, e_priv, st->e_remote) == 0);
    kdf(st->ck, NULL, st->ck, dh, sizeof(dh));
    /* se: the initiator's static is a known peer's, checked at peer_add */
    DC_ASSERT(crypto_scalarmult(dh, e_priv, st->s_remote) == 0);
    kdf(st->ck, key, st->ck, dh, sizeof(dh));
    seal(msg + DP_HS_RESP_EMPTY_OFF, NULL, 0, key, st->h);
    mix_hash(st->h, msg + DP_HS_RESP_EMPTY_OFF, DP_HS_TAG_BYTES);
    kdf(keys->recv, keys->send, st->ck, NULL, 0);
    sodium_memzero(e_priv, sizeof(e_priv));
    sodium_memzero(key, sizeof(key));
    sodium_memzero(dh, sizeof(dh));
    sodium_memzero(st, sizeof(*st));
}

int dp_hs_resp_open(const struct dp_hs_state *st, const struct dp_hs_static *own,
                    const uint8_t msg[DP_HS_RESP_BYTES], struct dp_hs_keys *keys)
{
    uint8_t ck[DP_HS_HASH_BYTES];
    uint8_t h[DP_HS_HASH_BYTES];
    uint8_t key[DP_HS_KEY_BYTES];
    uint8_t dh[DP_HS_KEY_BYTES];
    uint8_t empty[1];
    const uint8_t *e_pub = msg + DP_HS_RESP_EPHEMERAL_OFF;
    int rc = DC_EAUTH;
    memcpy(ck, st->ck, sizeof(ck));
    memcpy(h, st->h, sizeof(h));
    mix_hash(h, e_pub, DP_HS_KEY_BYTES);
    kdf(ck, NULL, ck, e_pub, DP_HS_KEY_BYTES);
    if (crypto_scalarmult(dh, st->e_priv, e_pub) != 0) {
        goto out;
    }
    kdf(ck, NULL, ck, dh, sizeof(dh));
    if (crypto_scalarmult(dh, own->priv, e_pub) != 0) {
        goto out;
    }
    kdf(ck, key, ck, dh, sizeof(dh));
    rc = open_(empty, msg + DP_HS_RESP_EMPTY_OFF, DP_HS_TAG_BYTES, key, h);
    if (rc == 0) {
        kdf(keys->send, keys->recv, ck, NULL, 0);
    }
out:
    sodium_memzero(ck, sizeof(ck));
    sodium_memzero(key, sizeof(key));
    sodium_memzero(dh, sizeof(dh));
    return rc;
}
