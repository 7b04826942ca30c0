/*
 * link: authenticated, encrypted links between nodes (docs/PROTOCOL.md, "Peer links").
 *
 * A node that receives a message over a link knows which peer sent it, so the dataplane can
 * verify a message's Ed25519 signature once, where it enters the network, rather than at every
 * hop. The module is WireGuard's design over dchat identities: a Noise IK handshake
 * (handshake.h) keyed by each node's Ed25519 identity turned into X25519, mac1/mac2 cookies
 * against spoofed floods (cookie.h), and data packets under ChaCha20-Poly1305 with a 64-bit
 * counter and a sliding anti-replay window (replay.h).
 *
 * The module does no I/O and reads no clock. Every call takes the bytes that arrived, caller
 * buffers for what should be sent or delivered, and `now_ms` (milliseconds of a monotonic
 * clock: it drives rekeying and expiry). Link packets are told apart from v1 frames by byte 0
 * (dp_link_is_packet()). dp_link_init() allocates every table; nothing allocates afterwards, so
 * an I/O thread may call everything but init/peer_add/fini after dc_alloc_seal(). A table
 * belongs to one thread; randomness (ephemeral keys, indices, cookie secrets) is libsodium's.
 *
 * Sessions, per peer (WireGuard's keypairs): `cur` seals and opens; `prev` (the one `cur`
 * replaced) still opens, for packets in flight during a rekey, until it expires or the next
 * rotation drops it; `next` is a session this node answered a handshake for, which opens but
 * seals only once the initiator's first packet has proved that it holds the keys (then it
 * becomes `cur`). A session is refused for both directions DP_LINK_REJECT_AFTER_MS after its
 * handshake, and dp_link_want_handshake() asks for a new one before that.
 *
 * Receiver indices are 32-bit values this node chose: the low bits name a session slot (under a
 * per-table mask, so they are not peer numbers in clear) and the high bits are random, so a
 * data packet finds its session in O(1) and a stale index of a reused slot finds nothing.
 */
#ifndef DP_LINK_H
#define DP_LINK_H

#include "dataplane/cookie.h"
#include "dataplane/handshake.h"
#include "dataplane/replay.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DP_LINK_REKEY_AFTER_MS 120000u   /* the initiator of a session starts a new one */
#define DP_LINK_REJECT_AFTER_MS 180000u  /* a session is refused after this */
#define DP_LINK_REKEY_TIMEOUT_MS 5000u   /* a handshake without an answer is retried */
#define DP_LINK_REKEY_AFTER_MESSAGES (1ull << 60)
#define DP_LINK_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ull << 13))
#define DP_LINK_REKEY_AFTER_BYTES (1ull << 50)
#define DP_LINK_PEERS_MAX (1u << 20)
#define DP_LINK_SLOTS 4 /* per peer: cur, prev, next and a handshake in flight */

/* Data packet: type, 3 reserved, receiver index, counter, ciphertext, tag. */
#define DP_LINK_DATA_HDR_BYTES 16
#define DP_LINK_DATA_OVERHEAD (DP_LINK_DATA_HDR_BYTES + DP_HS_TAG_BYTES)
#define DP_LINK_PACKET_BYTES_MAX 65507 /* the largest IPv4 UDP payload */
#define DP_LINK_PLAIN_BYTES_MAX (DP_LINK_PACKET_BYTES_MAX - DP_LINK_DATA_OVERHEAD)
/* dp_link_handle()'s out buffer holds at least any reply (response, cookie, keepalive). */
#define DP_LINK_REPLY_BYTES_MAX DP_HS_RESP_BYTES

_Static_assert(DP_COOKIE_REPLY_BYTES <= DP_LINK_REPLY_BYTES_MAX, "a cookie reply fits");
_Static_assert(DP_LINK_DATA_OVERHEAD <= DP_LINK_REPLY_BYTES_MAX, "a keepalive fits");

/* Why a link packet was refused: one counter each, and one error code each. */
enum dp_link_drop {
    DP_LINK_DROP_MALFORMED,       /* DC_EMALFORMED: length, type or reserved bytes */
    DP_LINK_DROP_UNKNOWN_INDEX,   /* DC_ENOTFOUND: no session / handshake has that index */
    DP_LINK_DROP_UNKNOWN_PEER,    /* DC_EMEMBER: an initiation from a key not in the table */
    DP_LINK_DROP_AUTH,            /* DC_EAUTH: an AEAD tag or a DH did not verify */
    DP_LINK_DROP_REPLAY,          /* DC_EDUPLICATE: counter seen before */
    DP_LINK_DROP_TOO_OLD,         /* DC_EWINDOW: counter behind the replay window */
    DP_LINK_DROP_EXPIRED,         /* DC_EEXPIRED: session or handshake past its lifetime */
    DP_LINK_DROP_BAD_MAC1,        /* DC_EMAC */
    DP_LINK_DROP_NEEDS_COOKIE,    /* DC_ECOOKIE: under load, no valid mac2 (cookie sent) */
    DP_LINK_DROP_STALE_TIMESTAMP, /* DC_ESTALE: an initiation not newer than the last one */
    DP_LINK_DROP_TOO_BIG,         /* DC_ETOOBIG: the plaintext does not fit the out buffer */
    DP_LINK_DROP_COUNT,
};

