/*
 * validator: the state machine on the control thread (see validator.h).
 */
#include "engine/validator.h"

#include "engine/ctl.h"
#include "engine/key.h"
#include "engine/node_config.h"
#include "engine/rpc.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "consensus/datadir.h"
#include "consensus/machine.h"
#include "dataplane/ctl_port.h"
#include "dataplane/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Round-0 timeouts in control ticks (100 ms): loopback and LAN answer in far less. */
#define TIMEOUT_PROPOSE_TICKS 20
#define TIMEOUT_VOTE_TICKS 10
#define TIMEOUT_DELTA_TICKS 5
#define REBROADCAST_TICKS 20
#define SYNC_RETRY_TICKS 10
#define MEMPOOL_IDS_MAX 65536u
#define RECENT_IDS_MAX 262144u
#define BODY_MAX DP_CTL_BODY_BYTES_MAX
#define FRAME_MAX (DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES + BODY_MAX)
#define SUB_RENEW_MS 10000u           /* well inside the relay's subscription expiry */
#define SUB_DATAGRAMS_PER_CALL 4096u  /* bounds one drain, so consensus is never starved */
#define SUB_RCVBUF_BYTES (8 << 20)
#define SUB_RX_BYTES 65536u

struct val_peer {
    struct sockaddr_storage sa;
    socklen_t len;
    uint64_t heard_ms; /* 0: never */
};

struct eng_validator_state {
    struct cons_datadir dd;
    struct cons_machine *m;
    void *arena;
    struct cons_actions *out;
    struct cons_block rx_block;      /* decode storage for received messages */
    struct cons_cert rx_cert;
    uint8_t (*rx_ids)[CONS_ID_BYTES];
    uint8_t body[BODY_MAX];
    uint8_t frame[FRAME_MAX];
    struct dp_ctl_port *port;
    struct val_peer peers[CONS_VALIDATORS_MAX];
    uint32_t self;
    uint32_t count;
    int dd_open;
    int begun;
    int failed;                      /* storage failed: do nothing more, the node stops */
    _Atomic(struct eng_ctl *) ctl;   /* set once the control thread runs */
    struct eng_rpc_chain published;
    /* Message intake: a subscription to our own dataplane on a socket of our own. */
    int sub_fd;                      /* -1: none */
    struct sockaddr_storage node_addr;
    socklen_t node_len;
    uint64_t sub_sent_ms;
    uint8_t *sub_rx;
    uint64_t ids_submitted;
    uint64_t ids_refused;            /* mempool full, or already pending/committed */
    uint64_t ids_committed;
    struct dc_log_limit commit_log;
    struct dc_log_limit oversize_log;
    uint64_t oversize_drops;
    uint64_t send_errors;
    uint64_t bad_msgs;
};

/* ---- opening ---- */

/* Ids per block such that a proposal and a sync block (with its certificate) fit a record. */
static int32_t block_ids_fit(uint32_t validators)
{
    int32_t cert = 8 + 4 + CONS_HASH_BYTES + 2 + (int32_t)(validators * CONS_CERT_SIG_BYTES);
    int32_t extra = cert > CONS_PROPOSAL_BYTES ? cert : CONS_PROPOSAL_BYTES;
    int32_t room = (int32_t)BODY_MAX - 16 - (int32_t)CONS_HEADER_BYTES_MAX - extra;
    int32_t ids = room / CONS_ID_BYTES;
    return ids > 64 ? 64 : ids;
}

static int find_self(struct eng_validator_state *s, const struct eng_key *key, char *err,
                     size_t err_size)
{
    const struct cons_genesis *g = &s->dd.genesis;
    for (uint32_t i = 0; i < g->count; i++) {
        if (memcmp(g->validators[i].public_key, key->pk, CONS_PK_BYTES) == 0) {
            s->self = i;
            return 0;
        }
    }
    char hex[2 * ENG_KEY_PK_BYTES + 1];
    eng_hex(key->pk, ENG_KEY_PK_BYTES, hex);
    snprintf(err, err_size, "this node's key %.16s... is not a validator of chain '%s' "
                            "(not in its genesis)", hex, g->chain_id);
    return DC_EMEMBER;
}

