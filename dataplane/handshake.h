/*
 * handshake: the Noise IK handshake of a peer link (docs/PROTOCOL.md, "Peer links").
 *
 * Each node's static X25519 key is derived from its Ed25519 identity, so the initiator knows
 * the responder's static key from its node record. Message 1 (initiation) carries the
 * initiator's ephemeral key, its static key and a timestamp, both encrypted; message 2
 * (response) the responder's ephemeral key and an empty encrypted payload. Both sides then
 * hold two directional ChaCha20-Poly1305 keys. BLAKE2b-256 is the hash, and the KDF is HKDF
 * with keyed BLAKE2b-256 in place of HMAC.
 *
 * This file does only the cryptography over fixed-size messages: indices, MACs, peers and
 * timestamps policy belong to link.c and cookie.c. Pure functions over caller memory, except
 * that new ephemeral keys come from libsodium's randombytes. Any thread; nothing allocates.
 */
#ifndef DP_HANDSHAKE_H
#define DP_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

/* Byte 0 of every link packet. A v1 frame starts with 0x64 ('d'), never one of these. */
enum dp_hs_type {
    DP_HS_TYPE_INIT = 0x81,
    DP_HS_TYPE_RESP = 0x82,
    DP_HS_TYPE_COOKIE = 0x83,
    DP_HS_TYPE_DATA = 0x84,
};

#define DP_HS_KEY_BYTES 32
#define DP_HS_HASH_BYTES 32
#define DP_HS_TAG_BYTES 16
#define DP_HS_TIMESTAMP_BYTES 12

/* Initiation: type, 3 reserved, sender index, ephemeral, static+tag, timestamp+tag, macs. */
#define DP_HS_INIT_SENDER_OFF 4
#define DP_HS_INIT_EPHEMERAL_OFF 8
#define DP_HS_INIT_STATIC_OFF 40
#define DP_HS_INIT_TIMESTAMP_OFF 88
#define DP_HS_INIT_MAC1_OFF 116
#define DP_HS_INIT_MAC2_OFF 132
#define DP_HS_INIT_BYTES 148
/* Response: type, 3 reserved, sender index, receiver index, ephemeral, empty+tag, mac1. */
#define DP_HS_RESP_SENDER_OFF 4
#define DP_HS_RESP_RECEIVER_OFF 8
#define DP_HS_RESP_EPHEMERAL_OFF 12
#define DP_HS_RESP_EMPTY_OFF 44
#define DP_HS_RESP_MAC1_OFF 60
#define DP_HS_RESP_BYTES 76

_Static_assert(DP_HS_INIT_STATIC_OFF == DP_HS_INIT_EPHEMERAL_OFF + DP_HS_KEY_BYTES, "layout");
_Static_assert(DP_HS_INIT_TIMESTAMP_OFF == DP_HS_INIT_STATIC_OFF + 32 + DP_HS_TAG_BYTES,
               "layout");
_Static_assert(DP_HS_INIT_MAC1_OFF == DP_HS_INIT_TIMESTAMP_OFF + 12 + DP_HS_TAG_BYTES, "layout");
_Static_assert(DP_HS_INIT_BYTES == DP_HS_INIT_MAC2_OFF + 16, "layout");
_Static_assert(DP_HS_RESP_MAC1_OFF == DP_HS_RESP_EMPTY_OFF + DP_HS_TAG_BYTES, "layout");
_Static_assert(DP_HS_RESP_BYTES == DP_HS_RESP_MAC1_OFF + 16, "layout");

/* This node's static key pair, derived from its Ed25519 identity. */
struct dp_hs_static {
    uint8_t priv[DP_HS_KEY_BYTES];
    uint8_t pub[DP_HS_KEY_BYTES];
    uint8_t h_resp[DP_HS_HASH_BYTES]; /* HASH(H0 || pub): where a responder's hash starts */
};

