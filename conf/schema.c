/*
 * conf_schema: the key table and the typed setters (see schema.h).
 */
#include "conf/schema.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "conf/toml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const roles[] = { "", "relay", "validator", NULL };
static const char *const backends[] = { "uring", "dpdk", NULL };
static const char *const pollings[] = { "adaptive", "busy", NULL };
static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };

#define AT(field) offsetof(struct conf_node, field)
#define INT_KEY(sec, nam, def, lo, hi, env_, flag_, flags_, field, help_)                      \
    { .section = sec, .name = nam, .kind = CONF_KIND_INT, .default_text = def, .min = lo,     \
      .max = hi, .env = env_, .flag = flag_, .flags = flags_, .offset = AT(field),            \
      .help = help_ }
#define KEY(sec, nam, kind_, def, choices_, env_, flag_, flags_, field, help_)                 \
    { .section = sec, .name = nam, .kind = kind_, .default_text = def, .choices = choices_,   \
      .env = env_, .flag = flag_, .flags = flags_, .offset = AT(field), .help = help_ }

const struct conf_key conf_schema[CONF_KEY_COUNT] = {
    [CONF_KEY_NODE_ROLE] = KEY("node", "role", CONF_KIND_ENUM, "", roles, NULL, "role", 0,
        node.role, "relay (gossip, user API) or validator (also orders messages)"),
    [CONF_KEY_NODE_KEY_FILE] = KEY("node", "key_file", CONF_KIND_STRING, "", NULL,
        "DCHAT_VALIDATOR_KEY", "key", 0, node.key_file,
        "Ed25519 key file from `dchat keygen` (empty: a fresh key for this run)"),
    [CONF_KEY_NODE_DATA_DIR] = KEY("node", "data_dir", CONF_KIND_STRING, "./dchat-data", NULL,
        NULL, "data-dir", 0, node.data_dir, "directory for the WAL, blocks and known peers"),
    [CONF_KEY_NODE_LOG_LEVEL] = KEY("node", "log_level", CONF_KIND_ENUM, "info", log_levels,
        NULL, "log-level", 0, node.log_level, "debug, info, warn or error"),
    [CONF_KEY_NODE_STATS_INTERVAL_S] = INT_KEY("node", "stats_interval_s", "10", 1, 86400,
        NULL, "stats-interval", 0, node.stats_interval_s,
        "seconds between stats log lines (only when traffic flowed)"),
    [CONF_KEY_NETWORK_BOOTSTRAP_NODES] = KEY("network", "bootstrap_nodes", CONF_KIND_ADDRS, "",
        NULL, "DCHAT_BOOTSTRAP_PEERS", "bootstrap-nodes", 0, network.bootstrap_nodes,
        "nodes to learn the network from (empty: start alone)"),
    [CONF_KEY_NETWORK_LISTEN_ADDRS] = KEY("network", "listen_addrs", CONF_KIND_ADDRS,
        "0.0.0.0:9000", NULL, NULL, "listen", CONF_KEY_PORT_ZERO_OK, network.listen_addrs,
        "UDP address(es) to listen on; the node binds the first"),
    [CONF_KEY_NETWORK_PORT] = INT_KEY("network", "port", "0", 0, 65535, "DCHAT_PORT", "port",
        0, network.port, "if not 0, the UDP port of every listen address"),
    [CONF_KEY_CONSENSUS_VALIDATORS] = KEY("consensus", "validators", CONF_KIND_ADDRS, "", NULL,
        NULL, NULL, 0, consensus.validators, "addresses of the validator set"),
    [CONF_KEY_CONSENSUS_REQUIRED_CONFIRMATIONS] = INT_KEY("consensus",
        "required_confirmations", "0", 0, 1000, NULL, NULL, 0,
        consensus.required_confirmations, "votes to commit, at least 2f+1 (0: exactly 2f+1)"),
    [CONF_KEY_CONSENSUS_GENESIS] = KEY("consensus", "genesis", CONF_KIND_STRING, "", NULL, NULL,
        "genesis", 0, consensus.genesis,
        "a validator's genesis file (empty: genesis.toml in the data directory); a relay given "
        "one follows the chain"),
    [CONF_KEY_CONSENSUS_BLOCK_IDS_MAX] = INT_KEY("consensus", "block_ids_max", "4096", 1, 10240,
        NULL, "block-ids-max", 0, consensus.block_ids_max,
        "most message ids a validator puts in one block (blocks travel as parts)"),
    [CONF_KEY_CONSENSUS_EMPTY_BLOCK_INTERVAL_MS] = INT_KEY("consensus",
        "empty_block_interval_ms", "1000", 0, 60000, NULL, "empty-block-interval-ms", 0,
        consensus.empty_block_interval_ms,
        "with nothing to order, a proposer sends an empty block after this (a heartbeat)"),
    [CONF_KEY_CONSENSUS_TIMEOUT_PROPOSE_MS] = INT_KEY("consensus", "timeout_propose_ms", "1000",
        10, 600000, NULL, "timeout-propose-ms", 0, consensus.timeout_propose_ms,
        "round 0 waits this long for the proposal (each later round half a vote timeout more)"),
    [CONF_KEY_CONSENSUS_MEMPOOL_IDS_MAX] = INT_KEY("consensus", "mempool_ids_max", "131072",
        16, 4194304, NULL, "mempool-ids-max", 0, consensus.mempool_ids_max,
        "message ids a validator holds waiting to be ordered; a full pool refuses and counts"),
    [CONF_KEY_CONSENSUS_TIMEOUT_VOTE_MS] = INT_KEY("consensus", "timeout_vote_ms", "500", 10,
        600000, NULL, "timeout-vote-ms", 0, consensus.timeout_vote_ms,
        "round 0 waits this long after a quorum of prevotes or precommits that do not agree"),
    [CONF_KEY_CONSENSUS_SEGMENT_BYTES] = INT_KEY("consensus", "segment_bytes", "67108864",
        65536, 1073741824, NULL, NULL, 0, consensus.segment_bytes,
        "block store segment file size: a new blocks-<height>.log starts past it"),
    [CONF_KEY_CONSENSUS_RETAIN_BLOCKS] = INT_KEY("consensus", "retain_blocks", "0", 0,
        1000000000000, NULL, NULL, 0, consensus.retain_blocks,
        "keep at least the newest N full blocks, prune whole older segments (0: keep all)"),
    [CONF_KEY_CONSENSUS_RETAIN_BYTES] = INT_KEY("consensus", "retain_bytes", "0", 0,
        1125899906842624, NULL, NULL, 0, consensus.retain_bytes,
        "prune whole old segments while the segments pass N bytes (0: no limit)"),
    [CONF_KEY_RELAY_RELAY_ADDRESSES] = KEY("relay", "relay_addresses", CONF_KIND_ADDRS, "",
        NULL, NULL, NULL, 0, relay.relay_addresses, "relay nodes for message gossip"),
    [CONF_KEY_RELAY_PEER_CHECK_INTERVAL] = INT_KEY("relay", "peer_check_interval", "30", 1,
        86400, NULL, "peer-check-interval", 0, relay.peer_check_interval,
        "seconds between liveness checks; 3 missed = disconnected"),
    [CONF_KEY_RELAY_SUB_EXPIRY_S] = INT_KEY("relay", "sub_expiry_s", "30", 1, 86400, NULL,
        "sub-expiry", 0, relay.sub_expiry_s, "a subscription lapses unless renewed within this"),
    [CONF_KEY_RELAY_SUBSCRIBERS_MAX] = INT_KEY("relay", "subscribers_max", "1024", 1, 1048576,
        NULL, NULL, 0, relay.subscribers_max, "most user subscriptions held at once"),
    [CONF_KEY_RELAY_REVERIFY_SAMPLE] = INT_KEY("relay", "reverify_sample", "64", 1, 1000000,
        NULL, "reverify-sample", 0, relay.reverify_sample,
        "re-verify 1 in this many messages that arrive over a peer link (1: every one)"),
    [CONF_KEY_RELAY_BAN_S] = INT_KEY("relay", "ban_s", "300", 1, 86400, NULL, NULL, 0,
        relay.ban_s, "a peer whose re-verified message fails is cut off this many seconds"),
    [CONF_KEY_RELAY_MESH_DEGREE] = INT_KEY("relay", "mesh_degree", "8", 0, 64, NULL,
        "mesh-degree", 0, relay.mesh_degree,
        "gossip peers a relay reaches: --peers first, then relays and validators discovery "
        "finds (0: --peers only)"),
    [CONF_KEY_RPC_LISTEN] = KEY("rpc", "listen", CONF_KIND_ADDR, "127.0.0.1:7070", NULL, NULL,
        "rpc", CONF_KEY_PORT_ZERO_OK, rpc.listen, "HTTP API address (keep it on loopback)"),
    [CONF_KEY_DATAPLANE_BACKEND] = KEY("dataplane", "backend", CONF_KIND_ENUM, "uring",
        backends, NULL, "backend", 0, dataplane.backend,
        "packet I/O: uring, or dpdk (builds with -Ddpdk=enabled)"),
    [CONF_KEY_DATAPLANE_CORES] = KEY("dataplane", "cores", CONF_KIND_CORES, "auto", NULL, NULL,
        "cores", 0, dataplane.cores, "pin I/O thread, then workers: auto, or a list like 0,2-5"),
    [CONF_KEY_DATAPLANE_POLLING] = KEY("dataplane", "polling", CONF_KIND_ENUM, "adaptive",
        pollings, NULL, "poll", 0, dataplane.polling,
        "adaptive (spin, then sleep) or busy (dedicated cores)"),
    [CONF_KEY_DATAPLANE_VERIFY_WORKERS] = INT_KEY("dataplane", "verify_workers", "1", 1, 16,
        NULL, "verify-workers", 0, dataplane.verify_workers, "Ed25519 verification threads"),
    [CONF_KEY_DATAPLANE_PEERS] = KEY("dataplane", "peers", CONF_KIND_ADDRS, "", NULL, NULL,
        "peers", 0, dataplane.peers, "relays to gossip verified messages to"),
    [CONF_KEY_DATAPLANE_MTU] = INT_KEY("dataplane", "mtu", "1472", 1232, 9000, NULL, "mtu", 0,
        dataplane.mtu, "UDP payload bytes per datagram sent"),
    [CONF_KEY_DATAPLANE_DEDUP_ENTRIES] = INT_KEY("dataplane", "dedup_entries", "1048576", 1024,
        67108864, NULL, NULL, 0, dataplane.dedup_entries,
        "de-duplication table slots (rounded up to a power of two)"),
    [CONF_KEY_DATAPLANE_DEDUP_WINDOW_S] = INT_KEY("dataplane", "dedup_window_s", "120", 1,
        86400, NULL, NULL, 0, dataplane.dedup_window_s,
        "a message id is remembered at least this long"),
    [CONF_KEY_DATAPLANE_BENCH_SKIP_VERIFY] = KEY("dataplane", "bench_skip_verify",
        CONF_KIND_BOOL, "false", NULL, NULL, "bench-skip-verify", 0,
        dataplane.bench_skip_verify, "BENCHMARKS ONLY: skip signature checks"),
    [CONF_KEY_DATAPLANE_LINKS] = KEY("dataplane", "links", CONF_KIND_BOOL, "true", NULL, NULL,
        NULL, 0, dataplane.links,
        "gossip between nodes over authenticated encrypted peer links (verify once at the edge)"),
    [CONF_KEY_DATAPLANE_BENCH_FORGE_EVERY] = INT_KEY("dataplane", "bench_forge_every", "0", 0,
        1000000, NULL, "bench-forge-every", 0, dataplane.bench_forge_every,
        "TESTS ONLY: forward 1 in N messages with a broken signature (0: never)"),
};