/* Every other validator's genesis address, resolved once. */
static int resolve_peers(struct eng_validator_state *s, char *err, size_t err_size)
{
    const struct cons_genesis *g = &s->dd.genesis;
    s->count = g->count;
    for (uint32_t i = 0; i < g->count; i++) {
        struct eng_node_addr addr;
        if (eng_node_addr_parse(&addr, g->validators[i].address, 0) != 0) {
            snprintf(err, err_size, "genesis: validator %s has address '%s', which does not "
                                    "resolve to HOST:PORT", g->validators[i].name,
                     g->validators[i].address);
            return DC_ECONFIG;
        }
        s->peers[i].sa = addr.sa;
        s->peers[i].len = addr.sa_len;
    }
    return 0;
}

/*
 * Give the recent-id window the ids of the newest stored blocks (oldest first), so that a
 * restarted validator still refuses a proposal that repeats an id it committed before.
 */
static int remember_recent(struct eng_validator_state *s, uint32_t ids_per_block)
{
    uint64_t top = cons_datadir_height(&s->dd);
    uint64_t blocks = RECENT_IDS_MAX / ids_per_block;
    for (uint64_t h = top > blocks ? top - blocks + 1 : 1; h <= top; h++) {
        const struct cons_block *block;
        const struct cons_cert *cert;
        int rc = cons_datadir_read(&s->dd, h, &block, &cert);
        if (rc != 0) {
            return rc;
        }
        cons_machine_remember(s->m, block);
    }
    return 0;
}

static int make_machine(struct eng_validator_state *s, const struct eng_key *key,
                        int32_t ids_max)
{
    struct cons_config cfg = {
        .valset = &s->dd.valset, .chain_id = s->dd.genesis.chain_id, .self = s->self,
        .timeout_propose_ticks = TIMEOUT_PROPOSE_TICKS,
        .timeout_prevote_ticks = TIMEOUT_VOTE_TICKS,
        .timeout_precommit_ticks = TIMEOUT_VOTE_TICKS,
        .timeout_delta_ticks = TIMEOUT_DELTA_TICKS,
        .commit_wait_ticks = ENG_VALIDATOR_BLOCK_INTERVAL_MS / ENG_CTL_TICK_MS,
        .rebroadcast_ticks = REBROADCAST_TICKS, .sync_retry_ticks = SYNC_RETRY_TICKS,
        .block_ids_max = (uint32_t)ids_max, .mempool_ids_max = MEMPOOL_IDS_MAX,
        .recent_ids_max = RECENT_IDS_MAX,
    };
    memcpy(cfg.secret_key, key->sk, CONS_SK_BYTES);
    randombytes_buf(cfg.hash_key, sizeof(cfg.hash_key));
    size_t size = (cons_machine_arena_size(&cfg) + 63) & ~(size_t)63;
    s->m = dc_alloc_aligned(64, (sizeof(*s->m) + 63) & ~(size_t)63);
    s->arena = dc_alloc_aligned(64, size);
    s->out = dc_alloc(sizeof(*s->out));
    s->rx_ids = dc_alloc((size_t)CONS_BLOCK_IDS_MAX * CONS_ID_BYTES);
    int rc = s->m == NULL || s->arena == NULL || s->out == NULL || s->rx_ids == NULL
                 ? -ENOMEM
                 : cons_machine_init(s->m, &cfg, s->arena, size);
    sodium_memzero(cfg.secret_key, sizeof(cfg.secret_key));
    if (rc == 0) {
        cons_block_init(&s->rx_block, s->rx_ids, CONS_BLOCK_IDS_MAX);
        rc = cons_datadir_resume(&s->dd, s->m);
    }
    if (rc == 0) {
        rc = remember_recent(s, (uint32_t)ids_max);
    }
    return rc;
}

