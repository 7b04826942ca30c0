#include "consensus/exec.h"

#include "common/dc_err.h"
#include "common/dc_log.h"
#include "cons_test_keys.h"
#include "store_chain.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILES 8u
#define FILE_BYTES (1u << 20)

static struct test_keys keys;
static struct cons_genesis genesis;
static struct cons_dir_mem *dm;
static uint8_t *dm_bytes;
static struct cons_datadir dd;
static struct cons_exec ex;
static struct cons_actions *acts;
static uint8_t ids[8][CONS_ID_BYTES];
static struct cons_block blocks[8];
static struct cons_cert certs[8];

/* What the callbacks saw, in order. */
static struct {
    uint32_t sends;
    uint16_t send_to[32];
    uint64_t send_height[32];       /* SYNC_BLOCK: the block's height */
    uint64_t wal_syncs_at_send[32]; /* the WAL file's syncs when each send left */
    int durable_at_send[32];        /* every WAL byte durable when it left */
    uint32_t commits;
    uint64_t commit_height_stored;  /* the store's height inside the commit hook */
    uint64_t schedule_at;
    uint32_t syncs_begun, syncs_ended;
    int last_sync_rc;
} seen;

static struct cons_disk_mem *wal_mem(void)
{
    return cons_dir_mem_file(dm, CONS_WAL_VOTES_FILE_NAME);
}

static void on_send(void *ctx, uint16_t to, const struct cons_msg *msg)
{
    (void)ctx;
    cr_assert_lt(seen.sends, 32);
    uint32_t i = seen.sends++;
    seen.send_to[i] = to;
    seen.send_height[i] = msg->kind == CONS_MSG_SYNC_BLOCK ? msg->block->header.height : 0;
    seen.wal_syncs_at_send[i] = wal_mem()->syncs;
    seen.durable_at_send[i] = wal_mem()->durable_len == wal_mem()->len && !dd.unsynced;
}

static void on_commit(void *ctx, const struct cons_block *block, const struct cons_cert *cert)
{
    (void)ctx;
    (void)cert;
    seen.commits++;
    seen.commit_height_stored = cons_datadir_height(&dd);
    cr_assert_eq(block->header.height, seen.commit_height_stored, "durable before the hook");
}

static void on_schedule(void *ctx, uint64_t at)
{
    (void)ctx;
    seen.schedule_at = at;
}

static void on_sync_begin(void *ctx)
{
    (void)ctx;
    seen.syncs_begun++;
}

static void on_sync_end(void *ctx, int rc)
{
    (void)ctx;
    seen.syncs_ended++;
    seen.last_sync_rc = rc;
}

static const struct cons_exec_ops ops = {
    .send = on_send, .commit = on_commit, .schedule = on_schedule,
    .sync_begin = on_sync_begin, .sync_end = on_sync_end,
};

static void open_dd(void)
{
    char err[CONS_DATADIR_ERROR_BYTES] = "";
    cr_assert_eq(cons_datadir_open_dir(&dd, cons_dir_mem_dir(dm), "mem", &genesis, NULL, err,
                                       sizeof(err)), 0, "%s", err);
    cons_exec_init(&ex, &dd, &ops, NULL, 2);
}

static void setup(void)
{
    dc_log_set_level(DC_LOG_ERROR + 1);
    cr_assert_eq(test_keys_make(&keys, 4), 0);
    memset(&genesis, 0, sizeof(genesis));
    snprintf(genesis.chain_id, sizeof(genesis.chain_id), "exec-test");
    genesis.required_confirmations = 3;
    genesis.count = 4;
    for (uint32_t i = 0; i < 4; i++) {
        snprintf(genesis.validators[i].name, sizeof(genesis.validators[i].name), "v%u", i);
        snprintf(genesis.validators[i].address, sizeof(genesis.validators[i].address), "h:%u",
                 i);
        memcpy(genesis.validators[i].public_key, keys.pk[i], CONS_PK_BYTES);
    }
    dm = calloc(1, sizeof(*dm));
    dm_bytes = calloc(FILES, FILE_BYTES);
    acts = calloc(1, sizeof(*acts));
    cr_assert(dm != NULL && dm_bytes != NULL && acts != NULL);
    cons_dir_mem_init(dm, dm_bytes, FILE_BYTES, FILES);
    memset(&seen, 0, sizeof(seen));
    open_dd();
    uint8_t prev[CONS_HASH_BYTES];
    memcpy(prev, dd.genesis_hash, CONS_HASH_BYTES);
    for (uint32_t h = 1; h <= 8; h++) {
        cons_block_init(&blocks[h - 1], ids, 8);
        cr_assert_eq(store_chain_make(&blocks[h - 1], &certs[h - 1], "exec-test", h, prev, 0,
                                      (const uint8_t(*)[CONS_SK_BYTES])keys.sk, 4, 0, 3), 0);
        cons_block_hash(&blocks[h - 1], prev);
    }
}

static void teardown(void)
{
    cons_datadir_close(&dd);
    free(dm);
    free(dm_bytes);
    free(acts);
}

TestSuite(cons_exec, .init = setup, .fini = teardown);

static void add_vote(uint32_t round)
{
    struct cons_action *a = &acts->items[acts->count++];
    memset(a, 0, sizeof(*a));
    a->type = CONS_ACT_PERSIST;
    a->msg.kind = CONS_MSG_VOTE;
    a->msg.vote.type = CONS_VOTE_PREVOTE;
    a->msg.vote.height = cons_datadir_height(&dd) + 1;
    a->msg.vote.round = round;
}

static void add_send(uint16_t to)
{
    struct cons_action *a = &acts->items[acts->count++];
    memset(a, 0, sizeof(*a));
    a->type = CONS_ACT_SEND;
    a->to = to;
    a->msg.kind = CONS_MSG_VOTE;
}

