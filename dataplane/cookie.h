/*
 * cookie: the MACs on handshake messages and the cookie reply (WireGuard's DoS defence).
 *
 * mac1 = BLAKE2b-128 keyed with HASH("mac1----" || responder's static public key) over the
 * message before mac1. Checking it costs one hash, and only a sender that knows whom it talks
 * to can make it, so the responder's Diffie-Hellman work is never spent on random bytes.
 *
 * mac2 proves the sender receives at its source address: a responder under load answers an
 * initiation without a valid mac2 with a cookie reply instead of doing any Diffie-Hellman.
 * cookie = BLAKE2b-128 keyed with a random secret (replaced every DP_COOKIE_SECRET_AGE_MS)
 * over the source address; it travels encrypted (XChaCha20-Poly1305 under
 * HASH("cookie--" || responder's static public key), the initiation's mac1 as associated
 * data, so only the initiator that sent that initiation can read it), and the initiator
 * puts mac2 = BLAKE2b-128 keyed with the cookie over the message before mac2 on its retries.
 *
 * A checker is the responder's side (one per node), a maker the initiator's (one per peer).
 * Pure functions over caller memory, `now_ms` passed in; randomness from libsodium. One thread.
 */
#ifndef DP_COOKIE_H
#define DP_COOKIE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DP_COOKIE_KEY_BYTES 32
#define DP_COOKIE_MAC_BYTES 16
#define DP_COOKIE_BYTES 16
#define DP_COOKIE_NONCE_BYTES 24
#define DP_COOKIE_SECRET_AGE_MS 120000u
/* An initiator stops using a cookie a little before the responder's secret can rotate. */
#define DP_COOKIE_LATENCY_MS 5000u
#define DP_COOKIE_ADDR_BYTES_MAX 128

/* Cookie reply: type, 3 reserved, receiver index, nonce, encrypted cookie + tag. */
#define DP_COOKIE_REPLY_BYTES (4 + 4 + DP_COOKIE_NONCE_BYTES + DP_COOKIE_BYTES + 16)

struct dp_cookie_checker {
    uint8_t mac1_key[DP_COOKIE_KEY_BYTES];
    uint8_t reply_key[DP_COOKIE_KEY_BYTES];
    uint8_t secret[DP_COOKIE_KEY_BYTES];
    uint64_t secret_birth_ms;
    int secret_valid;
};

struct dp_cookie_maker {
    uint8_t mac1_key[DP_COOKIE_KEY_BYTES];
    uint8_t reply_key[DP_COOKIE_KEY_BYTES];
    uint8_t cookie[DP_COOKIE_BYTES];
    uint64_t cookie_birth_ms;
    int cookie_valid;
    uint8_t last_mac1[DP_COOKIE_MAC_BYTES]; /* of the last initiation sent: the reply's AD */
    int last_mac1_valid;
};

/* Keys for the node whose static X25519 public key is `own_pub`. */
void dp_cookie_checker_init(struct dp_cookie_checker *c, const uint8_t own_pub[32]);
/* Keys for talking to the node whose static X25519 public key is `peer_pub`. */
void dp_cookie_maker_init(struct dp_cookie_maker *m, const uint8_t peer_pub[32]);
void dp_cookie_checker_fini(struct dp_cookie_checker *c);
void dp_cookie_maker_fini(struct dp_cookie_maker *m);

/*
 * Writes mac1 into msg[len-32 .. len-16) and mac2 into msg[len-16 .. len): the cookie's MAC
 * when a cookie younger than DP_COOKIE_SECRET_AGE_MS - DP_COOKIE_LATENCY_MS is held, zeros
 * otherwise. Remembers mac1 for a cookie reply to this message.
 */
void dp_cookie_add_macs(struct dp_cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ms);
/* Writes mac1 only, into msg[len-16 .. len) (handshake responses carry no mac2). */
void dp_cookie_add_mac1(const struct dp_cookie_maker *m, uint8_t *msg, size_t len);
/* Checks the mac1 at msg[mac1_off .. +16) over msg[0 .. mac1_off). 0 or DC_EMAC. */
int dp_cookie_check_mac1(const struct dp_cookie_checker *c, const uint8_t *msg,
                         size_t mac1_off);
/*
 * Checks the mac2 in the last 16 bytes of msg[len] against the cookie of `addr`. Rotates the
 * secret when it is older than DP_COOKIE_SECRET_AGE_MS. 0 or DC_ECOOKIE.
 */
int dp_cookie_check_mac2(struct dp_cookie_checker *c, const uint8_t *msg, size_t len,
                         const uint8_t *addr, size_t addr_len, uint64_t now_ms);
/*
 * Writes a cookie reply for `addr` into out[DP_COOKIE_REPLY_BYTES], addressed to the
 * initiator's `receiver_index` and bound to the initiation's `mac1`.
 */
void dp_cookie_reply_create(struct dp_cookie_checker *c, uint8_t out[DP_COOKIE_REPLY_BYTES],
                            uint32_t receiver_index,
                            const uint8_t mac1[DP_COOKIE_MAC_BYTES], const uint8_t *addr,
                            size_t addr_len, uint64_t now_ms);
/* Decrypts a cookie reply and keeps the cookie. 0, DC_EAUTH or DC_ENOTFOUND (no mac1 sent). */
int dp_cookie_reply_consume(struct dp_cookie_maker *m, const uint8_t msg[DP_COOKIE_REPLY_BYTES],
                            uint64_t now_ms);

/*
 * The bytes a cookie is bound to: address and port for AF_INET / AF_INET6 (the padding of a
 * sockaddr is not part of it), the raw sockaddr otherwise. Returns the count written to out.
 */
size_t dp_cookie_addr_bytes(const struct sockaddr *sa, socklen_t sa_len,
                            uint8_t out[DP_COOKIE_ADDR_BYTES_MAX]);

#endif