static int open_state(struct eng_validator_state *s, const struct eng_node_config *cfg,
                      const struct eng_key *key, char *err, size_t err_size)
{
    const char *genesis = cfg->genesis_file[0] != '\0' ? cfg->genesis_file : NULL;
    int rc = cons_datadir_open(&s->dd, cfg->data_dir, genesis, err, err_size);
    if (rc != 0) {
        return rc;
    }
    s->dd_open = 1;
    rc = find_self(s, key, err, err_size);
    if (rc == 0) {
        rc = resolve_peers(s, err, err_size);
    }
    int32_t ids_max = block_ids_fit(s->dd.genesis.count);
    if (rc == 0 && ids_max < 1) {
        snprintf(err, err_size, "genesis: %u validators: a certificate does not fit one "
                                "datagram next to a block", s->dd.genesis.count);
        rc = DC_ECONFIG;
    }
    if (rc == 0) {
        rc = make_machine(s, key, ids_max);
        if (rc != 0) {
            snprintf(err, err_size, "%s: cannot resume the chain: %s", cfg->data_dir,
                     dc_strerror(rc));
        }
    }
    return rc;
}

int eng_validator_open(struct eng_validator *v, const struct eng_node_config *cfg,
                       const struct eng_key *key, char *err, size_t err_size)
{
    v->state = NULL;
    char path[ENG_NODE_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, CONS_GENESIS_FILE_NAME);
    if (cfg->genesis_file[0] == '\0' && access(path, F_OK) != 0 && errno == ENOENT) {
        DC_WARN("validator", "no %s: consensus is not wired into this node without a genesis "
                             "(dchat genesis writes one); it runs the relay dataplane and the "
                             "control plane only", path);
        return 0;
    }
    struct eng_validator_state *s = dc_alloc(sizeof(*s));
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    s->sub_fd = -1;
    /* Open first, so close() knows whether the directory is held. */
    v->state = s;
    int rc = open_state(s, cfg, key, err, err_size);
    if (rc != 0) {
        eng_validator_close(v);
        return rc;
    }
    char hex[2 * CONS_HASH_BYTES + 1];
    eng_hex(cons_datadir_head_hash(&s->dd), CONS_HASH_BYTES, hex);
    DC_INFO("validator", "chain '%s': validator %u of %u (%s), resumed at height %llu "
                         "(%.16s), %llu WAL records replayed",
            s->dd.genesis.chain_id, s->self + 1, s->count, s->dd.genesis.validators[s->self].name,
            (unsigned long long)cons_datadir_height(&s->dd), hex,
            (unsigned long long)s->dd.wal_records_replayed);
    return 0;
}

/* ---- carrying out actions (control thread) ---- */

/* Storage failed: signing on could equivocate after a restart. Stop the node. */
static void fail(struct eng_validator_state *s, const char *what, int rc)
{
    DC_ERROR("validator", "%s failed: %s; stopping the node", what, dc_strerror(rc));
    s->failed = 1;
    kill(getpid(), SIGTERM);
}

static void send_to(struct eng_validator_state *s, uint32_t to, size_t body_len)
{
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, s->frame, sizeof(s->frame));
    int rc = dp_wire_builder_add(&b, DP_WIRE_REC_CONSENSUS, s->body, (uint16_t)body_len);
    DC_ASSERT(rc == 0);
    size_t len = dp_wire_builder_finish(&b);
    rc = dp_ctl_port_send(s->port, (const struct sockaddr *)&s->peers[to].sa, s->peers[to].len,
                          s->frame, len);
    if (rc != 0) {
        s->send_errors++; /* UDP: consensus re-sends on its own (rebroadcast, sync) */
    }
}

static void send_msg(struct eng_validator_state *s, uint16_t to, const struct cons_msg *msg)
{
    size_t size = cons_msg_encoded_size(msg);
    if (size == 0 || size > sizeof(s->body)) {
        s->oversize_drops++;
        DC_LOG_RATELIMIT(&s->oversize_log, DC_LOG_WARN, "validator",
                         "consensus message of kind %u is %zu bytes, more than a record "
                         "holds: not sent", msg->kind, size);
        return;
    }
    size_t len = cons_msg_encode(msg, s->body, sizeof(s->body));
    for (uint32_t i = 0; i < s->count; i++) {
        if (i != s->self && (to == CONS_TO_ALL || to == i)) {
            send_to(s, i, len);
        }
    }
}

