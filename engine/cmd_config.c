/*
 * dchat config: check a config file, or show the effective configuration.
 *
 *   dchat config check FILE...            validate; errors as FILE:LINE:COL: message; exit 0/1
 *   dchat config show [--config FILE] [node flags]
 *                                         the settings a node would run with, and their sources
 * Main thread only.
 */
#include "engine/cmd.h"
#include "engine/cmd_config.h"
#include "engine/node_config.h"

#include "common/dc_err.h"
#include "common/dc_log.h"
#include "conf/load.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * One address, resolved to its first socket address. The text is host:port, the form the
 * control thread re-resolves when a bootstrap node stays silent (eng_node_addr_parse()).
 */
static int resolve_one(struct eng_node_addr *dst, const struct conf_maddr *src)
{
    struct sockaddr_storage sa;
    size_t count = 0;
    conf_maddr_format_hostport(src, dst->text, sizeof(dst->text));
    int rc = conf_maddr_resolve(src, &sa, 1, &count);
    if (rc != 0) {
        return rc;
    }
    dst->sa = sa;
    dst->sa_len = sa.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                          : sizeof(struct sockaddr_in6);
    return 0;
}

/* A list whose unresolvable names are skipped with a warning (discovery re-tries them). */
static uint32_t resolve_list(struct eng_node_addr *dst, uint32_t max,
                             const struct conf_addr_list *src, const char *key)
{
    uint32_t n = 0;
    for (size_t i = 0; i < src->count && n < max; i++) {
        int rc = resolve_one(&dst[n], &src->items[i]);
        if (rc != 0) {
            DC_WARN("conf", "%s: skipping '%s': %s", key, dst[n].text, dc_strerror(rc));
            continue;
        }
        n++;
    }
    return n;
}

static int resolve_required(struct eng_node_addr *dst, const struct conf_maddr *src,
                            const char *key, char *err, size_t err_size)
{
    int rc = resolve_one(dst, src);
    if (rc != 0) {
        snprintf(err, err_size, "%s: cannot resolve '%s': %s", key, dst->text,
                 dc_strerror(rc));
    }
    return rc;
}

static int copy_addresses(struct eng_node_config *cfg, const struct conf_node *node, char *err,
                          size_t err_size)
{
    const struct conf_addr_list *listen = &node->network.listen_addrs;
    int rc = resolve_required(&cfg->listen, &listen->items[0], "network.listen_addrs", err,
                              err_size);
    if (rc == 0) {
        rc = resolve_required(&cfg->rpc_listen, &node->rpc.listen, "rpc.listen", err,
                              err_size);
    }
    if (rc != 0) {
        return rc;
    }
    if (listen->count > 1) {
        DC_INFO("conf", "network.listen_addrs: binding %s; a node has one UDP address, the "
                "other %zu are not bound", cfg->listen.text, listen->count - 1);
    }
    cfg->peer_count = resolve_list(cfg->peers, ENG_NODE_PEERS_MAX, &node->dataplane.peers,
                                   "dataplane.peers");
    cfg->bootstrap_count = resolve_list(cfg->bootstrap, ENG_NODE_BOOTSTRAP_MAX,
                                        &node->network.bootstrap_nodes,
                                        "network.bootstrap_nodes");
    cfg->bootstrap_set =
        node->origin[CONF_KEY_NETWORK_BOOTSTRAP_NODES].source != CONF_SOURCE_DEFAULT;
    return 0;
}

