#include "consensus/datadir.h"

#include "common/dc_err.h"
#include "common/dc_log.h"
#include "cons_test_keys.h"
#include "store_chain.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct test_keys keys;
static struct cons_datadir dd, second;
static uint8_t ids[8][CONS_ID_BYTES];
static char dir[128], genesis_path[160];

/* A fresh directory with a 4-validator genesis of the test keys. */
static void setup(void)
{
    dc_log_set_level(DC_LOG_ERROR + 1);
    cr_assert_eq(test_keys_make(&keys, 4), 0);
    snprintf(dir, sizeof(dir), "/tmp/dchat-test-datadir-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(genesis_path, sizeof(genesis_path), "/tmp/dchat-test-datadir-%d.toml", (int)getpid());
    unlink(genesis_path);
    struct cons_genesis g;
    memset(&g, 0, sizeof(g));
    snprintf(g.chain_id, sizeof(g.chain_id), "dd-test");
    g.required_confirmations = 3;
    g.count = 4;
    for (uint32_t i = 0; i < 4; i++) {
        snprintf(g.validators[i].name, sizeof(g.validators[i].name), "v%u", i);
        snprintf(g.validators[i].address, sizeof(g.validators[i].address), "h:%u", 9000 + i);
        memcpy(g.validators[i].public_key, keys.pk[i], CONS_PK_BYTES);
    }
    cr_assert_eq(cons_genesis_write(&g, genesis_path), 0);
}

static void teardown(void)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    unlink(genesis_path);
}

TestSuite(cons_datadir, .init = setup, .fini = teardown);

static void commit_blocks(uint64_t count)
{
    struct cons_block block;
    struct cons_cert cert;
    cons_block_init(&block, ids, 8);
    for (uint64_t h = cons_datadir_height(&dd) + 1; h <= count; h++) {
        const uint8_t *prev = h == 1 ? dd.genesis_hash : cons_datadir_head_hash(&dd);
        cr_assert_eq(store_chain_make(&block, &cert, "dd-test", h, prev, 2,
                                      (const uint8_t(*)[CONS_SK_BYTES])keys.sk, 4, 0, 3), 0);
        cr_assert_eq(cons_datadir_commit(&dd, &block, &cert), 0);
    }
}

Test(cons_datadir, creates_reopens_and_reads_back)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cons_datadir_height(&dd), 0);
    cr_assert_eq(dd.valset.count, 4);
    cr_assert_eq(dd.valset.quorum, 3);
    commit_blocks(5);
    cons_datadir_close(&dd);
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cons_datadir_height(&dd), 5);
    const struct cons_block *block;
    const struct cons_cert *cert;
    cr_assert_eq(cons_datadir_read(&dd, 3, &block, &cert), 0);
    cr_assert_eq(block->header.height, 3);
    cr_assert_eq(cert->height, 3);
    cr_assert_eq(cons_datadir_read(&dd, 6, &block, &cert), DC_ENOTFOUND);
    cons_datadir_close(&dd);
}

Test(cons_datadir, a_second_opener_is_refused)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cons_datadir_open(&second, dir, genesis_path, NULL, err, sizeof(err)),
                 -EWOULDBLOCK);
    cr_assert(strstr(err, "in use by another process") != NULL, "%s", err);
    cons_datadir_close(&dd);
    cr_assert_eq(cons_datadir_open(&second, dir, genesis_path, NULL, err, sizeof(err)), 0, "%s",
                 err);
    cons_datadir_close(&second);
}

Test(cons_datadir, another_chains_directory_is_refused)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, NULL, err, sizeof(err)), 0, "%s", err);
    commit_blocks(2);
    cons_datadir_close(&dd);
    /* The same validators asking for a larger quorum: another genesis hash, another chain. */
    struct cons_genesis g;
    cr_assert_eq(cons_genesis_load(&g, genesis_path, err, sizeof(err)), 0);
    g.required_confirmations = 4;
    unlink(genesis_path);
    cr_assert_eq(cons_genesis_write(&g, genesis_path), 0);
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, NULL, err, sizeof(err)), DC_ECORRUPT);
    cr_assert(strstr(err, "does not start at this genesis") != NULL, "%s", err);
}

Test(cons_datadir, a_missing_genesis_is_named)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, NULL, NULL, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "genesis.toml: cannot open") != NULL, "%s", err);
}

