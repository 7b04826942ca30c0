/*
 * node: `dchat --role relay|validator ...`: parse -> configure -> allocate -> launch -> wait.
 *
 * The main thread owns the lifecycle only: it loads the settings (one loader call, see
 * load_config()), opens the dataplane, starts the control plane (the hook below), then waits
 * for SIGINT/SIGTERM while it keeps the dataplane's coarse clock and logs a periodic stats
 * line, and finally tears everything down in reverse and logs a summary of every counter.
 */
#include "engine/cmd.h"
#include "engine/ctl.h"
#include "engine/follower.h"
#include "engine/key.h"
#include "engine/node_config.h"
#include "engine/validator.h"

#include "conf/load.h"

#include "dataplane/relay.h"

#include "common/dc_err.h"
#include "common/dc_log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Prints the loader's error lines (one per problem), each as "dchat: ...". */
static void print_errors(const char *err)
{
    while (*err != '\0') {
        const char *nl = strchr(err, '\n');
        int len = nl != NULL ? (int)(nl - err) : (int)strlen(err);
        fprintf(stderr, "dchat: %.*s\n", len, err);
        err += len + (nl != NULL);
    }
}

/*
 * The one place settings are loaded: the config loader (conf/load.h: flag > environment >
 * file > defaults), then the node's own cross-checks. 0, 1 (help printed) or an error after
 * one stderr line per problem.
 */
static int load_config(struct eng_node_config *cfg, int argc, char **argv)
{
    if (conf_node_help_requested(argc, argv)) {
        printf("usage: dchat --role relay|validator [--config FILE] [flags]\n\n");
        conf_node_usage(stdout);
        return 1;
    }
    static struct conf_node conf; /* large; main thread, once */
    char err[CONF_ERR_BYTES] = "";
    int rc = conf_node_load(&conf, argc, argv, environ, err, sizeof(err));
    if (rc == 0) {
        rc = eng_node_config_from_conf(cfg, &conf, err, sizeof(err));
    }
    if (rc == 0) {
        rc = eng_node_config_check(cfg, err, sizeof(err));
    }
    if (rc != 0) {
        print_errors(err);
        return rc < 0 ? rc : DC_ECONFIG;
    }
    return 0;
}

static void relay_params(const struct eng_node_config *cfg, const struct eng_key *key,
                         struct dp_relay_params *p, int cons_feed)
{
    memset(p, 0, sizeof(*p));
    p->listen = cfg->listen.sa;
    p->listen_len = cfg->listen.sa_len;
    for (uint32_t i = 0; i < cfg->peer_count && p->peer_count < DP_FANOUT_PEERS_MAX; i++) {
        /* one peers list is often shared by every node: a node does not gossip to itself */
        if (dp_sockaddr_equal((const struct sockaddr *)&cfg->peers[i].sa,
                              (const struct sockaddr *)&cfg->listen.sa)) {
            DC_INFO("node", "--peers: skipping %s, our own address", cfg->peers[i].text);
            continue;
        }
        p->peers[p->peer_count] = cfg->peers[i].sa;
        p->peer_lens[p->peer_count] = cfg->peers[i].sa_len;
        p->peer_count++;
    }
    p->verify_workers = cfg->verify_workers;
    for (uint32_t i = 0; i < cfg->core_count && i < DP_RELAY_CORES_MAX; i++) {
        p->cores[p->core_count++] = cfg->cores[i];
    }
    p->busy_poll = cfg->poll == ENG_NODE_POLL_BUSY;
    p->skip_verify = cfg->bench_skip_verify;
    p->mtu = cfg->mtu;
    p->subscribers_max = cfg->subscribers_max;
    p->sub_expiry_s = cfg->sub_expiry_s;
    p->dedup_entries = cfg->dedup_entries;
    p->dedup_window_s = cfg->dedup_window_s;
    p->cons_feed = cons_feed;
    p->ed_sk = cfg->links ? key->sk : NULL;
    p->reverify_sample = cfg->reverify_sample;
    p->ban_s = cfg->ban_s;
    p->forge_every = cfg->bench_forge_every;
    /* relays gossip to what discovery finds too; a validator only receives */
    p->mesh_max = cfg->role == ENG_NODE_ROLE_RELAY ? cfg->mesh_degree : 0;
}

