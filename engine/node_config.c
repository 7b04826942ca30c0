/*
 * node_config: defaults, command-line flags and cross-checks of a node's settings.
 * One table (`flags[]`) drives both the parser and `--help`.
 */
#include "engine/node_config.h"

#include "common/dc_err.h"

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

static int parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    if (text[0] == '-' || text[0] == '\0') {
        return DC_ECONFIG;
    }
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return DC_ECONFIG;
    }
    *out = (uint32_t)v;
    return 0;
}

/* Comma-separated addresses into addrs[max]; an empty list is allowed. */
static int parse_addr_list(const char *flag, const char *text, struct eng_node_addr *addrs,
                           uint32_t max, uint32_t *count, char *err, size_t err_size)
{
    *count = 0;
    const char *p = text;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char one[ENG_NODE_ADDR_TEXT_MAX];
        if (n == 0 || n >= sizeof(one)) {
            return fail(err, err_size, "%s: bad address list '%s'", flag, text);
        }
        if (*count == max) {
            return fail(err, err_size, "%s: more than %u addresses", flag, max);
        }
        memcpy(one, p, n);
        one[n] = '\0';
        if (eng_node_addr_parse(&addrs[*count], one, 0) != 0) {
            return fail(err, err_size, "%s: bad address '%s' (want HOST:PORT)", flag, one);
        }
        (*count)++;
        p += n;
        if (*p == ',') {
            p++;
        }
    }
    return 0;
}

static int parse_cores(struct eng_node_config *cfg, const char *text, char *err, size_t err_size)
{
    cfg->core_count = 0;
    if (strcmp(text, "auto") == 0) {
        return 0;
    }
    const char *p = text;
    while (*p != '\0') {
        char *end = NULL;
        errno = 0;
        long lo = strtol(p, &end, 10);
        long hi = lo;
        if (end == p || errno != 0 || lo < 0 || lo >= CPU_SETSIZE) {
            return fail(err, err_size, "--cores: bad core list '%s' (e.g. 0,1 or 2-5)", text);
        }
        if (*end == '-') {
            p = end + 1;
            hi = strtol(p, &end, 10);
            if (end == p || hi < lo || hi >= CPU_SETSIZE) {
                return fail(err, err_size, "--cores: bad core range in '%s'", text);
            }
        }
        for (long c = lo; c <= hi; c++) {
            if (cfg->core_count == ENG_NODE_CORES_MAX) {
                return fail(err, err_size, "--cores: more than %d cores", ENG_NODE_CORES_MAX);
            }
            cfg->cores[cfg->core_count++] = (int)c;
        }
        if (*end != ',' && *end != '\0') {
            return fail(err, err_size, "--cores: bad core list '%s' (e.g. 0,1 or 2-5)", text);
        }
        p = *end == ',' ? end + 1 : end;
    }
    if (cfg->core_count == 0) {
        return fail(err, err_size, "--cores: empty core list");
    }
    return 0;
}

static int copy_path(const char *flag, const char *text, char *out, size_t size, char *err,
                     size_t err_size)
{
    size_t len = strlen(text);
    if (len == 0 || len >= size) {
        return fail(err, err_size, "%s: bad path '%s'", flag, text);
    }
    memcpy(out, text, len + 1);
    return 0;
}

enum flag_id {
    F_ROLE, F_CONFIG, F_LISTEN, F_PEERS, F_KEY, F_CORES, F_VERIFY_WORKERS, F_POLL,
    F_SKIP_VERIFY, F_MTU, F_BOOTSTRAP, F_RPC, F_DATA_DIR, F_PEER_CHECK, F_SUB_EXPIRY,
    F_LOG_LEVEL, F_STATS_INTERVAL, F_HELP,
};

struct flag {
    const char *name;
    enum flag_id id;
    const char *arg; /* NULL: the flag takes no value */
    const char *help;
};

