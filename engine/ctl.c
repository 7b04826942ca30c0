/*
 * ctl: the control thread (engine/ctl.h): discovery, liveness, peer health, the peers file,
 * and the view the RPC server reads.
 *
 * Liveness: every peer in the routing table gets a PING each peer_check_interval with a fresh
 * random nonce; only a PONG that echoes the nonce we sent to that peer counts, so a replayed or
 * spoofed PONG proves nothing. A peer is connected while its last good PONG is younger than
 * 3 x interval; one silent for ENG_CTL_DROP_CHECKS x interval is forgotten.
 *
 * Amplification: a FIND is answered (two or three full datagrams) only to a connected peer, one
 * that has echoed our nonce from its address; anyone else first gets a PING no larger than
 * its request, and the answer follows its PONG. A spoofed source therefore never receives more
 * bytes than were sent in its name.
 *
 * Learning: any message introduces its sender (its signed record); NODES answers are accepted
 * only when they echo the nonce of a FIND we sent, so nobody can push records at us unasked.
 * A record older than the one held (a replay) or one that contradicts it rejects the whole
 * message.
 *
 * Known weakness: a node listening on 0.0.0.0 signs 0.0.0.0 into its record; peers that hear
 * from it directly use the datagram's source IP, but a node that learns it only second-hand
 * cannot reach it until it is pinged from that node. Operators should --listen on the address
 * peers can reach (docs/OPERATIONS.md).
 */
#include "engine/ctl.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "conf/maddr.h"
#include "dataplane/ctl_port.h"
#include "dataplane/idring.h"
#include "dataplane/linkio.h"
#include "dataplane/wire.h"
#include "engine/kad.h"
#include "engine/node_config.h"
#include "engine/noderec.h"
#include "engine/rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ENG_CTL_MISSED_CHECKS 3   /* silent for 3 intervals: disconnected */
#define ENG_CTL_DROP_CHECKS 30    /* silent for 30 intervals: forgotten */
#define ENG_CTL_SAVE_MS 500       /* peers file rewritten at most this often */
#define ENG_CTL_LOOKUP_TIMEOUT_MS 1000
#define ENG_CTL_STALL_MS 5000     /* /health: the view is republished every tick; 50 missed */
#define ENG_CTL_FRAME_BYTES DP_WIRE_MTU_DEFAULT

_Static_assert(ENG_CTL_FRAME_BYTES - DP_WIRE_FRAME_HDR_BYTES - DP_WIRE_REC_HDR_BYTES -
                       ENG_DISC_HDR_BYTES - 1 >= 2 * ENG_NODEREC_BYTES_MAX,
               "a NODES datagram holds the sender's record and at least one more");

struct boot_entry {
    uint64_t nonce;
    uint64_t sent_ms;
    uint32_t attempts;
    uint8_t answered;
};

struct eng_ctl_state {
    struct eng_ctl_params p;
    pthread_t thread;
    int thread_started;
    int stop_fd;
    int udp_fd;
    int own_fd;                 /* we bound the socket ourselves (no dataplane) */
    struct eng_kad_table table;
    struct eng_noderec self;
    uint8_t self_enc[ENG_NODEREC_BYTES_MAX];
    size_t self_enc_len;
    struct eng_kad_lookup lookup;
    uint64_t next_lookup_ms;
    uint32_t lookups_done;
    struct boot_entry boot[ENG_CTL_BOOTSTRAP_MAX];
    uint64_t next_boot_ms;
    struct eng_disc_stats stats;
    struct eng_rpc rpc;
    int rpc_started;
    struct eng_rpc_view view;
    uint64_t next_cron_ms;
    uint64_t next_save_ms;
    int dirty;
    uint64_t rate_prev_msgs;
    uint64_t rate_prev_ms;
    double msgs_per_s;
    struct eng_disc_msg msg;    /* decode scratch: large, so not on the stack */
    struct dp_ctl_msg rx;       /* receive scratch */
    struct eng_noderec nodes_out[ENG_KAD_K + 1]; /* NODES answer scratch */
    uint8_t dgram[DP_WIRE_FRAME_BYTES_MAX];      /* own-socket receive buffer */
    _Atomic uint32_t pub_connected;              /* last published counts, for any thread */
    _Atomic uint32_t pub_known;
};

static uint64_t random_u64(void)
{
    uint64_t v;
    do {
        randombytes_buf(&v, sizeof(v));
    } while (v == 0); /* 0 means "no ping outstanding" */
    return v;
}

static struct eng_kad_peer *first_peer(struct eng_ctl_state *s)
{
    return eng_kad_next(&s->table, NULL);
}

static struct eng_kad_peer *next_peer(struct eng_ctl_state *s, struct eng_kad_peer *p)
{
    return eng_kad_next(&s->table, p);
}

static uint32_t interval_ms(const struct eng_ctl_state *s)
{
    return s->p.peer_check_interval_ms;
}

/* ---- sending ----------------------------------------------------------------------------- */

static void send_frame(struct eng_ctl_state *s, const struct sockaddr *dst, socklen_t dst_len,
                       const uint8_t *body, size_t body_len)
{
    uint8_t frame[ENG_CTL_FRAME_BYTES];
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, frame, sizeof(frame));
    if (dp_wire_builder_add(&b, DP_WIRE_REC_DISCOVERY, body, (uint16_t)body_len) != 0) {
        eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_TX_ERRORS);
        return;
    }
    size_t len = dp_wire_builder_finish(&b);
    int rc;
    if (s->p.port != NULL) {
        rc = dp_ctl_port_send(s->p.port, dst, dst_len, frame, len);
    } else {
        rc = sendto(s->udp_fd, frame, len, MSG_DONTWAIT, dst, dst_len) < 0 ? -errno : 0;
    }
    eng_disc_stats_inc(&s->stats, rc == 0 ? ENG_DISC_STAT_TX : ENG_DISC_STAT_TX_ERRORS);
}

