/* conf/schema.c and conf/load.c: the key table, precedence, errors and printing. */
#include "conf/load.h"
#include "conf/schema.h"

#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct conf_node node; /* large: keep it off the test's stack */
static char err[CONF_ERR_BYTES];

static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "/tmp/dchat-test-conf-%d-%s", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int load(int argc, char **argv, char **envp)
{
    return conf_node_load(&node, argc, argv, envp, err, sizeof(err));
}

Test(conf_schema, table_is_consistent)
{
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        const struct conf_key *k = &conf_schema[i];
        cr_assert_not_null(k->section, "key %d missing", i);
        cr_assert_not_null(k->help);
        cr_assert_eq(conf_schema_find(k->section, k->name), i, "%s.%s twice", k->section,
                     k->name);
        if (k->flag != NULL) {
            cr_assert_eq(conf_schema_find_flag(k->flag), i, "flag --%s twice", k->flag);
        }
        if (i > 0 && strcmp(conf_schema[i - 1].section, k->section) != 0) {
            for (int j = 0; j < i - 1; j++) { /* sections are contiguous for `config show` */
                cr_assert_str_neq(conf_schema[j].section, k->section);
            }
        }
    }
    conf_schema_defaults(&node); /* asserts that every default parses */
    cr_assert_eq(node.node.role, CONF_ROLE_NONE);
    cr_assert_eq(node.relay.peer_check_interval, 30);
    cr_assert_eq(node.network.listen_addrs.count, 1);
    cr_assert_eq(node.network.listen_addrs.items[0].port, 9000);
    cr_assert_eq(node.rpc.listen.port, 7070);
    cr_assert(node.dataplane.cores.all);
}

Test(conf_schema, edit_distance_and_suggestions)
{
    char buf[96];
    cr_assert_eq(conf_edit_distance("bootstrap_nodes", "bootstrap_nodes"), 0);
    cr_assert_eq(conf_edit_distance("bootsrtap_nodes", "bootstrap_nodes"), 1);
    cr_assert_eq(conf_edit_distance("bootstrap_node", "bootstrap_nodes"), 1);
    cr_assert_eq(conf_edit_distance("", "abc"), 3);
    cr_assert_str_eq(conf_schema_suggest("network", "bootstrap_node", buf, sizeof(buf)),
                     "network.bootstrap_nodes");
    cr_assert_str_eq(conf_schema_suggest("network", "peer_check_interval", buf, sizeof(buf)),
                     "relay.peer_check_interval");
    cr_assert_null(conf_schema_suggest("network", "completely_unrelated", buf, sizeof(buf)));
    cr_assert_str_eq(conf_schema_suggest_section("consensos"), "consensus");
    cr_assert_str_eq(conf_schema_suggest_flag("bootstrap-node"), "bootstrap-nodes");
    cr_assert_str_eq(conf_schema_suggest_flag("confg"), "config");
}

Test(conf_load, precedence_flag_env_file_default)
{
    const char *path = write_file("prec.toml", "[network]\nbootstrap_nodes = [\"10.0.0.1:1\"]\n"
                                               "port = 9100\n[relay]\npeer_check_interval = 5\n"
                                               "[node]\nkey_file = \"file.key\"\n");
    char config_env[200];
    snprintf(config_env, sizeof(config_env), "DCHAT_CONFIG=%s", path);
    char *envp[] = { config_env, "DCHAT_VALIDATOR_KEY=env.key", "DCHAT_PORT=9200",
                     "UNRELATED=1", NULL };
    char *argv[] = { "dchat", "--key", "flag.key", "--role=validator", NULL };
    cr_assert_eq(load(4, argv, envp), 0, "%s", err);
    cr_assert_str_eq(node.config_path, path);
    cr_assert_eq(node.config_source, CONF_SOURCE_ENV);
    cr_assert_str_eq(node.node.key_file, "flag.key");
    cr_assert_eq(node.origin[CONF_KEY_NODE_KEY_FILE].source, CONF_SOURCE_FLAG);
    cr_assert_eq(node.network.port, 9200);
    cr_assert_eq(node.origin[CONF_KEY_NETWORK_PORT].source, CONF_SOURCE_ENV);
    cr_assert_eq(node.network.listen_addrs.items[0].port, 9200); /* DCHAT_PORT applied */
    cr_assert_eq(node.relay.peer_check_interval, 5);
    cr_assert_eq(node.origin[CONF_KEY_RELAY_PEER_CHECK_INTERVAL].source, CONF_SOURCE_FILE);
    cr_assert_eq(node.origin[CONF_KEY_RELAY_PEER_CHECK_INTERVAL].line, 5);
    cr_assert_eq(node.network.bootstrap_nodes.count, 1);
    cr_assert_eq(node.origin[CONF_KEY_NETWORK_BOOTSTRAP_NODES].source, CONF_SOURCE_FILE);
    cr_assert_eq(node.node.role, CONF_ROLE_VALIDATOR);
    cr_assert_eq(node.origin[CONF_KEY_NODE_DATA_DIR].source, CONF_SOURCE_DEFAULT);
    unlink(path);
}