/* ---------------------------------------------------------------- lookup */

int conf_schema_find(const char *section, const char *name)
{
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        if (strcmp(conf_schema[i].section, section) == 0 &&
            strcmp(conf_schema[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

int conf_schema_find_flag(const char *flag)
{
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        if (conf_schema[i].flag != NULL && strcmp(conf_schema[i].flag, flag) == 0) {
            return i;
        }
    }
    return -1;
}

bool conf_schema_has_section(const char *section)
{
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        if (strcmp(conf_schema[i].section, section) == 0) {
            return true;
        }
    }
    return false;
}

int conf_schema_full_name(int id, char *buf, size_t size)
{
    DC_ASSERT(id >= 0 && id < CONF_KEY_COUNT);
    return snprintf(buf, size, "%s.%s", conf_schema[id].section, conf_schema[id].name);
}

size_t conf_edit_distance(const char *a, const char *b)
{
    enum { LEN_MAX = 64 };
    size_t n = strlen(a);
    size_t m = strlen(b);
    if (n > LEN_MAX || m > LEN_MAX) {
        return (size_t)-1; /* too long to be a typo of a key we know */
    }
    size_t d[LEN_MAX + 1][LEN_MAX + 1];
    for (size_t i = 0; i <= n; i++) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= m; j++) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = d[i - 1][j - 1] + cost;
            best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
            best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best) {
                best = d[i - 2][j - 2] + 1;
            }
            d[i][j] = best;
        }
    }
    return d[n][m];
}