static void send_simple(struct eng_ctl_state *s, const struct sockaddr *dst, socklen_t dst_len,
                        uint8_t type, uint64_t nonce, const uint8_t *target)
{
    uint8_t body[ENG_CTL_FRAME_BYTES];
    int len = eng_disc_encode(body, sizeof(body), type, nonce, s->self_enc, s->self_enc_len,
                              target, NULL, 0);
    DC_ASSERT(len > 0);
    send_frame(s, dst, dst_len, body, (size_t)len);
}

static void send_ping(struct eng_ctl_state *s, struct eng_kad_peer *peer, uint64_t now)
{
    peer->prev_ping_nonce = peer->ping_nonce;
    peer->prev_ping_sent_ms = peer->ping_sent_ms;
    peer->ping_nonce = random_u64();
    peer->ping_sent_ms = now;
    send_simple(s, (struct sockaddr *)&peer->addr, peer->addr_len, ENG_DISC_PING,
                peer->ping_nonce, NULL);
}

/* Answers a FIND: the closest connected peers, as many datagrams as they need. */
static void send_nodes(struct eng_ctl_state *s, const struct sockaddr *dst, socklen_t dst_len,
                       uint64_t nonce, const uint8_t *target, const uint8_t *asker)
{
    struct eng_kad_peer *near[ENG_KAD_K + 1];
    size_t n = eng_kad_closest(&s->table, target, near, ENG_KAD_K + 1, 1);
    struct eng_noderec *recs = s->nodes_out;
    size_t count = 0;
    for (size_t i = 0; i < n && count < ENG_KAD_K; i++) {
        if (memcmp(near[i]->rec.id, asker, ENG_NODEREC_ID_BYTES) != 0) {
            recs[count++] = near[i]->rec;
        }
    }
    size_t budget = ENG_CTL_FRAME_BYTES - DP_WIRE_FRAME_HDR_BYTES - DP_WIRE_REC_HDR_BYTES -
                    ENG_DISC_HDR_BYTES - s->self_enc_len - 1;
    size_t first = 0;
    do {
        size_t used = 0, last = first;
        while (last < count && used + eng_noderec_size(&recs[last]) <= budget) {
            used += eng_noderec_size(&recs[last++]);
        }
        DC_ASSERT(last > first || count == 0); /* the largest record always fits the budget */
        uint8_t body[ENG_CTL_FRAME_BYTES];
        int len = eng_disc_encode(body, sizeof(body), ENG_DISC_NODES, nonce, s->self_enc,
                                  s->self_enc_len, NULL, recs + first, (uint8_t)(last - first));
        DC_ASSERT(len > 0);
        send_frame(s, dst, dst_len, body, (size_t)len);
        first = last;
    } while (first < count);
}

/* ---- learning ---------------------------------------------------------------------------- */

/* Where to reach a node: its record's address, or the source IP when it signed 0.0.0.0. */
static void contact_addr(const struct eng_noderec *rec, const struct sockaddr *src,
                         struct sockaddr_storage *out, socklen_t *len)
{
    const struct eng_noderec_addr *a = &rec->addrs[0];
    eng_noderec_addr_to_sockaddr(a, out, len);
    if (src != NULL && eng_noderec_addr_unspecified(a)) {
        struct eng_noderec_addr from;
        if (eng_noderec_addr_from_sockaddr(&from, src) == 0 && from.family == a->family) {
            from.port = a->port;
            eng_noderec_addr_to_sockaddr(&from, out, len);
        }
    }
}

/*
 * Adds or refreshes a node from a verified record. Returns its peer slot, or NULL when the
 * record is a replay, a conflict, our own, or its bucket is full (each counted).
 */
/* A verified identity and where to reach it, for the dataplane's peer links. */
static void offer_key(struct eng_ctl_state *s, const struct eng_noderec *rec,
                      const struct sockaddr_storage *addr, socklen_t addr_len)
{
    if (s->p.peer_keys == NULL) {
        return;
    }
    _Static_assert(DP_PEER_ROLE_RELAY == ENG_NODEREC_ROLE_RELAY, "one role numbering");
    _Static_assert(DP_PEER_ROLE_VALIDATOR == ENG_NODEREC_ROLE_VALIDATOR, "one role numbering");
    struct dp_peer_key k = { .addr_len = addr_len, .role = rec->role };
    memcpy(k.ed_pk, rec->pk, sizeof(k.ed_pk));
    memcpy(&k.addr, addr, addr_len);
    /* a full ring drops the offer: the record comes again with the next contact */
    (void)dp_idring_push_burst(s->p.peer_keys, &k, 1);
}

