/*
 * conf_schema: every configuration key dchat knows, in one table, and the settings they fill.
 *
 * Each key has a section and name (its place in the TOML file), a kind, a default, a range or
 * a set of choices, and optionally an environment variable and a command-line flag. The file
 * loader, the flag and environment parsers, the validation errors, `dchat config show` and the
 * node's --help all read this one table (conf_schema[]), so a key is added in one place.
 *
 * The values land in struct conf_node, one typed field per key, and conf_node.origin[] says
 * for each key where its value came from (default, file with line and column, environment,
 * flag). conf/load.h fills a conf_node from argv, the environment and a file.
 *
 * Threads: the table is constant; a conf_node is plain memory that the main thread fills at
 * start-up and every thread may then read.
 */
#ifndef CONF_SCHEMA_H
#define CONF_SCHEMA_H

#include "conf/maddr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_ADDRS_MAX 32u      /* addresses in one list key */
#define CONF_CORES_MAX 64u      /* CPUs named in dataplane.cores */
#define CONF_CPU_ID_MAX 1023    /* highest CPU number accepted (CPU_SETSIZE - 1) */
#define CONF_STRING_BYTES 512u  /* a path or name value, NUL included */
#define CONF_REASON_BYTES 256u  /* a reason text from the setters */

/* Where a setting's value came from; a higher source overrides a lower one. */
enum conf_source {
    CONF_SOURCE_DEFAULT = 0,
    CONF_SOURCE_FILE,
    CONF_SOURCE_ENV,
    CONF_SOURCE_FLAG,
};

/* Choices of the enum keys; the value is the index into the key's `choices`. */
enum conf_role { CONF_ROLE_NONE = 0, CONF_ROLE_RELAY, CONF_ROLE_VALIDATOR };
enum conf_backend { CONF_BACKEND_URING = 0, CONF_BACKEND_DPDK };
enum conf_polling { CONF_POLLING_ADAPTIVE = 0, CONF_POLLING_BUSY };
/* node.log_level's value is an enum dc_log_level (debug, info, warn, error). */

enum conf_kind {
    CONF_KIND_INT = 1, /* int64_t within [min, max] */
    CONF_KIND_STRING,  /* char[CONF_STRING_BYTES] */
    CONF_KIND_ENUM,    /* int, index into choices */
    CONF_KIND_ADDR,    /* struct conf_maddr */
    CONF_KIND_ADDRS,   /* struct conf_addr_list; text form is comma-separated */
    CONF_KIND_CORES,   /* struct conf_cores: "auto", "0,2-5", or an array of integers */
    CONF_KIND_BOOL,    /* bool; as a flag, --name alone means true */
};

/* Key flags. */
#define CONF_KEY_PORT_ZERO_OK (1u << 0) /* an address may use port 0 (listen: any port) */
#define CONF_KEY_POW2 (1u << 1)         /* an integer must be a power of two */

struct conf_addr_list {
    size_t count;
    struct conf_maddr items[CONF_ADDRS_MAX];
};

struct conf_cores {
    bool all;                      /* "auto": spread over every CPU there is */
    size_t count;                  /* otherwise these CPUs, in the order written */
    uint16_t ids[CONF_CORES_MAX];
};

