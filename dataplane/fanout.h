/*
 * fanout: packs records for each destination (gossip peers and subscribers) into frames up
 * to the MTU, and frames into send buffers for one UDP_SEGMENT (GSO) send each.
 *
 * Each destination fills at most one send buffer at a time. Consecutive frames of the same
 * length share the buffer (the kernel cuts it at that length); a frame of a different length
 * ends the buffer. dp_fanout_flush() closes every open frame and queues every open buffer:
 * the I/O thread calls it once per loop iteration, so a message waits at most one iteration.
 *
 * Subscribers: an address subscribes to one channel (or all: channel of zeros); a subscribe
 * from the same address replaces its channel and renews it; it lapses `sub_expiry_s` after
 * the last renewal (dp_fanout_expire()). Every subscribe is acknowledged by echoing the
 * record back with the address's cookie (docs/PROTOCOL.md). UDP sources can be forged, so an
 * address is "proven" only once it returns that cookie: until then it gets at most 3x the
 * bytes it sent (a forged subscribe cannot aim a stream at a victim), and once proven its
 * subscription changes only with the cookie (a forged unsubscribe changes nothing). One
 * source IP holds at most `subs_per_ip` subscriptions. The table is fixed-size; a full
 * table refuses (counted).
 *
 * I/O thread only; init/fini on the main thread.
 */
#ifndef DP_FANOUT_H
#define DP_FANOUT_H

#include "dataplane/backend.h"
#include "dataplane/link.h"
#include "dataplane/stats.h"
#include "dataplane/wire.h"

#include <stdint.h>
#include <sys/socket.h>

#define DP_FANOUT_PEERS_MAX 64
#define DP_FANOUT_GSO_SEGS_MAX 64
#define DP_FANOUT_SUBS_PER_IP_DEFAULT 64  /* subscriptions one source IP may hold */
#define DP_FANOUT_UNPROVEN_FACTOR 3       /* bytes to an unproven address: 3x what it sent */
#define DP_FANOUT_COOKIE_EPOCH_S 60       /* a cookie is good for its epoch and the next */

struct dp_dest {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct dp_tx_buf *tx;       /* the buffer being filled, or NULL */
    struct dp_wire_builder b;   /* the frame being built at tx->data + tx->len */
    uint8_t frame_open;
    uint8_t active;             /* on the active list (has something to flush) */
    uint8_t used;               /* subscriber slot in use */
    uint8_t all_channels;
    uint8_t channel[DP_WIRE_KEY_BYTES];
    uint32_t expires_s;
    int32_t link_peer;          /* gossip peers: the link (dataplane/linkio.h), -1: none */
    uint32_t banned_until_s;    /* gossip peers: nothing is sent before this */
    uint8_t *stage;             /* gossip peers: the frame built before it is sealed */
    uint8_t sealing;            /* the open frame is in `stage` and leaves sealed */
    uint8_t is_sub;             /* a subscriber (not a gossip peer) */
    uint8_t proven;             /* subscribers: returned the address cookie */
    uint64_t rx_bytes;          /* subscribers, until proven: bytes it sent us */
    uint64_t tx_bytes;          /* subscribers, until proven: bytes we sent it */
};

struct dp_fanout {
    const struct dp_backend_ops *ops;
    struct dp_backend *be;
    struct dp_stats_block *stats;
    uint32_t mtu;
    uint32_t sub_expiry_s;
    struct dp_dest peers[DP_FANOUT_PEERS_MAX];
    uint32_t peer_count;
    struct dp_dest *subs;       /* subs_max slots */
    struct dp_dest **live;      /* the used slots, dense: what a message iterates over */
    uint32_t subs_max;
    uint32_t sub_count;
    struct dp_dest **active;    /* destinations with an open frame or buffer */
    uint32_t active_count;
    struct dp_link_table *links; /* NULL: no links, every frame leaves plain */
    uint64_t now_ms;            /* the I/O thread's clock, for sealing */
    uint32_t now_s;
    uint8_t *sealed;            /* one sealed datagram */
    uint32_t subs_per_ip;
    uint8_t cookie_key[32];     /* keys the subscribers' address cookies */
};

