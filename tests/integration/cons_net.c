/*
 * cons_net: test helper that grows a chain by real consensus, with real storage.
 *
 *   cons_net --net DIR --data DATA --height H [--crash-at K] [--ids N]
 *
 * DIR is what `dchat genesis --out DIR` wrote. Every validator of the genesis runs the
 * Tendermint state machine (consensus/machine.h) in this one process over a zero-delay
 * in-memory network (every message encoded and decoded as on the wire), with its own data
 * directory DATA/v<i>/ (votes.wal, blocks-*.log) driven by the node's own action executor
 * (consensus/exec.h over consensus/datadir.h): PERSIST into the WAL, one sync before the
 * SENDs that follow (group commit), COMMIT into the block store then prune the WAL,
 * SERVE_SYNC from the store. On start
 * each validator resumes after its stored head and replays its WAL, so a run that
 * --crash-at K killed (_exit right after validator 0 stored height K; messages in flight are
 * lost) continues. It stops when every validator stored height H and prints each head hash.
 */
#include "engine/key.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "consensus/datadir.h"
#include "consensus/exec.h"
#include "consensus/genesis.h"
#include "consensus/machine.h"
#include "consensus/store.h"
#include "consensus/wal.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUEUE_MAX 65536u
#define BYTES_MAX (64u << 20)
#define STEPS_MAX 20000000ull
#define SYNC_BLOCKS_MAX 16u

struct validator {
    struct cons_machine *m;
    void *arena;
    struct cons_datadir dd;
    struct cons_exec exec;
};

struct queued {
    uint16_t to;
    uint32_t offset;
    uint32_t len;
};

static struct cons_genesis genesis;
static struct cons_valset set;
static struct validator vals[CONS_VALIDATORS_MAX];
static struct queued queue[QUEUE_MAX];
static uint32_t q_head, q_tail;
static uint8_t *bytes;
static uint32_t bytes_len;
static struct cons_actions out;
static uint8_t ids[CONS_BLOCK_IDS_MAX][CONS_ID_BYTES];
static struct cons_block scratch_block;
static struct cons_cert scratch_cert;
static uint64_t next_id;

static void die(const char *what, int rc)
{
    fprintf(stderr, "cons_net: %s: %s\n", what, dc_strerror(rc));
    exit(1);
}

static void enqueue(uint32_t from, uint16_t to, const struct cons_msg *msg)
{
    size_t size = cons_msg_encoded_size(msg);
    DC_ASSERT(size > 0 && size <= BYTES_MAX - bytes_len);
    uint32_t offset = bytes_len;
    bytes_len += (uint32_t)cons_msg_encode(msg, bytes + offset, size);
    for (uint16_t j = 0; j < genesis.count; j++) {
        if (j == from || (to != CONS_TO_ALL && j != to)) {
            continue;
        }
        DC_ASSERT(q_tail - q_head < QUEUE_MAX);
        queue[q_tail++ % QUEUE_MAX] = (struct queued){ j, offset, (uint32_t)size };
    }
}

static void check(int rc, const char *what)
{
    if (rc != 0) {
        die(what, rc);
    }
}

/* The executor's network: every message encoded into the in-memory queue. */
static void exec_send(void *ctx, uint16_t to, const struct cons_msg *msg)
{
    const struct validator *v = ctx;
    enqueue((uint32_t)(v - vals), to, msg);
}

static const struct cons_exec_ops exec_ops = { .send = exec_send };

/* The node's storage duties, in action order: consensus/exec.h, as the node runs them. */
static void run_actions(uint32_t index)
{
    struct validator *v = &vals[index];
    int rc = cons_exec_run(&v->exec, &out);
    if (rc != 0) {
        die(v->exec.failed_what, rc);
    }
    if (v->exec.serve_read_errors != 0) {
        die("store read", DC_ECORRUPT);
    }
}

/* Keep ids pending at every validator, as gossip would. */
static void refill(uint32_t per_block)
{
    uint8_t id[CONS_ID_BYTES] = { 0 };
    while (cons_mempool_pending(&vals[0].m->mempool) < 2 * per_block) {
        memcpy(id, &next_id, sizeof(next_id));
        memcpy(id + 8, "cons-net", 8);
        next_id++;
        for (uint32_t v = 0; v < genesis.count; v++) {
            int rc = cons_submit(vals[v].m, id);
            DC_ASSERT(rc == 0 || rc == DC_EDUPLICATE || rc == DC_EFULL);
        }
    }
}

static void load_validator(uint32_t i, const char *net, const char *data, uint32_t ids_max)
{
    char path[PATH_MAX + 64], why[CONS_DATADIR_ERROR_BYTES] = "";
    struct validator *v = &vals[i];
    snprintf(path, sizeof(path), "%s/v%u", data, i + 1);
    char genesis_path[PATH_MAX + 64];
    snprintf(genesis_path, sizeof(genesis_path), "%s/%s", net, CONS_GENESIS_FILE_NAME);
    int rc = cons_datadir_open(&v->dd, path, genesis_path, NULL, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "cons_net: %s\n", why);
        exit(1);
    }
    struct eng_key key;
    snprintf(path, sizeof(path), "%s/validator%u.key", net, i + 1);
    rc = eng_key_load(&key, path, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "cons_net: %s: %s %s\n", path, dc_strerror(rc), why);
        exit(1);
    }
    struct cons_config cfg = {
        .valset = &v->dd.valset, .chain_id = v->dd.genesis.chain_id, .self = i,
        .timeout_propose_ticks = 30, .timeout_prevote_ticks = 30,
        .timeout_precommit_ticks = 30, .timeout_delta_ticks = 10,
        .rebroadcast_ticks = 20, .sync_retry_ticks = 10,
        .block_ids_max = ids_max, .mempool_ids_max = 1024, .recent_ids_max = 4096,
    };
    memcpy(cfg.secret_key, key.sk, CONS_SK_BYTES);
    randombytes_buf(cfg.hash_key, sizeof(cfg.hash_key));
    size_t size = cons_machine_arena_size(&cfg);
    v->m = dc_alloc_aligned(64, (sizeof(*v->m) + 63) & ~(size_t)63);
    v->arena = dc_alloc_aligned(64, (size + 63) & ~(size_t)63);
    DC_ASSERT(v->m != NULL && v->arena != NULL);
    check(cons_machine_init(v->m, &cfg, v->arena, size), "machine init");
    check(cons_datadir_resume(&v->dd, v->m), "resume");
    cons_exec_init(&v->exec, &v->dd, &exec_ops, v, SYNC_BLOCKS_MAX);
}