/* Identifies a key: index into conf_schema[] and conf_node.origin[]. */
enum conf_key_id {
    CONF_KEY_NODE_ROLE = 0,
    CONF_KEY_NODE_KEY_FILE,
    CONF_KEY_NODE_DATA_DIR,
    CONF_KEY_NODE_LOG_LEVEL,
    CONF_KEY_NODE_STATS_INTERVAL_S,
    CONF_KEY_NETWORK_BOOTSTRAP_NODES,
    CONF_KEY_NETWORK_LISTEN_ADDRS,
    CONF_KEY_NETWORK_PORT,
    CONF_KEY_CONSENSUS_VALIDATORS,
    CONF_KEY_CONSENSUS_REQUIRED_CONFIRMATIONS,
    CONF_KEY_CONSENSUS_GENESIS,
    CONF_KEY_CONSENSUS_BLOCK_IDS_MAX,
    CONF_KEY_CONSENSUS_EMPTY_BLOCK_INTERVAL_MS,
    CONF_KEY_CONSENSUS_TIMEOUT_PROPOSE_MS,
    CONF_KEY_CONSENSUS_TIMEOUT_VOTE_MS,
    CONF_KEY_CONSENSUS_MEMPOOL_IDS_MAX,
    CONF_KEY_CONSENSUS_SEGMENT_BYTES,
    CONF_KEY_CONSENSUS_RETAIN_BLOCKS,
    CONF_KEY_CONSENSUS_RETAIN_BYTES,
    CONF_KEY_RELAY_RELAY_ADDRESSES,
    CONF_KEY_RELAY_PEER_CHECK_INTERVAL,
    CONF_KEY_RELAY_SUB_EXPIRY_S,
    CONF_KEY_RELAY_SUBSCRIBERS_MAX,
    CONF_KEY_RELAY_REVERIFY_SAMPLE,
    CONF_KEY_RELAY_BAN_S,
    CONF_KEY_RELAY_MESH_DEGREE,
    CONF_KEY_RPC_LISTEN,
    CONF_KEY_DATAPLANE_BACKEND,
    CONF_KEY_DATAPLANE_CORES,
    CONF_KEY_DATAPLANE_POLLING,
    CONF_KEY_DATAPLANE_VERIFY_WORKERS,
    CONF_KEY_DATAPLANE_PEERS,
    CONF_KEY_DATAPLANE_MTU,
    CONF_KEY_DATAPLANE_DEDUP_ENTRIES,
    CONF_KEY_DATAPLANE_DEDUP_WINDOW_S,
    CONF_KEY_DATAPLANE_BENCH_SKIP_VERIFY,
    CONF_KEY_DATAPLANE_LINKS,
    CONF_KEY_DATAPLANE_BENCH_FORGE_EVERY,
    CONF_KEY_COUNT,
};

struct conf_key {
    const char *section;        /* TOML table: "network" */
    const char *name;           /* key inside it: "bootstrap_nodes" */
    enum conf_kind kind;
    const char *default_text;   /* parsed like a flag value at start-up */
    int64_t min;                /* CONF_KIND_INT range, inclusive */
    int64_t max;
    const char *const *choices; /* CONF_KIND_ENUM, NULL-terminated; "" = not chosen */
    const char *env;            /* environment variable, or NULL */
    const char *flag;           /* long flag without "--", or NULL */
    uint32_t flags;             /* CONF_KEY_* */
    size_t offset;              /* of the field in struct conf_node */
    const char *help;           /* one line for --help and docs */
};

/* Where one setting came from: source, and for the file its line and column. */
struct conf_origin {
    enum conf_source source;
    uint32_t line;
    uint32_t column;
};