/* What one node keeps about a peer's static key; computed once at peer_add. */
struct dp_hs_remote {
    uint8_t pub[DP_HS_KEY_BYTES];
    uint8_t ss[DP_HS_KEY_BYTES];      /* DH(own static, peer static) */
    uint8_t h_init[DP_HS_HASH_BYTES]; /* HASH(H0 || peer pub): where an initiator's starts */
};

/* A handshake in progress: the initiator's after message 1, the responder's between steps. */
struct dp_hs_state {
    uint8_t ck[DP_HS_HASH_BYTES];
    uint8_t h[DP_HS_HASH_BYTES];
    uint8_t e_priv[DP_HS_KEY_BYTES];   /* initiator: own ephemeral */
    uint8_t e_remote[DP_HS_KEY_BYTES]; /* responder: the initiator's ephemeral */
    uint8_t s_remote[DP_HS_KEY_BYTES]; /* responder: the initiator's static */
};

struct dp_hs_keys {
    uint8_t send[DP_HS_KEY_BYTES];
    uint8_t recv[DP_HS_KEY_BYTES];
};

static inline void dp_hs_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t dp_hs_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void dp_hs_put64(uint8_t *p, uint64_t v)
{
    dp_hs_put32(p, (uint32_t)(v >> 32));
    dp_hs_put32(p + 4, (uint32_t)v);
}

static inline uint64_t dp_hs_get64(const uint8_t *p)
{
    return (uint64_t)dp_hs_get32(p) << 32 | dp_hs_get32(p + 4);
}

/* From libsodium's 64-byte Ed25519 secret key. 0, or DC_EMALFORMED. */
int dp_hs_static_init(struct dp_hs_static *s, const uint8_t ed_sk[64]);
/* From a peer's Ed25519 public key. 0, or DC_EMALFORMED (not a usable curve point). */
int dp_hs_remote_init(struct dp_hs_remote *r, const struct dp_hs_static *own,
                      const uint8_t ed_pk[32]);
void dp_hs_wipe(void *p, size_t len);

/*
 * Initiator, message 1: fills msg[0 .. DP_HS_INIT_MAC1_OFF) (type, sender index, ephemeral,
 * encrypted static and timestamp) and `st`; the caller adds the MACs.
 */
void dp_hs_init_create(struct dp_hs_state *st, const struct dp_hs_static *own,
                       const struct dp_hs_remote *peer, uint32_t sender_index,
                       const uint8_t timestamp[DP_HS_TIMESTAMP_BYTES],
                       uint8_t msg[DP_HS_INIT_BYTES]);
/*
 * Responder, message 1, step one: decrypts the initiator's static key into st->s_remote.
 * 0 or DC_EAUTH. The caller then finds the peer that has this key.
 */
int dp_hs_init_open_static(struct dp_hs_state *st, const struct dp_hs_static *own,
                           const uint8_t msg[DP_HS_INIT_BYTES]);
/* Step two, with that peer: decrypts the timestamp. 0 or DC_EAUTH. */
int dp_hs_init_open_timestamp(struct dp_hs_state *st, const struct dp_hs_remote *peer,
                              const uint8_t msg[DP_HS_INIT_BYTES],
                              uint8_t timestamp[DP_HS_TIMESTAMP_BYTES]);
/*
 * Responder, message 2: fills msg[0 .. DP_HS_RESP_MAC1_OFF) and the session keys. Wipes `st`.
 */
void dp_hs_resp_create(struct dp_hs_state *st, uint32_t sender_index, uint32_t receiver_index,
                       uint8_t msg[DP_HS_RESP_BYTES], struct dp_hs_keys *keys);
/*
 * Initiator, message 2: checks the response against the pending `st` (left unchanged, so a
 * forged response does not cancel the handshake) and derives the keys. 0 or DC_EAUTH.
 */
int dp_hs_resp_open(const struct dp_hs_state *st, const struct dp_hs_static *own,
                    const uint8_t msg[DP_HS_RESP_BYTES], struct dp_hs_keys *keys);

#endif
