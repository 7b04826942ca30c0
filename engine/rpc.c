/*
 * rpc: HTTP/JSON API and Prometheus metrics (engine/rpc.h).
 *
 * libmicrohttpd runs one internal polling thread. Every handler copies what it needs from the
 * published view under the mutex, releases it, and only then formats, so a slow client never
 * holds the lock. Each request gets a small context that counts body bytes: a body over the
 * limit is answered 413 at once when its Content-Length says so; a chunked one is discarded
 * as it arrives (never stored) and answered 413 at its end, or cut off far past the limit.
 */
#include "engine/rpc.h"

#include "common/dc_alloc.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "dataplane/ctl_port.h"
#include "consensus/block.h"
#include "consensus/cert.h"
#include "engine/key.h"
#include "engine/rpc_chain.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { REQ_200, REQ_404, REQ_405, REQ_413, REQ_503, REQ_OTHER, REQ_KINDS };
_Static_assert(REQ_KINDS == sizeof(((struct eng_rpc *)0)->requests) / sizeof(uint64_t),
               "one counter per response kind");
static const char *const req_code_names[REQ_KINDS] = { "200", "404", "405", "413", "503",
                                                       "other" };

static const double rpc_bounds[ENG_HISTO_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
};
static const double rtt_bounds[ENG_HISTO_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t eng_now_ms(void)
{
    return now_us() / 1000u;
}

void eng_histo_init(struct eng_histo *h, const double *bounds)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
}

void eng_histo_observe_us(struct eng_histo *h, uint64_t us)
{
    double s = (double)us / 1e6;
    int i = 0;
    while (i < ENG_HISTO_BUCKETS && s > h->bounds[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void eng_histo_load(struct eng_histo *h, const double *bounds, const uint64_t *buckets,
                    uint64_t sum_us)
{
    uint64_t count = 0;
    h->bounds = bounds;
    for (int i = 0; i <= ENG_HISTO_BUCKETS; i++) {
        atomic_store_explicit(&h->bucket[i], buckets[i], memory_order_relaxed);
        count += buckets[i];
    }
    atomic_store_explicit(&h->count, count, memory_order_relaxed);
    atomic_store_explicit(&h->sum_us, sum_us, memory_order_relaxed);
}

void eng_disc_stats_init(struct eng_disc_stats *s)
{
    memset(s, 0, sizeof(*s));
    eng_histo_init(&s->rtt, rtt_bounds);
}

static const char *role_name(uint8_t role)
{
    switch (role) {
    case ENG_NODEREC_ROLE_RELAY:
        return "relay";
    case ENG_NODEREC_ROLE_VALIDATOR:
        return "validator";
    default:
        return "unknown";
    }
}

/* ---- responses --------------------------------------------------------------------------- */

struct req {
    uint64_t start_us;
    size_t body_bytes;
    uint8_t answered;
};

static int kind_of(unsigned code)
{
    switch (code) {
    case 200:
        return REQ_200;
    case 404:
        return REQ_404;
    case 405:
        return REQ_405;
    case 413:
        return REQ_413;
    case 503:
        return REQ_503;
    default:
        return REQ_OTHER;
    }
}

static enum MHD_Result respond(struct eng_rpc *rpc, struct MHD_Connection *conn, struct req *req,
                               unsigned code, const char *type, const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (code == 405) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    enum MHD_Result ret = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    atomic_fetch_add_explicit(&rpc->requests[kind_of(code)], 1, memory_order_relaxed);
    eng_histo_observe_us(&rpc->duration, now_us() - req->start_us);
    req->answered = 1;
    return ret;
}

/* Sends a cJSON object (consumed) as the body. */
static enum MHD_Result respond_json(struct eng_rpc *rpc, struct MHD_Connection *conn,
                                    struct req *req, unsigned code, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (text == NULL) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        return respond(rpc, conn, req, 500, "application/json", oom, sizeof(oom) - 1);
    }
    enum MHD_Result ret = respond(rpc, conn, req, code, "application/json", text, strlen(text));
    cJSON_free(text);
    return ret;
}

static enum MHD_Result respond_error(struct eng_rpc *rpc, struct MHD_Connection *conn,
                                     struct req *req, unsigned code, const char *msg)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "error", msg);
    cJSON_AddNumberToObject(obj, "status", code);
    return respond_json(rpc, conn, req, code, obj);
}