static struct eng_kad_peer *learn(struct eng_ctl_state *s, const struct eng_noderec *rec,
                                  const struct sockaddr *src, uint64_t now)
{
    if (memcmp(rec->id, s->self.id, ENG_NODEREC_ID_BYTES) == 0) {
        return NULL;
    }
    struct sockaddr_storage addr;
    socklen_t addr_len;
    contact_addr(rec, src, &addr, &addr_len);
    struct eng_kad_peer *peer = eng_kad_get(&s->table, rec->id);
    if (peer != NULL) {
        int rc = eng_noderec_supersedes(&peer->rec, rec);
        if (rc == DC_ESTALE || rc == DC_ECONFLICT) {
            eng_disc_stats_inc(&s->stats, rc == DC_ESTALE ? ENG_DISC_STAT_STALE_RECORD
                                                          : ENG_DISC_STAT_CONFLICT_RECORD);
            return NULL;
        }
        if (rc == 0) {
            peer->rec = *rec;
            peer->addr = addr;
            peer->addr_len = addr_len;
            s->dirty = 1;
            offer_key(s, rec, &addr, addr_len);
        }
        return peer;
    }
    int rc = eng_kad_insert(&s->table, rec, (struct sockaddr *)&addr, addr_len, now, &peer);
    if (rc == DC_EFULL) {
        eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_TABLE_FULL);
        return NULL;
    }
    DC_ASSERT(rc == 0);
    char hex[17], where[64];
    eng_hex(rec->id, 8, hex);
    eng_sockaddr_str((struct sockaddr *)&addr, where, sizeof(where));
    DC_INFO("ctl", "learned node %s at %s", hex, where);
    s->dirty = 1;
    offer_key(s, rec, &addr, addr_len);
    if (!s->lookup.active && s->next_lookup_ms > now + 200) {
        s->next_lookup_ms = now + 200; /* a new node may know more: look again soon */
    }
    return peer;
}

static void mark_alive(struct eng_ctl_state *s, struct eng_kad_peer *peer, uint64_t sent_ms,
                       uint64_t now)
{
    uint64_t rtt = now - sent_ms;
    peer->rtt_ms = (uint32_t)rtt;
    peer->last_pong_ms = now;
    peer->ping_nonce = 0;
    peer->prev_ping_nonce = 0;
    eng_histo_observe_us(&s->stats.rtt, rtt * 1000u);
    if (!peer->connected) {
        char hex[17];
        eng_hex(peer->rec.id, 8, hex);
        DC_INFO("ctl", "peer %s connected (rtt %llu ms)", hex, (unsigned long long)rtt);
        peer->connected = 1;
    }
}

/*
 * A node we cannot vouch for just spoke to us: ping it now rather than at its next round (an
 * older ping may be outstanding to its previous incarnation), at most every ENG_CTL_TICK_MS.
 */
static void check_now(struct eng_ctl_state *s, struct eng_kad_peer *peer, uint64_t now)
{
    if (peer->connected) {
        return;
    }
    if (peer->ping_nonce == 0 || now - peer->ping_sent_ms >= ENG_CTL_TICK_MS) {
        send_ping(s, peer, now);
    }
}

/* A FIND from a peer whose address is proven (connected) is answered at once; else later. */
static void on_find(struct eng_ctl_state *s, struct eng_kad_peer *peer,
                    const struct eng_disc_msg *m, uint64_t now)
{
    if (peer->connected) {
        send_nodes(s, (struct sockaddr *)&peer->addr, peer->addr_len, m->nonce, m->target,
                   peer->rec.id);
        return;
    }
    peer->find_nonce = m->nonce;
    memcpy(peer->find_target, m->target, sizeof(peer->find_target));
    check_now(s, peer, now);
}

static void on_pong(struct eng_ctl_state *s, struct eng_kad_peer *peer, uint64_t nonce,
                    uint64_t now)
{
    int matched = 0;
    if (peer->ping_nonce != 0 && peer->ping_nonce == nonce) {
        mark_alive(s, peer, peer->ping_sent_ms, now);
        matched = 1;
    } else if (peer->prev_ping_nonce != 0 && peer->prev_ping_nonce == nonce) {
        mark_alive(s, peer, peer->prev_ping_sent_ms, now);
        matched = 1;
    }
    for (uint32_t i = 0; i < s->p.bootstrap_count && !matched; i++) {
        if (s->boot[i].nonce != 0 && s->boot[i].nonce == nonce) {
            s->boot[i].nonce = 0;
            s->boot[i].answered = 1;
            mark_alive(s, peer, s->boot[i].sent_ms, now);
            matched = 1;
        }
    }
    if (!matched) {
        eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_UNSOLICITED);
        return;
    }
    if (peer->find_nonce != 0) {
        send_nodes(s, (struct sockaddr *)&peer->addr, peer->addr_len, peer->find_nonce,
                   peer->find_target, peer->rec.id);
        peer->find_nonce = 0;
    }
}

static void on_nodes(struct eng_ctl_state *s, const struct eng_disc_msg *m, uint64_t now)
{
    struct eng_kad_cand *c = s->lookup.active ? eng_kad_lookup_by_nonce(&s->lookup, m->nonce)
                                              : NULL;
    if (c == NULL || memcmp(c->id, m->sender.id, ENG_NODEREC_ID_BYTES) != 0) {
        eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_UNSOLICITED);
        return;
    }
    if (c->state == ENG_KAD_CAND_ASKED) {
        eng_kad_lookup_answered(&s->lookup, c);
    }
    for (uint8_t i = 0; i < m->node_count; i++) {
        struct eng_kad_peer *peer = learn(s, &m->nodes[i], NULL, now);
        if (peer != NULL) {
            eng_kad_lookup_add(&s->lookup, peer->rec.id, (struct sockaddr *)&peer->addr,
                               peer->addr_len);
        }
    }
}

/* Whether `rec` is exactly the (verified) record we hold for its node. */
static int held_same(void *arg, const struct eng_noderec *rec)
{
    struct eng_ctl_state *s = arg;
    struct eng_kad_peer *peer = eng_kad_get(&s->table, rec->id);
    return peer != NULL && peer->rec.seq == rec->seq && eng_noderec_equal(&peer->rec, rec);
}

