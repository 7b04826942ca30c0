/*
 * validator: the consensus engine of a validator node, assembled (see validator.h).
 */
#include "engine/validator.h"

#include "engine/ctl.h"
#include "engine/key.h"
#include "engine/node_config.h"
#include "engine/rpc.h"
#include "engine/rpc_chain.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "consensus/datadir.h"
#include "consensus/lcore.h"
#include "consensus/machine.h"
#include "dataplane/relay.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Ticks are milliseconds (the consensus thread's clock); timeouts come from [consensus]. */
#define REBROADCAST_MS 2000
#define SYNC_RETRY_MS 1000
#define RECENT_IDS_MAX 262144u

struct val_peer {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct eng_validator_state {
    struct cons_datadir dd;
    struct cons_machine *m;
    void *arena;
    struct val_peer peers[CONS_VALIDATORS_MAX];
    uint32_t self;
    uint32_t count;
    int dd_open;
    int lcore_init;
    struct cons_lcore lcore;
    struct eng_ctl *ctl;             /* where the view is published; set before the start */
};

/* ---- opening ---- */

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

static int make_machine(struct eng_validator_state *s, const struct eng_node_config *node,
                        const struct eng_key *key)
{
    uint32_t ids_max = node->block_ids_max;
    struct cons_config cfg = {
        .valset = &s->dd.valset, .chain_id = s->dd.genesis.chain_id, .self = s->self,
        .timeout_propose_ticks = node->timeout_propose_ms,
        .timeout_prevote_ticks = node->timeout_vote_ms,
        .timeout_precommit_ticks = node->timeout_vote_ms,
        .timeout_delta_ticks = node->timeout_vote_ms / 2 > 0 ? node->timeout_vote_ms / 2 : 1,
        .empty_block_interval_ticks = node->empty_block_interval_ms,
        .rebroadcast_ticks = REBROADCAST_MS, .sync_retry_ticks = SYNC_RETRY_MS,
        .block_ids_max = ids_max, .mempool_ids_max = node->mempool_ids_max,
        .recent_ids_max = RECENT_IDS_MAX,
    };
    memcpy(cfg.secret_key, key->sk, CONS_SK_BYTES);
    randombytes_buf(cfg.hash_key, sizeof(cfg.hash_key));
    size_t size = (cons_machine_arena_size(&cfg) + 63) & ~(size_t)63;
    s->m = dc_alloc_aligned(64, (sizeof(*s->m) + 63) & ~(size_t)63);
    s->arena = dc_alloc_aligned(64, size);
    int rc = s->m == NULL || s->arena == NULL ? -ENOMEM
                                              : cons_machine_init(s->m, &cfg, s->arena, size);
    sodium_memzero(cfg.secret_key, sizeof(cfg.secret_key));
    if (rc == 0) {
        rc = cons_datadir_resume(&s->dd, s->m);
    }
    if (rc == 0) {
        rc = remember_recent(s, ids_max);
    }
    return rc;
}

static int open_state(struct eng_validator_state *s, const struct eng_node_config *cfg,
                      const struct eng_key *key, char *err, size_t err_size)
{
    const char *genesis = cfg->genesis_file[0] != '\0' ? cfg->genesis_file : NULL;
    const struct cons_datadir_settings settings = { .segment_bytes = cfg->segment_bytes,
                                                    .retain_blocks = cfg->retain_blocks,
                                                    .retain_bytes = cfg->retain_bytes };
    int rc = cons_datadir_open(&s->dd, cfg->data_dir, genesis, &settings, err, err_size);
    if (rc != 0) {
        return rc;
    }
    s->dd_open = 1;
    rc = find_self(s, key, err, err_size);
    if (rc == 0) {
        rc = resolve_peers(s, err, err_size);
    }
    if (rc == 0) {
        rc = make_machine(s, cfg, key);
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
    memset(s, 0, sizeof(*s));
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

/* ---- the consensus thread (main thread starts and stops it) ---- */

/* Consensus thread: the view goes to the RPC server (a short mutex-guarded copy). */
static void publish_view(void *arg, const struct cons_lcore_view *v)
{
    struct eng_validator_state *s = arg;
    struct eng_rpc_chain c = {
        .height = v->height, .has_hash = 1, .validators = v->validators,
        .online_validators = v->online_validators, .messages_ordered = v->messages_ordered,
        .mempool_pending = v->mempool_pending, .has_chain_api = 1,
    };
    memcpy(c.hash, v->hash, sizeof(c.hash));
    eng_ctl_set_chain(s->ctl, &c);
}

_Static_assert(ENG_HISTO_BUCKETS == CONS_LCORE_HISTO_BUCKETS, "one bucket layout");

/* The consensus thread's bucket bounds in seconds, for /metrics (set before it starts). */
static double commit_bounds_s[ENG_HISTO_BUCKETS];
static double wal_sync_bounds_s[ENG_HISTO_BUCKETS];

static void set_bounds(void)
{
    for (int i = 0; i < ENG_HISTO_BUCKETS; i++) {
        commit_bounds_s[i] = (double)cons_lcore_commit_bounds_us[i] / 1e6;
        wal_sync_bounds_s[i] = (double)cons_lcore_wal_sync_bounds_us[i] / 1e6;
    }
}

/* The machine's and the transport's counters, in enum eng_cons_stat's order. */
static void machine_stats(uint64_t *v, const struct cons_lcore_counters *c)
{
    const struct cons_stats *m = &c->machine;
    v[ENG_CONS_STAT_ROUNDS_STARTED] = m->rounds_started;
    v[ENG_CONS_STAT_COMMITS] = m->commits;
    v[ENG_CONS_STAT_MSGS_PROPOSAL] = c->msgs_in[CONS_MSG_PROPOSAL];
    v[ENG_CONS_STAT_MSGS_VOTE] = c->msgs_in[CONS_MSG_VOTE];
    v[ENG_CONS_STAT_MSGS_SYNC_REQUEST] = c->msgs_in[CONS_MSG_SYNC_REQUEST];
    v[ENG_CONS_STAT_MSGS_SYNC_BLOCK] = c->msgs_in[CONS_MSG_SYNC_BLOCK];
    v[ENG_CONS_STAT_DROP_UNDECODABLE] = c->bad_msgs;
    v[ENG_CONS_STAT_DROP_MALFORMED] = m->drop_malformed;
    v[ENG_CONS_STAT_DROP_MEMBER] = m->drop_member;
    v[ENG_CONS_STAT_DROP_SIGNATURE] = m->drop_signature;
    v[ENG_CONS_STAT_DROP_STALE] = m->drop_stale;
    v[ENG_CONS_STAT_DROP_FUTURE] = m->drop_future;
    v[ENG_CONS_STAT_DROP_DUPLICATE] = m->duplicates;
    v[ENG_CONS_STAT_EQUIVOCATIONS] = m->equivocations;
    v[ENG_CONS_STAT_INVALID_PROPOSALS] = m->invalid_proposals;
    v[ENG_CONS_STAT_SYNC_REQUESTS] = m->sync_requests;
    v[ENG_CONS_STAT_SYNC_APPLIED] = m->sync_applied;
    v[ENG_CONS_STAT_SIGNS] = m->signs;
    v[ENG_CONS_STAT_VERIFIES] = m->verifies;
    v[ENG_CONS_STAT_IDS_RECEIVED] = c->ids_received;
    v[ENG_CONS_STAT_IDS_REFUSED_DUPLICATE] = c->ids_refused_duplicate;
    v[ENG_CONS_STAT_IDS_REFUSED_FULL] = c->ids_refused_full;
    v[ENG_CONS_STAT_IDS_ORDERED] = c->messages_ordered;
    v[ENG_CONS_STAT_STORE_SYNCS] = c->store_syncs;
    v[ENG_CONS_STAT_SEND_ERRORS] = c->transport.send_errors;
    v[ENG_CONS_STAT_TOO_BIG] = c->transport.too_big;
    v[ENG_CONS_STAT_PARTS_SENT] = c->transport.parts_sent;
    v[ENG_CONS_STAT_PARTS_FOREIGN] = c->transport.parts_foreign;
    v[ENG_CONS_STAT_PART_ANSWERS_LIMITED] = c->transport.answers_limited;
    v[ENG_CONS_STAT_FOLLOWER_BLOCKS] = c->follower_blocks;
    v[ENG_CONS_STAT_FOLLOW_REFUSED] = c->follow_refused;
}

static void frag_stats(uint64_t *v, const struct cons_frag_stats *f)
{
    v[ENG_CONS_STAT_PARTS_IN] = f->parts_in;
    v[ENG_CONS_STAT_PARTS_ACCEPTED] = f->parts_accepted;
    v[ENG_CONS_STAT_PARTS_DUPLICATE] = f->parts_duplicate;
    v[ENG_CONS_STAT_PARTS_MALFORMED] = f->parts_malformed;
    v[ENG_CONS_STAT_PARTS_CONFLICT] = f->parts_conflict;
    v[ENG_CONS_STAT_PARTED_COMPLETE] = f->msgs_complete;
    v[ENG_CONS_STAT_PARTED_ROOT_MISMATCH] = f->msgs_root_mismatch;
    v[ENG_CONS_STAT_PARTED_EVICTED] = f->slots_evicted_incomplete;
    v[ENG_CONS_STAT_PARTED_SENT] = f->msgs_sent;
    v[ENG_CONS_STAT_PARTED_RESENT] = f->msgs_resent;
    v[ENG_CONS_STAT_PART_REQUESTS_OUT] = f->requests_out;
    v[ENG_CONS_STAT_PART_REQUESTS_IN] = f->requests_in;
    v[ENG_CONS_STAT_PART_REQUESTS_BAD] = f->requests_bad;
    v[ENG_CONS_STAT_PART_REQUESTS_UNKNOWN] = f->requests_unknown;
    v[ENG_CONS_STAT_PART_REQUESTS_ANSWERED] = f->requests_answered;
}

/* Consensus thread, at most ~10 times a second: the counters go to /metrics (a copy). */
static void publish_counters(void *arg, const struct cons_lcore_counters *c)
{
    struct eng_validator_state *s = arg;
    struct eng_rpc_consensus r;
    memset(&r, 0, sizeof(r));
    r.has = 1;
    r.height = c->height;
    r.round = c->round;
    r.mempool_pending = c->mempool_pending;
    r.followers = c->followers;
    r.store_bytes = c->store_bytes;
    r.store_oldest = c->store_oldest;
    r.wal_bytes = c->wal_bytes;
    machine_stats(r.v, c);
    frag_stats(r.v, &c->frag);
    eng_histo_load(&r.commit_latency, commit_bounds_s, c->commit_latency.bucket,
                   c->commit_latency.sum_us);
    eng_histo_load(&r.wal_sync, wal_sync_bounds_s, c->wal_sync.bucket, c->wal_sync.sum_us);
    eng_ctl_set_consensus(s->ctl, &r);
}

/* RPC thread: the chain questions go to the consensus thread's mailbox. */
static int query_id(void *arg, const uint8_t id[ENG_RPC_ID_BYTES], struct eng_rpc_msg *out)
{
    struct eng_validator_state *s = arg;
    struct cons_id_answer a;
    int rc = cons_lcore_query_id(&s->lcore, id, ENG_VALIDATOR_QUERY_MS, &a);
    if (rc == 0) {
        eng_rpc_chain_msg_from(out, &a);
    }
    return rc;
}

static int query_block(void *arg, uint64_t height, struct cons_block *block,
                       struct cons_cert *cert)
{
    struct eng_validator_state *s = arg;
    return cons_lcore_query_block(&s->lcore, height, ENG_VALIDATOR_QUERY_MS, block, cert);
}

/* The consensus thread's core: the one after the I/O thread's and the workers' (wrapping). */
static int cons_core(const struct eng_node_config *cfg)
{
    if (cfg->core_count == 0) {
        return -1;
    }
    return cfg->cores[(1 + cfg->verify_workers) % cfg->core_count];
}

int eng_validator_start(struct eng_validator *v, struct eng_ctl *ctl,
                        const struct eng_node_config *cfg, struct dp_relay *relay)
{
    struct eng_validator_state *s = v->state;
    DC_ASSERT(s != NULL);
    static struct cons_lcore_params p; /* large; one validator per process */
    memset(&p, 0, sizeof(p));
    p.dd = &s->dd;
    p.m = s->m;
    p.port = dp_relay_cons_port(relay);
    p.ids = dp_relay_cons_ids(relay);
    p.self = s->self;
    p.count = s->count;
    for (uint32_t i = 0; i < s->count; i++) {
        p.addrs[i] = s->peers[i].sa;
        p.addr_lens[i] = s->peers[i].len;
    }
    p.core = cons_core(cfg);
    p.publish = publish_view;
    p.publish_counters = publish_counters;
    p.publish_arg = s;
    set_bounds();
    DC_ASSERT(p.port != NULL);
    s->ctl = ctl;
    int rc = cons_lcore_init(&s->lcore, &p);
    if (rc != 0) {
        return rc;
    }
    s->lcore_init = 1;
    rc = cons_lcore_start(&s->lcore);
    if (rc == 0) {
        struct eng_rpc_chain_source src = { .arg = s, .query_id = query_id,
                                            .query_block = query_block };
        eng_ctl_set_chain_source(ctl, &src);
    }
    return rc;
}

void eng_validator_stop(struct eng_validator *v)
{
    struct eng_validator_state *s = v->state;
    if (s != NULL && s->lcore_init) {
        if (s->ctl != NULL) {
            eng_ctl_set_chain_source(s->ctl, NULL);
        }
        cons_lcore_stop(&s->lcore);
    }
}

void eng_validator_close(struct eng_validator *v)
{
    struct eng_validator_state *s = v->state;
    if (s == NULL) {
        return;
    }
    eng_validator_stop(v);
    if (s->lcore_init) {
        const struct cons_lcore *l = &s->lcore;
        DC_INFO("validator", "stopped at height %llu: %llu message ids ordered, %llu queued, "
                             "%llu refused (full or repeated); %llu undecodable consensus "
                             "messages, %llu send errors, %llu too big, %llu parts sent",
                (unsigned long long)cons_datadir_height(&s->dd),
                (unsigned long long)l->ids_committed, (unsigned long long)l->ids_received,
                (unsigned long long)l->ids_refused, (unsigned long long)l->bad_msgs,
                (unsigned long long)l->net.stats.send_errors,
                (unsigned long long)l->net.stats.too_big,
                (unsigned long long)l->net.stats.parts_sent);
        cons_lcore_fini(&s->lcore);
    }
    if (s->dd_open) {
        cons_datadir_close(&s->dd);
    }
    dc_free(s->m);
    dc_free(s->arena);
    dc_free(s);
    v->state = NULL;
}