/* A typo is at most a third of the word wrong (and at least 2 edits are tolerated). */
static bool close_enough(size_t distance, const char *typed)
{
    size_t limit = strlen(typed) / 3;
    return distance <= (limit < 2 ? 2 : limit);
}

const char *conf_schema_suggest(const char *section, const char *name, char *buf, size_t size)
{
    size_t best = (size_t)-1;
    int best_id = -1;
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        /* the key's own name, in any section: catches a key put in the wrong table */
        size_t d = conf_edit_distance(name, conf_schema[i].name);
        if (section != NULL && strcmp(section, conf_schema[i].section) != 0) {
            d += 1; /* prefer the table the operator wrote */
        }
        if (d < best) {
            best = d;
            best_id = i;
        }
    }
    if (best_id < 0 || !close_enough(best, name)) {
        return NULL;
    }
    conf_schema_full_name(best_id, buf, size);
    return buf;
}

const char *conf_schema_suggest_flag(const char *flag)
{
    size_t best = (size_t)-1;
    const char *hit = NULL;
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        if (conf_schema[i].flag != NULL) {
            size_t d = conf_edit_distance(flag, conf_schema[i].flag);
            if (d < best) {
                best = d;
                hit = conf_schema[i].flag;
            }
        }
    }
    size_t d = conf_edit_distance(flag, "config");
    if (d < best) {
        best = d;
        hit = "config";
    }
    return hit != NULL && close_enough(best, flag) ? hit : NULL;
}