struct dp_link_stats {
    uint64_t drop[DP_LINK_DROP_COUNT];
    uint64_t init_tx;      /* initiations made */
    uint64_t init_rx;      /* initiations accepted (a response was made) */
    uint64_t resp_rx;      /* responses accepted (a session as initiator) */
    uint64_t cookie_tx;    /* cookie replies made */
    uint64_t cookie_rx;    /* cookie replies accepted */
    uint64_t data_tx;      /* packets sealed, keepalives included */
    uint64_t data_tx_bytes; /* plaintext bytes sealed */
    uint64_t data_rx;      /* data packets accepted, keepalives included */
    uint64_t data_rx_bytes; /* plaintext bytes delivered */
};

enum dp_link_slot_state {
    DP_LINK_SLOT_FREE = 0,
    DP_LINK_SLOT_HANDSHAKE, /* our initiation, waiting for the response */
    DP_LINK_SLOT_LIVE,
};

struct dp_link_session {
    uint32_t local_index;  /* the peer sends to this index */
    uint32_t remote_index; /* we send to this one */
    uint8_t state;         /* enum dp_link_slot_state */
    uint8_t initiator;     /* this node sent the initiation */
    uint64_t birth_ms;
    uint64_t send_counter;
    uint64_t send_bytes;
    uint8_t send_key[DP_HS_KEY_BYTES];
    uint8_t recv_key[DP_HS_KEY_BYTES];
    struct dp_replay replay;
};

struct dp_link_peer {
    uint8_t ed_pk[32];
    struct dp_hs_remote remote;
    struct dp_cookie_maker cookie;
    uint8_t ts_recv[DP_HS_TIMESTAMP_BYTES]; /* greatest initiation timestamp accepted */
    uint64_t ts_sent_ns;                    /* last initiation timestamp sent */
    struct dp_hs_state hs;                  /* our initiation in flight, if hs_slot >= 0 */
    uint64_t hs_started_ms;
    int8_t hs_slot;
    int8_t cur; /* slot numbers, or -1 */
    int8_t prev;
    int8_t next;
    struct dp_link_session slots[DP_LINK_SLOTS];
    struct sockaddr_storage addr; /* last authenticated source (or the configured address) */
    socklen_t addr_len;           /* 0: not known yet */
};

struct dp_link_conf {
    const uint8_t *ed_sk; /* this node's 64-byte libsodium Ed25519 secret key */
    uint32_t peers_max;   /* 1 .. DP_LINK_PEERS_MAX */
    /*
     * Unix time in ms minus now_ms. Initiation timestamps are Unix time (now_ms +
     * wall_offset_ms), so that after a restart this node's initiations are newer than those
     * its peers remember; within one run they only ever increase, whatever the offset.
     */
    uint64_t wall_offset_ms;
    /* 0 = the default: DP_LINK_REKEY_AFTER_MS, _REJECT_AFTER_MS, _MESSAGES, _BYTES. */
    uint64_t rekey_after_ms;
    uint64_t reject_after_ms;
    uint64_t rekey_after_messages;
    uint64_t rekey_after_bytes;
};

struct dp_link_table {
    struct dp_hs_static own;
    uint8_t own_ed_pk[32];
    struct dp_cookie_checker checker;
    struct dp_link_peer *peers;
    uint32_t peers_max;
    uint32_t peer_count;
    uint32_t *by_static; /* open addressing: peer + 1, 0 = empty; keyed SipHash of the key */
    uint32_t by_static_mask;
    uint8_t by_static_key[16];
    uint32_t index_bits; /* low bits of a local index: slot number ^ index_xor */
    uint32_t index_xor;
    uint64_t wall_offset_ms;
    uint64_t rekey_after_ms;
    uint64_t reject_after_ms;
    uint64_t rekey_after_messages;
    uint64_t rekey_after_bytes;
    int under_load;
    struct dp_link_stats stats;
};

enum dp_link_action {
    DP_LINK_NONE = 0,    /* nothing to do */
    DP_LINK_REPLY = 1,   /* send out[0 .. len) back to the packet's source address */
    DP_LINK_DELIVER = 2, /* out[0 .. len) is plaintext from `peer`, authenticated */
};

struct dp_link_result {
    int action;      /* enum dp_link_action */
    int peer;        /* the peer concerned, or -1 */
    size_t len;      /* bytes in out */
    int session_new; /* a session became usable for dp_link_seal(): send what waited */
    int retry;       /* a cookie arrived: dp_link_initiate() again now, it will carry mac2 */
};