static void add_commit(uint64_t height)
{
    struct cons_action *a = &acts->items[acts->count++];
    memset(a, 0, sizeof(*a));
    a->type = CONS_ACT_COMMIT;
    a->block = &blocks[height - 1];
    a->cert = &certs[height - 1];
}

Test(cons_exec, a_send_leaves_after_one_sync_of_every_persist_before_it)
{
    uint64_t base = wal_mem()->syncs;
    add_vote(0);
    add_vote(1);
    add_send(1);
    add_send(CONS_TO_ALL); /* nothing new persisted: no second sync */
    add_vote(2);
    add_send(2);
    acts->items[acts->count++] = (struct cons_action){ .type = CONS_ACT_SCHEDULE, .at_tick = 77 };
    cr_assert_eq(cons_exec_run(&ex, acts), 0);
    cr_assert_eq(seen.sends, 3);
    cr_assert_eq(seen.send_to[0], 1);
    cr_assert_eq(seen.send_to[1], CONS_TO_ALL);
    cr_assert_eq(seen.wal_syncs_at_send[0], base + 1, "two persists, one sync");
    cr_assert_eq(seen.wal_syncs_at_send[1], base + 1);
    cr_assert_eq(seen.wal_syncs_at_send[2], base + 2);
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert(seen.durable_at_send[i], "send %u before its records were durable", i);
    }
    cr_assert_eq(seen.syncs_begun, 2);
    cr_assert_eq(seen.syncs_ended, 2);
    cr_assert_eq(seen.schedule_at, 77);
    cr_assert_eq(dd.wal_syncs, 2);
}

Test(cons_exec, the_batch_ends_synced_and_a_restart_replays_it)
{
    add_vote(0);
    add_vote(1);
    cr_assert_eq(cons_exec_run(&ex, acts), 0);
    cr_assert_eq(seen.sends, 0);
    cr_assert_eq(seen.syncs_begun, 1, "the end of the batch syncs what is pending");
    cr_assert_eq(wal_mem()->durable_len, wal_mem()->len);
    cons_datadir_close(&dd);
    cons_dir_mem_crash(dm, 0);
    open_dd();
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    uint32_t records = 0;
    cons_wal_cursor_init(&dd.wal, &cursor);
    while (cons_wal_next(&dd.wal, &cursor, &rec, dd.record, CONS_STORE_PAYLOAD_BYTES_MAX) == 1) {
        records++;
    }
    cr_assert_eq(records, 2, "both records survived the power cut");
}

Test(cons_exec, a_commit_is_durable_before_its_hook_and_resets_the_wal)
{
    add_vote(0);
    add_commit(1);
    add_vote(0);
    add_send(3);
    cr_assert_eq(cons_exec_run(&ex, acts), 0);
    cr_assert_eq(seen.commits, 1);
    cr_assert_eq(seen.commit_height_stored, 1);
    cr_assert_eq(cons_datadir_height(&dd), 1);
    cr_assert_eq(dd.store_syncs, 1);
    cr_assert_eq(seen.sends, 1);
    cr_assert(seen.durable_at_send[0]);
}

Test(cons_exec, serve_sync_sends_at_most_sync_blocks_max_stored_blocks)
{
    for (uint64_t h = 1; h <= 5; h++) {
        add_commit(h);
    }
    cr_assert_eq(cons_exec_run(&ex, acts), 0);
    cr_assert_eq(seen.commits, 5);
    acts->count = 0;
    acts->items[acts->count++] = (struct cons_action){ .type = CONS_ACT_SERVE_SYNC, .to = 2,
                                                       .height = 4 };
    acts->items[acts->count++] = (struct cons_action){ .type = CONS_ACT_SERVE_SYNC, .to = 1,
                                                       .height = 5 };
    acts->items[acts->count++] = (struct cons_action){ .type = CONS_ACT_SERVE_SYNC, .to = 1,
                                                       .height = 9 };
    acts->items[acts->count++] = (struct cons_action){ .type = CONS_ACT_SERVE_SYNC, .to = 1,
                                                       .height = 0 };
    cr_assert_eq(cons_exec_run(&ex, acts), 0);
    cr_assert_eq(seen.sends, 3, "two from 4 (the limit), one from 5, none past the head");
    cr_assert_eq(seen.send_height[0], 4);
    cr_assert_eq(seen.send_height[1], 5);
    cr_assert_eq(seen.send_to[1], 2);
    cr_assert_eq(seen.send_height[2], 5);
    cr_assert_eq(seen.send_to[2], 1);
    cr_assert_eq(ex.serve_read_errors, 0);
}

Test(cons_exec, a_failed_sync_stops_the_batch_and_sticks)
{
    add_vote(0);
    add_send(1);
    add_vote(1);
    wal_mem()->fail_next_sync = 1;
    cr_assert_eq(cons_exec_run(&ex, acts), -EIO);
    cr_assert_eq(seen.sends, 0, "nothing leaves after a failed sync");
    cr_assert_eq(seen.syncs_ended, 1);
    cr_assert_eq(seen.last_sync_rc, -EIO);
    cr_assert_str_eq(ex.failed_what, "vote WAL write");
    cr_assert_eq(ex.failed, -EIO);
    acts->count = 0;
    add_send(2);
    cr_assert_eq(cons_exec_run(&ex, acts), -EIO, "sticky");
    cr_assert_eq(seen.sends, 0);
}

Test(cons_exec, a_failed_sync_at_the_end_of_the_batch_is_a_wal_sync_failure)
{
    add_vote(0);
    wal_mem()->fail_next_sync = 1;
    cr_assert_eq(cons_exec_run(&ex, acts), -EIO);
    cr_assert_str_eq(ex.failed_what, "vote WAL sync");
}