const char *conf_schema_suggest_section(const char *section)
{
    size_t best = (size_t)-1;
    const char *hit = NULL;
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        size_t d = conf_edit_distance(section, conf_schema[i].section);
        if (d < best) {
            best = d;
            hit = conf_schema[i].section;
        }
    }
    return hit != NULL && close_enough(best, section) ? hit : NULL;
}

/* ---------------------------------------------------------------- setters */

__attribute__((format(printf, 4, 5)))
static int reason(int rc, char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return rc;
}

static void *field_of(struct conf_node *node, int id)
{
    return (char *)node + conf_schema[id].offset;
}

static int check_int(int id, int64_t v, char *why, size_t why_size)
{
    const struct conf_key *k = &conf_schema[id];
    if (v < k->min || v > k->max) {
        return reason(DC_ERANGE, why, why_size, "%lld is out of range %lld..%lld",
                      (long long)v, (long long)k->min, (long long)k->max);
    }
    if ((k->flags & CONF_KEY_POW2) && (v & (v - 1)) != 0) {
        return reason(DC_ERANGE, why, why_size, "%lld is not a power of two", (long long)v);
    }
    return 0;
}

/* Strict decimal: optional sign, digits, nothing else; 0 or DC_ETYPE / DC_ERANGE. */
static int parse_int_text(const char *text, int64_t *out)
{
    const char *s = text;
    int neg = *s == '-';
    s += (*s == '-' || *s == '+') ? 1 : 0;
    if (*s == '\0') {
        return DC_ETYPE;
    }
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return DC_ETYPE;
        }
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (limit - d) / 10) {
            return DC_ERANGE;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int set_int(struct conf_node *node, int id, int64_t v, char *why, size_t why_size)
{
    int rc = check_int(id, v, why, why_size);
    if (rc == 0) {
        *(int64_t *)field_of(node, id) = v;
    }
    return rc;
}

static int set_string(struct conf_node *node, int id, const char *s, size_t len, char *why,
                      size_t why_size)
{
    if (len >= CONF_STRING_BYTES) {
        return reason(DC_ETOOBIG, why, why_size, "value is longer than %u bytes",
                      CONF_STRING_BYTES - 1);
    }
    if (memchr(s, '\0', len) != NULL) {
        return reason(DC_EMALFORMED, why, why_size, "value contains a NUL character");
    }
    char *dst = field_of(node, id);
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int set_enum(struct conf_node *node, int id, const char *s, char *why, size_t why_size)
{
    const char *const *choices = conf_schema[id].choices;
    char list[128] = "";
    size_t used = 0;
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *(int *)field_of(node, id) = i;
            return 0;
        }
        if (choices[i][0] == '\0') {
            continue; /* "not chosen yet": a default, never listed */
        }
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", used > 0 ? ", " : "",
                         choices[i]);
        used += n > 0 && (size_t)n < sizeof(list) - used ? (size_t)n : 0;
    }
    return reason(DC_ERANGE, why, why_size, "unknown value '%.64s' (one of: %s)", s, list);
}