Test(conf_load, listen_flag_beats_dchat_port)
{
    char *envp[] = { "DCHAT_PORT=9200", "DCHAT_BOOTSTRAP_PEERS=a.example:1, [::1]:2", NULL };
    char *argv[] = { "dchat", "--listen", "127.0.0.1:9005", NULL };
    cr_assert_eq(load(3, argv, envp), 0, "%s", err);
    cr_assert_eq(node.network.listen_addrs.items[0].port, 9005);
    cr_assert_eq(node.network.bootstrap_nodes.count, 2);
    cr_assert_eq(node.network.bootstrap_nodes.items[1].kind, CONF_MADDR_IP6);
    char *argv2[] = { "dchat", "--bootstrap-nodes", "", NULL };
    cr_assert_eq(load(3, argv2, envp), 0, "%s", err); /* "" = start alone, beats the env */
    cr_assert_eq(node.network.bootstrap_nodes.count, 0);
    cr_assert_eq(node.origin[CONF_KEY_NETWORK_BOOTSTRAP_NODES].source, CONF_SOURCE_FLAG);
}

Test(conf_load, config_flag_beats_dchat_config)
{
    const char *path = write_file("cfg.toml", "[rpc]\nlisten = \"127.0.0.1:7071\"\n");
    char keep[128];
    snprintf(keep, sizeof(keep), "%s", path);
    char *envp[] = { "DCHAT_CONFIG=/nonexistent.toml", NULL };
    char *argv[] = { "dchat", "--config", keep, NULL };
    cr_assert_eq(load(3, argv, envp), 0, "%s", err);
    cr_assert_eq(node.rpc.listen.port, 7071);
    cr_assert_eq(node.config_source, CONF_SOURCE_FLAG);
    char *argv2[] = { "dchat", NULL };
    cr_assert_eq(load(1, argv2, envp), -ENOENT);
    cr_assert(strstr(err, "/nonexistent.toml: cannot read") != NULL, "%s", err);
    char *empty[] = { "DCHAT_CONFIG=", NULL };
    cr_assert_eq(load(1, argv2, empty), 0, "%s", err); /* set but empty: no file */
    cr_assert_str_eq(node.config_path, "");
    char *argv3[] = { "dchat", "--config=", NULL };
    cr_assert_eq(load(2, argv3, empty), DC_EUSAGE);
    cr_assert_str_eq(err, "--config: config path is empty");
    unlink(keep);
}

Test(conf_load, bad_flags_are_usage_errors)
{
    char *envp[] = { NULL };
    char *a1[] = { "dchat", "--bootstrap-node", "x:1", NULL };
    cr_assert_eq(load(3, a1, envp), DC_EUSAGE);
    cr_assert_str_eq(err, "unknown flag '--bootstrap-node' (did you mean '--bootstrap-nodes'?)");
    char *a2[] = { "dchat", "--verify-workers", NULL };
    cr_assert_eq(load(2, a2, envp), DC_EUSAGE);
    cr_assert(strstr(err, "--verify-workers needs a value") != NULL, "%s", err);
    char *a3[] = { "dchat", "--verify-workers", "0", NULL };
    cr_assert_eq(load(3, a3, envp), DC_EUSAGE);
    cr_assert_str_eq(err, "--verify-workers: '0' is not a number in 1..16");
    char *a4[] = { "dchat", "stray", NULL };
    cr_assert_eq(load(2, a4, envp), DC_EUSAGE);
    char *a5[] = { "dchat", "--role", "leader", NULL };
    cr_assert_eq(load(3, a5, envp), DC_EUSAGE);
    cr_assert_str_eq(err, "--role: unknown value 'leader' (one of: relay, validator)");
    char *a6[] = { "dchat", "--bench-skip-verify", "--poll=busy", NULL };
    cr_assert_eq(load(3, a6, envp), 0, "%s", err);
    cr_assert(node.dataplane.bench_skip_verify);
    cr_assert_eq(node.dataplane.polling, CONF_POLLING_BUSY);
    char *e1[] = { "DCHAT_PORT=90000", NULL };
    char *a7[] = { "dchat", NULL };
    cr_assert_eq(load(1, a7, e1), DC_ERANGE);
    cr_assert_str_eq(err, "DCHAT_PORT: '90000' is not a number in 0..65535");
}