static const struct flag flags[] = {
    { "--role", F_ROLE, "relay|validator", "what this node does (required)" },
    { "--config", F_CONFIG, "FILE", "TOML config file" },
    { "--listen", F_LISTEN, "HOST:PORT", "UDP address (default " ENG_NODE_LISTEN_DEFAULT ")" },
    { "--peers", F_PEERS, "HOST:PORT,...", "relays to gossip verified messages to" },
    { "--key", F_KEY, "FILE", "node key (dchat keygen); default: a fresh key per run" },
    { "--cores", F_CORES, "LIST|auto", "pin I/O thread, then workers (e.g. 0,1 or 2-5)" },
    { "--verify-workers", F_VERIFY_WORKERS, "N", "Ed25519 verify threads (default 1)" },
    { "--poll", F_POLL, "adaptive|busy", "adaptive sleeps when idle (default)" },
    { "--bench-skip-verify", F_SKIP_VERIFY, NULL, "BENCHMARKS ONLY: skip signature checks" },
    { "--mtu", F_MTU, "BYTES", "UDP payload per datagram sent (default 1472)" },
    { "--bootstrap-nodes", F_BOOTSTRAP, "HOST:PORT,...", "discovery entry points (\"\": alone)" },
    { "--rpc", F_RPC, "HOST:PORT", "RPC listen address (default " ENG_NODE_RPC_DEFAULT ")" },
    { "--data-dir", F_DATA_DIR, "DIR", "state directory (default " ENG_NODE_DATA_DIR_DEFAULT ")" },
    { "--peer-check-interval", F_PEER_CHECK, "SECONDS", "peer liveness period (default 30)" },
    { "--sub-expiry", F_SUB_EXPIRY, "SECONDS", "subscription lifetime unless renewed (30)" },
    { "--stats-interval", F_STATS_INTERVAL, "SECONDS", "stats log line period (default 10)" },
    { "--log-level", F_LOG_LEVEL, "debug|info|warn|error", "log verbosity (default info)" },
    { "--help", F_HELP, NULL, "this text" },
};

void eng_node_config_usage(FILE *out)
{
    fprintf(out, "usage: dchat --role relay|validator [flags]\n\nflags:\n");
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        fprintf(out, "  %-21s %-22s %s\n", flags[i].name,
                flags[i].arg != NULL ? flags[i].arg : "", flags[i].help);
    }
}

static int parse_enum(const char *flag, const char *text, const char *const *names, int count,
                      int *out, char *err, size_t err_size)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return fail(err, err_size, "%s: unknown value '%s'", flag, text);
}

static int apply_role(struct eng_node_config *cfg, const char *v, char *err, size_t err_size)
{
    static const char *const names[] = { "relay", "validator" };
    int i = 0;
    int rc = parse_enum("--role", v, names, 2, &i, err, err_size);
    if (rc == 0) {
        cfg->role = i == 0 ? ENG_NODE_ROLE_RELAY : ENG_NODE_ROLE_VALIDATOR;
    }
    return rc;
}

static int apply_number(const struct flag *f, const char *v, struct eng_node_config *cfg,
                        char *err, size_t err_size)
{
    uint32_t *out = NULL;
    uint32_t min = 1;
    uint32_t max = 86400;
    switch (f->id) {
    case F_VERIFY_WORKERS:
        out = &cfg->verify_workers;
        max = ENG_NODE_VERIFY_WORKERS_MAX;
        break;
    case F_MTU:
        out = &cfg->mtu;
        min = ENG_NODE_MTU_MIN;
        max = ENG_NODE_MTU_MAX;
        break;
    case F_PEER_CHECK:
        out = &cfg->peer_check_interval_s;
        break;
    case F_SUB_EXPIRY:
        out = &cfg->sub_expiry_s;
        break;
    default:
        out = &cfg->stats_interval_s;
        break;
    }
    if (parse_u32(v, min, max, out) != 0) {
        return fail(err, err_size, "%s: '%s' is not a number in %u..%u", f->name, v, min, max);
    }
    return 0;
}

