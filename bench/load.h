/*
 * load: the workload dchat-bench sends, built and signed before the timed window.
 *
 * Items are user messages: `valid_count` correctly signed ones and `invalid_count` with a
 * broken signature, spread evenly among them. Every item has the same size, so item j sits in
 * frame j / per_frame at a fixed offset, and frames are packed up to the MTU. Users are
 * simulated: user u's Ed25519 key comes from a seed derived from u, and item j belongs to user
 * j % users with sequence number j / users + 1. Each payload starts with a bench header (run id,
 * kind, item index) that lets the subscriber tell which item arrived. Garbage datagrams
 * (random bytes, broken frames, unsigned messages) are stored beside the frames, and the send
 * order interleaves them evenly with the frames.
 *
 * With `ids`, the load also holds every item's message id (BLAKE2b-256 of its signature, as the
 * relays name messages in FINAL records) and an index from id to item: an open-addressing table
 * of at least twice as many slots as items, keyed by the id's first 8 bytes (ids are
 * cryptographic hashes, so those bytes are already uniform) and confirmed by a full compare.
 *
 * bench_load_init() signs on every core; afterwards the load is read-only and any thread may
 * read it.
 */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <stddef.h>
#include <stdint.h>

/* Bench payload header: magic, kind, 3 zero bytes, run id, item index. */
#define BENCH_PAYLOAD_MAGIC 0x6443626eu /* "dCbn" */
#define BENCH_PAYLOAD_HDR_BYTES 24
#define BENCH_PROBES_MAX 256

enum bench_item_kind {
    BENCH_ITEM_VALID = 1,
    BENCH_ITEM_INVALID = 2, /* signature broken on purpose: must never be delivered */
    BENCH_ITEM_PROBE = 3,   /* warm-up message, outside the counted window */
    BENCH_ITEM_GARBAGE = 4, /* unsigned message inside a garbage datagram */
};

struct bench_load_params {
    uint64_t valid_count;
    uint64_t invalid_count;
    uint64_t garbage_count;
    uint32_t payload_bytes; /* BENCH_PAYLOAD_HDR_BYTES .. DP_WIRE_PAYLOAD_BYTES_MAX */
    uint32_t users;
    uint32_t mtu_bytes;     /* largest datagram we build */
    uint64_t run_id;
    int ids;                /* also compute every item's id and the id -> item index */
};

struct bench_load {
    struct bench_load_params p;
    uint32_t msg_bytes;   /* one message record body */
    uint32_t per_frame;   /* items per full frame */
    uint64_t item_count;  /* valid + invalid */
    uint64_t frame_count;
    uint64_t dgram_count; /* frames + garbage datagrams, the send order */
    size_t frame_stride;
    uint8_t *frames;      /* frame_count * frame_stride */
    uint8_t *garbage;     /* garbage_count * mtu_bytes */
    uint16_t *garbage_len;
    uint8_t *probes;      /* BENCH_PROBES_MAX one-message frames of probe_len bytes */
    size_t probe_len;
    uint8_t (*user_sk)[64];
    uint8_t (*ids)[32];   /* with p.ids: item_count message ids, else NULL */
    uint64_t *id_slots;   /* id_mask + 1 slots: id bytes 0..3 << 32 | item + 1; 0 = empty */
    uint64_t id_mask;
};

/*
 * Derives the user keys, signs every item on all cores, builds garbage and probes.
 * 0, -ENOMEM, or DC_ERANGE when the parameters do not describe a workload
 * (payload outside its limits, a message that does not fit the MTU, zero users).
 */
int bench_load_init(struct bench_load *load, const struct bench_load_params *params);
void bench_load_fini(struct bench_load *load);

/* Whether item j is one of the deliberately invalid ones (an even spread). */
int bench_load_item_invalid(const struct bench_load *load, uint64_t item);
/* The record body of item j as sent. */
const uint8_t *bench_load_item_body(const struct bench_load *load, uint64_t item);
/* The message id of item j (the load was built with p.ids). */
const uint8_t *bench_load_item_id(const struct bench_load *load, uint64_t item);
/*
 * The item whose message id is `id`, or UINT64_MAX when none is (the load was built with
 * p.ids). Expected O(1): the table is at most half full.
 */
uint64_t bench_load_find_id(const struct bench_load *load, const uint8_t id[32]);
/* Number of deliberately invalid items in frame f. */
uint32_t bench_load_frame_invalid(const struct bench_load *load, uint64_t frame);
/* Number of items in frame f. */
uint32_t bench_load_frame_items(const struct bench_load *load, uint64_t frame);

/*
 * Datagram d of the send order (d < dgram_count): sets *len and returns its bytes; *frame is
 * the frame index, or UINT64_MAX for a garbage datagram.
 */
const uint8_t *bench_load_dgram(const struct bench_load *load, uint64_t d, size_t *len,
                                uint64_t *frame);
/* Probe frame i (i < BENCH_PROBES_MAX). */
const uint8_t *bench_load_probe(const struct bench_load *load, uint32_t i, size_t *len);

/* Reads a bench payload header. 0, or DC_EMALFORMED when it is not one. */
int bench_payload_read(const uint8_t *payload, size_t len, uint8_t *kind, uint64_t *run_id,
                       uint64_t *index);

#endif
