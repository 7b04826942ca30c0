/*
 * cons_frag: consensus messages larger than one record, carried as numbered parts.
 *
 * A CONSENSUS record body holds at most CONS_FRAG_RECORD_BYTES_MAX (1,472) bytes, but a
 * proposal of a 10,240-id block encodes to about 320 KiB. A message that fits one record is
 * sent whole, as before; a larger one is cut into at most CONS_FRAG_PARTS_MAX parts, each a
 * record of its own (kind CONS_MSG_PART) that names the message by its root (BLAKE2b-256 of
 * the whole encoding), its total length, the part's index, the part count and the origin
 * validator. A receiver reassembles the parts in any order in bounded slots (a few per
 * origin, so one validator cannot take the others' slots; the oldest is recycled), and hands
 * the message back only when the reassembled bytes hash to the root: parts mixed from two
 * messages, or sent differently to different validators, never yield a wrong message. A
 * receiver missing parts for a while asks for them (kind CONS_MSG_PART_REQUEST, a bitmap of
 * the missing indices) from the origin or, at the caller's choice, from any validator that
 * holds the message: the origin answers from a cache of the messages it sent last, any
 * validator from the messages it reassembled. Wire format: docs/CONSENSUS.md, "Parts".
 *
 * The parts carry no signature: the reassembled message is checked by cons_msg_decode and
 * the state machine like any other. The origin field only routes a part to its slots; the
 * caller should drop parts whose origin is not the validator the datagram came from, or a
 * forger can recycle an honest validator's slots (the root still keeps forged bytes out).
 *
 * How the consensus thread (consensus/lcore.c: send_msg(), take_records(), its tick) calls it,
 * all on that one thread, `now` in its ticks:
 *
 *   1. Start-up: cons_frag_init(&frag, &cfg, mem, cons_frag_mem_size(&cfg)).
 *   2. Send: len = cons_msg_encode(msg, buf, cap); if (!cons_frag_needed(len)) send buf as
 *      one record, as today. Otherwise cons_frag_send(&frag, buf, len, &it) (cached; for a
 *      one-off such as a sync block, cons_frag_split(buf, len, self, &it) caches nothing),
 *      then `while ((n = cons_frag_iter_next(&it, body, sizeof(body))) > 0)` send body[0..n)
 *      to each destination.
 *   3. Receive a record whose first byte is CONS_MSG_PART: cons_frag_feed(&frag, body, len,
 *      now, &done); when it returns 0 with done.msg != NULL, cons_msg_decode(done.msg,
 *      done.len, ...) and hand the message to the machine as if it had come whole.
 *   4. Receive CONS_MSG_PART_REQUEST: if cons_frag_answer(&frag, body, len, &it) == 0, send
 *      every cons_frag_iter_next() body to validator it.to (its configured address, never
 *      the datagram's source: a request is small and its answer is not).
 *   5. On every tick: n = cons_frag_poll(&frag, now, reqs, max); send reqs[i].body to
 *      reqs[i].origin, or to another validator (e.g. round-robin when reqs[i].tries > 1).
 *      cons_frag_next_due() says when the next poll can yield something.
 *
 * Pointers handed out (done.msg, an iterator's bytes) point into the module's memory and
 * stay valid only until the next cons_frag_feed(), cons_frag_send() or cons_frag_answer():
 * use them at once. Costs: feed copies the part and, on the last one, hashes the message
 * (about 0.5 ms for 320 KiB); memory is cons_frag_mem_size(), dominated by
 * (validator_count * slots_per_origin + cache_count) * msg_bytes_max.
 *
 * Threads: one struct cons_frag belongs to one thread; the codec functions are pure and
 * any thread may call them.
 */
#ifndef CONS_FRAG_H
#define CONS_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "consensus/block.h"
#include "consensus/cert.h"
#include "consensus/msg.h"
#include "consensus/vote.h"

/* A CONSENSUS record body's limit: DP_CTL_BODY_BYTES_MAX, which the pure core cannot include;
 * the node should _Static_assert that the two agree. */