static void count_bad(struct eng_ctl_state *s, int rc)
{
    eng_disc_stats_inc(&s->stats, rc == DC_ESIGNATURE ? ENG_DISC_STAT_BAD_SIGNATURE
                                                      : ENG_DISC_STAT_BAD_MALFORMED);
}

/* One DISCOVERY record body from `src`. */
static void handle_discovery(struct eng_ctl_state *s, const uint8_t *body, size_t len,
                             const struct sockaddr *src, socklen_t src_len, uint64_t now)
{
    eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_RX);
    struct eng_disc_msg *m = &s->msg;
    const struct eng_disc_held held = { .same = held_same, .arg = s };
    int rc = eng_disc_decode_held(m, body, len, &held);
    if (rc != 0) {
        count_bad(s, rc);
        return;
    }
    static const enum eng_disc_stat per_type[] = {
        [ENG_DISC_PING] = ENG_DISC_STAT_RX_PING, [ENG_DISC_PONG] = ENG_DISC_STAT_RX_PONG,
        [ENG_DISC_FIND] = ENG_DISC_STAT_RX_FIND, [ENG_DISC_NODES] = ENG_DISC_STAT_RX_NODES,
    };
    eng_disc_stats_inc(&s->stats, per_type[m->type]);
    struct eng_kad_peer *peer = learn(s, &m->sender, src, now);
    if (peer == NULL) {
        /* Our own echo, a replay, a conflict (the sender is held), or no room in its bucket.
         * With no room we still answer a PING: the bucket is full of live peers, which is no
         * reason for the sender to think us dead (it would forget us, and then flap). */
        if (m->type == ENG_DISC_PING && eng_kad_get(&s->table, m->sender.id) == NULL &&
            memcmp(m->sender.id, s->self.id, ENG_NODEREC_ID_BYTES) != 0) {
            send_simple(s, src, src_len, ENG_DISC_PONG, m->nonce, NULL);
        }
        return;
    }
    switch (m->type) {
    case ENG_DISC_PING:
        send_simple(s, src, src_len, ENG_DISC_PONG, m->nonce, NULL);
        check_now(s, peer, now);
        break;
    case ENG_DISC_PONG:
        on_pong(s, peer, m->nonce, now);
        break;
    case ENG_DISC_FIND:
        on_find(s, peer, m, now);
        break;
    default:
        on_nodes(s, m, now);
        break;
    }
}

/* ---- receiving --------------------------------------------------------------------------- */

static void handle_record(struct eng_ctl_state *s, uint8_t type, const uint8_t *body,
                          size_t len, const struct sockaddr *src, socklen_t src_len,
                          uint64_t now)
{
    if (type == DP_WIRE_REC_DISCOVERY) {
        handle_discovery(s, body, len, src, src_len, now);
    } else if (type == DP_WIRE_REC_CONSENSUS) {
        /* consensus has a thread of its own fed by the dataplane (consensus/lcore.h): one
         * here reached a node without a chain (a relay without a genesis) */
        eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_CONSENSUS_UNHANDLED);
    }
}

/* Own-socket mode: read every waiting datagram and hand its control records on. */
static void drain_socket(struct eng_ctl_state *s)
{
    uint8_t *buf = s->dgram;
    for (int budget = 0; budget < 256; budget++) {
        struct sockaddr_storage src;
        socklen_t src_len = sizeof(src);
        ssize_t n = recvfrom(s->udp_fd, buf, sizeof(s->dgram), MSG_DONTWAIT,
                             (struct sockaddr *)&src, &src_len);
        if (n < 0) {
            return;
        }
        struct dp_wire_iter it;
        if (dp_wire_frame_open(&it, buf, (size_t)n) != 0) {
            eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_BAD_MALFORMED);
            continue;
        }
        struct dp_wire_rec rec;
        uint64_t now = eng_now_ms();
        while (dp_wire_next(&it, &rec)) {
            handle_record(s, rec.type, rec.body, rec.body_len, (struct sockaddr *)&src, src_len,
                          now);
        }
    }
}

static void drain_port(struct eng_ctl_state *s)
{
    dp_ctl_port_drain_event(s->p.port);
    for (int budget = 0; budget < 1024 && dp_ctl_port_recv(s->p.port, &s->rx); budget++) {
        handle_record(s, s->rx.type, s->rx.body, s->rx.body_len, (struct sockaddr *)&s->rx.src,
                      s->rx.src_len, eng_now_ms());
    }
}

/* ---- peers file -------------------------------------------------------------------------- */

static void peers_path(const struct eng_ctl_state *s, char *out, size_t size, const char *suffix)
{
    snprintf(out, size, "%s/peers%s", s->p.data_dir, suffix);
}

