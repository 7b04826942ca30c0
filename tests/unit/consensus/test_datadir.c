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
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cons_datadir_height(&dd), 0);
    cr_assert_eq(dd.valset.count, 4);
    cr_assert_eq(dd.valset.quorum, 3);
    commit_blocks(5);
    cons_datadir_close(&dd);
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, err, sizeof(err)), 0, "%s", err);
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
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cons_datadir_open(&second, dir, genesis_path, err, sizeof(err)), -EWOULDBLOCK);
    cr_assert(strstr(err, "in use by another process") != NULL, "%s", err);
    cons_datadir_close(&dd);
    cr_assert_eq(cons_datadir_open(&second, dir, genesis_path, err, sizeof(err)), 0, "%s", err);
    cons_datadir_close(&second);
}

Test(cons_datadir, another_chains_directory_is_refused)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, err, sizeof(err)), 0, "%s", err);
    commit_blocks(2);
    cons_datadir_close(&dd);
    /* The same validators asking for a larger quorum: another genesis hash, another chain. */
    struct cons_genesis g;
    cr_assert_eq(cons_genesis_load(&g, genesis_path, err, sizeof(err)), 0);
    g.required_confirmations = 4;
    unlink(genesis_path);
    cr_assert_eq(cons_genesis_write(&g, genesis_path), 0);
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, err, sizeof(err)), DC_ECORRUPT);
    cr_assert(strstr(err, "does not start at this genesis") != NULL, "%s", err);
}

Test(cons_datadir, a_missing_genesis_is_named)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, NULL, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "genesis.toml: cannot open") != NULL, "%s", err);
}

Test(cons_datadir, persisted_records_are_synced_before_send_and_pruned_by_commit)
{
    char err[CONS_DATADIR_ERROR_BYTES];
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, err, sizeof(err)), 0, "%s", err);
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
    cr_assert_eq(cons_datadir_open(&dd, dir, genesis_path, err, sizeof(err)), 0, "%s", err);
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    cons_wal_cursor_init(&dd.wal, &cursor);
    cr_assert_eq(cons_wal_next(&dd.wal, &cursor, &rec, dd.record, CONS_STORE_PAYLOAD_BYTES_MAX),
                 0, "the committed height's votes were pruned");
    cons_datadir_close(&dd);
}
