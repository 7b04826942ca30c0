/*
 * node_config: defaults, the mapping from the config loader's result (conf/load.h, which
 * owns the flags, environment, file and their one schema), and the node's cross-checks.
 */
#include "engine/node_config.h"

#include "conf/load.h"

#include "common/dc_err.h"
#include "common/dc_log.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void eng_node_config_defaults(struct eng_node_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->role = ENG_NODE_ROLE_NONE;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", ENG_NODE_DATA_DIR_DEFAULT);
    int rc = eng_node_addr_parse(&cfg->listen, ENG_NODE_LISTEN_DEFAULT, 0);
    rc |= eng_node_addr_parse(&cfg->rpc_listen, ENG_NODE_RPC_DEFAULT, 0);
    (void)rc; /* numeric defaults always parse */
    cfg->verify_workers = 1;
    cfg->poll = ENG_NODE_POLL_ADAPTIVE;
    cfg->mtu = 1472;
    cfg->subscribers_max = ENG_NODE_SUBSCRIBERS_MAX_DEFAULT;
    cfg->sub_expiry_s = ENG_NODE_SUB_EXPIRY_S_DEFAULT;
    cfg->dedup_entries = ENG_NODE_DEDUP_ENTRIES_DEFAULT;
    cfg->dedup_window_s = ENG_NODE_DEDUP_WINDOW_S_DEFAULT;
    cfg->stats_interval_s = ENG_NODE_STATS_INTERVAL_S_DEFAULT;
    cfg->peer_check_interval_s = ENG_NODE_PEER_CHECK_S_DEFAULT;
    cfg->log_level = DC_LOG_INFO;
    cfg->block_ids_max = ENG_NODE_BLOCK_IDS_MAX_DEFAULT;
    cfg->empty_block_interval_ms = ENG_NODE_EMPTY_BLOCK_INTERVAL_MS_DEFAULT;
    cfg->timeout_propose_ms = ENG_NODE_TIMEOUT_PROPOSE_MS_DEFAULT;
    cfg->timeout_vote_ms = ENG_NODE_TIMEOUT_VOTE_MS_DEFAULT;
    cfg->mempool_ids_max = 131072;
    cfg->links = 1;
    cfg->reverify_sample = 64;
    cfg->ban_s = 300;
    cfg->segment_bytes = ENG_NODE_SEGMENT_BYTES_DEFAULT;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return DC_ECONFIG;
}

int eng_node_addr_parse(struct eng_node_addr *addr, const char *text, int port_zero_ok)
{
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof(addr->text)) {
        return DC_ECONFIG;
    }
    char host[ENG_NODE_ADDR_TEXT_MAX];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || colon[1] == '\0') {
        return DC_ECONFIG;
    }
    size_t host_len = (size_t)(colon - text);
    const char *h = text;
    if (text[0] == '[') { /* [v6]:port */
        if (host_len < 3 || text[host_len - 1] != ']') {
            return DC_ECONFIG;
        }
        h = text + 1;
        host_len -= 2;
    }
    memcpy(host, h, host_len);
    host[host_len] = '\0';
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < (port_zero_ok ? 0 : 1) || port > 65535) {
        return DC_ECONFIG;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
        return DC_ECONFIG;
    }
    memset(&addr->sa, 0, sizeof(addr->sa));
    memcpy(&addr->sa, res->ai_addr, res->ai_addrlen);
    addr->sa_len = res->ai_addrlen;
    freeaddrinfo(res);
    memcpy(addr->text, text, len + 1);
    return 0;
}