/* Writes "seq N" and one hex record per known peer; atomically replaces the old file. */
static void save_peers(struct eng_ctl_state *s)
{
    if (s->p.data_dir[0] == '\0') {
        return;
    }
    char tmp[ENG_CTL_PATH_MAX + 16], path[ENG_CTL_PATH_MAX + 16];
    peers_path(s, tmp, sizeof(tmp), ".tmp");
    peers_path(s, path, sizeof(path), "");
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        DC_WARN("ctl", "cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    fprintf(f, "# dchat known peers: our record sequence, then one signed node record per line\n");
    fprintf(f, "seq %llu\n", (unsigned long long)s->self.seq);
    for (struct eng_kad_peer *p = first_peer(s); p != NULL; p = next_peer(s, p)) {
        uint8_t enc[ENG_NODEREC_BYTES_MAX];
        char hex[2 * ENG_NODEREC_BYTES_MAX + 1];
        int len = eng_noderec_encode(&p->rec, enc, sizeof(enc));
        eng_hex(enc, (size_t)len, hex);
        fprintf(f, "%s\n", hex);
    }
    int bad = ferror(f);
    bad |= fclose(f);
    if (bad || rename(tmp, path) != 0) {
        DC_WARN("ctl", "cannot save %s", path);
        unlink(tmp);
        return;
    }
    s->dirty = 0;
}

static void load_peer_line(struct eng_ctl_state *s, const char *line, uint64_t *seq, int lineno)
{
    unsigned long long n;
    if (sscanf(line, "seq %llu", &n) == 1) {
        *seq = n;
        return;
    }
    size_t hex_len = strcspn(line, "\r\n");
    uint8_t enc[ENG_NODEREC_BYTES_MAX];
    struct eng_noderec rec;
    if (hex_len % 2 != 0 || hex_len / 2 > sizeof(enc)) {
        DC_WARN("ctl", "peers file line %d: not a node record, skipped", lineno);
        return;
    }
    char hex[2 * ENG_NODEREC_BYTES_MAX + 1];
    memcpy(hex, line, hex_len);
    hex[hex_len] = '\0';
    if (eng_unhex(hex, enc, hex_len / 2) != 0 ||
        eng_noderec_decode(&rec, enc, hex_len / 2) != (int)(hex_len / 2)) {
        DC_WARN("ctl", "peers file line %d: not a valid signed record, skipped", lineno);
        return;
    }
    learn(s, &rec, NULL, eng_now_ms());
}

/* Loads saved peers; returns the sequence number we used last (0 when none). */
static uint64_t load_peers(struct eng_ctl_state *s)
{
    uint64_t seq = 0;
    if (s->p.data_dir[0] == '\0') {
        return 0;
    }
    char path[ENG_CTL_PATH_MAX + 16];
    peers_path(s, path, sizeof(path), "");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    char line[2 * ENG_NODEREC_BYTES_MAX + 64];
    int lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (line[0] != '#' && line[0] != '\n') {
            load_peer_line(s, line, &seq, lineno);
        }
    }
    fclose(f);
    DC_INFO("ctl", "loaded %u known peers from %s", s->table.count, path);
    return seq;
}

/* ---- cron -------------------------------------------------------------------------------- */

/* Liveness for one peer: ping when due, connected/disconnected transitions, forgetting. */
static void check_peer(struct eng_ctl_state *s, struct eng_kad_peer *peer, uint64_t now)
{
    uint64_t iv = interval_ms(s);
    if (peer->ping_sent_ms == 0 || now - peer->ping_sent_ms >= iv) {
        send_ping(s, peer, now);
    }
    if (peer->connected && now - peer->last_pong_ms >= ENG_CTL_MISSED_CHECKS * iv) {
        char hex[17];
        eng_hex(peer->rec.id, 8, hex);
        DC_WARN("ctl", "peer %s disconnected (no answer for %llu ms)", hex,
                (unsigned long long)(now - peer->last_pong_ms));
        peer->connected = 0;
        eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_PEERS_DISCONNECTED);
    }
    uint64_t heard = peer->last_pong_ms > peer->added_ms ? peer->last_pong_ms : peer->added_ms;
    if (!peer->connected && now - heard >= ENG_CTL_DROP_CHECKS * iv) {
        eng_kad_remove(&s->table, peer->rec.id);
        eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_PEERS_DROPPED);
        s->dirty = 1;
    }
}

static uint32_t connected_count(struct eng_ctl_state *s)
{
    uint32_t n = 0;
    for (struct eng_kad_peer *p = first_peer(s); p != NULL; p = next_peer(s, p)) {
        n += p->connected;
    }
    return n;
}

/* A retried bootstrap address given as a name: resolve it again (DNS may have moved it). */
static void resolve_again(struct eng_ctl_state *s, uint32_t i)
{
    const char *text = s->p.bootstrap_text[i];
    struct conf_maddr maddr;
    struct sockaddr_storage found[8];
    size_t count = 0;
    if (text[0] == '\0' || conf_maddr_parse(&maddr, text, NULL) != 0 ||
        (maddr.kind == CONF_MADDR_IP4 || maddr.kind == CONF_MADDR_IP6) ||
        conf_maddr_resolve(&maddr, found, DC_ARRAY_LEN(found), &count) != 0) {
        return; /* numeric, or no answer now: keep the address we have */
    }
    size_t pick = 0;
    while (pick < count && found[pick].ss_family != s->p.listen.ss_family) {
        pick++; /* our one socket speaks one family */
    }
    if (pick == count) {
        return;
    }
    struct sockaddr_storage sa = found[pick];
    if (!eng_sockaddr_equal((struct sockaddr *)&sa, (struct sockaddr *)&s->p.bootstrap[i])) {
        char where[64];
        eng_sockaddr_str((struct sockaddr *)&sa, where, sizeof(where));
        DC_INFO("ctl", "bootstrap %s now resolves to %s", text, where);
        s->p.bootstrap[i] = sa;
        s->p.bootstrap_len[i] = sa.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                        : sizeof(struct sockaddr_in6);
    }
}

/*
 * Knock on every bootstrap address until it has answered once: being connected to someone else
 * is not enough (two halves started at the same moment would otherwise never meet). When no
 * peer answers any more, start over.
 */
