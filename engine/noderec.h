/*
 * noderec: signed node records and the discovery messages that carry them.
 *
 * A node record says "the node whose Ed25519 key is `pk` (id = BLAKE2b-256(pk)) has this role
 * and these UDP addresses, as of sequence number `seq`", signed by that key. A node raises its
 * sequence number whenever it starts, so a peer keeps only the newest record of each node and
 * rejects an older one (a replay) or a different one with the same number (a forgery that
 * somehow verified, or a node that reused a number).
 *
 * Discovery messages (the body of a DP_WIRE_REC_DISCOVERY record) always carry the sender's
 * record, so any message introduces its sender: PING / PONG (liveness and RTT, matched by a
 * random nonce), FIND (give me the nodes closest to a target id) and NODES (the answer).
 *
 * Byte layout (this is the specification docs/PROTOCOL.md points to; integers big-endian):
 *   record  = u8 version (1) | u8 role (1 relay, 2 validator) | u8 addr_count (1..4)
 *             | u8 reserved (0) | u64 seq | pk[32]
 *             | addr_count x ( u8 family (4|6) | u16 port | ip[4] or ip[16] )
 *             | sig[64]   Ed25519 by pk over "dchat-noderec-v1" || every byte before sig
 *   message = u8 version (1) | u8 type (1 PING, 2 PONG, 3 FIND, 4 NODES) | u8 reserved[2] (0)
 *             | u64 nonce | sender record
 *             | FIND: target id[32]
 *             | NODES: u8 count (0..16) | count x record
 * Nothing may follow the last field. The node id is never sent: it is BLAKE2b-256(pk). A PONG
 * echoes the PING's nonce and a NODES answer the FIND's; a large answer is split over several
 * NODES messages with the same nonce, each in its own datagram of at most the default MTU.
 *
 * Everything here is a pure function over caller memory; any thread may call it. The parsers
 * take untrusted bytes and never read outside [buf, buf + len).
 */
#ifndef ENG_NODEREC_H
#define ENG_NODEREC_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ENG_NODEREC_VERSION 1
#define ENG_NODEREC_ID_BYTES 32
#define ENG_NODEREC_PK_BYTES 32
#define ENG_NODEREC_SIG_BYTES 64
#define ENG_NODEREC_ADDR_MAX 4
#define ENG_NODEREC_HDR_BYTES 44 /* version, role, addr count, reserved, seq, pk */
#define ENG_NODEREC_ADDR4_BYTES 7
#define ENG_NODEREC_ADDR6_BYTES 19
#define ENG_NODEREC_BYTES_MAX \
    (ENG_NODEREC_HDR_BYTES + ENG_NODEREC_ADDR_MAX * ENG_NODEREC_ADDR6_BYTES + ENG_NODEREC_SIG_BYTES)

enum eng_noderec_role {
    ENG_NODEREC_ROLE_RELAY = 1,
    ENG_NODEREC_ROLE_VALIDATOR = 2,
};

struct eng_noderec_addr {
    uint8_t family; /* 4 or 6 */
    uint16_t port;
    uint8_t ip[16]; /* 4 bytes used for family 4 */
};

/* A decoded record. `id` is derived from `pk` by the decoder, never taken from the wire. */
struct eng_noderec {
    uint8_t id[ENG_NODEREC_ID_BYTES];
    uint8_t pk[ENG_NODEREC_PK_BYTES];
    uint8_t role;
    uint8_t addr_count;
    uint64_t seq;
    struct eng_noderec_addr addrs[ENG_NODEREC_ADDR_MAX];
    uint8_t sig[ENG_NODEREC_SIG_BYTES];
};

/*
 * Builds and signs a record. `sk` is libsodium's 64-byte Ed25519 secret key (seed || pk).
 * 0, or DC_ERANGE for a bad role or an address count outside 1..ENG_NODEREC_ADDR_MAX.
 */
int eng_noderec_make(struct eng_noderec *rec, const uint8_t sk[64], uint8_t role, uint64_t seq,
                     const struct eng_noderec_addr *addrs, uint8_t addr_count);