static int apply_addr(const char *flag, const char *v, struct eng_node_addr *addr, char *err,
                      size_t err_size)
{
    if (eng_node_addr_parse(addr, v, 0) != 0) {
        return fail(err, err_size, "%s: bad address '%s' (want HOST:PORT)", flag, v);
    }
    return 0;
}

static int apply_flag(const struct flag *f, const char *v, struct eng_node_config *cfg,
                      char *err, size_t err_size)
{
    static const char *const polls[] = { "adaptive", "busy" };
    static const char *const levels[] = { "debug", "info", "warn", "error" };
    int i = 0;
    int rc = 0;
    switch (f->id) {
    case F_ROLE:
        return apply_role(cfg, v, err, err_size);
    case F_CONFIG:
        return copy_path(f->name, v, cfg->config_file, sizeof(cfg->config_file), err, err_size);
    case F_KEY:
        return copy_path(f->name, v, cfg->key_file, sizeof(cfg->key_file), err, err_size);
    case F_DATA_DIR:
        return copy_path(f->name, v, cfg->data_dir, sizeof(cfg->data_dir), err, err_size);
    case F_LISTEN:
        return apply_addr(f->name, v, &cfg->listen, err, err_size);
    case F_RPC:
        return apply_addr(f->name, v, &cfg->rpc_listen, err, err_size);
    case F_PEERS:
        return parse_addr_list(f->name, v, cfg->peers, ENG_NODE_PEERS_MAX, &cfg->peer_count,
                               err, err_size);
    case F_BOOTSTRAP:
        cfg->bootstrap_set = 1;
        return parse_addr_list(f->name, v, cfg->bootstrap, ENG_NODE_BOOTSTRAP_MAX,
                               &cfg->bootstrap_count, err, err_size);
    case F_CORES:
        return parse_cores(cfg, v, err, err_size);
    case F_POLL:
        rc = parse_enum(f->name, v, polls, 2, &i, err, err_size);
        cfg->poll = i == 1 ? ENG_NODE_POLL_BUSY : ENG_NODE_POLL_ADAPTIVE;
        return rc;
    case F_LOG_LEVEL:
        rc = parse_enum(f->name, v, levels, 4, &i, err, err_size);
        cfg->log_level = (enum dc_log_level)i;
        return rc;
    case F_SKIP_VERIFY:
        cfg->bench_skip_verify = 1;
        return 0;
    case F_HELP:
        return 0;
    default:
        return apply_number(f, v, cfg, err, err_size);
    }
}

int eng_node_config_parse_flags(struct eng_node_config *cfg, int argc, char **argv, char *err,
                                size_t err_size)
{
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        const char *value = NULL;
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        const struct flag *f = NULL;
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
            if (strlen(flags[i].name) == name_len && strncmp(arg, flags[i].name, name_len) == 0) {
                f = &flags[i];
            }
        }
        if (f == NULL) {
            snprintf(err, err_size, "unknown flag '%s' (try: dchat --role relay --help)", arg);
            return DC_EUSAGE;
        }
        if (f->id == F_HELP) {
            eng_node_config_usage(stdout);
            return 1;
        }
        if (f->arg == NULL && eq != NULL) {
            snprintf(err, err_size, "%s takes no value", f->name);
            return DC_EUSAGE;
        }
        if (f->arg != NULL) {
            if (eq != NULL) {
                value = eq + 1;
            } else if (a + 1 < argc) {
                value = argv[++a];
            } else {
                snprintf(err, err_size, "%s needs a value (%s)", f->name, f->arg);
                return DC_EUSAGE;
            }
        }
        int rc = apply_flag(f, value, cfg, err, err_size);
        if (rc != 0) {
            return rc;
        }
    }
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