static void bootstrap(struct eng_ctl_state *s, uint64_t now)
{
    if (now < s->next_boot_ms) {
        return;
    }
    s->next_boot_ms = now + interval_ms(s);
    int alone = connected_count(s) == 0;
    for (uint32_t i = 0; i < s->p.bootstrap_count; i++) {
        if (alone) {
            s->boot[i].answered = 0;
        }
        if (s->boot[i].answered || eng_sockaddr_equal((struct sockaddr *)&s->p.bootstrap[i],
                                                      (struct sockaddr *)&s->p.listen)) {
            continue; /* reached, or our own address in a shared bootstrap list */
        }
        if (s->boot[i].attempts++ > 0 || s->p.bootstrap_len[i] == 0) {
            resolve_again(s, i);
        }
        if (s->p.bootstrap_len[i] == 0) {
            continue; /* a name that does not resolve yet: try again next round */
        }
        s->boot[i].nonce = random_u64();
        s->boot[i].sent_ms = now;
        send_simple(s, (struct sockaddr *)&s->p.bootstrap[i], s->p.bootstrap_len[i],
                    ENG_DISC_PING, s->boot[i].nonce, NULL);
    }
}

static void start_lookup(struct eng_ctl_state *s, uint64_t now)
{
    uint8_t target[ENG_NODEREC_ID_BYTES];
    if (s->lookups_done % 2 == 0) {
        memcpy(target, s->self.id, sizeof(target)); /* our neighbourhood first */
    } else {
        randombytes_buf(target, sizeof(target));    /* then a random far region */
    }
    eng_kad_lookup_start(&s->lookup, target);
    struct eng_kad_peer *near[ENG_KAD_K];
    size_t n = eng_kad_closest(&s->table, target, near, ENG_KAD_K, 1);
    for (size_t i = 0; i < n; i++) {
        eng_kad_lookup_add(&s->lookup, near[i]->rec.id, (struct sockaddr *)&near[i]->addr,
                           near[i]->addr_len);
    }
    eng_disc_stats_inc(&s->stats, ENG_DISC_STAT_LOOKUPS);
    (void)now;
}

static void drive_lookup(struct eng_ctl_state *s, uint64_t now)
{
    uint64_t refresh = 10ull * interval_ms(s);
    if (!s->lookup.active) {
        if (now < s->next_lookup_ms || connected_count(s) == 0) {
            return;
        }
        start_lookup(s, now);
    }
    eng_kad_lookup_expire(&s->lookup, now, ENG_CTL_LOOKUP_TIMEOUT_MS);
    struct eng_kad_cand *c;
    while ((c = eng_kad_lookup_next(&s->lookup, now, random_u64())) != NULL) {
        send_simple(s, (struct sockaddr *)&c->addr, c->addr_len, ENG_DISC_FIND, c->nonce,
                    s->lookup.target);
    }
    if (eng_kad_lookup_done(&s->lookup)) {
        s->lookup.active = 0;
        s->lookups_done++;
        s->next_lookup_ms = now + (refresh < 2000 ? 2000 : refresh);
    }
}

static void publish(struct eng_ctl_state *s, uint64_t now)
{
    struct eng_rpc_view *v = &s->view;
    v->peer_count = 0;
    v->connected_peers = 0;
    for (struct eng_kad_peer *p = first_peer(s); p != NULL; p = next_peer(s, p)) {
        struct eng_rpc_peer *out = &v->peers[v->peer_count++];
        eng_hex(p->rec.id, ENG_NODEREC_ID_BYTES, out->id);
        eng_sockaddr_str((struct sockaddr *)&p->addr, out->address, sizeof(out->address));
        out->latency_ms = p->rtt_ms;
        out->role = p->rec.role;
        out->connected = p->connected;
        v->connected_peers += p->connected;
    }
    v->known_peers = v->peer_count + 1;
    v->published_ms = now;
    if (s->p.port != NULL && now - s->rate_prev_ms >= 1000) {
        struct dp_stats st;
        dp_ctl_port_stats(s->p.port, &st);
        uint64_t msgs = st.v[DP_STAT_RX_MSGS];
        s->msgs_per_s = s->rate_prev_ms == 0 ? 0.0
                        : (double)(msgs - s->rate_prev_msgs) * 1000.0 /
                              (double)(now - s->rate_prev_ms);
        s->rate_prev_msgs = msgs;
        s->rate_prev_ms = now;
    }
    v->messages_per_s = s->msgs_per_s;
    atomic_store_explicit(&s->pub_connected, v->connected_peers, memory_order_relaxed);
    atomic_store_explicit(&s->pub_known, v->known_peers, memory_order_relaxed);
    if (s->rpc_started) {
        eng_rpc_publish(&s->rpc, v);
    }
}

/* Housekeeping at a fixed rate: liveness, bootstrap, lookups, the peers file, the view. */
void eng_ctl_cron(struct eng_ctl_state *s, uint64_t now)
{
    struct eng_kad_peer *p = eng_kad_next(&s->table, NULL);
    while (p != NULL) {
        struct eng_kad_peer *next = eng_kad_next(&s->table, p);
        check_peer(s, p, now); /* may free p's slot: the next one was taken first */
        p = next;
    }
    bootstrap(s, now);
    drive_lookup(s, now);
    if (s->dirty && now >= s->next_save_ms) {
        save_peers(s);
        s->next_save_ms = now + ENG_CTL_SAVE_MS;
    }
    publish(s, now);
}

/* ---- the loop and lifecycle -------------------------------------------------------------- */