/* Encoded size of `rec`. */
size_t eng_noderec_size(const struct eng_noderec *rec);
/* Writes `rec` to out[cap]. The length written, or DC_ETOOBIG when it does not fit. */
int eng_noderec_encode(const struct eng_noderec *rec, uint8_t *out, size_t cap);
/*
 * Decodes one record from the front of buf[len] and checks its signature. On success fills
 * `rec` and returns the number of bytes used. DC_ETRUNCATED, DC_EMALFORMED (bad role, family,
 * address count, reserved bits), DC_EVERSION, or DC_ESIGNATURE (unsigned or forged).
 */
int eng_noderec_decode(struct eng_noderec *rec, const uint8_t *buf, size_t len);
/* Checks the signature of a record. 0 or DC_ESIGNATURE. */
int eng_noderec_verify(const struct eng_noderec *rec);

/*
 * Whether `incoming` may replace `held` (same id). 0 when it is newer; DC_EDUPLICATE when it
 * is the same record; DC_ESTALE when it is older (a replay); DC_ECONFLICT when it has the same
 * sequence number but different contents. DC_EMEMBER when the ids differ.
 */
int eng_noderec_supersedes(const struct eng_noderec *held, const struct eng_noderec *incoming);
/* Whether two records are byte-for-byte the same statement (id, seq, body, signature). */
int eng_noderec_equal(const struct eng_noderec *a, const struct eng_noderec *b);

/* Address conversions. Returns 0, or DC_EMALFORMED for a family other than IPv4/IPv6. */
int eng_noderec_addr_from_sockaddr(struct eng_noderec_addr *out, const struct sockaddr *sa);
void eng_noderec_addr_to_sockaddr(const struct eng_noderec_addr *addr,
                                  struct sockaddr_storage *out, socklen_t *len_out);
/* Whether the IP is 0.0.0.0 / :: (a node that listens on every interface). */
int eng_noderec_addr_unspecified(const struct eng_noderec_addr *addr);
/* "1.2.3.4:9000" or "[::1]:9000" into out[size] (64 bytes is always enough). */
void eng_sockaddr_str(const struct sockaddr *sa, char *out, size_t size);
/* Whether two IPv4/IPv6 socket addresses have the same family, IP and port. */
int eng_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);

/* ---- discovery messages ------------------------------------------------------------------ */

#define ENG_DISC_VERSION 1
#define ENG_DISC_HDR_BYTES 12 /* version, type, reserved[2], nonce */
#define ENG_DISC_NODES_MAX 16 /* records in one NODES message, at most */

enum eng_disc_type {
    ENG_DISC_PING = 1,
    ENG_DISC_PONG = 2,
    ENG_DISC_FIND = 3,
    ENG_DISC_NODES = 4,
};

/* A decoded discovery message; every record in it has a valid signature. */
struct eng_disc_msg {
    uint8_t type;
    uint64_t nonce;
    struct eng_noderec sender;
    uint8_t target[ENG_NODEREC_ID_BYTES];  /* FIND */
    uint8_t node_count;                    /* NODES */
    struct eng_noderec nodes[ENG_DISC_NODES_MAX];
};

/*
 * Encodes a message into out[cap]: header, the sender's pre-encoded record, then the FIND
 * target or the NODES records. Returns the length, or DC_ETOOBIG.
 */
int eng_disc_encode(uint8_t *out, size_t cap, uint8_t type, uint64_t nonce,
                    const uint8_t *sender_rec, size_t sender_rec_len,
                    const uint8_t target[ENG_NODEREC_ID_BYTES],
                    const struct eng_noderec *nodes, uint8_t node_count);

/*
 * Decodes and checks a whole message (every record's signature included); trailing bytes are
 * an error. 0, DC_ETRUNCATED, DC_EMALFORMED, DC_EVERSION, DC_ETOOBIG (too many records) or
 * DC_ESIGNATURE.
 */
int eng_disc_decode(struct eng_disc_msg *msg, const uint8_t *buf, size_t len);

/*
 * Records already verified: `same` returns 1 when `rec` (decoded, id filled, signature not
 * yet checked) is byte-for-byte a record the caller verified earlier, so its signature need
 * not be checked again. Peers repeat their record in every message; this keeps discovery's
 * cost at one Ed25519 verification per new record instead of one per message.
 */
struct eng_disc_held {
    int (*same)(void *arg, const struct eng_noderec *rec);
    void *arg;
};

/* eng_disc_decode() that skips the signature check of records `held` vouches for. */
int eng_disc_decode_held(struct eng_disc_msg *msg, const uint8_t *buf, size_t len,
                         const struct eng_disc_held *held);

#endif