static void serve_sync(struct eng_validator_state *s, const struct cons_action *a)
{
    uint64_t last = cons_datadir_height(&s->dd);
    uint64_t end = a->height + ENG_VALIDATOR_SYNC_BLOCKS_MAX;
    for (uint64_t h = a->height; h >= 1 && h <= last && h < end; h++) {
        struct cons_msg msg = { .kind = CONS_MSG_SYNC_BLOCK };
        int rc = cons_datadir_read(&s->dd, h, &msg.block, &msg.cert);
        if (rc != 0) {
            DC_WARN("validator", "sync: cannot read block %llu: %s", (unsigned long long)h,
                    dc_strerror(rc));
            return;
        }
        send_msg(s, a->to, &msg);
    }
}

static int online_count(const struct eng_validator_state *s, uint64_t now_ms)
{
    int online = 1; /* ourselves */
    for (uint32_t i = 0; i < s->count; i++) {
        const struct val_peer *p = &s->peers[i];
        if (i != s->self && p->heard_ms != 0 && now_ms - p->heard_ms <= ENG_VALIDATOR_ONLINE_MS) {
            online++;
        }
    }
    return online;
}

/* /chain/status: only when something changed, and only once the control thread is known. */
static void publish(struct eng_validator_state *s, uint64_t now_ms)
{
    struct eng_rpc_chain c = { .height = cons_datadir_height(&s->dd), .has_hash = 1,
                               .validators = s->count,
                               .online_validators = (uint32_t)online_count(s, now_ms) };
    memcpy(c.hash, cons_datadir_head_hash(&s->dd), sizeof(c.hash));
    struct eng_ctl *ctl = atomic_load_explicit(&s->ctl, memory_order_acquire);
    const struct eng_rpc_chain *old = &s->published;
    if (ctl == NULL || (c.height == old->height && c.online_validators == old->online_validators &&
                        memcmp(c.hash, old->hash, sizeof(c.hash)) == 0)) {
        return;
    }
    eng_ctl_set_chain(ctl, &c);
    s->published = c;
}

static void log_commit(struct eng_validator_state *s, const struct cons_block *block)
{
    uint32_t ids = block->header.id_count;
    s->ids_committed += ids;
    if (ids > 0) {
        DC_LOG_RATELIMIT(&s->commit_log, DC_LOG_INFO, "validator",
                         "committed height %llu with %u message ids (%llu ordered so far, "
                         "%llu received)", (unsigned long long)block->header.height, ids,
                         (unsigned long long)s->ids_committed,
                         (unsigned long long)s->ids_submitted);
    }
}

static void run_actions(struct eng_validator_state *s)
{
    for (uint32_t i = 0; i < s->out->count && !s->failed; i++) {
        const struct cons_action *a = &s->out->items[i];
        int rc = 0;
        if (a->type == CONS_ACT_PERSIST) {
            rc = cons_datadir_persist(&s->dd, &a->msg);
        } else if (a->type == CONS_ACT_SEND) {
            rc = cons_datadir_before_send(&s->dd);
            if (rc == 0) {
                send_msg(s, a->to, &a->msg);
            }
        } else if (a->type == CONS_ACT_COMMIT) {
            rc = cons_datadir_commit(&s->dd, a->block, a->cert);
            log_commit(s, a->block);
        } else if (a->type == CONS_ACT_SERVE_SYNC) {
            serve_sync(s, a);
        }
        if (rc != 0) {
            fail(s, a->type == CONS_ACT_COMMIT ? "block store append" : "vote WAL write", rc);
        }
    }
    if (!s->failed) {
        int rc = cons_datadir_before_send(&s->dd);
        if (rc != 0) {
            fail(s, "vote WAL sync", rc);
        }
    }
}

static void begin_once(struct eng_validator_state *s, uint64_t now_ms)
{
    if (!s->begun) {
        s->begun = 1;
        cons_machine_begin(s->m, now_ms / ENG_CTL_TICK_MS, s->out);
        run_actions(s);
    }
}

/* ---- message ids: what our dataplane verified, into the mempool (control thread) ---- */