static int parse_addr(int id, const char *s, struct conf_maddr *out, char *why,
                      size_t why_size)
{
    const char *what = NULL;
    if (conf_maddr_parse(out, s, &what) != 0) {
        return reason(DC_EMALFORMED, why, why_size, "bad address '%.80s': %s", s, what);
    }
    if (out->port == 0 && !(conf_schema[id].flags & CONF_KEY_PORT_ZERO_OK)) {
        return reason(DC_ERANGE, why, why_size,
                      "bad address '%.80s': port 0 is only allowed for a listen address", s);
    }
    return 0;
}

/* Comma-separated addresses; surrounding spaces ignored; "" is the empty list. */
static int set_addrs_text(struct conf_node *node, int id, const char *text, char *why,
                          size_t why_size)
{
    struct conf_addr_list list;
    memset(&list, 0, sizeof(list));
    const char *s = text;
    while (*s == ' ') {
        s++;
    }
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        char item[CONF_MADDR_TEXT_BYTES];
        while (n > 0 && s[n - 1] == ' ') {
            n--;
        }
        if (n == 0 || n >= sizeof(item)) {
            return reason(DC_EMALFORMED, why, why_size, n == 0 ? "empty address in the list"
                                                               : "address is too long");
        }
        if (list.count == CONF_ADDRS_MAX) {
            return reason(DC_ETOOBIG, why, why_size, "more than %u addresses", CONF_ADDRS_MAX);
        }
        memcpy(item, s, n);
        item[n] = '\0';
        int rc = parse_addr(id, item, &list.items[list.count], why, why_size);
        if (rc != 0) {
            return rc;
        }
        list.count++;
        s = comma != NULL ? comma + 1 : s + strlen(s);
        while (*s == ' ') {
            s++;
        }
        if (comma != NULL && *s == '\0') {
            return reason(DC_EMALFORMED, why, why_size, "empty address at the end of the list");
        }
    }
    memcpy(field_of(node, id), &list, sizeof(list));
    return 0;
}