void eng_ctl_main_loop(struct eng_ctl_state *s)
{
    struct pollfd fds[2] = {
        { .fd = s->stop_fd, .events = POLLIN },
        { .fd = s->p.port ? dp_ctl_port_event_fd(s->p.port) : s->udp_fd, .events = POLLIN },
    };
    for (;;) {
        uint64_t now = eng_now_ms();
        int wait = now >= s->next_cron_ms ? 0 : (int)(s->next_cron_ms - now);
        int n = poll(fds, 2, wait);
        if (n < 0 && errno != EINTR) {
            DC_ERROR("ctl", "poll failed: %s", strerror(errno));
            return;
        }
        if (fds[0].revents & POLLIN) {
            return;
        }
        if (s->p.port != NULL) {
            drain_port(s);
        } else if (fds[1].revents & POLLIN) {
            drain_socket(s);
        }
        now = eng_now_ms();
        if (now >= s->next_cron_ms) {
            eng_ctl_cron(s, now);
            s->next_cron_ms = now + ENG_CTL_TICK_MS;
        }
    }
}

static void *ctl_thread(void *arg)
{
    eng_ctl_main_loop(arg);
    return NULL;
}

static int open_socket(struct eng_ctl_state *s)
{
    int fd = socket(s->p.listen.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    if (bind(fd, (struct sockaddr *)&s->p.listen, s->p.listen_len) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    socklen_t len = sizeof(s->p.listen);
    getsockname(fd, (struct sockaddr *)&s->p.listen, &len); /* the real port, when 0 */
    s->p.listen_len = len;
    s->udp_fd = fd;
    s->own_fd = 1;
    return 0;
}

static int make_self(struct eng_ctl_state *s, uint64_t saved_seq)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seq = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    if (seq <= saved_seq) {
        seq = saved_seq + 1; /* a clock that went back must not make our record a "replay" */
    }
    struct eng_noderec_addr addr;
    int rc = eng_noderec_addr_from_sockaddr(&addr, (struct sockaddr *)&s->p.listen);
    if (rc == 0) {
        rc = eng_noderec_make(&s->self, s->p.key.sk, s->p.role, seq, &addr, 1);
    }
    if (rc != 0) {
        return rc;
    }
    s->self_enc_len = (size_t)eng_noderec_encode(&s->self, s->self_enc, sizeof(s->self_enc));
    eng_hex(s->self.id, ENG_NODEREC_ID_BYTES, s->view.id);
    eng_sockaddr_str((struct sockaddr *)&s->p.listen, s->view.address, sizeof(s->view.address));
    s->view.role = s->p.role;
    s->view.record_seq = seq;
    s->dirty = 1;
    return 0;
}

static int ensure_dir(const char *dir)
{
    if (dir[0] == '\0') {
        return 0;
    }
    char path[ENG_CTL_PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return -errno;
    }
    return access(path, W_OK) == 0 ? 0 : -errno;
}

/* Everything but the threads. Unwinds itself on error. */
static int setup(struct eng_ctl_state *s)
{
    int rc = ensure_dir(s->p.data_dir);
    if (rc != 0) {
        DC_ERROR("ctl", "data directory %s is not usable: %s", s->p.data_dir, dc_strerror(rc));
        return rc;
    }
    if (s->p.port == NULL && s->p.udp_fd < 0) {
        rc = open_socket(s);
        if (rc != 0) {
            char text[64];
            eng_sockaddr_str((struct sockaddr *)&s->p.listen, text, sizeof(text));
            DC_ERROR("ctl", "cannot bind %s: %s", text, dc_strerror(rc));
            return rc;
        }
    }
    s->view.peers = dc_alloc(ENG_RPC_PEERS_MAX * sizeof(s->view.peers[0]));
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->view.peers == NULL || s->stop_fd < 0 || eng_kad_init(&s->table, s->p.key.id) != 0) {
        DC_ERROR("ctl", "out of memory or file descriptors");
        return -ENOMEM;
    }
    rc = make_self(s, load_peers(s));
    if (rc != 0) {
        DC_ERROR("ctl", "cannot make our node record: %s", dc_strerror(rc));
        return rc;
    }
    if (s->p.rpc_len > 0) {
        rc = eng_rpc_start(&s->rpc, (struct sockaddr *)&s->p.rpc, s->p.rpc_len, s->p.port,
                           &s->stats, ENG_CTL_STALL_MS);
        if (rc != 0) {
            return rc;
        }
        s->rpc_started = 1;
    }
    return 0;
}

static void teardown(struct eng_ctl_state *s)
{
    if (s->rpc_started) {
        eng_rpc_stop(&s->rpc);
    }
    if (s->table.buckets != NULL) {
        save_peers(s);
        eng_kad_fini(&s->table);
    }
    if (s->stop_fd >= 0) {
        close(s->stop_fd);
    }
    if (s->own_fd) {
        close(s->udp_fd);
    }
    dc_free(s->view.peers);
    sodium_memzero(&s->p.key, sizeof(s->p.key));
    dc_free(s);
}