/* The effective settings of a node. Field names are the TOML keys. */
struct conf_node {
    struct {
        int role;                         /* enum conf_role; NONE until chosen */
        char key_file[CONF_STRING_BYTES]; /* "" = the node makes a fresh key per run */
        char data_dir[CONF_STRING_BYTES];
        int log_level;                    /* enum dc_log_level */
        int64_t stats_interval_s;
    } node;
    struct {
        struct conf_addr_list bootstrap_nodes;
        struct conf_addr_list listen_addrs; /* the node binds the first one */
        int64_t port;                 /* 0, or replaces the port of every listen address */
    } network;
    struct {
        struct conf_addr_list validators;
        int64_t required_confirmations; /* 0 = 2f+1 of the validator set */
        char genesis[CONF_STRING_BYTES]; /* "" = DATA_DIR/genesis.toml */
        int64_t block_ids_max;        /* message ids a proposer puts in one block */
        int64_t empty_block_interval_ms; /* heartbeat: an empty block after this idle time */
        int64_t timeout_propose_ms;   /* round 0: wait this long for a proposal */
        int64_t timeout_vote_ms;      /* round 0: wait this long after a quorum of mixed votes */
        int64_t mempool_ids_max;      /* ids waiting to be ordered, at most */
        int64_t segment_bytes;        /* block store segment size */
        int64_t retain_blocks;        /* newest full blocks kept (0: all) */
        int64_t retain_bytes;         /* bytes of segments kept (0: no limit) */
    } consensus;
    struct {
        struct conf_addr_list relay_addresses;
        int64_t peer_check_interval;  /* seconds (the seed's name, no unit suffix) */
        int64_t sub_expiry_s;
        int64_t subscribers_max;
        int64_t reverify_sample;      /* re-verify 1 in this many messages from peer links */
        int64_t ban_s;                /* a peer caught forging is cut off this long */
        int64_t mesh_degree;          /* gossip peers a relay reaches, --peers included */
    } relay;
    struct {
        struct conf_maddr listen;
    } rpc;
    struct {
        int backend;                  /* enum conf_backend */
        struct conf_cores cores;
        int polling;                  /* enum conf_polling */
        int64_t verify_workers;
        struct conf_addr_list peers;
        int64_t mtu;
        int64_t dedup_entries;
        int64_t dedup_window_s;
        bool bench_skip_verify;
        bool links;                   /* gossip over authenticated peer links */
        int64_t bench_forge_every;    /* TESTS ONLY: corrupt 1 in N forwarded messages */
    } dataplane;
    char config_path[CONF_STRING_BYTES]; /* "" when no file was read */
    enum conf_source config_source;      /* FLAG (--config) or ENV (DCHAT_CONFIG) */
    struct conf_origin origin[CONF_KEY_COUNT];
};

extern const struct conf_key conf_schema[CONF_KEY_COUNT];

/* Every key set to its default, origin DEFAULT. Cannot fail (defaults are checked by tests). */
void conf_schema_defaults(struct conf_node *node);

/* The key with this section and name, or -1. */
int conf_schema_find(const char *section, const char *name);
/* The key whose flag is `flag` (without "--"), or -1. */
int conf_schema_find_flag(const char *flag);
/* Whether `section` names a table of the schema. */
bool conf_schema_has_section(const char *section);

/*
 * The closest known "section.name" to the unknown `section`.`name` by edit distance, or NULL
 * when nothing is close. `section` may be NULL (a key written outside any table).
 */
const char *conf_schema_suggest(const char *section, const char *name, char *buf, size_t size);
/* The closest known flag (without "--") to `flag`, or NULL. */
const char *conf_schema_suggest_flag(const char *flag);
/* The closest known section to `section`, or NULL. */
const char *conf_schema_suggest_section(const char *section);

/* Optimal string alignment distance (insert, delete, substitute, swap neighbours). */
size_t conf_edit_distance(const char *a, const char *b);

/*
 * Set key `id` from text (flag, environment or default). Returns 0, or DC_ETYPE / DC_ERANGE /
 * DC_EMALFORMED / DC_ETOOBIG with `why` saying what is wrong (the value quoted).
 */
int conf_schema_set_text(struct conf_node *node, int id, const char *text, char *why,
                         size_t why_size);

struct conf_toml_value;
/* Set key `id` from a TOML value; same returns. For arrays, `why` names the bad element. */
int conf_schema_set_toml(struct conf_node *node, int id, const struct conf_toml_value *value,
                         char *why, size_t why_size);

/* The value of key `id` as TOML text ("9000", "\"relay\"", "[\"a\", \"b\"]"). Like snprintf. */
int conf_schema_format(const struct conf_node *node, int id, char *buf, size_t size);

/* "node.role", "network.bootstrap_nodes", ... */
int conf_schema_full_name(int id, char *buf, size_t size);

#endif