/* The node's identity: the key file, or a fresh key for this run. 0 or 1 after one line. */
static int load_key(const struct eng_node_config *cfg, struct eng_key *key)
{
    if (cfg->key_file[0] == '\0') {
        if (eng_key_generate(key) != 0) {
            fprintf(stderr, "dchat: cannot generate a node key\n");
            return 1;
        }
        return 0;
    }
    char why[256] = "";
    int rc = eng_key_load(key, cfg->key_file, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "dchat: --key: cannot use '%s': %s\n", cfg->key_file,
                why[0] != '\0' ? why : dc_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- control-plane hook: the control thread (engine/ctl.h) starts and stops here ---- */

/* The chain's threads of this node: a validator's consensus thread or a relay's follower. */
struct chain_threads {
    struct eng_validator val;
    struct eng_follower fol;
};

static int ctl_hook_start(struct eng_ctl *ctl, const struct eng_node_config *cfg,
                          const struct eng_key *key, struct dp_relay *relay,
                          struct chain_threads *ch)
{
    int rc = eng_ctl_start(ctl, cfg, key, dp_relay_ctl_port(relay), dp_relay_peer_keys(relay));
    if (rc == 0 && ch->val.state != NULL) {
        rc = eng_validator_start(&ch->val, ctl, cfg, relay);
    } else if (rc == 0 && ch->fol.state != NULL) {
        rc = eng_follower_start(&ch->fol, ctl, relay);
    }
    if (rc != 0 && (ch->val.state != NULL || ch->fol.state != NULL)) {
        DC_ERROR("node", "cannot start the chain thread: %s", dc_strerror(rc));
        eng_validator_stop(&ch->val);
        eng_follower_stop(&ch->fol);
        eng_ctl_stop(ctl);
    }
    return rc;
}

/* The chain's thread first (it publishes to the control plane), then the control plane. */
static void ctl_hook_stop(struct eng_ctl *ctl, struct chain_threads *ch)
{
    eng_validator_stop(&ch->val);
    eng_follower_stop(&ch->fol);
    eng_ctl_stop(ctl);
}

static void close_chain(struct chain_threads *ch)
{
    eng_validator_close(&ch->val);
    eng_follower_close(&ch->fol);
}

/* ---- stats line ---- */

static void log_stats(const struct dp_relay *relay, const char *what)
{
    struct dp_stats s;
    dp_stats_read(dp_relay_stats(relay), &s);
    char line[900];
    uint64_t malformed = 0;
    for (int i = DP_STAT_BAD_FRAME_TRUNCATED; i <= DP_STAT_BAD_RECORD_TYPE; i++) {
        malformed += s.v[i];
    }
    int n = snprintf(line, sizeof(line), "malformed=%llu dropped=%llu",
                     (unsigned long long)malformed, (unsigned long long)dp_stats_dropped(&s));
    for (int i = 0; i < DP_STAT_COUNT && n > 0 && (size_t)n < sizeof(line); i++) {
        n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%llu",
                      dp_stats_name((enum dp_stat)i), (unsigned long long)s.v[i]);
    }
    DC_INFO("stats", "%s: %s", what, line);
}

static uint64_t traffic(const struct dp_relay *relay)
{
    struct dp_stats s;
    dp_stats_read(dp_relay_stats(relay), &s);
    return s.v[DP_STAT_RX_DATAGRAMS] + s.v[DP_STAT_TX_SENDS];
}

/* ---- lifecycle ---- */

/* Waits for SIGINT/SIGTERM (blocked in every thread), ticking the clock once a second. */
static int wait_for_signal(struct dp_relay *relay, const struct eng_node_config *cfg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    uint64_t last_traffic = traffic(relay);
    uint32_t seconds = 0;
    for (;;) {
        struct timespec one_s = { 1, 0 };
        int sig = sigtimedwait(&set, NULL, &one_s);
        if (sig == SIGINT || sig == SIGTERM) {
            return sig;
        }
        dp_relay_tick(relay);
        if (++seconds % cfg->stats_interval_s == 0) {
            uint64_t now = traffic(relay);
            if (now != last_traffic) {
                log_stats(relay, "periodic");
                last_traffic = now;
            }
        }
    }
}

/* Warnings first (before anything can fail), so an operator cannot miss them. */
static void log_warnings(const struct eng_node_config *cfg)
{
    if (cfg->bench_skip_verify) {
        DC_WARN("node", "!!! --bench-skip-verify: SIGNATURES ARE NOT CHECKED; forged messages "
                        "WILL be forwarded. Benchmarks only, never on a real network !!!");
    }
    if (cfg->bench_forge_every > 0) {
        DC_WARN("node", "!!! --bench-forge-every %u: THIS NODE FORWARDS 1 IN %u MESSAGES WITH A "
                        "BROKEN SIGNATURE. Tests of peer banning only !!!",
                cfg->bench_forge_every, cfg->bench_forge_every);
    }
}

/* Logged once the socket is bound and every thread runs: "listening" means ready. */
static void log_listening(const struct eng_node_config *cfg, const struct eng_key *key,
                          uint32_t peer_count)
{
    char id[2 * ENG_KEY_ID_BYTES + 1];
    eng_hex(key->id, ENG_KEY_ID_BYTES, id);
    if (cfg->key_file[0] == '\0') {
        DC_INFO("node", "no --key given: using a fresh identity for this run only");
    }
    DC_INFO("node", "%s %.16s listening on udp %s: %u peers, %u verify workers, poll %s, "
                    "mtu %u", cfg->role == ENG_NODE_ROLE_RELAY ? "relay" : "validator", id,
            cfg->listen.text, peer_count, cfg->bench_skip_verify ? 0 : cfg->verify_workers,
            cfg->poll == ENG_NODE_POLL_BUSY ? "busy" : "adaptive", cfg->mtu);
}

static int run(const struct eng_node_config *cfg, const struct eng_key *key,
               struct dp_relay *relay)
{
    char err[512] = "";
    /* The validator's data directory first: a key outside the genesis stops us here. */
    struct chain_threads ch = { 0 };
    if (cfg->role == ENG_NODE_ROLE_VALIDATOR &&
        eng_validator_open(&ch.val, cfg, key, err, sizeof(err)) != 0) {
        fprintf(stderr, "dchat: validator: %s\n", err);
        return 1;
    }
    if (cfg->role == ENG_NODE_ROLE_RELAY &&
        eng_follower_open(&ch.fol, cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "dchat: relay: --genesis: %s\n", err);
        return 1;
    }
    struct dp_relay_params params;
    relay_params(cfg, key, &params, ch.val.state != NULL);
    params.follow = ch.fol.state != NULL;
    int rc = dp_relay_init(relay, &params, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "dchat: --listen %s: %s\n", cfg->listen.text, err);
        close_chain(&ch);
        return 1;
    }
    rc = dp_relay_start(relay, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "dchat: %s\n", err);
        dp_relay_fini(relay);
        close_chain(&ch);
        return 1;
    }
    struct eng_ctl ctl = { 0 };
    rc = ctl_hook_start(&ctl, cfg, key, relay, &ch);
    if (rc != 0) {
        fprintf(stderr, "dchat: cannot start the control plane: %s\n", dc_strerror(rc));
        dp_relay_fini(relay);
        close_chain(&ch);
        return 1;
    }
    log_listening(cfg, key, relay->params.peer_count);
    int sig = wait_for_signal(relay, cfg);
    DC_INFO("node", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    ctl_hook_stop(&ctl, &ch);
    dp_relay_stop(relay);
    log_stats(relay, "final");
    dp_relay_fini(relay);
    close_chain(&ch);
    return 0;
}

int eng_cmd_node(int argc, char **argv)
{
    struct eng_node_config cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc != 0) {
        return rc == 1 ? 0 : rc == DC_EUSAGE || rc == DC_ECONFIG || rc == DC_ETYPE ||
                                     rc == DC_ERANGE || rc == DC_EUNKNOWNKEY ||
                                     rc == DC_EMALFORMED ? 2 : 1;
    }
    dc_log_set_level(cfg.log_level);
    struct eng_key key;
    if (load_key(&cfg, &key) != 0) {
        return 1;
    }
    /* Blocked before any thread starts, so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    log_warnings(&cfg);
    static struct dp_relay relay; /* large; one per process */
    rc = run(&cfg, &key, &relay);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return rc;
}
