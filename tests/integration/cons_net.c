/*
 * cons_net: test helper that grows a chain by real consensus, with real storage.
 *
 *   cons_net --net DIR --data DATA --height H [--crash-at K] [--ids N]
 *
 * DIR is what `dchat genesis --out DIR` wrote. Every validator of the genesis runs the
 * Tendermint state machine (consensus/machine.h) in this one process over a zero-delay
 * in-memory network (every message encoded and decoded as on the wire). Validator i keeps
 * DATA/v<i>/votes.wal and DATA/v<i>/blocks.log and carries out its actions the way a node
 * must: PERSIST appends to the WAL; the WAL is synced once before the first SEND that follows
 * (group commit); COMMIT appends to the block store, syncs it, then prunes the WAL;
 * SERVE_SYNC answers from the block store. On start each validator resumes from its store
 * and replays its WAL through cons_machine_restore(), so a run that --crash-at K killed
 * (_exit right after validator 0 stored height K, with messages in flight lost) continues.
 * It stops when every validator stored height H and prints each one's head hash.
 */
#include "engine/key.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
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
#define WAL_BUFFER_BYTES (64u * 1024)
#define SYNC_BLOCKS_MAX 16u

struct validator {
    struct cons_machine *m;
    void *arena;
    struct cons_disk_file wal_file;
    struct cons_disk_file store_file;
    struct cons_wal wal;
    struct cons_store store;
    uint8_t *wal_buffer;
    int unsynced;               /* PERSISTed records not yet covered by a sync */
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
static uint8_t *record;
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

static void persist(struct validator *v, const struct cons_msg *msg)
{
    size_t len = cons_record_encoded_size(msg);
    DC_ASSERT(len > 0 && len <= CONS_STORE_PAYLOAD_BYTES_MAX);
    cons_record_encode(msg, record, len);
    int rc = cons_wal_append(&v->wal, msg->kind, record, (uint32_t)len, NULL);
    if (rc != 0) {
        die("wal append", rc);
    }
    v->unsynced = 1;
}

/* Group commit: one sync covers every record before the SEND about to leave. */
static void sync_wal(struct validator *v)
{
    if (v->unsynced) {
        int rc = cons_wal_sync(&v->wal);
        if (rc != 0) {
            die("wal sync", rc);
        }
        v->unsynced = 0;
    }
}

static void commit(struct validator *v, const struct cons_action *a)
{
    int rc = cons_store_append(&v->store, a->block, a->cert);
    if (rc == 0) {
        rc = cons_store_sync(&v->store);
    }
    if (rc == 0) {
        rc = cons_wal_reset(&v->wal); /* the height is in the store: its votes may go */
    }
    if (rc != 0) {
        die("commit", rc);
    }
    v->unsynced = 0;
}

static void serve_sync(uint32_t index, const struct cons_action *a)
{
    struct validator *v = &vals[index];
    uint64_t last = cons_store_height(&v->store);
    for (uint64_t h = a->height; h <= last && h < a->height + SYNC_BLOCKS_MAX; h++) {
        int rc = cons_store_read(&v->store, h, &scratch_block, &scratch_cert);
        if (rc != 0) {
            die("store read", rc);
        }
        struct cons_msg msg = { .kind = CONS_MSG_SYNC_BLOCK, .block = &scratch_block,
                                .cert = &scratch_cert };
        enqueue(index, a->to, &msg);
    }
}

static void run_actions(uint32_t index)
{
    struct validator *v = &vals[index];
    for (uint32_t i = 0; i < out.count; i++) {
        const struct cons_action *a = &out.items[i];
        if (a->type == CONS_ACT_PERSIST) {
            persist(v, &a->msg);
        } else if (a->type == CONS_ACT_SEND) {
            sync_wal(v);
            DC_ASSERT(cons_wal_synced_seq(&v->wal) + 1 == cons_wal_next_seq(&v->wal));
            enqueue(index, a->to, &a->msg);
        } else if (a->type == CONS_ACT_COMMIT) {
            commit(v, a);
        } else if (a->type == CONS_ACT_SERVE_SYNC) {
            serve_sync(index, a);
        }
    }
    sync_wal(v);
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

static void open_storage(struct validator *v, const char *dir)
{
    char path[PATH_MAX + 64];
    struct cons_store_problem problem = { 0 };
    snprintf(path, sizeof(path), "%s/%s", dir, CONS_STORE_FILE_NAME);
    int rc = cons_disk_file_open(&v->store_file, path, CONS_DISK_CREATE);
    if (rc == 0) {
        rc = cons_store_open(&v->store, cons_disk_file_disk(&v->store_file), 0, &problem);
    }
    if (rc != 0) {
        fprintf(stderr, "cons_net: %s: %s %s\n", path, dc_strerror(rc), problem.why);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, CONS_WAL_VOTES_FILE_NAME);
    v->wal_buffer = dc_alloc(WAL_BUFFER_BYTES);
    struct cons_wal_config config = { .kind = CONS_WAL_KIND_VOTES,
                                      .payload_bytes_max = CONS_STORE_PAYLOAD_BYTES_MAX,
                                      .buffer = v->wal_buffer,
                                      .buffer_bytes = WAL_BUFFER_BYTES,
                                      .first_seq = 1 };
    rc = cons_disk_file_open(&v->wal_file, path, CONS_DISK_CREATE);
    if (rc == 0) {
        rc = cons_wal_open(&v->wal, cons_disk_file_disk(&v->wal_file), &config, NULL);
    }
    if (rc != 0) {
        die(path, rc);
    }
}

/* Resume after the stored head, then replay this height's own votes from the WAL. */
static void resume(struct validator *v)
{
    uint8_t prev[CONS_HASH_BYTES];
    uint64_t prev_time = 0;
    uint64_t height = cons_store_height(&v->store);
    cons_genesis_hash(&genesis, prev);
    if (height > 0) {
        int rc = cons_store_read(&v->store, height, &scratch_block, &scratch_cert);
        if (rc != 0) {
            die("read head", rc);
        }
        memcpy(prev, cons_store_head_hash(&v->store), CONS_HASH_BYTES);
        prev_time = scratch_block.header.time_ticks;
    }
    cons_machine_start(v->m, height + 1, prev, prev_time);
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    cons_wal_cursor_init(&v->wal, &cursor);
    int rc;
    while ((rc = cons_wal_next(&v->wal, &cursor, &rec, record, CONS_STORE_PAYLOAD_BYTES_MAX)) ==
           1) {
        struct cons_msg msg;
        rc = cons_record_decode(rec.payload, rec.payload_len, &msg, &scratch_block);
        if (rc == 0) {
            rc = cons_machine_restore(v->m, &msg);
        }
        if (rc != 0 && rc != DC_ESTALE) {
            die("wal replay", rc);
        }
    }
    if (rc < 0) {
        die("wal read", rc);
    }
}

static void load_validator(uint32_t i, const char *net, const char *data, uint32_t ids_max)
{
    char path[PATH_MAX], why[128] = "";
    struct eng_key key;
    snprintf(path, sizeof(path), "%s/validator%u.key", net, i + 1);
    int rc = eng_key_load(&key, path, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, "cons_net: %s: %s %s\n", path, dc_strerror(rc), why);
        exit(1);
    }
    struct cons_config cfg = {
        .valset = &set, .chain_id = genesis.chain_id, .self = i,
        .timeout_propose_ticks = 30, .timeout_prevote_ticks = 30,
        .timeout_precommit_ticks = 30, .timeout_delta_ticks = 10,
        .rebroadcast_ticks = 20, .sync_retry_ticks = 10,
        .block_ids_max = ids_max, .mempool_ids_max = 1024, .recent_ids_max = 4096,
    };
    memcpy(cfg.secret_key, key.sk, CONS_SK_BYTES);
    randombytes_buf(cfg.hash_key, sizeof(cfg.hash_key));
    struct validator *v = &vals[i];
    size_t size = cons_machine_arena_size(&cfg);
    v->m = dc_alloc_aligned(64, (sizeof(*v->m) + 63) & ~(size_t)63);
    v->arena = dc_alloc_aligned(64, (size + 63) & ~(size_t)63);
    DC_ASSERT(v->m != NULL && v->arena != NULL);
    rc = cons_machine_init(v->m, &cfg, v->arena, size);
    if (rc != 0) {
        die("machine init", rc);
    }
    snprintf(path, sizeof(path), "%s/v%u", data, i + 1);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        die(path, -errno);
    }
    open_storage(v, path);
    resume(v);
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
        uint64_t h = cons_store_height(&vals[v].store);
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
        if (crash_at > 0 && cons_store_height(&vals[0].store) >= crash_at) {
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
    record = dc_alloc(CONS_STORE_PAYLOAD_BYTES_MAX);
    DC_ASSERT(bytes != NULL && record != NULL);
    cons_block_init(&scratch_block, ids, CONS_BLOCK_IDS_MAX);
    for (uint32_t i = 0; i < genesis.count; i++) {
        load_validator(i, net, data, (uint32_t)ids_max);
    }
    printf("cons_net: resumed at heights");
    for (uint32_t i = 0; i < genesis.count; i++) {
        printf(" %llu", (unsigned long long)cons_store_height(&vals[i].store));
    }
    printf("\n");
    run((uint64_t)height, (uint64_t)crash_at, (uint32_t)ids_max);
    for (uint32_t i = 0; i < genesis.count; i++) {
        char hex[2 * CONS_HASH_BYTES + 1];
        eng_hex(cons_store_head_hash(&vals[i].store), CONS_HASH_BYTES, hex);
        printf("v%u height %llu hash %s\n", i + 1,
               (unsigned long long)cons_store_height(&vals[i].store), hex);
    }
    return 0;
}