/* ---- handlers ---------------------------------------------------------------------------- */

/* Copies the view (peers included) out from under the lock. Returns 0 or -ENOMEM. */
static int copy_view(struct eng_rpc *rpc, struct eng_rpc_view *out, struct eng_rpc_chain *chain)
{
    pthread_mutex_lock(&rpc->lock);
    *out = rpc->view;
    *chain = rpc->chain;
    out->peers = NULL;
    if (rpc->view.peer_count > 0) {
        out->peers = malloc(rpc->view.peer_count * sizeof(out->peers[0]));
        if (out->peers == NULL) {
            pthread_mutex_unlock(&rpc->lock);
            return -ENOMEM;
        }
        memcpy(out->peers, rpc->view.peers, rpc->view.peer_count * sizeof(out->peers[0]));
    }
    pthread_mutex_unlock(&rpc->lock);
    return 0;
}

static cJSON *peers_json(const struct eng_rpc_view *v)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddNumberToObject(obj, "connected_peers", v->connected_peers);
    cJSON_AddNumberToObject(obj, "known_peers", v->known_peers);
    cJSON *arr = cJSON_AddArrayToObject(obj, "peers");
    for (uint32_t i = 0; i < v->peer_count; i++) {
        const struct eng_rpc_peer *p = &v->peers[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", p->id);
        cJSON_AddStringToObject(e, "address", p->address);
        cJSON_AddNumberToObject(e, "latency_ms", p->latency_ms);
        cJSON_AddStringToObject(e, "role", role_name(p->role));
        cJSON_AddBoolToObject(e, "connected", p->connected);
        cJSON_AddItemToArray(arr, e);
    }
    return obj;
}

static cJSON *chain_json(const struct eng_rpc_view *v, const struct eng_rpc_chain *c)
{
    char hash[65] = "";
    if (c->has_hash) {
        eng_hex(c->hash, sizeof(c->hash), hash);
    }
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddNumberToObject(obj, "height", (double)c->height);
    cJSON_AddStringToObject(obj, "hash", hash);
    cJSON_AddStringToObject(obj, "role", role_name(v->role));
    cJSON_AddNumberToObject(obj, "validators", c->validators);
    cJSON_AddNumberToObject(obj, "online_validators", c->online_validators);
    if (c->has_chain_api) {
        cJSON_AddNumberToObject(obj, "messages_ordered", (double)c->messages_ordered);
        cJSON_AddNumberToObject(obj, "mempool_pending", c->mempool_pending);
    }
    return obj;
}

static cJSON *info_json(struct eng_rpc *rpc, const struct eng_rpc_view *v)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "id", v->id);
    cJSON_AddStringToObject(obj, "role", role_name(v->role));
    cJSON_AddStringToObject(obj, "version", DCHAT_VERSION);
    cJSON *addrs = cJSON_AddArrayToObject(obj, "addresses");
    cJSON_AddItemToArray(addrs, cJSON_CreateString(v->address));
    cJSON_AddNumberToObject(obj, "record_seq", (double)v->record_seq);
    cJSON_AddNumberToObject(obj, "uptime_s", (double)(eng_now_ms() - rpc->started_ms) / 1000.0);
    cJSON_AddNumberToObject(obj, "messages_per_s", v->messages_per_s);
    return obj;
}