int eng_node_config_check(const struct eng_node_config *cfg, char *err, size_t err_size)
{
    if (cfg->role == ENG_NODE_ROLE_NONE) {
        return fail(err, err_size, "--role is required (relay or validator)");
    }
    if (cfg->verify_workers < 1 || cfg->verify_workers > ENG_NODE_VERIFY_WORKERS_MAX) {
        return fail(err, err_size, "verify workers must be 1..%d", ENG_NODE_VERIFY_WORKERS_MAX);
    }
    if (cfg->mtu < ENG_NODE_MTU_MIN || cfg->mtu > ENG_NODE_MTU_MAX) {
        return fail(err, err_size, "mtu must be %d..%d", ENG_NODE_MTU_MIN, ENG_NODE_MTU_MAX);
    }
    if (cfg->listen.sa.ss_family == AF_UNSPEC) {
        return fail(err, err_size, "no listen address");
    }
    for (uint32_t i = 0; i < cfg->peer_count; i++) {
        if (cfg->peers[i].sa.ss_family != cfg->listen.sa.ss_family) {
            return fail(err, err_size, "--peers: '%s' is not of the listen address's family",
                        cfg->peers[i].text);
        }
    }
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
        for (uint32_t i = 0; i < cfg->core_count; i++) {
            if (!CPU_ISSET(cfg->cores[i], &allowed)) {
                return fail(err, err_size, "--cores: core %d is not available here (%d CPUs)",
                            cfg->cores[i], CPU_COUNT(&allowed));
            }
        }
    }
    if (cfg->dedup_entries < 1024 || cfg->subscribers_max < 1) {
        return fail(err, err_size, "dedup table or subscriber table too small");
    }
    return 0;
}

/* ---- from the config loader (conf/load.h): flag > environment > file > defaults ---- */

static int addr_from_conf(struct eng_node_addr *out, const struct conf_maddr *m,
                          int port_zero_ok, const char *key, char *err, size_t err_size)
{
    char text[ENG_NODE_ADDR_TEXT_MAX];
    conf_maddr_format_hostport(m, text, sizeof(text));
    if (eng_node_addr_parse(out, text, port_zero_ok) != 0) {
        return fail(err, err_size, "%s: cannot resolve '%s'", key, text);
    }
    /* keep the operator's spelling (a multiaddr stays a multiaddr) for logs and records */
    conf_maddr_format_as_written(m, out->text, sizeof(out->text));
    return 0;
}

/*
 * `unresolved_ok` is for bootstrap lists: a name that does not resolve yet (a peer still being
 * deployed, DNS not updated) is kept by name with sa_len 0 and a warning, and the control
 * thread resolves it again each time it knocks. Every other address must resolve at start.
 */
static int addrs_from_conf(struct eng_node_addr *out, uint32_t max, uint32_t *count,
                           const struct conf_addr_list *list, int unresolved_ok,
                           const char *key, char *err, size_t err_size)
{
    *count = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (*count == max) {
            return fail(err, err_size, "%s: more than %u addresses", key, max);
        }
        struct eng_node_addr *addr = &out[*count];
        int rc = addr_from_conf(addr, &list->items[i], 0, key, err, err_size);
        if (rc != 0 && !unresolved_ok) {
            return rc;
        }
        if (rc != 0) {
            memset(addr, 0, sizeof(*addr));
            conf_maddr_format_as_written(&list->items[i], addr->text, sizeof(addr->text));
            DC_WARN("node", "%s: '%s' does not resolve now; discovery keeps trying it", key,
                    addr->text);
            err[0] = '\0';
        }
        (*count)++;
    }
    return 0;
}

/*
 * [relay] relay_addresses: more nodes to learn the network from (names that do not resolve
 * yet are retried); once discovery holds their signed records, a relay gossips to them
 * ([relay] mesh_degree).
 */
static int add_relay_addresses(struct eng_node_config *cfg, const struct conf_node *c,
                               char *err, size_t err_size)
{
    uint32_t extra = 0;
    int rc = addrs_from_conf(cfg->bootstrap + cfg->bootstrap_count,
                             ENG_NODE_BOOTSTRAP_MAX - cfg->bootstrap_count, &extra,
                             &c->relay.relay_addresses, 1, "relay_addresses", err, err_size);
    cfg->bootstrap_count += extra;
    return rc;
}

static void copy_text(char *out, size_t size, const char *text)
{
    snprintf(out, size, "%s", text);
}

