#include "consensus/store.h"

#include "common/dc_err.h"
#include "common/dc_log.h"
#include "cons_test_keys.h"
#include "store_chain.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DISK_BYTES (4u << 20)
#define CHAIN "store-test"
#define IDS 5u

static uint8_t disk_bytes[DISK_BYTES];
static uint8_t snapshot[DISK_BYTES];
static uint8_t ids[CONS_BLOCK_IDS_MAX][CONS_ID_BYTES];
static struct test_keys keys;
static const uint8_t genesis_hash[CONS_HASH_BYTES] = { 0x42, 0x42, 0x42 };

static void quiet(void)
{
    dc_log_set_level(DC_LOG_ERROR + 1);
}

/* A store of `count` blocks on `mem`, every certificate signed by 3 of 4. */
static void build(struct cons_disk_mem *mem, uint64_t count)
{
    cr_assert_eq(test_keys_make(&keys, 4), 0);
    cons_disk_mem_init(mem, disk_bytes, sizeof(disk_bytes));
    struct cons_store store;
    cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(mem), 0, NULL), 0);
    struct cons_block block;
    struct cons_cert cert;
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    uint8_t prev[CONS_HASH_BYTES];
    memcpy(prev, genesis_hash, sizeof(prev));
    for (uint64_t h = 1; h <= count; h++) {
        cr_assert_eq(store_chain_make(&block, &cert, CHAIN, h, prev, IDS,
                                      (const uint8_t(*)[CONS_SK_BYTES])keys.sk, 4,
                                      (uint32_t)h, 3), 0);
        cr_assert_eq(cons_store_append(&store, &block, &cert), 0, "height %llu",
                     (unsigned long long)h);
        cons_block_hash(&block, prev);
        cr_assert_eq(memcmp(cons_store_head_hash(&store), prev, sizeof(prev)), 0);
    }
    cr_assert_eq(cons_store_sync(&store), 0);
    cr_assert_eq(cons_store_height(&store), count);
    cons_store_fini(&store);
}

/* File offset of height h's record, and the end of the file. */
static uint64_t offset_of(struct cons_disk_mem *mem, uint64_t height)
{
    struct cons_store store;
    cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(mem), CONS_STORE_READONLY, NULL), 0);
    uint64_t offset = height > store.height ? mem->len : store.offsets[height - 1];
    cons_store_fini(&store);
    return offset;
}

Test(cons_store, blocks_and_certificates_read_back_after_reopen)
{
    struct cons_disk_mem mem;
    build(&mem, 20);
    struct cons_store store;
    cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(&mem), 0, NULL), 0);
    cr_assert_eq(cons_store_height(&store), 20);
    static uint8_t got_ids[IDS][CONS_ID_BYTES];
    struct cons_block got, want;
    struct cons_cert got_cert, want_cert;
    cons_block_init(&got, got_ids, IDS);
    cons_block_init(&want, ids, CONS_BLOCK_IDS_MAX);
    uint8_t prev[CONS_HASH_BYTES];
    memcpy(prev, genesis_hash, sizeof(prev));
    for (uint64_t h = 1; h <= 20; h++) {
        store_chain_make(&want, &want_cert, CHAIN, h, prev, IDS,
                         (const uint8_t(*)[CONS_SK_BYTES])keys.sk, 4, (uint32_t)h, 3);
        cr_assert_eq(cons_store_read(&store, h, &got, &got_cert), 0);
        uint8_t a[CONS_HASH_BYTES], b[CONS_HASH_BYTES];
        cons_block_hash(&got, a);
        cons_block_hash(&want, b);
        cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "height %llu", (unsigned long long)h);
        cr_assert_eq(memcmp(got.ids, want.ids, IDS * CONS_ID_BYTES), 0);
        cr_assert_eq(got_cert.count, 3);
        cr_assert_eq(memcmp(&got_cert.sigs, &want_cert.sigs, 3 * sizeof(got_cert.sigs[0])), 0);
        memcpy(prev, b, sizeof(prev));
    }
    cr_assert_eq(memcmp(cons_store_head_hash(&store), prev, sizeof(prev)), 0);
    cr_assert_eq(cons_store_read(&store, 0, &got, &got_cert), DC_ENOTFOUND);
    cr_assert_eq(cons_store_read(&store, 21, &got, &got_cert), DC_ENOTFOUND);
    static uint8_t one_id[1][CONS_ID_BYTES];
    cons_block_init(&got, one_id, 1);
    cr_assert_eq(cons_store_read(&store, 3, &got, &got_cert), DC_ETOOBIG);
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem), 0);
    cons_store_fini(&store);
}