static void copy_scalars(struct eng_node_config *cfg, const struct conf_node *node)
{
    static const enum eng_node_role roles[] = {
        [CONF_ROLE_NONE] = ENG_NODE_ROLE_NONE,
        [CONF_ROLE_RELAY] = ENG_NODE_ROLE_RELAY,
        [CONF_ROLE_VALIDATOR] = ENG_NODE_ROLE_VALIDATOR,
    };
    cfg->role = roles[node->node.role];
    snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", node->config_path);
    snprintf(cfg->key_file, sizeof(cfg->key_file), "%s", node->node.key_file);
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", node->node.data_dir);
    cfg->core_count = 0; /* auto: no pinning, the scheduler spreads the threads */
    for (size_t i = 0; !node->dataplane.cores.all && i < node->dataplane.cores.count &&
                       i < ENG_NODE_CORES_MAX; i++) {
        cfg->cores[cfg->core_count++] = node->dataplane.cores.ids[i];
    }
    cfg->verify_workers = (uint32_t)node->dataplane.verify_workers;
    cfg->poll = node->dataplane.polling == CONF_POLLING_BUSY ? ENG_NODE_POLL_BUSY
                                                            : ENG_NODE_POLL_ADAPTIVE;
    cfg->bench_skip_verify = node->dataplane.bench_skip_verify;
    cfg->mtu = (uint32_t)node->dataplane.mtu;
    cfg->subscribers_max = (uint32_t)node->relay.subscribers_max;
    cfg->sub_expiry_s = (uint32_t)node->relay.sub_expiry_s;
    cfg->dedup_entries = (uint32_t)node->dataplane.dedup_entries;
    cfg->dedup_window_s = (uint32_t)node->dataplane.dedup_window_s;
    cfg->stats_interval_s = (uint32_t)node->node.stats_interval_s;
    cfg->peer_check_interval_s = (uint32_t)node->relay.peer_check_interval;
    cfg->log_level = (enum dc_log_level)node->node.log_level;
}

int eng_node_config_load(struct eng_node_config *cfg, int argc, char **argv, char **envp,
                         char *err, size_t err_size)
{
    static struct conf_node node; /* large; main thread, once */
    if (conf_node_help_requested(argc, argv)) {
        printf("usage: dchat --role relay|validator [flags]\n\nflags (each also a config key, "
               "shown in brackets; precedence: flag > env > file > default):\n");
        conf_node_usage(stdout);
        return 1;
    }
    int rc = conf_node_load(&node, argc, argv, envp, err, err_size);
    if (rc != 0) {
        return rc;
    }
#ifndef DCHAT_HAVE_DPDK
    if (node.dataplane.backend == CONF_BACKEND_DPDK) {
        snprintf(err, err_size, "dataplane.backend = \"dpdk\": this build has no DPDK "
                 "(meson setup -Ddpdk=enabled)");
        return DC_EUNSUPPORTED;
    }
#endif
    eng_node_config_defaults(cfg);
    copy_scalars(cfg, &node);
    return copy_addresses(cfg, &node, err, err_size);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dchat config check [FILE...]  (no FILE: $DCHAT_CONFIG)\n"
            "       dchat config show [--config FILE] [node flags]\n"
            "check validates each file (unknown keys, types, ranges, quorum) and prints\n"
            "FILE:LINE:COL: message per error. show prints the effective configuration as\n"
            "TOML, each value commented with its source (flag > environment > file > default).\n"
            "Node flags:\n");
    conf_node_usage(out);
}

/* Validates each FILE, or $DCHAT_CONFIG when none is named. */
static int check(int argc, char **argv)
{
    static struct conf_node node; /* large; one at a time */
    char *from_env[] = { getenv("DCHAT_CONFIG"), NULL };
    char **files = argv + 1;
    int count = argc - 1;
    if (count == 0 && from_env[0] != NULL) {
        files = from_env;
        count = 1;
    }
    if (count == 0) {
        fprintf(stderr, "dchat config check: missing FILE (dchat config check FILE..., or set "
                        "DCHAT_CONFIG)\n");
        return 2;
    }
    int status = 0;
    for (int i = 0; i < count; i++) {
        char err[CONF_ERR_BYTES];
        if (conf_node_load_file(&node, files[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            status = 1;
        } else {
            printf("%s: ok\n", files[i]);
        }
    }
    return status;
}

static int show(int argc, char **argv)
{
    static struct conf_node node;
    char err[CONF_ERR_BYTES];
    if (conf_node_help_requested(argc, argv)) {
        usage(stdout);
        return 0;
    }
    int rc = conf_node_load(&node, argc, argv, environ, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return rc == DC_EUSAGE ? 2 : 1;
    }
    conf_node_print(&node, stdout);
    return 0;
}

int eng_cmd_config(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "check") == 0) {
        return check(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "show") == 0) {
        return show(argc - 1, argv + 1);
    }
    fprintf(stderr, "dchat config: unknown subcommand '%s' (check or show)\n", argv[1]);
    return 2;
}