int eng_node_config_from_conf(struct eng_node_config *cfg, const struct conf_node *c,
                              char *err, size_t err_size)
{
    eng_node_config_defaults(cfg);
    cfg->role = c->node.role == CONF_ROLE_RELAY       ? ENG_NODE_ROLE_RELAY
                : c->node.role == CONF_ROLE_VALIDATOR ? ENG_NODE_ROLE_VALIDATOR
                                                      : ENG_NODE_ROLE_NONE;
    copy_text(cfg->config_file, sizeof(cfg->config_file), c->config_path);
    copy_text(cfg->key_file, sizeof(cfg->key_file), c->node.key_file);
    copy_text(cfg->data_dir, sizeof(cfg->data_dir), c->node.data_dir);
    copy_text(cfg->genesis_file, sizeof(cfg->genesis_file), c->consensus.genesis);
    cfg->block_ids_max = (uint32_t)c->consensus.block_ids_max;
    cfg->empty_block_interval_ms = (uint32_t)c->consensus.empty_block_interval_ms;
    cfg->timeout_propose_ms = (uint32_t)c->consensus.timeout_propose_ms;
    cfg->timeout_vote_ms = (uint32_t)c->consensus.timeout_vote_ms;
    cfg->mempool_ids_max = (uint32_t)c->consensus.mempool_ids_max;
    cfg->segment_bytes = (uint64_t)c->consensus.segment_bytes;
    cfg->retain_blocks = (uint64_t)c->consensus.retain_blocks;
    cfg->retain_bytes = (uint64_t)c->consensus.retain_bytes;
    cfg->log_level = (enum dc_log_level)c->node.log_level;
    cfg->stats_interval_s = (uint32_t)c->node.stats_interval_s;
    if (c->network.listen_addrs.count == 0) {
        return fail(err, err_size, "listen: no address");
    }
    int rc = addr_from_conf(&cfg->listen, &c->network.listen_addrs.items[0], 1, "listen", err,
                            err_size);
    rc = rc != 0 ? rc : addr_from_conf(&cfg->rpc_listen, &c->rpc.listen, 1, "rpc", err,
                                       err_size);
    rc = rc != 0 ? rc : addrs_from_conf(cfg->peers, ENG_NODE_PEERS_MAX, &cfg->peer_count,
                                        &c->dataplane.peers, 0, "peers", err, err_size);
    rc = rc != 0 ? rc : addrs_from_conf(cfg->bootstrap, ENG_NODE_BOOTSTRAP_MAX,
                                        &cfg->bootstrap_count, &c->network.bootstrap_nodes, 1,
                                        "bootstrap-nodes", err, err_size);
    if (rc != 0) {
        return rc;
    }
    cfg->bootstrap_set =
        c->origin[CONF_KEY_NETWORK_BOOTSTRAP_NODES].source != CONF_SOURCE_DEFAULT;
    rc = add_relay_addresses(cfg, c, err, err_size);
    if (rc != 0) {
        return rc;
    }
    cfg->core_count = 0;
    for (size_t i = 0; !c->dataplane.cores.all && i < c->dataplane.cores.count &&
                       i < ENG_NODE_CORES_MAX; i++) {
        cfg->cores[cfg->core_count++] = c->dataplane.cores.ids[i];
    }
    cfg->verify_workers = (uint32_t)c->dataplane.verify_workers;
    cfg->poll = c->dataplane.polling == CONF_POLLING_BUSY ? ENG_NODE_POLL_BUSY
                                                          : ENG_NODE_POLL_ADAPTIVE;
    cfg->bench_skip_verify = c->dataplane.bench_skip_verify;
    cfg->links = c->dataplane.links;
    cfg->bench_forge_every = (uint32_t)c->dataplane.bench_forge_every;
    cfg->reverify_sample = (uint32_t)c->relay.reverify_sample;
    cfg->ban_s = (uint32_t)c->relay.ban_s;
    cfg->mesh_degree = (uint32_t)c->relay.mesh_degree;
    cfg->mtu = (uint32_t)c->dataplane.mtu;
    cfg->dedup_entries = (uint32_t)c->dataplane.dedup_entries;
    cfg->dedup_window_s = (uint32_t)c->dataplane.dedup_window_s;
    cfg->subscribers_max = (uint32_t)c->relay.subscribers_max;
    cfg->sub_expiry_s = (uint32_t)c->relay.sub_expiry_s;
    cfg->peer_check_interval_s = (uint32_t)c->relay.peer_check_interval;
    if (c->dataplane.backend != CONF_BACKEND_URING) {
        /* -Ddpdk=enabled finds libdpdk, but the DPDK backend itself is not written yet. */
        return fail(err, err_size, "backend: only uring is available (the dpdk backend is "
                                   "not implemented yet)");
    }
    return 0;
}