#define CONS_FRAG_RECORD_BYTES_MAX 1472u
/* kind, root, total length, part index, part count, origin */
#define CONS_FRAG_PART_HEADER_BYTES (1 + CONS_HASH_BYTES + 4 + 2 + 2 + 2)
/* Bytes of the message one part carries at most. */
#define CONS_FRAG_DATA_BYTES_MAX (CONS_FRAG_RECORD_BYTES_MAX - CONS_FRAG_PART_HEADER_BYTES)
/* The largest encoded message: a sync block of CONS_BLOCK_IDS_MAX ids with a full
 * certificate (a proposal's 114 bytes are fewer than a certificate's). */
#define CONS_FRAG_MSG_BYTES_MAX \
    (1 + CONS_HEADER_BYTES_MAX + CONS_BLOCK_IDS_MAX * CONS_ID_BYTES + CONS_CERT_BYTES_MAX)
#define CONS_FRAG_PARTS_MAX 256u
#define CONS_FRAG_BITMAP_BYTES (CONS_FRAG_PARTS_MAX / 8)
/* kind, root, total length, part count, origin, requester, then the bitmap */
#define CONS_FRAG_REQUEST_HEADER_BYTES (1 + CONS_HASH_BYTES + 4 + 2 + 2 + 2)
#define CONS_FRAG_REQUEST_BYTES_MAX (CONS_FRAG_REQUEST_HEADER_BYTES + CONS_FRAG_BITMAP_BYTES)
#define CONS_FRAG_SLOTS_PER_ORIGIN_MAX 8u
#define CONS_FRAG_CACHE_MAX 64u

struct cons_frag_config {
    uint16_t self;              /* our validator index: the origin of what we send */
    uint16_t validator_count;   /* 1..CONS_VALIDATORS_MAX; origins and requesters below it */
    uint32_t msg_bytes_max;     /* largest message accepted or sent, <= CONS_FRAG_MSG_BYTES_MAX */
    uint32_t slots_per_origin;  /* reassembly slots per origin, 1..CONS_FRAG_SLOTS_PER_ORIGIN_MAX */
    uint32_t cache_count;       /* messages we sent kept for requests, 1..CONS_FRAG_CACHE_MAX */
    uint64_t request_after_ticks;  /* ask when no new part came for this long */
    uint64_t request_retry_ticks;  /* then again this often (>= 1) while parts are missing */
    uint32_t request_tries_max;    /* requests per message; 0 = never ask */
};

/* Every outcome has its counter (the node exports them). */
struct cons_frag_stats {
    uint64_t parts_in;              /* bodies given to cons_frag_feed() */
    uint64_t parts_accepted;        /* new parts stored */
    uint64_t parts_duplicate;       /* held already, or of a message already complete */
    uint64_t parts_malformed;       /* DC_ETRUNCATED, DC_EMALFORMED, DC_ERANGE, DC_ETOOBIG */
    uint64_t parts_conflict;        /* DC_ECONFLICT: disagrees with what we hold for the root */
    uint64_t msgs_complete;         /* reassembled and matching their root */
    uint64_t msgs_root_mismatch;    /* reassembled but hashing to another root: dropped */
    uint64_t msgs_again;            /* complete messages handed out again: all parts re-sent */
    uint64_t slots_evicted_incomplete; /* recycled before all parts came */
    uint64_t msgs_sent;             /* cons_frag_send() of a new root */
    uint64_t msgs_resent;           /* cons_frag_send() of a root in the cache */
    uint64_t requests_out;          /* requests yielded by cons_frag_poll() */
    uint64_t requests_in;           /* bodies given to cons_frag_answer() */
    uint64_t requests_bad;          /* requests that do not parse */
    uint64_t requests_unknown;      /* requests for a root we do not hold */
    uint64_t requests_answered;     /* requests we answered */
};

/* A decoded PART (data points into the body it was decoded from). */
struct cons_frag_part {
    uint8_t root[CONS_HASH_BYTES];
    uint32_t total_len;
    uint16_t index;
    uint16_t count;
    uint16_t origin;
    uint16_t data_len;
    const uint8_t *data;
};