/* 200 or 503 and the reason. */
static unsigned health(struct eng_rpc *rpc, const struct eng_rpc_view *v, const char **reason)
{
    uint64_t now = eng_now_ms();
    if (v->published_ms == 0) {
        *reason = "control thread has not published yet";
        return 503;
    }
    if (now - v->published_ms > rpc->stall_ms) {
        *reason = "control thread stalled";
        return 503;
    }
    if (v->known_peers > 1 && v->connected_peers == 0) {
        *reason = "no connected peers";
        return 503;
    }
    *reason = v->known_peers > 1 ? "ok" : "ok (alone: no peers known)";
    return 200;
}

static enum MHD_Result handle_health(struct eng_rpc *rpc, struct MHD_Connection *conn,
                                     struct req *req, const struct eng_rpc_view *v,
                                     const struct eng_rpc_chain *c)
{
    const char *reason;
    unsigned code = health(rpc, v, &reason);
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "status", code == 200 ? "ok" : "unhealthy");
    cJSON_AddStringToObject(obj, "reason", reason);
    cJSON_AddStringToObject(obj, "role", role_name(v->role));
    cJSON_AddNumberToObject(obj, "connected_peers", v->connected_peers);
    cJSON_AddNumberToObject(obj, "known_peers", v->known_peers);
    cJSON_AddNumberToObject(obj, "height", (double)c->height);
    return respond_json(rpc, conn, req, code, obj);
}