/*
 * The dataplane hands verified messages to subscribers; the validator is one, on a socket of
 * its own, subscribed to every channel of its own node. So ordering needs no hook in the hot
 * path, and a message reaches the mempool only after the dataplane checked its signature.
 */
static void sub_renew(struct eng_validator_state *s, uint64_t now_ms)
{
    if (s->sub_fd < 0 || (s->sub_sent_ms != 0 && now_ms - s->sub_sent_ms < SUB_RENEW_MS)) {
        return;
    }
    uint8_t body[DP_WIRE_SUB_BYTES], frame[64];
    static const uint8_t every_channel[DP_WIRE_KEY_BYTES];
    dp_wire_sub_encode(body, 0, every_channel);
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, frame, sizeof(frame));
    int rc = dp_wire_builder_add(&b, DP_WIRE_REC_SUBSCRIBE, body, sizeof(body));
    DC_ASSERT(rc == 0);
    size_t len = dp_wire_builder_finish(&b);
    if (sendto(s->sub_fd, frame, len, 0, (const struct sockaddr *)&s->node_addr, s->node_len) ==
        (ssize_t)len) {
        s->sub_sent_ms = now_ms;
    }
}

static int same_addr(const struct sockaddr_storage *a, socklen_t a_len,
                     const struct sockaddr_storage *b, socklen_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

static void sub_take_frame(struct eng_validator_state *s, const uint8_t *buf, size_t len)
{
    struct dp_wire_iter it;
    if (dp_wire_frame_open(&it, buf, len) != 0) {
        return;
    }
    struct dp_wire_rec rec;
    while (dp_wire_next(&it, &rec)) {
        struct dp_wire_msg msg;
        if (rec.type != DP_WIRE_REC_MSG || dp_wire_msg_parse(&rec, &msg) != 0) {
            continue; /* the subscription's acknowledgement, or nothing we order */
        }
        uint8_t id[DP_WIRE_ID_BYTES];
        dp_wire_msg_id(&msg, id);
        if (cons_submit(s->m, id) == 0) {
            s->ids_submitted++;
        } else {
            s->ids_refused++;
        }
    }
}

static void sub_drain(struct eng_validator_state *s)
{
    for (uint32_t i = 0; s->sub_fd >= 0 && i < SUB_DATAGRAMS_PER_CALL; i++) {
        struct sockaddr_storage src;
        socklen_t src_len = sizeof(src);
        ssize_t n = recvfrom(s->sub_fd, s->sub_rx, SUB_RX_BYTES, 0, (struct sockaddr *)&src,
                             &src_len);
        if (n < 0) {
            return; /* EAGAIN: drained */
        }
        /* Only our own node has checked what it sends here. */
        if (same_addr(&src, src_len, &s->node_addr, s->node_len)) {
            sub_take_frame(s, s->sub_rx, (size_t)n);
        }
    }
}

/* Where our dataplane is reached from this host: its bound address, loopback for "any". */
static void node_local_addr(struct eng_validator_state *s, struct dp_ctl_port *port)
{
    socklen_t len = 0;
    const struct sockaddr *local = dp_ctl_port_local_addr(port, &len);
    memcpy(&s->node_addr, local, len);
    s->node_len = len;
    if (local->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&s->node_addr;
        if (in->sin_addr.s_addr == htonl(INADDR_ANY)) {
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
    } else if (local->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&s->node_addr;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) {
            in6->sin6_addr = in6addr_loopback;
        }
    }
}

/* The intake socket; without it consensus still runs (empty blocks), so only a warning. */
static void sub_open(struct eng_validator_state *s, struct dp_ctl_port *port)
{
    node_local_addr(s, port);
    struct sockaddr_storage any;
    memcpy(&any, &s->node_addr, s->node_len);
    if (any.ss_family == AF_INET) {
        ((struct sockaddr_in *)&any)->sin_port = 0;
    } else {
        ((struct sockaddr_in6 *)&any)->sin6_port = 0;
    }
    s->sub_rx = dc_alloc(SUB_RX_BYTES);
    int type = SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
    int fd = s->sub_rx == NULL ? -1 : socket(any.ss_family, type, 0);
    int size = SUB_RCVBUF_BYTES;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (fd < 0 || bind(fd, (const struct sockaddr *)&any, s->node_len) != 0) {
        DC_WARN("validator", "cannot open the message intake socket (%s): blocks stay empty",
                strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    s->sub_fd = fd;
}

/* The validator a message came from, for the online count; -1 when it names none. */
static int msg_sender(const struct cons_msg *msg)
{
    switch (msg->kind) {
    case CONS_MSG_PROPOSAL:
        return msg->proposal.proposer;
    case CONS_MSG_VOTE:
        return msg->vote.validator;
    case CONS_MSG_SYNC_REQUEST:
        return msg->sync.requester;
    default:
        return -1;
    }
}

static void on_consensus(void *arg, const uint8_t *body, size_t body_len,
                         const struct sockaddr *src, socklen_t src_len)
{
    (void)src;
    (void)src_len;
    struct eng_validator_state *s = arg;
    if (s->failed) {
        return;
    }
    uint64_t now_ms = eng_now_ms();
    begin_once(s, now_ms);
    struct cons_msg msg;
    if (cons_msg_decode(body, body_len, &msg, &s->rx_block, &s->rx_cert) != 0) {
        s->bad_msgs++;
        return;
    }
    int rc = cons_on_message(s->m, &msg, s->out);
    int from = msg_sender(&msg);
    /* Only a message the machine accepted (signature checked) proves the sender is up. */
    if (rc == 0 && from >= 0 && (uint32_t)from < s->count) {
        s->peers[from].heard_ms = now_ms;
    }
    run_actions(s);
    publish(s, now_ms);
}

static void on_tick(void *arg, uint64_t now_ms)
{
    struct eng_validator_state *s = arg;
    if (s->failed) {
        return;
    }
    begin_once(s, now_ms);
    sub_renew(s, now_ms);
    sub_drain(s);
    cons_tick(s->m, now_ms / ENG_CTL_TICK_MS, s->out);
    run_actions(s);
    publish(s, now_ms);
}

/* ---- main thread ---- */

int eng_validator_ctl_start(struct eng_validator *v, struct eng_ctl *ctl,
                            const struct eng_node_config *cfg, const struct eng_key *key,
                            struct dp_ctl_port *port)
{
    static struct eng_ctl_params p; /* large; the main thread starts one control plane */
    struct eng_validator_state *s = v->state;
    DC_ASSERT(s != NULL);
    eng_ctl_params_from_config(&p, cfg, key, port);
    s->port = port;
    sub_open(s, port);
    p.on_consensus = on_consensus;
    p.on_tick = on_tick;
    p.on_consensus_arg = s;
    int rc = eng_ctl_start_params(ctl, &p);
    sodium_memzero(&p.key, sizeof(p.key));
    if (rc == 0) {
        /* ctl->state is written now: the control thread may publish from here on. */
        atomic_store_explicit(&s->ctl, ctl, memory_order_release);
    }
    return rc;
}

void eng_validator_close(struct eng_validator *v)
{
    struct eng_validator_state *s = v->state;
    if (s == NULL) {
        return;
    }
    if (s->begun) {
        DC_INFO("validator", "stopped at height %llu: %llu message ids ordered, %llu queued, "
                             "%llu refused (full or repeated); %llu undecodable consensus "
                             "messages, %llu send errors, %llu oversize",
                (unsigned long long)cons_datadir_height(&s->dd),
                (unsigned long long)s->ids_committed, (unsigned long long)s->ids_submitted,
                (unsigned long long)s->ids_refused, (unsigned long long)s->bad_msgs,
                (unsigned long long)s->send_errors, (unsigned long long)s->oversize_drops);
    }
    if (s->dd_open) {
        cons_datadir_close(&s->dd);
    }
    if (s->sub_fd >= 0) {
        close(s->sub_fd);
    }
    dc_free(s->sub_rx);
    dc_free(s->m);
    dc_free(s->arena);
    dc_free(s->out);
    dc_free(s->rx_ids);
    dc_free(s);
    v->state = NULL;
}