/* A PART_REQUEST: which parts of message `root` (from `origin`) `requester` lacks. */
struct cons_frag_want {
    uint8_t root[CONS_HASH_BYTES];
    uint32_t total_len;
    uint16_t count;
    uint16_t origin;
    uint16_t requester;
    uint8_t missing[CONS_FRAG_BITMAP_BYTES]; /* bit i (byte i/8, bit i%8): part i wanted */
};

/* A request cons_frag_poll() found due: send `body` to `origin` or to any validator. */
struct cons_frag_request {
    uint16_t origin;
    uint16_t missing_count;
    uint32_t tries;             /* 1 for the first request of this message */
    uint8_t root[CONS_HASH_BYTES];
    size_t body_len;
    uint8_t body[CONS_FRAG_REQUEST_BYTES_MAX];
};

/* A message cons_frag_feed() completed (msg points into the module's memory). */
struct cons_frag_done {
    const uint8_t *msg;         /* NULL unless this part completed a message */
    size_t len;
    uint16_t origin;
    uint8_t root[CONS_HASH_BYTES];
};

/* Yields the parts of one message, all of them or those a request named. */
struct cons_frag_iter {
    const uint8_t *msg;
    uint32_t total_len;
    uint16_t count;
    uint16_t origin;
    uint16_t next;              /* next index to consider */
    uint16_t to;                /* cons_frag_answer(): the validator to send the parts to */
    uint8_t root[CONS_HASH_BYTES];
    uint8_t want[CONS_FRAG_BITMAP_BYTES];
};

struct cons_frag_slot;
struct cons_frag_cached;

struct cons_frag {
    struct cons_frag_config cfg;
    struct cons_frag_slot *slots;   /* validator_count x slots_per_origin */
    struct cons_frag_cached *cache; /* cache_count */
    uint64_t seq;                   /* ages slots and cache entries (no clock needed) */
    struct cons_frag_stats stats;
};

/* ---- Pure codec (any thread) ---- */

/* Whether an encoded message of `len` bytes must travel as parts. */
int cons_frag_needed(size_t len);
/* Parts a sender cuts `total_len` bytes into (1..CONS_FRAG_PARTS_MAX; total_len >= 1). */
uint16_t cons_frag_part_count(uint32_t total_len);
/*
 * Decode a PART body, checking every field on its own: 0, DC_ETRUNCATED, DC_EMALFORMED
 * (wrong kind, total 0, a count the total cannot be cut into, a data length other than the
 * one the index implies), DC_ERANGE (index >= count, count 0 or over CONS_FRAG_PARTS_MAX,
 * origin >= CONS_VALIDATORS_MAX) or DC_ETOOBIG (total over CONS_FRAG_MSG_BYTES_MAX).
 */
int cons_frag_part_decode(const uint8_t *body, size_t len, struct cons_frag_part *part);
/* Encode a PART into `out` (cap >= its size, asserted). Returns the bytes written. */
size_t cons_frag_part_encode(const struct cons_frag_part *part, uint8_t *out, size_t cap);
/*
 * Decode a PART_REQUEST: 0, DC_ETRUNCATED, DC_EMALFORMED (wrong kind, total 0, a count the
 * total cannot be cut into, a bitmap of the wrong length, bits set past the count, no bit
 * set) or DC_ERANGE / DC_ETOOBIG as for a part (and a requester >= CONS_VALIDATORS_MAX).
 */
int cons_frag_request_decode(const uint8_t *body, size_t len, struct cons_frag_want *want);
/* Encode a PART_REQUEST (cap >= CONS_FRAG_REQUEST_BYTES_MAX suffices). Returns its length. */
size_t cons_frag_request_encode(const struct cons_frag_want *want, uint8_t *out, size_t cap);
/*
 * Iterate over all parts of `msg` from `origin` (< CONS_VALIDATORS_MAX, asserted), caching
 * nothing: `it` points into `msg`, which must outlive the iteration. 0, DC_EMALFORMED
 * (len 0) or DC_ETOOBIG (len over CONS_FRAG_MSG_BYTES_MAX).
 */