/* Deliver one queued message, or let a tick pass when nothing is in flight. */
static void step(uint64_t *now)
{
    if (q_head == q_tail) {
        bytes_len = 0;
        (*now)++;
        for (uint32_t v = 0; v < genesis.count; v++) {
            cons_tick(vals[v].m, *now, &out);
            run_actions(v);
        }
        return;
    }
    struct queued q = queue[q_head++ % QUEUE_MAX];
    struct cons_msg msg;
    int rc = cons_msg_decode(bytes + q.offset, q.len, &msg, &scratch_block, &scratch_cert);
    DC_ASSERT(rc == 0);
    (void)cons_on_message(vals[q.to].m, &msg, &out);
    run_actions(q.to);
}

static uint64_t lowest_height(void)
{
    uint64_t low = UINT64_MAX;
    for (uint32_t v = 0; v < genesis.count; v++) {
        uint64_t h = cons_datadir_height(&vals[v].dd);
        low = h < low ? h : low;
    }
    return low;
}

static void run(uint64_t target, uint64_t crash_at, uint32_t ids_max)
{
    uint64_t now = 1;
    for (uint32_t v = 0; v < genesis.count; v++) {
        cons_machine_begin(vals[v].m, now, &out);
        run_actions(v);
    }
    for (uint64_t steps = 0; lowest_height() < target; steps++) {
        if (steps == STEPS_MAX) {
            fprintf(stderr, "cons_net: no progress: lowest height %llu after %llu steps\n",
                    (unsigned long long)lowest_height(), (unsigned long long)steps);
            exit(1);
        }
        refill(ids_max);
        step(&now);
        if (crash_at > 0 && cons_datadir_height(&vals[0].dd) >= crash_at) {
            printf("cons_net: crash at height %llu (messages in flight lost)\n",
                   (unsigned long long)crash_at);
            fflush(stdout);
            _exit(0);
        }
    }
}

int main(int argc, char **argv)
{
    const char *net = NULL, *data = NULL;
    long height = -1, crash_at = 0, ids_max = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        long *num = strcmp(argv[i], "--height") == 0     ? &height
                    : strcmp(argv[i], "--crash-at") == 0 ? &crash_at
                    : strcmp(argv[i], "--ids") == 0      ? &ids_max
                                                         : NULL;
        if (strcmp(argv[i], "--net") == 0) {
            net = argv[i + 1];
        } else if (strcmp(argv[i], "--data") == 0) {
            data = argv[i + 1];
        } else if (num != NULL) {
            *num = strtol(argv[i + 1], NULL, 10);
        }
    }
    if (net == NULL || data == NULL || height < 1 || crash_at < 0 || ids_max < 1 ||
        ids_max > 256 || argc % 2 != 1) {
        fprintf(stderr, "usage: cons_net --net DIR --data DATA --height H [--crash-at K] "
                        "[--ids N]\n");
        return 2;
    }
    dc_log_set_level(DC_LOG_WARN);
    char path[PATH_MAX], err[CONS_GENESIS_ERROR_BYTES];
    snprintf(path, sizeof(path), "%s/%s", net, CONS_GENESIS_FILE_NAME);
    int rc = cons_genesis_load(&genesis, path, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "cons_net: %s\n", err);
        return 1;
    }
    rc = cons_genesis_valset(&genesis, &set);
    if (rc != 0) {
        die("validator set", rc);
    }
    if (mkdir(data, 0700) != 0 && errno != EEXIST) {
        die(data, -errno);
    }
    bytes = dc_alloc(BYTES_MAX);
    DC_ASSERT(bytes != NULL);
    cons_block_init(&scratch_block, ids, CONS_BLOCK_IDS_MAX);
    for (uint32_t i = 0; i < genesis.count; i++) {
        load_validator(i, net, data, (uint32_t)ids_max);
    }
    printf("cons_net: resumed at heights");
    for (uint32_t i = 0; i < genesis.count; i++) {
        printf(" %llu (%llu WAL records replayed)",
               (unsigned long long)cons_datadir_height(&vals[i].dd),
               (unsigned long long)vals[i].dd.wal_records_replayed);
    }
    printf("\n");
    run((uint64_t)height, (uint64_t)crash_at, (uint32_t)ids_max);
    for (uint32_t i = 0; i < genesis.count; i++) {
        char hex[2 * CONS_HASH_BYTES + 1];
        eng_hex(cons_datadir_head_hash(&vals[i].dd), CONS_HASH_BYTES, hex);
        printf("v%u height %llu hash %s\n", i + 1,
               (unsigned long long)cons_datadir_height(&vals[i].dd), hex);
        cons_datadir_close(&vals[i].dd);
    }
    return 0;
}