int eng_ctl_start_params(struct eng_ctl *ctl, const struct eng_ctl_params *params)
{
    ctl->state = NULL;
    const char *bad = params->peer_check_interval_ms == 0 ? "peer check interval is 0"
                      : params->listen_len == 0                ? "no listen address"
                      : params->bootstrap_count > ENG_CTL_BOOTSTRAP_MAX
                          ? "too many bootstrap addresses"
                          : NULL;
    if (bad != NULL) {
        DC_ERROR("ctl", "cannot start the control plane: %s", bad);
        return DC_ECONFIG;
    }
    if (sodium_init() < 0) {
        return -EIO;
    }
    struct eng_ctl_state *s = dc_alloc(sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->p = *params;
    s->udp_fd = params->udp_fd;
    s->stop_fd = -1;
    eng_disc_stats_init(&s->stats);
    int rc = setup(s);
    if (rc == 0) {
        publish(s, eng_now_ms());
        rc = -pthread_create(&s->thread, NULL, ctl_thread, s);
    }
    if (rc != 0) {
        teardown(s);
        return rc;
    }
    s->thread_started = 1;
    ctl->state = s;
    char hex[65];
    eng_hex(s->self.id, ENG_NODEREC_ID_BYTES, hex);
    DC_INFO("ctl", "node %s on %s: %u bootstrap address(es), %u saved peer(s)", hex,
            s->view.address, params->bootstrap_count, s->table.count);
    return 0;
}

void eng_ctl_params_from_config(struct eng_ctl_params *p, const struct eng_node_config *cfg,
                                const struct eng_key *key, struct dp_ctl_port *port)
{
    memset(p, 0, sizeof(*p));
    p->key = *key;
    p->role = cfg->role == ENG_NODE_ROLE_VALIDATOR ? ENG_NODEREC_ROLE_VALIDATOR
                                                   : ENG_NODEREC_ROLE_RELAY;
    socklen_t len = 0;
    const struct sockaddr *local = port ? dp_ctl_port_local_addr(port, &len) : NULL;
    if (local != NULL && len > 0) {
        memcpy(&p->listen, local, len); /* the bound address: the real port when 0 was asked */
        p->listen_len = len;
    } else {
        memcpy(&p->listen, &cfg->listen.sa, cfg->listen.sa_len);
        p->listen_len = cfg->listen.sa_len;
    }
    if (cfg->rpc_listen.text[0] != '\0') {
        memcpy(&p->rpc, &cfg->rpc_listen.sa, cfg->rpc_listen.sa_len);
        p->rpc_len = cfg->rpc_listen.sa_len;
    }
    snprintf(p->data_dir, sizeof(p->data_dir), "%s", cfg->data_dir);
    for (uint32_t i = 0; i < cfg->bootstrap_count && i < ENG_CTL_BOOTSTRAP_MAX; i++) {
        memcpy(&p->bootstrap[i], &cfg->bootstrap[i].sa, cfg->bootstrap[i].sa_len);
        p->bootstrap_len[i] = cfg->bootstrap[i].sa_len;
        snprintf(p->bootstrap_text[i], sizeof(p->bootstrap_text[i]), "%s", cfg->bootstrap[i].text);
        p->bootstrap_count++;
    }
    p->peer_check_interval_ms = cfg->peer_check_interval_s * 1000u;
    p->udp_fd = port ? dp_ctl_port_udp_fd(port) : -1;
    p->port = port;
}

int eng_ctl_start(struct eng_ctl *ctl, const struct eng_node_config *cfg,
                  const struct eng_key *key, struct dp_ctl_port *port,
                  struct dp_idring *peer_keys)
{
    static struct eng_ctl_params p; /* large; only the main thread starts a control plane */
    ctl->state = NULL;
    eng_ctl_params_from_config(&p, cfg, key, port);
    p.peer_keys = peer_keys;
    int rc = eng_ctl_start_params(ctl, &p);
    sodium_memzero(&p.key, sizeof(p.key));
    return rc;
}

int eng_ctl_rpc_port(const struct eng_ctl *ctl, uint16_t *port_out)
{
    if (ctl->state == NULL || !ctl->state->rpc_started) {
        return DC_ENOTFOUND;
    }
    *port_out = eng_rpc_port(&ctl->state->rpc);
    return 0;
}

int eng_ctl_listen_addr(const struct eng_ctl *ctl, struct sockaddr_storage *out,
                        socklen_t *len_out)
{
    if (ctl->state == NULL) {
        return DC_ENOTFOUND;
    }
    *out = ctl->state->p.listen;
    *len_out = ctl->state->p.listen_len;
    return 0;
}

void eng_ctl_peer_counts(const struct eng_ctl *ctl, uint32_t *connected, uint32_t *known)
{
    *connected = 0;
    *known = 0;
    if (ctl->state != NULL) {
        *connected = atomic_load_explicit(&ctl->state->pub_connected, memory_order_relaxed);
        *known = atomic_load_explicit(&ctl->state->pub_known, memory_order_relaxed);
    }
}

void eng_ctl_set_chain(struct eng_ctl *ctl, const struct eng_rpc_chain *chain)
{
    if (ctl->state != NULL && ctl->state->rpc_started) {
        eng_rpc_set_chain(&ctl->state->rpc, chain);
    }
}

void eng_ctl_set_consensus(struct eng_ctl *ctl, const struct eng_rpc_consensus *cons)
{
    if (ctl->state != NULL && ctl->state->rpc_started) {
        eng_rpc_set_consensus(&ctl->state->rpc, cons);
    }
}

void eng_ctl_set_follow(struct eng_ctl *ctl, const struct eng_rpc_follow *follow)
{
    if (ctl->state != NULL && ctl->state->rpc_started) {
        eng_rpc_set_follow(&ctl->state->rpc, follow);
    }
}

void eng_ctl_set_chain_source(struct eng_ctl *ctl, const struct eng_rpc_chain_source *src)
{
    if (ctl->state != NULL && ctl->state->rpc_started) {
        eng_rpc_set_chain_source(&ctl->state->rpc, src);
    }
}

void eng_ctl_stop(struct eng_ctl *ctl)
{
    struct eng_ctl_state *s = ctl->state;
    if (s == NULL) {
        return;
    }
    uint64_t one = 1;
    if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one)) {
        DC_WARN("ctl", "cannot signal the control thread: %s", strerror(errno));
    }
    if (s->thread_started) {
        pthread_join(s->thread, NULL);
    }
    teardown(s);
    ctl->state = NULL;
}