Test(cons_datadir, persisted_records_are_synced_before_send_and_pruned_by_commit)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, NULL, err, sizeof(err)), 0, "%s", err);
    struct cons_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.kind = CONS_MSG_VOTE;
    msg.vote.type = CONS_VOTE_PREVOTE;
    msg.vote.height = 1;
    cons_vote_sign(&msg.vote, "dd-test", keys.sk[0]);
    cr_assert_eq(cons_datadir_persist(&dd, &msg), 0);
    cr_assert_eq(cons_wal_synced_seq(&dd.wal), 0, "persist alone is not durable");
    cr_assert_eq(cons_datadir_before_send(&dd), 0);
    cr_assert_eq(cons_wal_synced_seq(&dd.wal), 1);
    commit_blocks(1);
    cr_assert_eq(cons_wal_next_seq(&dd.wal), 2);
    cons_datadir_close(&dd);
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, NULL, err, sizeof(err)), 0, "%s", err);
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    cons_wal_cursor_init(&dd.wal, &cursor);
    cr_assert_eq(cons_wal_next(&dd.wal, &cursor, &rec, dd.record, CONS_STORE_PAYLOAD_BYTES_MAX),
                 0, "the committed height's votes were pruned");
    cons_datadir_close(&dd);
}

/* A long run: every commit resets the vote WAL, so its size never grows with the chain. */
Test(cons_datadir, the_vote_wal_stays_bounded_over_many_commits)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, NULL, err, sizeof(err)), 0, "%s", err);
    uint64_t most = 0;
    for (uint64_t h = 1; h <= 300; h++) {
        struct cons_msg msg;
        memset(&msg, 0, sizeof(msg));
        msg.kind = CONS_MSG_VOTE;
        msg.vote.height = h;
        for (uint32_t round = 0; round < 3; round++) { /* a few rounds of votes per height */
            msg.vote.round = round;
            msg.vote.type = round % 2 == 0 ? CONS_VOTE_PREVOTE : CONS_VOTE_PRECOMMIT;
            cons_vote_sign(&msg.vote, "dd-test", keys.sk[0]);
            cr_assert_eq(cons_datadir_persist(&dd, &msg), 0);
            cr_assert_eq(cons_datadir_before_send(&dd), 0);
        }
        uint64_t bytes = cons_datadir_wal_bytes(&dd);
        most = bytes > most ? bytes : most;
        commit_blocks(h);
        cr_assert_eq(cons_datadir_wal_bytes(&dd), CONS_WAL_FILE_HEADER_BYTES, "height %llu",
                     (unsigned long long)h);
    }
    cr_assert_lt(most, 1024, "one height's votes at most");
    char path[200];
    snprintf(path, sizeof(path), "%s/%s", dir, CONS_WAL_VOTES_FILE_NAME);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq((uint64_t)st.st_size, CONS_WAL_FILE_HEADER_BYTES, "on disk too");
    cons_datadir_close(&dd);
}

/* The settings reach the store: small segments, pruned by blocks, reported in bytes. */
Test(cons_datadir, settings_segment_and_prune_the_store)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    struct cons_datadir_settings settings = { .segment_bytes = 2048, .retain_blocks = 20 };
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, &settings, err, sizeof(err)), 0,
                 "%s", err);
    commit_blocks(100);
    uint64_t oldest = cons_datadir_oldest_height(&dd);
    cr_assert_gt(oldest, 1);
    cr_assert_leq(oldest, 81);
    const struct cons_block *block;
    const struct cons_cert *cert;
    cr_assert_eq(cons_datadir_read(&dd, oldest - 1, &block, &cert), DC_EPRUNED);
    cr_assert_eq(cons_datadir_read(&dd, oldest, &block, &cert), 0);
    uint64_t bytes = cons_datadir_store_bytes(&dd);
    cons_datadir_close(&dd);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "test $(cat %s/blocks-*.log | wc -c) -eq %llu", dir,
             (unsigned long long)bytes);
    cr_assert_eq(system(cmd), 0, "store bytes = the files' sizes");
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, &settings, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(cons_datadir_height(&dd), 100);
    cr_assert_eq(cons_datadir_oldest_height(&dd), oldest);
    cons_datadir_close(&dd);
}