static int cores_add(struct conf_cores *c, long cpu, char *why, size_t why_size)
{
    if (cpu < 0 || cpu > CONF_CPU_ID_MAX) {
        return reason(DC_ERANGE, why, why_size, "core %ld is out of range 0..%d", cpu,
                      CONF_CPU_ID_MAX);
    }
    for (size_t i = 0; i < c->count; i++) {
        if (c->ids[i] == cpu) {
            return reason(DC_EMALFORMED, why, why_size, "core %ld is listed twice", cpu);
        }
    }
    if (c->count == CONF_CORES_MAX) {
        return reason(DC_ETOOBIG, why, why_size, "more than %u cores", CONF_CORES_MAX);
    }
    c->ids[c->count++] = (uint16_t)cpu;
    return 0;
}

/* "auto", or a list of CPUs and ranges: "0,2-5". */
static int parse_cores_text(const char *text, struct conf_cores *c, char *why, size_t why_size)
{
    memset(c, 0, sizeof(*c));
    if (strcmp(text, "auto") == 0) {
        c->all = true;
        return 0;
    }
    const char *s = text;
    for (;;) {
        char *end;
        if (*s < '0' || *s > '9') {
            return reason(DC_EMALFORMED, why, why_size,
                          "'%.64s' is not auto or a core list like 0,2-5", text);
        }
        long lo = strtol(s, &end, 10);
        long hi = lo;
        if (*end == '-') {
            s = end + 1;
            hi = (*s >= '0' && *s <= '9') ? strtol(s, &end, 10) : -1;
            if (hi < lo) {
                return reason(DC_EMALFORMED, why, why_size, "bad core range in '%.64s'", text);
            }
        }
        if (hi > CONF_CPU_ID_MAX) {
            return reason(DC_ERANGE, why, why_size, "core %ld is out of range 0..%d", hi,
                          CONF_CPU_ID_MAX);
        }
        for (long cpu = lo; cpu <= hi; cpu++) {
            int rc = cores_add(c, cpu, why, why_size);
            if (rc != 0) {
                return rc;
            }
        }
        if (*end == '\0') {
            return 0;
        }
        if (*end != ',') {
            return reason(DC_EMALFORMED, why, why_size,
                          "'%.64s' is not auto or a core list like 0,2-5", text);
        }
        s = end + 1;
    }
}

int conf_schema_set_text(struct conf_node *node, int id, const char *text, char *why,
                         size_t why_size)
{
    DC_ASSERT(id >= 0 && id < CONF_KEY_COUNT);
    int64_t v;
    int rc;
    switch (conf_schema[id].kind) {
    case CONF_KIND_INT:
        rc = parse_int_text(text, &v);
        if (rc == 0) {
            rc = check_int(id, v, why, why_size);
        }
        if (rc != 0) {
            return reason(rc, why, why_size, "'%.64s' is not a number in %lld..%lld%s", text,
                          (long long)conf_schema[id].min, (long long)conf_schema[id].max,
                          conf_schema[id].flags & CONF_KEY_POW2 ? " (a power of two)" : "");
        }
        return set_int(node, id, v, why, why_size);
    case CONF_KIND_STRING:
        return set_string(node, id, text, strlen(text), why, why_size);
    case CONF_KIND_ENUM:
        return set_enum(node, id, text, why, why_size);
    case CONF_KIND_ADDR:
        return parse_addr(id, text, field_of(node, id), why, why_size);
    case CONF_KIND_ADDRS:
        return set_addrs_text(node, id, text, why, why_size);
    case CONF_KIND_BOOL:
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
            return reason(DC_ETYPE, why, why_size,
                          "'%.64s' is not true or false (as a flag it takes no value)", text);
        }
        *(bool *)field_of(node, id) = text[0] == 't';
        return 0;
    case CONF_KIND_CORES: {
        struct conf_cores cores;
        rc = parse_cores_text(text, &cores, why, why_size);
        if (rc == 0) {
            memcpy(field_of(node, id), &cores, sizeof(cores));
        }
        return rc;
    }
    }
    DC_ASSERT(!"unknown key kind");
    return DC_ECONFIG;
}

