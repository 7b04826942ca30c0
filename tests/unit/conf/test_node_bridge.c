/* engine/cmd_config.c: eng_node_config_load() maps the loaded config onto the node's settings. */
#include "engine/cmd_config.h"
#include "engine/node_config.h"

#include "common/dc_err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct eng_node_config cfg;
static char err[4096];

static uint16_t port_of(const struct eng_node_addr *a)
{
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

Test(eng_node_config_load, flags_env_and_file_reach_the_node_settings)
{
    char path[128];
    snprintf(path, sizeof(path), "/tmp/dchat-test-bridge-%d.toml", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("[network]\nlisten_addrs = [\"/ip4/127.0.0.1/tcp/9000\", \"127.0.0.1:9001\"]\n"
          "bootstrap_nodes = [\"/ip4/127.0.0.1/udp/9100\", \"/dns4/no-such-host.invalid/tcp/1\"]\n"
          "[dataplane]\ncores = [0, 1]\nverify_workers = 2\npolling = \"busy\"\n"
          "[relay]\npeer_check_interval = 7\n", f);
    fclose(f);
    char config[160];
    snprintf(config, sizeof(config), "DCHAT_CONFIG=%s", path);
    char *envp[] = { config, "DCHAT_PORT=9050", "DCHAT_VALIDATOR_KEY=v1.key", NULL };
    char *argv[] = { "dchat", "--role", "validator", "--rpc", "127.0.0.1:7071", "--mtu", "1400",
                     NULL };
    cr_assert_eq(eng_node_config_load(&cfg, 7, argv, envp, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg.role, ENG_NODE_ROLE_VALIDATOR);
    cr_assert_str_eq(cfg.config_file, path);
    cr_assert_str_eq(cfg.key_file, "v1.key");
    cr_assert_str_eq(cfg.listen.text, "127.0.0.1:9050"); /* DCHAT_PORT applied */
    cr_assert_eq(cfg.listen.sa.ss_family, AF_INET);
    cr_assert_eq(port_of(&cfg.listen), 9050);
    cr_assert_eq(port_of(&cfg.rpc_listen), 7071);
    cr_assert_eq(cfg.bootstrap_count, 1); /* the unresolvable name is skipped */
    cr_assert_eq(port_of(&cfg.bootstrap[0]), 9100);
    cr_assert_str_eq(cfg.bootstrap[0].text, "127.0.0.1:9100"); /* what ctl re-resolves */
    struct eng_node_addr again;
    cr_assert_eq(eng_node_addr_parse(&again, cfg.bootstrap[0].text, 0), 0);
    cr_assert(cfg.bootstrap_set);
    cr_assert_eq(cfg.core_count, 2);
    cr_assert_eq(cfg.cores[1], 1);
    cr_assert_eq(cfg.verify_workers, 2);
    cr_assert_eq(cfg.poll, ENG_NODE_POLL_BUSY);
    cr_assert_eq(cfg.mtu, 1400);
    cr_assert_eq(cfg.peer_check_interval_s, 7);
    cr_assert_eq(eng_node_config_check(&cfg, err, sizeof(err)), 0, "%s", err);
    unlink(path);
}

/* When this fails, a default moved in engine/node_config.h: move it in conf/schema.c too. */
Test(eng_node_config_load, defaults_match_the_node_defaults)
{
    static struct eng_node_config want;
    char *envp[] = { NULL };
    char *argv[] = { "dchat", NULL };
    cr_assert_eq(eng_node_config_load(&cfg, 1, argv, envp, err, sizeof(err)), 0, "%s", err);
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

Test(eng_node_config_load, errors_and_help)
{
    char *envp[] = { NULL };
    char *a1[] = { "dchat", "--rpc", "/dns4/no-such-host.invalid/tcp/1", NULL };
    int rc = eng_node_config_load(&cfg, 3, a1, envp, err, sizeof(err));
    cr_assert(rc == DC_ENOTFOUND || rc == -EAGAIN, "rc %d", rc);
    cr_assert(strstr(err, "rpc.listen: cannot resolve 'no-such-host.invalid:1'") == err, "%s",
              err);
    char *a2[] = { "dchat", "--backend", "dpdk", NULL };
#ifndef DCHAT_HAVE_DPDK
    cr_assert_eq(eng_node_config_load(&cfg, 3, a2, envp, err, sizeof(err)), DC_EUNSUPPORTED);
    cr_assert(strstr(err, "no DPDK") != NULL, "%s", err);
#endif
    char *a3[] = { "dchat", "--lisen", "1.2.3.4:5", NULL };
    cr_assert_eq(eng_node_config_load(&cfg, 3, a3, envp, err, sizeof(err)), DC_EUSAGE);
    cr_assert_str_eq(err, "unknown flag '--lisen' (did you mean '--listen'?)");
    char *a4[] = { "dchat", "--role", "relay", "--help", NULL };
    cr_assert_eq(eng_node_config_load(&cfg, 4, a4, envp, err, sizeof(err)), 1);
}