Test(cons_store, verify_names_the_height_and_the_problem)
{
    struct cons_disk_mem mem;
    build(&mem, 6);
    struct cons_store store;
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(&mem), CONS_STORE_READONLY, NULL),
                 0);
    cr_assert_eq(cons_store_verify(&store, &keys.set, "other-chain", genesis_hash, &problem),
                 DC_ECORRUPT);
    cr_assert_eq(problem.height, 1);
    cr_assert(strstr(problem.why, "chain 'store-test'") != NULL, "%s", problem.why);
    uint8_t other_genesis[CONS_HASH_BYTES] = { 1 };
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, other_genesis, &problem),
                 DC_ECORRUPT);
    cr_assert(strstr(problem.why, "genesis") != NULL, "%s", problem.why);
    struct test_keys strangers;
    test_keys_make(&strangers, 7); /* the same first keys, a bigger set: quorum 5 */
    cr_assert_eq(cons_store_verify(&store, &strangers.set, CHAIN, genesis_hash, &problem),
                 DC_EQUORUM);
    cr_assert_eq(problem.height, 1);
    cr_assert(strstr(problem.why, "does not verify") != NULL, "%s", problem.why);
    cons_store_fini(&store);
}

Test(cons_store, a_weak_certificate_is_stored_but_fails_verify)
{
    struct cons_disk_mem mem;
    build(&mem, 3);
    struct cons_store store;
    cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(&mem), 0, NULL), 0);
    struct cons_block block;
    struct cons_cert cert;
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    cr_assert_eq(store_chain_make(&block, &cert, CHAIN, 4, cons_store_head_hash(&store), IDS,
                                  (const uint8_t(*)[CONS_SK_BYTES])keys.sk, 4, 0, 2), 0);
    cr_assert_eq(cons_store_append(&store, &block, &cert), 0, "signatures are the caller's job");
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem),
                 DC_EQUORUM);
    cr_assert_eq(problem.height, 4);
    cons_store_fini(&store);
}

Test(cons_store, append_refuses_stale_gapped_and_unlinked_blocks)
{
    struct cons_disk_mem mem;
    build(&mem, 2);
    struct cons_store store;
    cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(&mem), 0, NULL), 0);
    struct cons_block block;
    struct cons_cert cert;
    const uint8_t(*sks)[CONS_SK_BYTES] = (const uint8_t(*)[CONS_SK_BYTES])keys.sk;
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    store_chain_make(&block, &cert, CHAIN, 2, genesis_hash, IDS, sks, 4, 0, 3);
    cr_assert_eq(cons_store_append(&store, &block, &cert), DC_ESTALE);
    store_chain_make(&block, &cert, CHAIN, 4, cons_store_head_hash(&store), IDS, sks, 4, 0, 3);
    cr_assert_eq(cons_store_append(&store, &block, &cert), DC_ERANGE);
    store_chain_make(&block, &cert, CHAIN, 3, genesis_hash, IDS, sks, 4, 0, 3);
    cr_assert_eq(cons_store_append(&store, &block, &cert), DC_ECONFLICT, "wrong prev_hash");
    store_chain_make(&block, &cert, CHAIN, 3, cons_store_head_hash(&store), IDS, sks, 4, 0, 3);
    cert.block_hash[0] ^= 1;
    cr_assert_eq(cons_store_append(&store, &block, &cert), DC_ECONFLICT, "cert for another block");
    cert.block_hash[0] ^= 1;
    cr_assert_eq(cons_store_append(&store, &block, &cert), 0);
    cr_assert_eq(cons_store_height(&store), 3);
    cons_store_fini(&store);
}