/* ---- metrics ----------------------------------------------------------------------------- */

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histo_text(FILE *f, const char *name, const char *help, const struct eng_histo *h)
{
    metric_head(f, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i <= ENG_HISTO_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (i < ENG_HISTO_BUCKETS) {
            fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
        } else {
            fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        }
    }
    /* Count is the +Inf bucket, so the exposition stays self-consistent under concurrency. */
    fprintf(f, "%s_sum %.6f\n%s_count %llu\n", name,
            (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6, name,
            (unsigned long long)cum);
}

static const char *const disc_names[ENG_DISC_STAT_COUNT][2] = {
    { "rx_total", "discovery records received" },
    { "rx_ping_total", "PING messages received" },
    { "rx_pong_total", "PONG messages received" },
    { "rx_find_total", "FIND messages received" },
    { "rx_nodes_total", "NODES messages received" },
    { "tx_total", "discovery datagrams sent" },
    { "tx_errors_total", "discovery datagrams that could not be sent" },
    { "bad_malformed_total", "discovery records that do not parse" },
    { "bad_signature_total", "node records unsigned or forged" },
    { "stale_record_total", "node records older than the one held (replays)" },
    { "conflict_record_total", "node records with a held sequence number but other contents" },
    { "unsolicited_total", "PONG or NODES matching no nonce we sent" },
    { "table_full_total", "nodes not added because their bucket was full of live peers" },
    { "lookups_total", "iterative lookups started" },
    { "peers_disconnected_total", "peers marked disconnected after missed checks" },
    { "peers_dropped_total", "peers forgotten after a long silence" },
    { "consensus_unhandled_total", "consensus records received with no consumer" },
};

/* One counter; rows of one family (the same name, labels apart) are adjacent. */
struct stat_name {
    const char *family;
    const char *label; /* NULL: none */
    const char *help;
};

static const struct stat_name cons_names[] = {
    { "rounds_started_total", NULL, "consensus rounds entered" },
    { "commits_total", NULL, "blocks committed (decided here or applied through sync)" },
    { "messages_total", "kind=\"proposal\"", "consensus messages decoded, by kind" },
    { "messages_total", "kind=\"vote\"", NULL },
    { "messages_total", "kind=\"sync_request\"", NULL },
    { "messages_total", "kind=\"sync_block\"", NULL },
    { "messages_dropped_total", "reason=\"undecodable\"",
      "consensus messages dropped, by reason" },
    { "messages_dropped_total", "reason=\"malformed\"", NULL },
    { "messages_dropped_total", "reason=\"member\"", NULL },
    { "messages_dropped_total", "reason=\"signature\"", NULL },
    { "messages_dropped_total", "reason=\"stale\"", NULL },
    { "messages_dropped_total", "reason=\"future\"", NULL },
    { "messages_dropped_total", "reason=\"duplicate\"", NULL },
    { "equivocations_total", NULL, "second, different votes or proposals for one slot" },
    { "invalid_proposals_total", NULL, "proposals prevoted nil because their block is invalid" },
    { "sync_requests_total", NULL, "block sync requests sent" },
    { "sync_applied_total", NULL, "blocks applied through sync" },
    { "signs_total", NULL, "votes and proposals signed" },
    { "verifies_total", NULL, "signatures verified" },
    { "ids_received_total", NULL, "verified message ids taken into the mempool" },
    { "ids_refused_total", "reason=\"duplicate\"",
      "message ids refused by the mempool, by reason" },
    { "ids_refused_total", "reason=\"mempool_full\"", NULL },
    { "ids_ordered_total", NULL, "message ids in every committed block of the chain" },
    { "block_store_syncs_total", NULL, "block store syncs (one per commit)" },
    { "send_errors_total", NULL, "consensus datagrams that could not be sent" },
    { "messages_too_big_total", NULL, "messages over the largest size: not sent" },
    { "parts_sent_total", NULL, "message parts sent" },
    { "parts_foreign_total", NULL, "parts refused: not from their origin's address" },
    { "part_answers_limited_total", NULL, "part requests over their requester's budget" },
    { "parts_received_total", NULL, "message parts received" },
    { "parts_accepted_total", NULL, "message parts stored" },
    { "parts_refused_total", "reason=\"duplicate\"", "message parts refused, by reason" },
    { "parts_refused_total", "reason=\"malformed\"", NULL },
    { "parts_refused_total", "reason=\"conflict\"", NULL },
    { "parted_messages_complete_total", NULL, "messages reassembled from parts" },
    { "parted_messages_root_mismatch_total", NULL,
      "messages reassembled but hashing to another root" },
    { "parted_messages_evicted_total", NULL, "incomplete messages recycled" },
    { "parted_messages_sent_total", NULL, "messages sent as parts" },
    { "parted_messages_resent_total", NULL, "cached messages sent as parts again" },
    { "part_requests_sent_total", NULL, "requests for missing parts sent" },
    { "part_requests_received_total", NULL, "requests for missing parts received" },
    { "part_requests_refused_total", "reason=\"bad\"", "part requests not answered, by reason" },
    { "part_requests_refused_total", "reason=\"unknown\"", NULL },
    { "part_requests_answered_total", NULL, "part requests answered" },
    { "follower_blocks_sent_total", NULL, "committed blocks sent to following relays" },
    { "follow_refused_total", NULL, "follow requests refused (bad cookie or table full)" },
};

static const struct stat_name follow_names[] = {
    { "blocks_accepted_total", NULL, "blocks accepted: the next height, certified by a quorum" },
    { "blocks_refused_total", NULL, "blocks refused: bad certificate, chain or link" },
    { "blocks_out_of_order_total", NULL, "blocks not at the next height (asked again)" },
    { "finals_dropped_total", NULL, "final positions dropped (the dataplane's ring full)" },
    { "messages_bad_total", NULL, "records from validators that do not decode" },
    { "parts_received_total", NULL, "block parts received" },
    { "parted_blocks_complete_total", NULL, "blocks reassembled from parts" },
};

_Static_assert(sizeof(cons_names) / sizeof(cons_names[0]) == ENG_CONS_STAT_COUNT,
               "one name per consensus counter");
_Static_assert(sizeof(follow_names) / sizeof(follow_names[0]) == ENG_FOLLOW_STAT_COUNT,
               "one name per follower counter");

static void stats_text(FILE *f, const char *prefix, const struct stat_name *names,
                       const uint64_t *v, int count)
{
    char name[128];
    for (int s = 0; s < count; s++) {
        snprintf(name, sizeof(name), "%s_%s", prefix, names[s].family);
        if (s == 0 || strcmp(names[s].family, names[s - 1].family) != 0) {
            metric_head(f, name, "counter", names[s].help);
        }
        if (names[s].label != NULL) {
            fprintf(f, "%s{%s} %llu\n", name, names[s].label, (unsigned long long)v[s]);
        } else {
            fprintf(f, "%s %llu\n", name, (unsigned long long)v[s]);
        }
    }
}

static void gauge_text(FILE *f, const char *name, const char *help, uint64_t value)
{
    metric_head(f, name, "gauge", help);
    fprintf(f, "%s %llu\n", name, (unsigned long long)value);
}

static void cons_text(FILE *f, const struct eng_rpc_consensus *c)
{
    gauge_text(f, "dchat_consensus_height", "height of the last committed block", c->height);
    gauge_text(f, "dchat_consensus_round", "round of the height being decided", c->round);
    gauge_text(f, "dchat_consensus_mempool_pending", "message ids waiting to be ordered",
               c->mempool_pending);
    gauge_text(f, "dchat_consensus_followers", "relays following the chain from this node",
               c->followers);
    gauge_text(f, "dchat_consensus_block_store_bytes",
               "block store on disk: segments and the headers of pruned blocks", c->store_bytes);
    gauge_text(f, "dchat_consensus_block_store_oldest_height",
               "oldest height whose whole block is stored (older ones are pruned)",
               c->store_oldest);
    gauge_text(f, "dchat_consensus_wal_bytes", "vote WAL on disk", c->wal_bytes);
    stats_text(f, "dchat_consensus", cons_names, c->v, ENG_CONS_STAT_COUNT);
    histo_text(f, "dchat_consensus_commit_latency_seconds",
               "time from the start of a height to its commit (heights decided here)",
               &c->commit_latency);
    histo_text(f, "dchat_consensus_wal_sync_seconds", "vote WAL syncs before a send",
               &c->wal_sync);
}

static void follow_text(FILE *f, const struct eng_rpc_follow *fl)
{
    gauge_text(f, "dchat_follow_height", "height of the last block accepted", fl->height);
    stats_text(f, "dchat_follow", follow_names, fl->v, ENG_FOLLOW_STAT_COUNT);
}

static void dp_text(FILE *f, struct dp_ctl_port *port)
{
    struct dp_stats st;
    memset(&st, 0, sizeof(st));
    if (port != NULL) {
        dp_ctl_port_stats(port, &st);
    }
    char name[128];
    for (int s = 0; s < DP_STAT_COUNT; s++) {
        int gauge = dp_stats_is_gauge((enum dp_stat)s);
        snprintf(name, sizeof(name), "dchat_dp_%s%s", dp_stats_name((enum dp_stat)s),
                 gauge ? "" : "_total");
        metric_head(f, name, gauge ? "gauge" : "counter", dp_stats_help((enum dp_stat)s));
        fprintf(f, "%s %llu\n", name, (unsigned long long)st.v[s]);
    }
}

static void metrics_text(struct eng_rpc *rpc, FILE *f, const struct eng_rpc_view *v,
                         const struct eng_rpc_consensus *cons,
                         const struct eng_rpc_follow *follow)
{
    dp_text(f, rpc->port);
    if (cons->has) {
        cons_text(f, cons);
    }
    if (follow->has) {
        follow_text(f, follow);
    }
    char name[128];
    for (int s = 0; s < ENG_DISC_STAT_COUNT; s++) {
        snprintf(name, sizeof(name), "dchat_discovery_%s", disc_names[s][0]);
        metric_head(f, name, "counter", disc_names[s][1]);
        uint64_t n = rpc->disc ? atomic_load_explicit(&rpc->disc->v[s], memory_order_relaxed) : 0;
        fprintf(f, "%s %llu\n", name, (unsigned long long)n);
    }
    metric_head(f, "dchat_discovery_connected_peers", "gauge", "peers answering liveness pings");
    fprintf(f, "dchat_discovery_connected_peers %u\n", v->connected_peers);
    metric_head(f, "dchat_discovery_known_peers", "gauge", "nodes known, this one included");
    fprintf(f, "dchat_discovery_known_peers %u\n", v->known_peers);
    if (rpc->disc != NULL) {
        histo_text(f, "dchat_discovery_ping_rtt_seconds", "liveness ping round-trip time",
                   &rpc->disc->rtt);
    }
    metric_head(f, "dchat_rpc_requests_total", "counter", "RPC requests answered, by status");
    for (int k = 0; k < REQ_KINDS; k++) {
        fprintf(f, "dchat_rpc_requests_total{code=\"%s\"} %llu\n", req_code_names[k],
                (unsigned long long)atomic_load_explicit(&rpc->requests[k],
                                                         memory_order_relaxed));
    }
    histo_text(f, "dchat_rpc_request_duration_seconds", "time to answer an RPC request",
               &rpc->duration);
    metric_head(f, "dchat_uptime_seconds", "gauge", "seconds since the node started");
    fprintf(f, "dchat_uptime_seconds %.3f\n", (double)(eng_now_ms() - rpc->started_ms) / 1e3);
}

static enum MHD_Result handle_metrics(struct eng_rpc *rpc, struct MHD_Connection *conn,
                                      struct req *req, const struct eng_rpc_view *v)
{
    struct eng_rpc_consensus cons;
    struct eng_rpc_follow follow;
    pthread_mutex_lock(&rpc->lock);
    memcpy(&cons, &rpc->cons, sizeof(cons));
    follow = rpc->follow;
    pthread_mutex_unlock(&rpc->lock);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        return respond_error(rpc, conn, req, 500, "out of memory");
    }
    metrics_text(rpc, f, v, &cons, &follow);
    fclose(f);
    enum MHD_Result ret =
        respond(rpc, conn, req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return ret;
}

/* ---- chain endpoints: asked of the chain source, outside the lock ------------------------ */

static enum MHD_Result handle_block(struct eng_rpc *rpc, struct MHD_Connection *conn,
                                    struct req *req, const struct eng_rpc_chain_source *src,
                                    uint64_t height)
{
    struct cons_block block;
    struct cons_cert *cert = malloc(sizeof(*cert));
    uint8_t (*ids)[CONS_ID_BYTES] = malloc((size_t)CONS_BLOCK_IDS_MAX * CONS_ID_BYTES);
    if (cert == NULL || ids == NULL) {
        free(cert);
        free(ids);
        return respond_error(rpc, conn, req, 500, "out of memory");
    }
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    int rc = src->query_block(src->arg, height, &block, cert);
    enum MHD_Result ret;
    if (rc == 0) {
        ret = respond_json(rpc, conn, req, 200, eng_rpc_chain_block_json(&block, cert));
    } else if (rc == DC_ENOTFOUND) {
        ret = respond_error(rpc, conn, req, 404, "no committed block at that height");
    } else if (rc == DC_EUNSUPPORTED) {
        ret = respond_error(rpc, conn, req, 503, "this node keeps no blocks (ask a validator)");
    } else {
        ret = respond_error(rpc, conn, req, 503, rc == -ETIMEDOUT
                                                     ? "consensus thread busy: retry"
                                                     : "block store read failed");
    }
    free(ids);
    free(cert);
    return ret;
}

static enum MHD_Result handle_chain(struct eng_rpc *rpc, struct MHD_Connection *conn,
                                    struct req *req, const struct eng_rpc_chain_req *cr)
{
    pthread_mutex_lock(&rpc->lock);
    struct eng_rpc_chain_source src = rpc->source;
    pthread_mutex_unlock(&rpc->lock);
    if (src.arg == NULL) {
        return respond_error(rpc, conn, req, 503,
                             "this node does not hold the chain (ask a validator)");
    }
    if (cr->path == ENG_RPC_CHAIN_BLOCK) {
        return handle_block(rpc, conn, req, &src, cr->height);
    }
    struct eng_rpc_msg m;
    if (src.query_id(src.arg, cr->id, &m) != 0) {
        return respond_error(rpc, conn, req, 503, "consensus thread busy: retry");
    }
    return respond_json(rpc, conn, req, 200, eng_rpc_chain_msg_json(cr->id, &m));
}

/* ---- dispatch ---------------------------------------------------------------------------- */

enum route { ROUTE_NONE, ROUTE_PEERS, ROUTE_CHAIN, ROUTE_HEALTH, ROUTE_METRICS, ROUTE_INFO };

static enum route route_of(const char *url)
{
    static const struct {
        const char *path;
        enum route route;
    } routes[] = {
        { "/network/peers", ROUTE_PEERS }, { "/chain/status", ROUTE_CHAIN },
        { "/health", ROUTE_HEALTH },       { "/metrics", ROUTE_METRICS },
        { "/node/info", ROUTE_INFO },
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].path) == 0) {
            return routes[i].route;
        }
    }
    return ROUTE_NONE;
}

