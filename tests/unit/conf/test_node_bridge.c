/*
 * The config loader (conf/load.c) feeding the node's settings through the node's mapper
 * (eng_node_config_from_conf() in engine/node_config.c): what an operator writes reaches the
 * running node, and the schema's defaults are the node's defaults.
 */
#include "engine/node_config.h"

#include "common/dc_err.h"
#include "conf/load.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct conf_node conf;
static struct eng_node_config cfg;
static char err[CONF_ERR_BYTES];

static int load(int argc, char **argv, char **envp)
{
    int rc = conf_node_load(&conf, argc, argv, envp, err, sizeof(err));
    return rc != 0 ? rc : eng_node_config_from_conf(&cfg, &conf, err, sizeof(err));
}

static uint16_t port_of(const struct eng_node_addr *a)
{
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

Test(conf_node_bridge, flags_env_and_file_reach_the_node_settings)
{
    char path[128];
    snprintf(path, sizeof(path), "/tmp/dchat-test-bridge-%d.toml", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("[network]\nlisten_addrs = [\"/ip4/127.0.0.1/tcp/9000\", \"127.0.0.1:9001\"]\n"
          "bootstrap_nodes = [\"/ip4/127.0.0.1/udp/9100\", \"localhost:9101\"]\n"
          "[dataplane]\ncores = [0]\nverify_workers = 2\npolling = \"busy\"\n"
          "[relay]\npeer_check_interval = 7\n", f);
    fclose(f);
    char config[160];
    snprintf(config, sizeof(config), "DCHAT_CONFIG=%s", path);
    char *envp[] = { config, "DCHAT_PORT=9050", "DCHAT_VALIDATOR_KEY=v1.key", NULL };
    char *argv[] = { "dchat", "--role", "validator", "--rpc", "127.0.0.1:7071", "--mtu", "1400",
                     NULL };
    cr_assert_eq(load(7, argv, envp), 0, "%s", err);
    cr_assert_eq(cfg.role, ENG_NODE_ROLE_VALIDATOR);
    cr_assert_str_eq(cfg.config_file, path);
    cr_assert_str_eq(cfg.key_file, "v1.key");
    cr_assert_eq(cfg.listen.sa.ss_family, AF_INET);
    cr_assert_eq(port_of(&cfg.listen), 9050); /* DCHAT_PORT rewrote the file's port */
    cr_assert_eq(port_of(&cfg.rpc_listen), 7071);
    cr_assert_eq(cfg.bootstrap_count, 2);
    cr_assert_eq(port_of(&cfg.bootstrap[0]), 9100);
    cr_assert_eq(port_of(&cfg.bootstrap[1]), 9101); /* a name, resolved at start-up */
    cr_assert(cfg.bootstrap_set);
    cr_assert_eq(cfg.core_count, 1);
    cr_assert_eq(cfg.verify_workers, 2);
    cr_assert_eq(cfg.poll, ENG_NODE_POLL_BUSY);
    cr_assert_eq(cfg.mtu, 1400);
    cr_assert_eq(cfg.peer_check_interval_s, 7);
    cr_assert_eq(eng_node_config_check(&cfg, err, sizeof(err)), 0, "%s", err);
    unlink(path);
}

/* When this fails, a default moved in engine/node_config.h: move it in conf/schema.c too. */
Test(conf_node_bridge, schema_defaults_are_the_node_defaults)
{
    static struct eng_node_config want;
    char *envp[] = { NULL };
    char *argv[] = { "dchat", NULL };
    cr_assert_eq(load(1, argv, envp), 0, "%s", err);
    eng_node_config_defaults(&want);
    cr_assert_eq(cfg.role, ENG_NODE_ROLE_NONE);
    cr_assert_str_eq(cfg.data_dir, want.data_dir);
    cr_assert_str_eq(cfg.key_file, want.key_file);
    cr_assert_eq(memcmp(&cfg.listen.sa, &want.listen.sa, sizeof(want.listen.sa)), 0);
    cr_assert_eq(memcmp(&cfg.rpc_listen.sa, &want.rpc_listen.sa, sizeof(want.rpc_listen.sa)),
                 0);
    cr_assert_eq(cfg.verify_workers, want.verify_workers);
    cr_assert_eq(cfg.poll, want.poll);
    cr_assert_eq(cfg.mtu, want.mtu);
    cr_assert_eq(cfg.subscribers_max, want.subscribers_max);
    cr_assert_eq(cfg.sub_expiry_s, want.sub_expiry_s);
    cr_assert_eq(cfg.dedup_entries, want.dedup_entries);
    cr_assert_eq(cfg.dedup_window_s, want.dedup_window_s);
    cr_assert_eq(cfg.stats_interval_s, want.stats_interval_s);
    cr_assert_eq(cfg.peer_check_interval_s, want.peer_check_interval_s);
    cr_assert_eq(cfg.log_level, want.log_level);
    cr_assert_eq(cfg.core_count, want.core_count);
    cr_assert_eq(cfg.bootstrap_set, 0);
}

Test(conf_node_bridge, errors)
{
    char *envp[] = { NULL };
    char *a1[] = { "dchat", "--rpc", "/dns4/no-such-host.invalid/tcp/1", NULL };
    cr_assert_neq(load(3, a1, envp), 0);
    cr_assert(strstr(err, "no-such-host.invalid:1") != NULL, "%s", err);
    char *a2[] = { "dchat", "--lisen", "1.2.3.4:5", NULL };
    cr_assert_eq(load(3, a2, envp), DC_EUSAGE);
    cr_assert_str_eq(err, "unknown flag '--lisen' (did you mean '--listen'?)");
}
