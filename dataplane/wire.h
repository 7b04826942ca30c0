/*
 * wire: the dchat wire format v1 (docs/PROTOCOL.md specifies every byte).
 *
 * A datagram is one frame: an 8-byte frame header followed by `count` self-delimiting
 * records, each a 4-byte record header and a body. Multi-byte integers are big-endian.
 * dp_wire_frame_open() checks the whole frame before any record is handed out, so a frame is
 * accepted or rejected as a unit and no later code reads past a length it did not check.
 *
 * Pure functions over caller buffers: any thread may call them; nothing allocates.
 */
#ifndef DP_WIRE_H
#define DP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DP_WIRE_MAGIC0 0x64 /* 'd' */
#define DP_WIRE_MAGIC1 0x43 /* 'C' */
#define DP_WIRE_VERSION 1
#define DP_WIRE_FRAME_HDR_BYTES 8
#define DP_WIRE_REC_HDR_BYTES 4
#define DP_WIRE_MTU_DEFAULT 1472     /* UDP payload of a 1500-byte Ethernet MTU */
#define DP_WIRE_FRAME_BYTES_MAX 65507 /* largest UDP payload over IPv4 */

enum dp_wire_rec_type {
    DP_WIRE_REC_MSG = 0x01,       /* a signed user message */
    DP_WIRE_REC_SUBSCRIBE = 0x02, /* a user asks a relay for messages */
    DP_WIRE_REC_FINAL = 0x03,     /* a relay tells a subscriber where messages became final */
    DP_WIRE_REC_DISCOVERY = 0x10, /* body owned by engine/ (Kademlia) */
    DP_WIRE_REC_CONSENSUS = 0x20, /* body owned by consensus/ */
};

/* User message body (DESIGN.md section 4). */
#define DP_WIRE_MSG_VERSION 1
#define DP_WIRE_KEY_BYTES 32
#define DP_WIRE_SIG_BYTES 64
#define DP_WIRE_ID_BYTES 32
#define DP_WIRE_PAYLOAD_BYTES_MAX 1024
#define DP_WIRE_MSG_FIXED_BYTES 84 /* version .. timestamp, before the payload */
#define DP_WIRE_MSG_BYTES(payload) ((size_t)DP_WIRE_MSG_FIXED_BYTES + (payload) + DP_WIRE_SIG_BYTES)
#define DP_WIRE_MSG_BYTES_MAX DP_WIRE_MSG_BYTES(DP_WIRE_PAYLOAD_BYTES_MAX)

enum dp_wire_msg_kind {
    DP_WIRE_MSG_CHANNEL = 0, /* target = BLAKE2b-256 of the channel name */
    DP_WIRE_MSG_DIRECT = 1,  /* target = recipient's public key; payload is a sealed box */
};

#define DP_WIRE_SUB_VERSION 1
#define DP_WIRE_SUB_BYTES 36            /* without a cookie */
#define DP_WIRE_SUB_COOKIE_BYTES 16
#define DP_WIRE_SUB_BYTES_MAX (DP_WIRE_SUB_BYTES + DP_WIRE_SUB_COOKIE_BYTES)
#define DP_WIRE_SUB_FLAG_UNSUBSCRIBE 0x01
#define DP_WIRE_SUB_FLAG_COOKIE 0x02    /* a 16-byte address cookie follows the channel */

#define DP_WIRE_FINAL_VERSION 1
#define DP_WIRE_FINAL_HDR_BYTES 43   /* version, height, block hash, count */
#define DP_WIRE_FINAL_ENTRY_BYTES 36 /* index, id */
#define DP_WIRE_HASH_BYTES 32
/* Entries of one FINAL record in a default-MTU datagram. */
#define DP_WIRE_FINAL_ENTRIES_MAX                                                        \
    ((DP_WIRE_MTU_DEFAULT - DP_WIRE_FRAME_HDR_BYTES - DP_WIRE_REC_HDR_BYTES -           \
      DP_WIRE_FINAL_HDR_BYTES) / DP_WIRE_FINAL_ENTRY_BYTES)

_Static_assert(DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES + DP_WIRE_MSG_BYTES_MAX <=
                   DP_WIRE_MTU_DEFAULT,
               "the largest user message fits one default-MTU datagram");

/* One record inside an opened frame. `body` points into the frame buffer. */
struct dp_wire_rec {
    uint8_t type;
    uint16_t body_len;
    const uint8_t *body;
};

/* Walks the records of a frame that dp_wire_frame_open() accepted. */
struct dp_wire_iter {
    const uint8_t *buf;
    size_t len;
    size_t off;
    uint16_t left;
};

/* A decoded user message; pointers point into the record body. */
struct dp_wire_msg {
    uint8_t kind;
    uint16_t payload_len;
    uint64_t seq;
    uint64_t timestamp_us;
    const uint8_t *target;  /* DP_WIRE_KEY_BYTES */
    const uint8_t *sender;  /* DP_WIRE_KEY_BYTES: Ed25519 public key */
    const uint8_t *payload; /* payload_len bytes */
    const uint8_t *sig;     /* DP_WIRE_SIG_BYTES over the body's first 84+payload_len bytes */
    const uint8_t *body;    /* the whole record body, for forwarding unchanged */
    uint16_t body_len;
};