/* ---------------------------------------------------------------- TOML values */

static int wrong_type(const char *want, const struct conf_toml_value *v, char *why,
                      size_t why_size)
{
    return reason(DC_ETYPE, why, why_size, "expected %s, found %s", want,
                  conf_toml_type_name(v->type));
}

static int set_addrs_toml(struct conf_node *node, int id, const struct conf_toml_value *value,
                          char *why, size_t why_size)
{
    struct conf_addr_list list;
    memset(&list, 0, sizeof(list));
    if (value->type != CONF_TOML_ARRAY) {
        return wrong_type("an array of address strings", value, why, why_size);
    }
    size_t n = conf_toml_array_count(value);
    if (n > CONF_ADDRS_MAX) {
        return reason(DC_ETOOBIG, why, why_size, "more than %u addresses", CONF_ADDRS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        const struct conf_toml_value *item = conf_toml_array_at(value, i);
        char inner[CONF_REASON_BYTES];
        int rc = item->type == CONF_TOML_STRING
                     ? parse_addr(id, item->as.string.bytes, &list.items[i], inner, sizeof(inner))
                     : wrong_type("an address string", item, inner, sizeof(inner));
        if (rc == 0 && strlen(item->as.string.bytes) != item->as.string.len) {
            rc = reason(DC_EMALFORMED, inner, sizeof(inner), "address contains a NUL");
        }
        if (rc != 0) {
            return reason(rc, why, why_size, "element %zu (line %u): %s", i, item->line, inner);
        }
    }
    list.count = n;
    memcpy(field_of(node, id), &list, sizeof(list));
    return 0;
}

static int set_cores_toml(struct conf_node *node, int id, const struct conf_toml_value *value,
                          char *why, size_t why_size)
{
    struct conf_cores cores;
    memset(&cores, 0, sizeof(cores));
    if (value->type == CONF_TOML_STRING) {
        int rc = parse_cores_text(value->as.string.bytes, &cores, why, why_size);
        if (rc != 0) {
            return rc;
        }
    } else if (value->type == CONF_TOML_ARRAY) {
        for (size_t i = 0; i < conf_toml_array_count(value); i++) {
            const struct conf_toml_value *item = conf_toml_array_at(value, i);
            if (item->type != CONF_TOML_INTEGER) {
                return wrong_type("an array of CPU numbers", item, why, why_size);
            }
            int64_t cpu = item->as.integer;
            int rc = cores_add(&cores, cpu < 0 || cpu > CONF_CPU_ID_MAX ? -1 : (long)cpu, why,
                               why_size);
            if (rc != 0) {
                return rc;
            }
        }
    } else {
        return wrong_type("\"auto\", a CPU list string or an array of CPU numbers", value, why,
                          why_size);
    }
    memcpy(field_of(node, id), &cores, sizeof(cores));
    return 0;
}

int conf_schema_set_toml(struct conf_node *node, int id, const struct conf_toml_value *value,
                         char *why, size_t why_size)
{
    DC_ASSERT(id >= 0 && id < CONF_KEY_COUNT);
    enum conf_kind kind = conf_schema[id].kind;
    if (kind == CONF_KIND_INT) {
        return value->type == CONF_TOML_INTEGER
                   ? set_int(node, id, value->as.integer, why, why_size)
                   : wrong_type("an integer", value, why, why_size);
    }
    if (kind == CONF_KIND_ADDRS) {
        return set_addrs_toml(node, id, value, why, why_size);
    }
    if (kind == CONF_KIND_CORES) {
        return set_cores_toml(node, id, value, why, why_size);
    }
    if (kind == CONF_KIND_BOOL) {
        if (value->type != CONF_TOML_BOOL) {
            return wrong_type("true or false", value, why, why_size);
        }
        *(bool *)field_of(node, id) = value->as.boolean;
        return 0;
    }
    if (value->type != CONF_TOML_STRING) {
        return wrong_type(kind == CONF_KIND_ADDR ? "an address string" : "a string", value, why,
                          why_size);
    }
    if (strlen(value->as.string.bytes) != value->as.string.len) {
        return reason(DC_EMALFORMED, why, why_size, "value contains a NUL character");
    }
    return conf_schema_set_text(node, id, value->as.string.bytes, why, why_size);
}

/* ---------------------------------------------------------------- defaults and printing */

void conf_schema_defaults(struct conf_node *node)
{
    memset(node, 0, sizeof(*node));
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        char why[CONF_REASON_BYTES];
        int rc = conf_schema_set_text(node, i, conf_schema[i].default_text, why, sizeof(why));
        DC_ASSERT(rc == 0); /* a default that does not parse is our bug */
        node->origin[i].source = CONF_SOURCE_DEFAULT;
    }
}

