/*
 * node_config: every setting of a running node (`dchat --role ...`), in one plain struct.
 *
 * Filled in two steps: the config loader (conf/load.h: flag > environment > file > defaults,
 * one schema for all of them) produces a `struct conf_node`, and eng_node_config_from_conf()
 * maps it here, resolving every address once, at start-up. Addresses are kept both as the
 * text the operator wrote (for logs and for the control plane's records) and as a sockaddr.
 *
 * Fixed-size arrays, no allocation: the struct can live on the stack of the main thread and
 * be read (never written) by every thread after launch. Called from the main thread only.
 */
#ifndef ENG_NODE_CONFIG_H
#define ENG_NODE_CONFIG_H

#include "common/dc_log.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define ENG_NODE_ADDR_TEXT_MAX 256
#define ENG_NODE_PATH_MAX 1024
#define ENG_NODE_PEERS_MAX 64
#define ENG_NODE_BOOTSTRAP_MAX 64
#define ENG_NODE_CORES_MAX 64
#define ENG_NODE_VERIFY_WORKERS_MAX 16
#define ENG_NODE_MTU_MIN 1232 /* the largest message record fits one frame */
#define ENG_NODE_MTU_MAX 9000 /* jumbo frames; GSO packs several per send */

#define ENG_NODE_LISTEN_DEFAULT "0.0.0.0:9000"
#define ENG_NODE_RPC_DEFAULT "127.0.0.1:7070"
#define ENG_NODE_DATA_DIR_DEFAULT "./dchat-data"
#define ENG_NODE_PEER_CHECK_S_DEFAULT 30
#define ENG_NODE_BLOCK_IDS_MAX_DEFAULT 4096u
#define ENG_NODE_EMPTY_BLOCK_INTERVAL_MS_DEFAULT 1000u
#define ENG_NODE_TIMEOUT_PROPOSE_MS_DEFAULT 1000u
#define ENG_NODE_TIMEOUT_VOTE_MS_DEFAULT 500u
#define ENG_NODE_SEGMENT_BYTES_DEFAULT (64ull * 1024 * 1024)
#define ENG_NODE_SUB_EXPIRY_S_DEFAULT 30
#define ENG_NODE_SUBSCRIBERS_MAX_DEFAULT 1024
#define ENG_NODE_DEDUP_ENTRIES_DEFAULT (1u << 20)
#define ENG_NODE_DEDUP_WINDOW_S_DEFAULT 120
#define ENG_NODE_STATS_INTERVAL_S_DEFAULT 10

enum eng_node_role {
    ENG_NODE_ROLE_NONE = 0, /* not given: a usage error */
    ENG_NODE_ROLE_RELAY,
    ENG_NODE_ROLE_VALIDATOR,
};

enum eng_node_poll {
    ENG_NODE_POLL_ADAPTIVE = 0, /* spin briefly, then sleep in the kernel: idle costs ~0 CPU */
    ENG_NODE_POLL_BUSY,         /* never sleep: dedicated cores only */
};

/* One address: as written, and resolved (IPv4 or IPv6, numeric port). */
struct eng_node_addr {
    char text[ENG_NODE_ADDR_TEXT_MAX];
    struct sockaddr_storage sa;
    socklen_t sa_len;
};

struct eng_node_config {
    enum eng_node_role role;
    char config_file[ENG_NODE_PATH_MAX]; /* --config; empty: none (the conf loader reads it) */
    char key_file[ENG_NODE_PATH_MAX];    /* empty: a fresh key for this run only */
    char data_dir[ENG_NODE_PATH_MAX];
    char genesis_file[ENG_NODE_PATH_MAX]; /* --genesis; empty: DATA_DIR/genesis.toml */
    uint32_t block_ids_max;        /* [consensus] block_ids_max */
    uint32_t empty_block_interval_ms; /* [consensus] empty_block_interval_ms */
    uint32_t timeout_propose_ms;   /* [consensus] timeout_propose_ms */
    uint32_t timeout_vote_ms;      /* [consensus] timeout_vote_ms */
    uint32_t mempool_ids_max;      /* [consensus] mempool_ids_max */
    uint64_t segment_bytes;        /* [consensus] segment_bytes */
    uint64_t retain_blocks;        /* [consensus] retain_blocks (0: keep all) */
    uint64_t retain_bytes;         /* [consensus] retain_bytes (0: no limit) */

    /* dataplane */
    struct eng_node_addr listen;
    struct eng_node_addr peers[ENG_NODE_PEERS_MAX];
    uint32_t peer_count;
    int cores[ENG_NODE_CORES_MAX]; /* core ids, I/O thread first, then verify workers */
    uint32_t core_count;           /* 0: no pinning (the scheduler spreads threads) */
    uint32_t verify_workers;       /* 1..ENG_NODE_VERIFY_WORKERS_MAX */
    enum eng_node_poll poll;
    int bench_skip_verify;         /* skip Ed25519 checks: benchmarks of the dataplane only */
    int links;                     /* [dataplane] links */
    uint32_t bench_forge_every;    /* TESTS ONLY: forward 1 in N messages forged */
    uint32_t reverify_sample;      /* [relay] reverify_sample */
    uint32_t ban_s;                /* [relay] ban_s */
    uint32_t mesh_degree;          /* [relay] mesh_degree */
    uint32_t mtu;                  /* UDP payload bytes per datagram we send */
    uint32_t subscribers_max;
    uint32_t sub_expiry_s;         /* a subscription lapses unless renewed within this */
    uint32_t dedup_entries;        /* de-dup table size (rounded up to a power of two) */
    uint32_t dedup_window_s;       /* a message id is remembered at least this long */
    uint32_t stats_interval_s;     /* periodic stats log line (only when traffic flowed) */

    /* control plane (engine/ctl.c) */
    struct eng_node_addr bootstrap[ENG_NODE_BOOTSTRAP_MAX];
    uint32_t bootstrap_count;
    int bootstrap_set;             /* --bootstrap-nodes given (even empty: start alone) */
    struct eng_node_addr rpc_listen;
    uint32_t peer_check_interval_s;

    enum dc_log_level log_level;
};

/* The defaults every loader starts from (role NONE: the operator must pick one). */
void eng_node_config_defaults(struct eng_node_config *cfg);

struct conf_node; /* conf/schema.h */
/*
 * Fills `cfg` from the config loader's result (conf_node_load: flag > env > file > defaults),
 * resolving every address. 0 or DC_ECONFIG with one line in err[err_size].
 */
int eng_node_config_from_conf(struct eng_node_config *cfg, const struct conf_node *conf,
                              char *err, size_t err_size);

/* Checks the settings together (role given, worker count vs cores ...). 0 or DC_ECONFIG. */
int eng_node_config_check(const struct eng_node_config *cfg, char *err, size_t err_size);

/*
 * Resolves "HOST:PORT" or "[IPV6]:PORT" (HOST may be a name; PORT 1..65535, or 0 when
 * `port_zero_ok`) into `addr`. 0 or DC_ECONFIG.
 */
int eng_node_addr_parse(struct eng_node_addr *addr, const char *text, int port_zero_ok);

#endif