Test(cons_store, torn_last_append_is_cut_when_writable_and_reported_when_readonly,
     .init = quiet)
{
    struct cons_disk_mem mem;
    build(&mem, 8);
    uint64_t last = offset_of(&mem, 8);
    uint64_t end = mem.len;
    memcpy(snapshot, disk_bytes, (size_t)end);
    for (uint64_t cut = last + 1; cut < end; cut += 11) {
        memcpy(disk_bytes, snapshot, (size_t)end);
        mem.len = cut;
        struct cons_store store;
        struct cons_store_problem problem;
        cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(&mem), CONS_STORE_READONLY,
                                     &problem), DC_ECORRUPT);
        cr_assert_eq(problem.height, 8);
        cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(&mem), 0, &problem), 0);
        cr_assert_eq(cons_store_height(&store), 7);
        cr_assert_eq(mem.len, last);
        cons_store_fini(&store);
    }
}

/* The promise behind `dchat chain verify`: one flipped byte anywhere is caught. */
Test(cons_store, any_flipped_byte_fails_open_or_verify, .init = quiet)
{
    struct cons_disk_mem mem;
    build(&mem, 4);
    uint64_t end = mem.len;
    memcpy(snapshot, disk_bytes, (size_t)end);
    for (uint64_t at = 0; at < end; at++) {
        memcpy(disk_bytes, snapshot, (size_t)end);
        disk_bytes[at] ^= 0x04;
        struct cons_store store;
        struct cons_store_problem problem;
        int rc = cons_store_open(&store, cons_disk_mem_disk(&mem), CONS_STORE_READONLY,
                                 &problem);
        if (rc == 0) {
            rc = cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem);
            cons_store_fini(&store);
        }
        cr_assert_neq(rc, 0, "flipped byte %llu of %llu went unnoticed",
                      (unsigned long long)at, (unsigned long long)end);
        cr_assert(problem.why[0] != '\0');
        if (at >= CONS_WAL_FILE_HEADER_BYTES) {
            cr_assert(problem.height >= 1 && problem.height <= 4);
        }
    }
}

Test(cons_store, damage_before_the_tail_refuses_to_open, .init = quiet)
{
    struct cons_disk_mem mem;
    build(&mem, 5);
    uint64_t third = offset_of(&mem, 3);
    disk_bytes[third + 40] ^= 0xff;
    struct cons_store store;
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(&mem), 0, &problem), DC_ECORRUPT);
    cr_assert_eq(problem.height, 3);
    cr_assert(strstr(problem.why, "checksum mismatch") != NULL, "%s", problem.why);
}

Test(cons_store, a_long_chain_indexes_and_reads_back)
{
    struct cons_disk_mem mem;
    build(&mem, 1100);
    struct cons_store store;
    cr_assert_eq(cons_store_open(&store, cons_disk_mem_disk(&mem), 0, NULL), 0);
    cr_assert_eq(cons_store_height(&store), 1100);
    static uint8_t got_ids[IDS][CONS_ID_BYTES];
    struct cons_block got;
    struct cons_cert cert;
    cons_block_init(&got, got_ids, IDS);
    cr_assert_eq(cons_store_read(&store, 1077, &got, &cert), 0);
    cr_assert_eq(got.header.height, 1077);
    cons_store_fini(&store);
}

Test(cons_store, a_real_file_round_trips)
{
    char path[128];
    snprintf(path, sizeof(path), "/tmp/dchat-test-store-%d.blocks", (int)getpid());
    unlink(path);
    cr_assert_eq(test_keys_make(&keys, 4), 0);
    struct cons_disk_file file;
    cr_assert_eq(cons_disk_file_open(&file, path, CONS_DISK_CREATE), 0);
    struct cons_store store;
    cr_assert_eq(cons_store_open(&store, cons_disk_file_disk(&file), 0, NULL), 0);
    struct cons_block block;
    struct cons_cert cert;
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    store_chain_make(&block, &cert, CHAIN, 1, genesis_hash, CONS_BLOCK_IDS_MAX,
                     (const uint8_t(*)[CONS_SK_BYTES])keys.sk, 4, 0, 4);
    cr_assert_eq(cons_store_append(&store, &block, &cert), 0, "the biggest block fits");
    cr_assert_eq(cons_store_sync(&store), 0);
    cons_store_fini(&store);
    cons_disk_file_close(&file);
    cr_assert_eq(cons_disk_file_open(&file, path, CONS_DISK_READONLY), 0);
    cr_assert_eq(cons_store_open(&store, cons_disk_file_disk(&file), CONS_STORE_READONLY, NULL),
                 0);
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem), 0);
    cons_store_fini(&store);
    cons_disk_file_close(&file);
    unlink(path);
}
