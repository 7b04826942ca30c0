/*
 * linkio: the I/O thread's peer links (dataplane/link.h) wired to its fan-out and receive path.
 *
 * Gossip between dataplanes travels over authenticated, encrypted links, so a message is
 * verified once, where it enters the network, and re-verified by the next hops only in a
 * random sample (1 in `sample_every`). A peer whose sampled message fails its signature check
 * is cut off: banned for `ban_s` seconds (its link packets are dropped, nothing is sent to it),
 * counted and logged.
 *
 * Keys: a link needs the peer's Ed25519 identity. The control thread learns identities from
 * signed node records (discovery) and pushes (key, address) pairs onto the keys ring; the I/O
 * thread adds each as a link peer, and a peer whose address is one of the dataplane's gossip
 * peers (--peers) becomes that fan-out destination's link: the I/O thread initiates the
 * handshake, and once a session can seal, every frame to that peer leaves sealed. A relay
 * also gossips to the relays and validators discovery finds, until it has `mesh_max` gossip
 * peers (the configured ones count): adding a relay to a network needs no one's --peers.
 * Until a session can seal, and whenever one cannot, frames leave plain and the receiver
 * verifies them all, as before links existed. Users (clients) always send plain signed messages.
 *
 * Time: the dataplane's coarse clock in seconds (x 1000 for the link module's milliseconds):
 * handshake retries (5 s) and rekeying (120 s) need no finer grain.
 *
 * I/O thread only; init/fini on the main thread.
 */
#ifndef DP_LINKIO_H
#define DP_LINKIO_H

#include "dataplane/fanout.h"
#include "dataplane/idring.h"
#include "dataplane/link.h"

#include <stdint.h>
#include <sys/socket.h>

#define DP_LINKIO_PEERS_MAX 1024
#define DP_LINKIO_KEYS_PER_PASS 64

#define DP_PEER_ROLE_RELAY 1      /* = ENG_NODEREC_ROLE_RELAY */
#define DP_PEER_ROLE_VALIDATOR 2  /* = ENG_NODEREC_ROLE_VALIDATOR */

/* One identity the control thread learnt: an item of the keys ring. */
struct dp_peer_key {
    uint8_t ed_pk[32];
    uint8_t role;                     /* DP_PEER_ROLE_* */
    socklen_t addr_len;
    struct sockaddr_storage addr;
};

struct dp_linkio {
    struct dp_link_table t;
    struct dp_idring *keys;           /* control thread -> I/O thread: struct dp_peer_key */
    int16_t fanout_of[DP_LINKIO_PEERS_MAX]; /* link peer -> fan-out peer, -1: none */
    uint32_t banned_until_s[DP_LINKIO_PEERS_MAX];
    uint32_t ban_s;
    uint32_t sample_every;            /* re-verify 1 in this many messages from links */
    uint32_t mesh_max;                /* gossip peers to reach with those discovery finds */
    uint64_t rng;
    uint8_t out[DP_LINK_PACKET_BYTES_MAX]; /* plaintext or a reply */
};

/* Main thread. `ed_sk`: the node's 64-byte key. 0, -EINVAL, -ENOMEM or DC_EMALFORMED. */
int dp_linkio_init(struct dp_linkio *lio, const uint8_t ed_sk[64], struct dp_idring *keys,
                   uint32_t sample_every, uint32_t ban_s, uint64_t wall_offset_ms);
/* Main thread, before launch: reach up to `mesh_max` gossip peers with discovered nodes. */
void dp_linkio_set_mesh(struct dp_linkio *lio, uint32_t mesh_max);
void dp_linkio_fini(struct dp_linkio *lio);

/* New identities from the keys ring, and the handshakes that are due. Once a second. */
void dp_linkio_tick(struct dp_linkio *lio, struct dp_fanout *fo, uint32_t now_s);

/*
 * One received link packet. Sends what the handshake asks for; returns the plaintext frame of
 * an authenticated data packet (valid until the next call) with its length, the link peer and
 * the fan-out peer it is (-1: a link peer we do not gossip to), or NULL (handshake, keepalive,
 * a drop: counted in lio->t.stats and `stats`).
 */
const uint8_t *dp_linkio_rx(struct dp_linkio *lio, struct dp_fanout *fo,
                            struct dp_stats_block *stats, const struct dp_rx_pkt *pkt,
                            uint32_t now_s, size_t *len_out, int *link_peer_out,
                            int *fanout_peer_out);

/* Whether the next message from a link should be re-verified (1 in sample_every). */
int dp_linkio_sample(struct dp_linkio *lio);

/* A sampled message from `link_peer` failed its signature: ban the peer. */
void dp_linkio_ban(struct dp_linkio *lio, struct dp_fanout *fo, struct dp_stats_block *stats,
                   int link_peer, uint32_t now_s);

#endif