/* Whether a datagram is a link packet (byte 0 is a link type) rather than a v1 frame. */
static inline int dp_link_is_packet(const uint8_t *buf, size_t len)
{
    return len > 0 && buf[0] >= DP_HS_TYPE_INIT && buf[0] <= DP_HS_TYPE_DATA;
}

/*
 * Derives this node's static key from conf->ed_sk and allocates the peer table.
 * 0, -EINVAL (peers_max out of range, or a reject time not above the rekey time),
 * -ENOMEM, or DC_EMALFORMED (the secret key does not convert).
 */
int dp_link_init(struct dp_link_table *t, const struct dp_link_conf *conf);
/* Wipes every key and frees the tables. */
void dp_link_fini(struct dp_link_table *t);

/*
 * Adds a peer by its Ed25519 public key (from its node record or the genesis), with an
 * address to send to (NULL / 0 when unknown: it is learnt from the peer's first handshake).
 * Returns the peer index (0, 1, ...), or DC_EFULL, DC_EDUPLICATE, -EINVAL (our own key, or an
 * address longer than a sockaddr_storage), DC_EMALFORMED (not a usable curve point).
 */
int dp_link_peer_add(struct dp_link_table *t, const uint8_t ed_pk[32], const struct sockaddr *addr,
                     socklen_t addr_len);
/* The index of the peer with this Ed25519 key, or DC_ENOTFOUND. */
int dp_link_peer_find(const struct dp_link_table *t, const uint8_t ed_pk[32]);
/* Where to send to the peer (the last authenticated source); *len = 0 when not known. */
const struct sockaddr *dp_link_peer_addr(const struct dp_link_table *t, uint32_t peer,
                                         socklen_t *len);

/* The caller's load signal: while set, initiations need a valid mac2 (cookie). */
void dp_link_set_under_load(struct dp_link_table *t, int under_load);

/*
 * Writes a handshake initiation to `peer` into out (DP_HS_INIT_BYTES), replacing any
 * initiation still in flight. Returns DP_HS_INIT_BYTES, or DC_ETOOBIG when out_cap is short.
 */
int dp_link_initiate(struct dp_link_table *t, uint32_t peer, uint64_t now_ms, uint8_t *out,
                     size_t out_cap);
/*
 * Whether the caller should dp_link_initiate() now: there is no session that can seal, or the
 * current one is due for a rekey (time, messages or bytes), and no initiation was sent in the
 * last DP_LINK_REKEY_TIMEOUT_MS and no answered one waits for its first packet. 1 or 0.
 */
int dp_link_want_handshake(const struct dp_link_table *t, uint32_t peer, uint64_t now_ms);
/* Whether dp_link_seal() to `peer` would succeed now. 1 or 0. */
int dp_link_can_seal(const struct dp_link_table *t, uint32_t peer, uint64_t now_ms);

/*
 * Encrypts plain[0 .. len) (len 0: a keepalive) for `peer` into out, which must hold
 * len + DP_LINK_DATA_OVERHEAD bytes and not overlap plain. Returns the packet length,
 * -ENOTCONN (no session that can seal: see dp_link_want_handshake()), or DC_ETOOBIG
 * (len over DP_LINK_PLAIN_BYTES_MAX, or out_cap too small).
 */
int dp_link_seal(struct dp_link_table *t, uint32_t peer, const uint8_t *plain, size_t len,
                 uint64_t now_ms, uint8_t *out, size_t out_cap);

/*
 * Handles one link packet from `src`: classifies it (initiation, response, cookie reply,
 * data), checks it and fills `res` (always, also on a drop). out must not overlap in and
 * holds at least DP_LINK_REPLY_BYTES_MAX bytes; a data packet's plaintext needs
 * in_len - DP_LINK_DATA_OVERHEAD. Returns 0, or the drop reason (the codes of enum
 * dp_link_drop, each also counted in t->stats.drop). DC_ECOOKIE comes with a reply to send
 * (the cookie); every other negative return has res->action == DP_LINK_NONE. On success:
 *   initiation -> DP_LINK_REPLY, the response;
 *   response   -> DP_LINK_REPLY, a keepalive that confirms the session, and session_new;
 *   cookie     -> DP_LINK_NONE with retry;
 *   data       -> DP_LINK_DELIVER with the plaintext, or DP_LINK_NONE for a keepalive;
 *                 session_new when it confirmed a session this node answered.
 */
int dp_link_handle(struct dp_link_table *t, const struct sockaddr *src, socklen_t src_len,
                   const uint8_t *in, size_t in_len, uint64_t now_ms, uint8_t *out,
                   size_t out_cap, struct dp_link_result *res);

/* The counter of a drop code returned by dp_link_handle(); DP_LINK_DROP_COUNT for others. */
enum dp_link_drop dp_link_drop_of(int err);
/* Counter name for stats lines and /metrics ("link_drop_replay", ...). */
const char *dp_link_drop_name(enum dp_link_drop drop);

#endif