/* Appends to buf at *used, never past size. */
__attribute__((format(printf, 4, 5)))
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    *used += n > 0 ? (size_t)n : 0;
}

static void append_quoted(char *buf, size_t size, size_t *used, const char *s)
{
    append(buf, size, used, "\"");
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            append(buf, size, used, "\\%c", c);
        } else if (c < 0x20 || c == 0x7F) {
            append(buf, size, used, "\\u%04X", c);
        } else {
            append(buf, size, used, "%c", c);
        }
    }
    append(buf, size, used, "\"");
}

int conf_schema_format(const struct conf_node *node, int id, char *buf, size_t size)
{
    DC_ASSERT(id >= 0 && id < CONF_KEY_COUNT);
    const void *field = (const char *)node + conf_schema[id].offset;
    char text[CONF_MADDR_TEXT_BYTES];
    size_t used = 0;
    if (size > 0) {
        buf[0] = '\0';
    }
    switch (conf_schema[id].kind) {
    case CONF_KIND_INT:
        append(buf, size, &used, "%lld", (long long)*(const int64_t *)field);
        break;
    case CONF_KIND_STRING:
        append_quoted(buf, size, &used, field);
        break;
    case CONF_KIND_ENUM:
        append_quoted(buf, size, &used, conf_schema[id].choices[*(const int *)field]);
        break;
    case CONF_KIND_ADDR:
        conf_maddr_format_as_written(field, text, sizeof(text));
        append_quoted(buf, size, &used, text);
        break;
    case CONF_KIND_ADDRS: {
        const struct conf_addr_list *list = field;
        append(buf, size, &used, "[");
        for (size_t i = 0; i < list->count; i++) {
            conf_maddr_format_as_written(&list->items[i], text, sizeof(text));
            append(buf, size, &used, "%s", i > 0 ? ", " : "");
            append_quoted(buf, size, &used, text);
        }
        append(buf, size, &used, "]");
        break;
    }
    case CONF_KIND_BOOL:
        append(buf, size, &used, "%s", *(const bool *)field ? "true" : "false");
        break;
    case CONF_KIND_CORES: {
        const struct conf_cores *cores = field;
        append(buf, size, &used, "\"%s", cores->all ? "auto" : "");
        for (size_t i = 0; i < cores->count; i++) {
            append(buf, size, &used, "%s%u", i > 0 ? "," : "", cores->ids[i]);
        }
        append(buf, size, &used, "\"");
        break;
    }
    }
    return (int)used;
}
