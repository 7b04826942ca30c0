/*
 * cons_block: blocks, their canonical encoding and their hash.
 *
 * A block is a header (chain id, height, round, time, previous block hash, proposer, payload
 * root, id count) and an ordered list of 32-byte message ids. Blocks order message ids,
 * never payloads (DESIGN.md section 3). The block hash is BLAKE2b-256 of the encoded header;
 * the payload root is BLAKE2b-256 of the concatenated ids, so the header commits to the
 * ids. Encodings are specified byte by byte in docs/CONSENSUS.md.
 *
 * Threads: pure functions over caller-owned memory; any thread may call them.
 */
#ifndef CONS_BLOCK_H
#define CONS_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CONS_HASH_BYTES 32
#define CONS_ID_BYTES 32
#define CONS_PK_BYTES 32
#define CONS_SK_BYTES 64 /* libsodium's expanded Ed25519 secret key (seed || pk) */
#define CONS_SIG_BYTES 64
#define CONS_CHAIN_ID_MAX 64
#define CONS_VALIDATORS_MAX 64
/* Decoders refuse more ids than this whatever the caller's buffer (320 KiB of ids). */
#define CONS_BLOCK_IDS_MAX 10240u
#define CONS_WIRE_VERSION 1

/* version, chain id length + bytes, height, round, time, prev hash, proposer, root, count */
#define CONS_HEADER_BYTES_MAX \
    (1 + 1 + CONS_CHAIN_ID_MAX + 8 + 4 + 8 + CONS_HASH_BYTES + 2 + CONS_HASH_BYTES + 4)

struct cons_header {
    uint8_t chain_id_len;
    char chain_id[CONS_CHAIN_ID_MAX];    /* not NUL-terminated */
    uint64_t height;                     /* first block is height 1 */
    uint32_t round;                      /* round in which the block was first proposed */
    uint64_t time_ticks;                 /* proposer's tick clock; never decreases */
    uint8_t prev_hash[CONS_HASH_BYTES];  /* hash of block height-1 (genesis hash at 1) */
    uint16_t proposer;                   /* validator index of the proposer */
    uint8_t payload_root[CONS_HASH_BYTES];
    uint32_t id_count;
};

/* `ids` is caller-owned storage for `id_cap` ids; `header.id_count` of them are used. */
struct cons_block {
    struct cons_header header;
    uint8_t (*ids)[CONS_ID_BYTES];
    uint32_t id_cap;
};

/* Point `block` at caller storage for `id_cap` ids and zero the header. */
void cons_block_init(struct cons_block *block, uint8_t (*ids)[CONS_ID_BYTES], uint32_t id_cap);

/*
 * Set the header's chain id from a NUL-terminated string.
 * 0, or DC_ETOOBIG when longer than CONS_CHAIN_ID_MAX, DC_EMALFORMED when empty.
 */
int cons_header_set_chain(struct cons_header *header, const char *chain_id);
/* Whether the header names `chain_id` (NUL-terminated). */
int cons_header_chain_is(const struct cons_header *header, const char *chain_id);

/* BLAKE2b-256 of `count` ids laid end to end (the empty list hashes too). */
void cons_payload_root(const uint8_t (*ids)[CONS_ID_BYTES], uint32_t count,
                       uint8_t root_out[CONS_HASH_BYTES]);

/* Encoded size of the header, at most CONS_HEADER_BYTES_MAX. */
size_t cons_header_encoded_size(const struct cons_header *header);
/* Encode into `out` (cap >= encoded size, asserted). Returns the bytes written. */
size_t cons_header_encode(const struct cons_header *header, uint8_t *out, size_t cap);
/*
 * Decode a header from the front of `in`; `*used_out` gets its length.
 * 0, DC_ETRUNCATED, DC_EVERSION, DC_EMALFORMED (empty or long chain id, height 0) or
 * DC_ETOOBIG (more than CONS_BLOCK_IDS_MAX ids).
 */
int cons_header_decode(const uint8_t *in, size_t len, struct cons_header *header,
                       size_t *used_out);
/* Block hash: BLAKE2b-256 of the encoded header. */
void cons_header_hash(const struct cons_header *header, uint8_t hash_out[CONS_HASH_BYTES]);

size_t cons_block_encoded_size(const struct cons_block *block);
/* Header then the ids. Returns the bytes written (cap >= encoded size, asserted). */
size_t cons_block_encode(const struct cons_block *block, uint8_t *out, size_t cap);
/*
 * Decode a block into `block` (whose ids storage was set by cons_block_init).
 * 0, the header errors, DC_ETOOBIG (more ids than block->id_cap), DC_ETRUNCATED, or
 * DC_EMALFORMED when the ids do not match the payload root.
 */
int cons_block_decode(const uint8_t *in, size_t len, struct cons_block *block,
                      size_t *used_out);
/* Copy header and ids; DC_ETOOBIG when `dst` has room for fewer ids. */
int cons_block_copy(struct cons_block *dst, const struct cons_block *src);
/* Recompute and store the payload root from the ids. */
void cons_block_seal(struct cons_block *block);
void cons_block_hash(const struct cons_block *block, uint8_t hash_out[CONS_HASH_BYTES]);

#endif