int cons_frag_split(const uint8_t *msg, size_t len, uint16_t origin, struct cons_frag_iter *it);
/*
 * Write the next part's body into `out` (cap >= CONS_FRAG_RECORD_BYTES_MAX suffices).
 * Returns its length, at most CONS_FRAG_RECORD_BYTES_MAX, or 0 when no part is left.
 */
size_t cons_frag_iter_next(struct cons_frag_iter *it, uint8_t *out, size_t cap);

/* ---- One validator's fragment state (one thread) ---- */

/* Bytes of caller memory cons_frag_init() needs for `cfg` (0 when cfg is invalid). */
size_t cons_frag_mem_size(const struct cons_frag_config *cfg);
/* `mem`: mem_size >= cons_frag_mem_size(cfg) bytes, 8-byte aligned. 0 or DC_ECONFIG. */
int cons_frag_init(struct cons_frag *frag, const struct cons_frag_config *cfg, void *mem,
                   size_t mem_size);
/*
 * Keep `msg` (an encoded message we send) in the cache, replacing the least recently sent
 * entry unless its root is there already, and iterate over all its parts with origin
 * cfg.self. 0, DC_EMALFORMED (len 0) or DC_ETOOBIG (len over msg_bytes_max). The iterator
 * reads the cache.
 */
int cons_frag_send(struct cons_frag *frag, const uint8_t *msg, size_t len,
                   struct cons_frag_iter *it);
/*
 * Take one PART body received at `now`. Returns 0 when the part was stored; then done->msg
 * is NULL, or the whole message when this part completed it (its root verified). Errors,
 * each counted: cons_frag_part_decode()'s, DC_ERANGE (origin >= validator_count, or our own),
 * DC_ETOOBIG (total over msg_bytes_max), DC_ECONFLICT (the root is held with another total
 * or count, or this index with other bytes), DC_EDUPLICATE (part held, or message already
 * complete: once every part of a complete message has come again, the last of them returns
 * 0 and hands the message out again, as a re-sent whole message would be), DC_ECORRUPT
 * (all parts held but they hash to another root: the parts are dropped and the message is
 * asked for again). A slot is recycled, oldest first, when its
 * origin starts a message it has no free slot for.
 */
int cons_frag_feed(struct cons_frag *frag, const uint8_t *body, size_t len, uint64_t now,
                   struct cons_frag_done *done);
/*
 * Whether we are asking for missing parts of message `root` from `origin` (an incomplete
 * message we sent a PART_REQUEST for): then a part of it is welcome from any validator that
 * answers, not only from the origin.
 */
int cons_frag_requesting(struct cons_frag *frag, uint16_t origin,
                         const uint8_t root[CONS_HASH_BYTES]);

/*
 * Requests due at `now`: for each incomplete message that got no new part for
 * request_after_ticks, and no request for request_retry_ticks, up to request_tries_max
 * times. Writes up to `max` into `out` and returns how many; more wait for the next poll.
 * Requests are idempotent (they name what is missing, not what changed).
 */
uint32_t cons_frag_poll(struct cons_frag *frag, uint64_t now, struct cons_frag_request *out,
                        uint32_t max);
/* The earliest tick at which cons_frag_poll() has a request to yield; UINT64_MAX if none. */
uint64_t cons_frag_next_due(const struct cons_frag *frag);
/*
 * Answer a PART_REQUEST body from the cache or from a message we reassembled: 0 and `it`
 * yields the parts asked for, cut into the request's part count and stamped with its
 * origin (it->to = the requester), or the request decoder's errors, DC_ERANGE (requester
 * >= validator_count), DC_ENOTFOUND (we hold no message with that root: `it` yields
 * nothing) or DC_ECONFLICT (we hold the root with another total length). An answer can be
 * ~5,000 times the request's size: the caller should bound answers per requester.
 */
int cons_frag_answer(struct cons_frag *frag, const uint8_t *body, size_t len,
                     struct cons_frag_iter *it);

#endif