static enum MHD_Result dispatch(struct eng_rpc *rpc, struct MHD_Connection *conn,
                                struct req *req, enum route route)
{
    struct eng_rpc_view v;
    struct eng_rpc_chain c;
    if (copy_view(rpc, &v, &c) != 0) {
        return respond_error(rpc, conn, req, 500, "out of memory");
    }
    enum MHD_Result ret;
    switch (route) {
    case ROUTE_PEERS:
        ret = respond_json(rpc, conn, req, 200, peers_json(&v));
        break;
    case ROUTE_CHAIN:
        ret = respond_json(rpc, conn, req, 200, chain_json(&v, &c));
        break;
    case ROUTE_HEALTH:
        ret = handle_health(rpc, conn, req, &v, &c);
        break;
    case ROUTE_METRICS:
        ret = handle_metrics(rpc, conn, req, &v);
        break;
    case ROUTE_INFO:
    default:
        ret = respond_json(rpc, conn, req, 200, info_json(rpc, &v));
        break;
    }
    free(v.peers);
    return ret;
}

/* Declared length over the limit (or not a number)? */
static int declared_too_large(struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL) {
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno != 0 || end == cl || n > ENG_RPC_BODY_BYTES_MAX;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    struct eng_rpc *rpc = cls;
    struct req *req = *con_cls;
    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL) {
            return MHD_NO;
        }
        req->start_us = now_us();
        *con_cls = req;
        if (declared_too_large(conn)) {
            return respond_error(rpc, conn, req, 413, "request body too large");
        }
        return MHD_YES;
    }
    if (req->answered) {
        *upload_data_size = 0; /* discard what is still arriving */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /*
         * Discard the body as it streams in (libmicrohttpd cannot answer mid-upload), and cut
         * off a client that keeps streaming far past the limit.
         */
        req->body_bytes += *upload_data_size;
        *upload_data_size = 0;
        return req->body_bytes > 64u * ENG_RPC_BODY_BYTES_MAX ? MHD_NO : MHD_YES;
    }
    if (req->body_bytes > ENG_RPC_BODY_BYTES_MAX) {
        return respond_error(rpc, conn, req, 413, "request body too large");
    }
    struct eng_rpc_chain_req chain_req;
    const char *why = NULL;
    if (eng_rpc_chain_parse(url, &chain_req, &why) != 0) {
        return respond_error(rpc, conn, req, 400, why);
    }
    enum route route = route_of(url);
    if (route == ROUTE_NONE && chain_req.path == ENG_RPC_CHAIN_NONE) {
        return respond_error(rpc, conn, req, 404, "no such endpoint");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return respond_error(rpc, conn, req, 405, "method not allowed (use GET)");
    }
    if (chain_req.path != ENG_RPC_CHAIN_NONE) {
        return handle_chain(rpc, conn, req, &chain_req);
    }
    return dispatch(rpc, conn, req, route);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static int listen_socket(const struct sockaddr *addr, socklen_t addr_len)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, addr, addr_len) != 0 || listen(fd, 64) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int eng_rpc_start(struct eng_rpc *rpc, const struct sockaddr *addr, socklen_t addr_len,
                  struct dp_ctl_port *port, const struct eng_disc_stats *disc,
                  uint32_t stall_ms)
{
    memset(rpc, 0, sizeof(*rpc));
    pthread_mutex_init(&rpc->lock, NULL);
    eng_histo_init(&rpc->duration, rpc_bounds);
    rpc->started_ms = eng_now_ms();
    rpc->stall_ms = stall_ms;
    rpc->port = port;
    rpc->disc = disc;
    rpc->view.peers = dc_alloc(ENG_RPC_PEERS_MAX * sizeof(rpc->view.peers[0]));
    char text[ENG_RPC_ADDR_TEXT_MAX];
    eng_sockaddr_str(addr, text, sizeof(text));
    int fd = rpc->view.peers ? listen_socket(addr, addr_len) : -ENOMEM;
    if (fd < 0) {
        DC_ERROR("rpc", "cannot listen on %s: %s", text, dc_strerror(fd));
        eng_rpc_stop(rpc);
        return fd;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (addr->sa_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    rpc->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, rpc, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)ENG_RPC_CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(ENG_RPC_CONNECTIONS_MAX / 2),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ENG_RPC_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, rpc, MHD_OPTION_END);
    if (rpc->daemon == NULL) {
        close(fd);
        DC_ERROR("rpc", "cannot start the HTTP server on %s", text);
        eng_rpc_stop(rpc);
        return -EIO;
    }
    DC_INFO("rpc", "listening on http://%s", text);
    return 0;
}