/* Main thread. 0, -EINVAL or -ENOMEM. */
int dp_fanout_init(struct dp_fanout *fo, const struct dp_backend_ops *ops,
                   struct dp_backend *be, struct dp_stats_block *stats, uint32_t mtu,
                   uint32_t subs_max, uint32_t sub_expiry_s);
void dp_fanout_fini(struct dp_fanout *fo);
/*
 * A gossip peer: on the main thread before launch (--peers), or on the I/O thread (a peer
 * found by discovery; nothing allocates). 0, DC_EFULL or -EINVAL (address family).
 */
int dp_fanout_add_peer(struct dp_fanout *fo, const struct sockaddr *addr, socklen_t len);

/* The index of the peer with this address, or -1. */
int dp_fanout_find_peer(const struct dp_fanout *fo, const struct sockaddr *addr,
                        socklen_t len);
/*
 * One verified message: to every peer except `src_peer` (-1: none) and to every subscriber
 * of its target (channel or recipient key).
 */
void dp_fanout_msg(struct dp_fanout *fo, const struct dp_wire_msg *msg, int src_peer);
/*
 * A subscribe record from `src` at time now_s: subscribe/renew or unsubscribe, then echo the
 * record back as the acknowledgement. 0 or DC_EFULL (table full, counted, not acknowledged).
 */
int dp_fanout_subscribe(struct dp_fanout *fo, const struct sockaddr *src, socklen_t src_len,
                        const struct dp_wire_sub *sub, const uint8_t *body, uint16_t body_len,
                        uint32_t now_s);
/* One message of a committed block, for dp_fanout_final(). */
struct dp_fanout_final_entry {
    uint32_t index;                 /* position in the block */
    const uint8_t *id;              /* DP_WIRE_ID_BYTES */
    const uint8_t *target;          /* the channel or recipient key it was delivered to */
};

/*
 * Messages of block `height` (hash `block_hash`) became final: each subscriber gets FINAL
 * records (docs/PROTOCOL.md) with the entries whose target it subscribes to, up to
 * DP_WIRE_FINAL_ENTRIES_MAX per record. Cost: subscribers x entries comparisons.
 */
void dp_fanout_final(struct dp_fanout *fo, uint64_t height,
                     const uint8_t block_hash[DP_WIRE_HASH_BYTES],
                     const struct dp_fanout_final_entry *entries, uint32_t count);

/* Main thread: frames to peers with a link leave sealed with `links` (NULL: none). */
void dp_fanout_use_links(struct dp_fanout *fo, struct dp_link_table *links);
/* Gossip peer `peer` is reached over link peer `link_peer` (-1: plain again). */
void dp_fanout_set_link(struct dp_fanout *fo, int peer, int link_peer);
/* Gossip peer `peer` gets nothing until `until_s` (a ban). */
void dp_fanout_set_banned(struct dp_fanout *fo, int peer, uint32_t until_s);
/* Whether gossip peer `peer` is banned at `now_s`. */
int dp_fanout_banned(const struct dp_fanout *fo, int peer, uint32_t now_s);
/* One datagram as it is (a link handshake) to `to`; dropped and counted without a buffer. */
void dp_fanout_raw(struct dp_fanout *fo, const struct sockaddr *to, socklen_t to_len,
                   const uint8_t *data, uint32_t len);

/* Drops subscriptions whose time has passed. Call after dp_fanout_flush(). */
void dp_fanout_expire(struct dp_fanout *fo, uint32_t now_s);
/* Closes every open frame and queues every open buffer for sending. */
void dp_fanout_flush(struct dp_fanout *fo);

/* Whether two socket addresses are the same host and port. */
int dp_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);

#endif