Test(conf_load, file_errors_carry_line_column_and_suggestion)
{
    const char *path = write_file("bad.toml",
                                  "[network]\n"
                                  "bootstrap_node = []\n"
                                  "listen_addrs = [\"0.0.0.0:9000\", 5]\n"
                                  "[dataplane]\n"
                                  "mtu = \"big\"\n"
                                  "verify_workers = 99\n"
                                  "cores = \"1-0\"\n"
                                  "[relais]\n"
                                  "top = 1\n");
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), DC_EUNKNOWNKEY);
    char want[2048];
    snprintf(want, sizeof(want),
             "%s:2:1: unknown key 'network.bootstrap_node' (did you mean "
             "'network.bootstrap_nodes'?)\n"
             "%s:3:16: network.listen_addrs: element 1 (line 3): expected an address string, "
             "found integer\n"
             "%s:5:7: dataplane.mtu: expected an integer, found string\n"
             "%s:6:18: dataplane.verify_workers: 99 is out of range 1..16\n"
             "%s:7:9: dataplane.cores: bad core range in '1-0'\n"
             "%s:8:2: unknown table 'relais' (did you mean 'relay'?)",
             path, path, path, path, path, path);
    cr_assert_str_eq(err, want);
    path = write_file("bad2.toml", "x = 1\n[network]\nbootstrap_nodes = [\n");
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), DC_EMALFORMED);
    cr_assert(strstr(err, ":3:") != NULL, "%s", err);
    unlink(path);
}

Test(conf_load, quorum_below_two_f_plus_one_is_refused)
{
    const char *base = "[consensus]\nvalidators = [\"a.example:1\", \"b.example:1\", "
                       "\"c.example:1\", \"d.example:1\"]\nrequired_confirmations = %d\n";
    char text[256];
    snprintf(text, sizeof(text), base, 2);
    const char *path = write_file("q.toml", text);
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), DC_EQUORUM);
    cr_assert(strstr(err, ":3:1: consensus.required_confirmations = 2 is below 2f+1 = 3") !=
              NULL, "%s", err);
    snprintf(text, sizeof(text), base, 5);
    path = write_file("q.toml", text);
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), DC_EQUORUM);
    snprintf(text, sizeof(text), base, 3);
    path = write_file("q.toml", text);
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(conf_node_quorum(&node), 3);
    snprintf(text, sizeof(text), base, 0);
    path = write_file("q.toml", text);
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(conf_node_quorum(&node), 3); /* 0 means 2f+1 */
    unlink(path);
}

Test(conf_load, shipped_files_load)
{
    const char *root = getenv("DCHAT_SOURCE_ROOT");
    cr_assert_not_null(root, "DCHAT_SOURCE_ROOT is set by meson");
    char path[1024];
    snprintf(path, sizeof(path), "%s/conf/distributed.toml", root);
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(node.network.bootstrap_nodes.count, 4);
    cr_assert_eq(node.network.bootstrap_nodes.items[0].kind, CONF_MADDR_DNS4);
    cr_assert_eq(node.network.bootstrap_nodes.items[0].tcp, 1);
    cr_assert_eq(node.network.listen_addrs.count, 2);
    cr_assert_eq(node.consensus.validators.count, 4);
    cr_assert_eq(node.consensus.required_confirmations, 3);
    cr_assert_eq(node.relay.relay_addresses.count, 4);
    cr_assert_eq(node.relay.peer_check_interval, 30);
    snprintf(path, sizeof(path), "%s/conf/testnet.toml", root);
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(node.consensus.validators.count, 4);
}

/* Whatever `config show` prints must load back to the same settings. */
Test(conf_load, printed_config_loads_back_identically)
{
    static struct conf_node first;
    char *envp[] = { "DCHAT_BOOTSTRAP_PEERS=/dns4/x.example/tcp/9,[::1]:3", NULL };
    char *argv[] = { "dchat", "--role", "relay", "--cores", "0,2-3", "--key", "a \"q\".key",
                     NULL };
    cr_assert_eq(conf_node_load(&first, 7, argv, envp, err, sizeof(err)), 0, "%s", err);
    char path[128];
    snprintf(path, sizeof(path), "/tmp/dchat-test-conf-%d-show.toml", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    conf_node_print(&first, f);
    fclose(f);
    cr_assert_eq(conf_node_load_file(&node, path, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        char a[4096];
        char b[4096];
        conf_schema_format(&first, i, a, sizeof(a));
        conf_schema_format(&node, i, b, sizeof(b));
        cr_assert_str_eq(a, b, "key %s.%s", conf_schema[i].section, conf_schema[i].name);
    }
    unlink(path);
}

Test(conf_load, text_in_memory_loads_like_a_file)
{
    const char *text = "[relay]\npeer_check_interval = 4\n[zzzzzz]\n";
    cr_assert_eq(conf_node_load_text(&node, text, 32, "mem", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(node.relay.peer_check_interval, 4);
    cr_assert_eq(node.origin[CONF_KEY_RELAY_PEER_CHECK_INTERVAL].line, 2);
    cr_assert_str_eq(node.config_path, "mem");
    cr_assert_eq(conf_node_load_text(&node, text, strlen(text), "mem", err, sizeof(err)),
                 DC_EUNKNOWNKEY);
    cr_assert_str_eq(err, "mem:3:2: unknown table 'zzzzzz'");
    cr_assert_eq(conf_node_load_text(&node, "a = [", 5, "mem", err, sizeof(err)),
                 DC_EMALFORMED);
    cr_assert_str_eq(err, "mem:1:5: unterminated array");
}