uint16_t eng_rpc_port(const struct eng_rpc *rpc)
{
    if (rpc->daemon == NULL) {
        return 0;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(rpc->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void eng_rpc_stop(struct eng_rpc *rpc)
{
    if (rpc->daemon != NULL) {
        MHD_stop_daemon(rpc->daemon);
        rpc->daemon = NULL;
    }
    dc_free(rpc->view.peers);
    rpc->view.peers = NULL;
    pthread_mutex_destroy(&rpc->lock);
}

void eng_rpc_publish(struct eng_rpc *rpc, const struct eng_rpc_view *view)
{
    uint32_t n = view->peer_count < ENG_RPC_PEERS_MAX ? view->peer_count : ENG_RPC_PEERS_MAX;
    pthread_mutex_lock(&rpc->lock);
    struct eng_rpc_peer *keep = rpc->view.peers;
    rpc->view = *view;
    rpc->view.peers = keep;
    rpc->view.peer_count = n;
    if (n > 0) {
        memcpy(keep, view->peers, n * sizeof(keep[0]));
    }
    pthread_mutex_unlock(&rpc->lock);
}

void eng_rpc_set_chain(struct eng_rpc *rpc, const struct eng_rpc_chain *chain)
{
    pthread_mutex_lock(&rpc->lock);
    rpc->chain = *chain;
    pthread_mutex_unlock(&rpc->lock);
}

void eng_rpc_set_consensus(struct eng_rpc *rpc, const struct eng_rpc_consensus *cons)
{
    pthread_mutex_lock(&rpc->lock);
    memcpy(&rpc->cons, cons, sizeof(*cons)); /* a copy of a copy: its atomics are not live */
    pthread_mutex_unlock(&rpc->lock);
}

void eng_rpc_set_follow(struct eng_rpc *rpc, const struct eng_rpc_follow *follow)
{
    pthread_mutex_lock(&rpc->lock);
    rpc->follow = *follow;
    pthread_mutex_unlock(&rpc->lock);
}

void eng_rpc_set_chain_source(struct eng_rpc *rpc, const struct eng_rpc_chain_source *src)
{
    static const struct eng_rpc_chain_source none;
    pthread_mutex_lock(&rpc->lock);
    rpc->source = src != NULL ? *src : none;
    pthread_mutex_unlock(&rpc->lock);
}