struct dp_wire_sub {
    uint8_t flags;
    const uint8_t *channel; /* DP_WIRE_KEY_BYTES; all zero = every channel */
    const uint8_t *cookie;  /* DP_WIRE_SUB_COOKIE_BYTES with DP_WIRE_SUB_FLAG_COOKIE, or NULL */
};

/*
 * Checks a whole frame: magic, version, zero flags, a count >= 1, every record header and
 * length inside the buffer, and no bytes after the last record. Then positions `it` on the
 * first record. 0, DC_EMALFORMED, DC_EVERSION or DC_ETRUNCATED.
 */
int dp_wire_frame_open(struct dp_wire_iter *it, const uint8_t *buf, size_t len);
/* Next record of an opened frame: 1 when `rec` was filled, 0 at the end. */
int dp_wire_next(struct dp_wire_iter *it, struct dp_wire_rec *rec);

/*
 * Decodes a user-message record body (sizes, version, kind); does NOT check the signature.
 * 0, DC_EMALFORMED, DC_EVERSION or DC_ETOOBIG.
 */
int dp_wire_msg_parse(const struct dp_wire_rec *rec, struct dp_wire_msg *msg);
/* Ed25519 check of a parsed message (libsodium). 0 or DC_ESIGNATURE. */
int dp_wire_msg_verify(const struct dp_wire_msg *msg);
/* Message id = BLAKE2b-256 of the signature. */
void dp_wire_msg_id(const struct dp_wire_msg *msg, uint8_t id[DP_WIRE_ID_BYTES]);
/*
 * Encodes and signs a user-message body into `out` (at least DP_WIRE_MSG_BYTES(payload_len)).
 * `sk` is libsodium's 64-byte Ed25519 secret key; the sender key is its last 32 bytes.
 * Returns the body length, or DC_ETOOBIG when the payload or `out` is too large/small.
 */
int dp_wire_msg_encode(uint8_t *out, size_t out_size, uint8_t kind,
                       const uint8_t target[DP_WIRE_KEY_BYTES], const uint8_t sk[64],
                       uint64_t seq, uint64_t timestamp_us, const uint8_t *payload,
                       uint16_t payload_len);

/*
 * Decodes a subscribe record body: 36 bytes, or 52 with DP_WIRE_SUB_FLAG_COOKIE.
 * 0, DC_EMALFORMED or DC_EVERSION.
 */
int dp_wire_sub_parse(const struct dp_wire_rec *rec, struct dp_wire_sub *sub);
/* Encodes a subscribe body into out[DP_WIRE_SUB_BYTES] (no cookie). */
void dp_wire_sub_encode(uint8_t out[DP_WIRE_SUB_BYTES], uint8_t flags,
                        const uint8_t channel[DP_WIRE_KEY_BYTES]);
/*
 * Encodes a subscribe body with the cookie (NULL: none) into out[DP_WIRE_SUB_BYTES_MAX];
 * returns its length (36 or 52).
 */
size_t dp_wire_sub_encode_cookie(uint8_t out[DP_WIRE_SUB_BYTES_MAX], uint8_t flags,
                                 const uint8_t channel[DP_WIRE_KEY_BYTES],
                                 const uint8_t *cookie);

/* A decoded FINAL record; `entries` points into the body (count x 36 bytes). */
struct dp_wire_final {
    uint64_t height;
    const uint8_t *block_hash; /* DP_WIRE_HASH_BYTES */
    uint16_t count;
    const uint8_t *entries;
};

/* Decodes a FINAL record body (count >= 1, length exact). 0, DC_EMALFORMED or DC_EVERSION. */
int dp_wire_final_parse(const struct dp_wire_rec *rec, struct dp_wire_final *fin);
/* Entry i (< fin->count) of a parsed FINAL: the message's index in the block and its id. */
void dp_wire_final_entry(const struct dp_wire_final *fin, uint16_t i, uint32_t *index_out,
                         const uint8_t **id_out);
/* Writes a FINAL header for `count` entries into out[DP_WIRE_FINAL_HDR_BYTES]. */
void dp_wire_final_encode_header(uint8_t *out, uint64_t height,
                                 const uint8_t block_hash[DP_WIRE_HASH_BYTES], uint16_t count);
/* Writes one entry into out[DP_WIRE_FINAL_ENTRY_BYTES]. */
void dp_wire_final_encode_entry(uint8_t *out, uint32_t index, const uint8_t id[DP_WIRE_ID_BYTES]);

/* Packs records into one frame, up to a byte budget (the MTU). */
struct dp_wire_builder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    uint16_t count;
};

/* Starts a frame in buf[cap]; cap must hold at least the frame header. */
void dp_wire_builder_init(struct dp_wire_builder *b, uint8_t *buf, size_t cap);
/* Whether a record with a body of `body_len` still fits. */
int dp_wire_builder_fits(const struct dp_wire_builder *b, size_t body_len);
/* Appends one record. 0, or DC_EFULL when it does not fit (the frame is unchanged). */
int dp_wire_builder_add(struct dp_wire_builder *b, uint8_t type, const uint8_t *body,
                        uint16_t body_len);
/* Writes the record count into the header and returns the frame length (0 if empty). */
size_t dp_wire_builder_finish(struct dp_wire_builder *b);

#endif
