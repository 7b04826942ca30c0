/*
 * kad: the Kademlia routing table and the state of one iterative lookup.
 *
 * Node ids are 256-bit (BLAKE2b-256 of the node's public key); the distance between two ids is
 * their XOR read as a big-endian number. Bucket i holds the peers whose id shares exactly i
 * leading bits with ours (bucket 0: the far half of the id space), at most ENG_KAD_K each.
 * A full bucket keeps its live peers (old live nodes are the likeliest to stay up, as the
 * Kademlia paper observes) and only gives up a slot held by a disconnected one.
 *
 * A lookup (eng_kad_lookup_*) keeps the closest candidates seen so far, sorted by distance to
 * the target; the caller asks up to ENG_KAD_ALPHA of the ENG_KAD_K closest at a time, feeds
 * the answers back, and stops when the K closest that did not fail have all answered.
 *
 * No I/O, no clock, no threads: the control thread (engine/ctl.c) owns the table and passes
 * the time in. The table is allocated once at init (a few MB) and never grows.
 */
#ifndef ENG_KAD_H
#define ENG_KAD_H

#include "engine/noderec.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ENG_KAD_K 16
#define ENG_KAD_ALPHA 3
#define ENG_KAD_ID_BYTES ENG_NODEREC_ID_BYTES
#define ENG_KAD_BUCKETS (ENG_KAD_ID_BYTES * 8)
#define ENG_KAD_LOOKUP_MAX (4 * ENG_KAD_K)

/* One known node. The control thread fills the liveness fields. */
struct eng_kad_peer {
    struct eng_noderec rec;       /* the newest signed record we hold */
    struct sockaddr_storage addr; /* where we reach it */
    socklen_t addr_len;
    uint64_t added_ms;
    uint64_t last_pong_ms;        /* last PONG that matched our nonce; 0 = never */
    uint64_t ping_sent_ms;        /* 0 = no ping outstanding */
    uint64_t ping_nonce;
    uint64_t prev_ping_sent_ms;   /* the ping before: a PONG slower than one interval counts */
    uint64_t prev_ping_nonce;
    uint32_t rtt_ms;              /* last measured round trip */
    uint64_t find_nonce;          /* a FIND held until the peer proves its address; 0 = none */
    uint8_t find_target[ENG_NODEREC_ID_BYTES];
    uint8_t connected;
    uint8_t in_use;
};

struct eng_kad_bucket {
    struct eng_kad_peer peers[ENG_KAD_K];
};

struct eng_kad_table {
    uint8_t self[ENG_KAD_ID_BYTES];
    struct eng_kad_bucket *buckets; /* ENG_KAD_BUCKETS */
    uint32_t count;
};

/* 0 or -ENOMEM. */
int eng_kad_init(struct eng_kad_table *t, const uint8_t self[ENG_KAD_ID_BYTES]);
void eng_kad_fini(struct eng_kad_table *t);

/* Common leading bits of a and b (0..255), or -1 when a == b. */
int eng_kad_bucket_index(const uint8_t a[ENG_KAD_ID_BYTES], const uint8_t b[ENG_KAD_ID_BYTES]);
/* <0 when a is closer to target than b, 0 when equal, >0 when farther. */
int eng_kad_cmp(const uint8_t target[ENG_KAD_ID_BYTES], const uint8_t a[ENG_KAD_ID_BYTES],
                const uint8_t b[ENG_KAD_ID_BYTES]);

/* The peer with this id, or NULL. */
struct eng_kad_peer *eng_kad_get(struct eng_kad_table *t, const uint8_t id[ENG_KAD_ID_BYTES]);
/*
 * Adds a node (not yet connected) and returns its slot in *out. 0 when added; DC_EDUPLICATE
 * when already present (*out = that peer, untouched); DC_ECONFLICT for our own id; DC_EFULL
 * when its bucket is full of connected peers (*out = NULL).
 */
int eng_kad_insert(struct eng_kad_table *t, const struct eng_noderec *rec,
                   const struct sockaddr *addr, socklen_t addr_len, uint64_t now_ms,
                   struct eng_kad_peer **out);
/* Forgets a node. 0 or DC_ENOTFOUND. */
int eng_kad_remove(struct eng_kad_table *t, const uint8_t id[ENG_KAD_ID_BYTES]);
/* Iterates: pass NULL first; returns the next used slot or NULL at the end. */
struct eng_kad_peer *eng_kad_next(struct eng_kad_table *t, struct eng_kad_peer *prev);
/*
 * Up to `max` peers closest to `target`, nearest first, into out[]. With `connected_only`,
 * only peers currently connected. Returns the count. Cost: O(table size * log max).
 */
size_t eng_kad_closest(struct eng_kad_table *t, const uint8_t target[ENG_KAD_ID_BYTES],
                       struct eng_kad_peer **out, size_t max, int connected_only);

/* ---- iterative lookup -------------------------------------------------------------------- */

enum eng_kad_cand_state {
    ENG_KAD_CAND_NEW = 0, /* not asked yet */
    ENG_KAD_CAND_ASKED,   /* FIND sent, no answer yet */
    ENG_KAD_CAND_DONE,    /* answered */
    ENG_KAD_CAND_FAILED,  /* timed out */
};

struct eng_kad_cand {
    uint8_t id[ENG_KAD_ID_BYTES];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    uint8_t state;
    uint64_t nonce;
    uint64_t sent_ms;
};

struct eng_kad_lookup {
    uint8_t target[ENG_KAD_ID_BYTES];
    struct eng_kad_cand cands[ENG_KAD_LOOKUP_MAX]; /* sorted, nearest first */
    uint32_t count;
    uint32_t in_flight;
    uint8_t active;
};

void eng_kad_lookup_start(struct eng_kad_lookup *l, const uint8_t target[ENG_KAD_ID_BYTES]);
/*
 * Offers a candidate. 0 when added; DC_EDUPLICATE when already there; DC_EFULL when the list
 * is full and this one is farther than all of them.
 */
int eng_kad_lookup_add(struct eng_kad_lookup *l, const uint8_t id[ENG_KAD_ID_BYTES],
                       const struct sockaddr *addr, socklen_t addr_len);
/*
 * The next candidate to ask, or NULL when ENG_KAD_ALPHA are in flight or none of the K
 * closest is new. Marks it ASKED at `now_ms` with `nonce` (which the answer must echo).
 */
struct eng_kad_cand *eng_kad_lookup_next(struct eng_kad_lookup *l, uint64_t now_ms,
                                         uint64_t nonce);
/*
 * The candidate that was sent `nonce` (asked or already answered: an answer may span several
 * datagrams), or NULL.
 */
struct eng_kad_cand *eng_kad_lookup_by_nonce(struct eng_kad_lookup *l, uint64_t nonce);
/* Records an answer from an asked candidate. */
void eng_kad_lookup_answered(struct eng_kad_lookup *l, struct eng_kad_cand *c);
/* Marks candidates asked before now_ms - timeout_ms as failed. */
void eng_kad_lookup_expire(struct eng_kad_lookup *l, uint64_t now_ms, uint64_t timeout_ms);
/* Whether the lookup has converged: nothing in flight and none of the K closest is new. */
int eng_kad_lookup_done(const struct eng_kad_lookup *l);

#endif
