#include "consensus/store.h"

#include "common/dc_err.h"
#include "common/dc_log.h"
#include "cons_test_keys.h"
#include "store_chain.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_BYTES (256u << 10)
#define FILES 256u
#define CHAIN "store-test"
#define IDS 5u
#define SEG1 "blocks-000000000001.log"

static uint8_t dir_bytes[(size_t)FILES * FILE_BYTES];
static uint8_t snapshot[FILE_BYTES];
static uint8_t ids[CONS_BLOCK_IDS_MAX][CONS_ID_BYTES];
static struct test_keys keys;
static struct cons_dir_mem dm;
static const uint8_t genesis_hash[CONS_HASH_BYTES] = { 0x42, 0x42, 0x42 };

static void quiet(void)
{
    dc_log_set_level(DC_LOG_ERROR + 1);
}

static struct cons_dir dir(void)
{
    return cons_dir_mem_dir(&dm);
}

static int store_open(struct cons_store *store, unsigned flags, uint64_t segment_bytes,
                      uint64_t retain_blocks, uint64_t retain_bytes,
                      struct cons_store_problem *problem)
{
    struct cons_store_config config = { .flags = flags, .segment_bytes = segment_bytes,
                                        .retain_blocks = retain_blocks,
                                        .retain_bytes = retain_bytes };
    return cons_store_open(store, dir(), &config, problem);
}

static int open_plain(struct cons_store *store, unsigned flags, struct cons_store_problem *problem)
{
    return store_open(store, flags, 0, 0, 0, problem);
}

/* Append heights head+1..count to an open store, every certificate signed by 3 of 4. */
static void grow(struct cons_store *store, uint64_t count)
{
    struct cons_block block;
    struct cons_cert cert;
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    uint8_t prev[CONS_HASH_BYTES];
    memcpy(prev, cons_store_height(store) == 0 ? genesis_hash : cons_store_head_hash(store),
           sizeof(prev));
    for (uint64_t h = cons_store_height(store) + 1; h <= count; h++) {
        cr_assert_eq(store_chain_make(&block, &cert, CHAIN, h, prev, IDS,
                                      (const uint8_t(*)[CONS_SK_BYTES])keys.sk, 4,
                                      (uint32_t)h, 3), 0);
        cr_assert_eq(cons_store_append(store, &block, &cert), 0, "height %llu",
                     (unsigned long long)h);
        cons_block_hash(&block, prev);
        cr_assert_eq(memcmp(cons_store_head_hash(store), prev, sizeof(prev)), 0);
        cr_assert_eq(cons_store_sync(store), 0);
        cr_assert_eq(cons_store_prune(store), 0);
    }
    cr_assert_eq(cons_store_height(store), count);
}

/* A fresh store of `count` blocks in segments of `segment_bytes`, pruned as configured. */
static void build_with(uint64_t count, uint64_t segment_bytes, uint64_t retain_blocks,
                       uint64_t retain_bytes)
{
    cr_assert_eq(test_keys_make(&keys, 4), 0);
    cons_dir_mem_init(&dm, dir_bytes, FILE_BYTES, FILES);
    struct cons_store store;
    cr_assert_eq(store_open(&store, 0, segment_bytes, retain_blocks, retain_bytes, NULL), 0);
    grow(&store, count);
    cons_store_fini(&store);
}

static void build(uint64_t count)
{
    build_with(count, 0, 0, 0);
}

static struct cons_disk_mem *seg(uint64_t first)
{
    char name[CONS_DIR_NAME_BYTES];
    cons_store_segment_name(first, name);
    return cons_dir_mem_file(&dm, name);
}

/* File offset of height h's record in its segment, and the end of the file past the head. */
static uint64_t offset_of(uint64_t height)
{
    struct cons_store store;
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
    uint64_t offset = height > store.height
                          ? seg(store.segments[store.segment_count - 1].first_height)->len
                          : store.offsets[(height - 1) & (store.offsets_cap - 1)];
    cons_store_fini(&store);
    return offset;
}

/* Sum of the segment files' and the side file's lengths. */
static uint64_t files_bytes(void)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < FILES; i++) {
        if (dm.files[i].exists) {
            total += dm.files[i].mem.len;
        }
    }
    return total;
}

Test(cons_store, blocks_and_certificates_read_back_after_reopen)
{
    build(20);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, 0, NULL), 0);
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
    build(6);
    struct cons_store store;
    struct cons_store_problem problem;
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
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
    build(3);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, 0, NULL), 0);
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
    build(2);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, 0, NULL), 0);
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
    build(8);
    struct cons_disk_mem *mem = seg(1);
    uint64_t last = offset_of(8);
    uint64_t end = mem->len;
    memcpy(snapshot, mem->bytes, (size_t)end);
    for (uint64_t cut = last + 1; cut < end; cut += 11) {
        memcpy(mem->bytes, snapshot, (size_t)end);
        mem->len = cut;
        struct cons_store store;
        struct cons_store_problem problem;
        cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, &problem), DC_ECORRUPT);
        cr_assert_eq(problem.height, 8);
        cr_assert_str_eq(problem.file, SEG1);
        cr_assert_eq(open_plain(&store, 0, &problem), 0);
        cr_assert_eq(cons_store_height(&store), 7);
        cr_assert_eq(mem->len, last);
        cons_store_fini(&store);
    }
}

/* The promise behind `dchat chain verify`: one flipped byte anywhere is caught. */
Test(cons_store, any_flipped_byte_fails_open_or_verify, .init = quiet)
{
    build(4);
    struct cons_disk_mem *mem = seg(1);
    uint64_t end = mem->len;
    memcpy(snapshot, mem->bytes, (size_t)end);
    for (uint64_t at = 0; at < end; at++) {
        memcpy(mem->bytes, snapshot, (size_t)end);
        mem->bytes[at] ^= 0x04;
        struct cons_store store;
        struct cons_store_problem problem;
        int rc = open_plain(&store, CONS_STORE_READONLY, &problem);
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
    build(5);
    uint64_t third = offset_of(3);
    seg(1)->bytes[third + 40] ^= 0xff;
    struct cons_store store;
    struct cons_store_problem problem;
    cr_assert_eq(open_plain(&store, 0, &problem), DC_ECORRUPT);
    cr_assert_eq(problem.height, 3);
    cr_assert(strstr(problem.why, "checksum mismatch") != NULL, "%s", problem.why);
}

Test(cons_store, a_long_chain_indexes_and_reads_back)
{
    build_with(1100, 64u << 10, 0, 0);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, 0, NULL), 0);
    cr_assert_eq(cons_store_height(&store), 1100);
    cr_assert_gt(cons_store_segment_count(&store), 5);
    static uint8_t got_ids[IDS][CONS_ID_BYTES];
    struct cons_block got;
    struct cons_cert cert;
    cons_block_init(&got, got_ids, IDS);
    cr_assert_eq(cons_store_read(&store, 1077, &got, &cert), 0);
    cr_assert_eq(got.header.height, 1077);
    cons_store_fini(&store);
}

Test(cons_store, a_real_directory_round_trips)
{
    char path[128], cmd[160];
    snprintf(path, sizeof(path), "/tmp/dchat-test-store-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf %s", path);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(mkdir(path, 0700), 0);
    cr_assert_eq(test_keys_make(&keys, 4), 0);
    static struct cons_dir_fs fs;
    cr_assert_eq(cons_dir_fs_open(&fs, path, 0), 0);
    static struct cons_dir_fs other;
    cr_assert_eq(cons_dir_fs_open(&other, path, 0), -EWOULDBLOCK, "one writer per directory");
    struct cons_store store;
    struct cons_store_config config = { .segment_bytes = 65536 };
    cr_assert_eq(cons_store_open(&store, cons_dir_fs_dir(&fs), &config, NULL), 0);
    struct cons_block block;
    struct cons_cert cert;
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    uint8_t prev[CONS_HASH_BYTES];
    memcpy(prev, genesis_hash, sizeof(prev));
    for (uint64_t h = 1; h <= 3; h++) {
        store_chain_make(&block, &cert, CHAIN, h, prev, CONS_BLOCK_IDS_MAX,
                         (const uint8_t(*)[CONS_SK_BYTES])keys.sk, 4, 0, 4);
        cr_assert_eq(cons_store_append(&store, &block, &cert), 0, "the biggest block fits");
        cons_block_hash(&block, prev);
    }
    cr_assert_eq(cons_store_sync(&store), 0);
    cr_assert_eq(cons_store_segment_count(&store), 3, "a record bigger than a segment: its own");
    cons_store_fini(&store);
    cons_dir_fs_close(&fs);
    cr_assert_eq(cons_dir_fs_open(&fs, path, CONS_DISK_READONLY), 0);
    config.flags = CONS_STORE_READONLY;
    cr_assert_eq(cons_store_open(&store, cons_dir_fs_dir(&fs), &config, NULL), 0);
    cr_assert_eq(cons_store_height(&store), 3);
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem), 0,
                 "%s", problem.why);
    cons_store_fini(&store);
    cons_dir_fs_close(&fs);
    cr_assert_eq(system(cmd), 0);
}

/* ---- Segments ---- */

#define SMALL_SEGMENT 4096u

Test(cons_store, segments_roll_over_at_the_size_limit)
{
    build_with(60, SMALL_SEGMENT, 0, 0);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, 0, NULL), 0);
    cr_assert_eq(cons_store_height(&store), 60);
    uint32_t count = cons_store_segment_count(&store);
    cr_assert_gt(count, 5);
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t first = store.segments[i].first_height;
        struct cons_disk_mem *mem = seg(first);
        cr_assert_not_null(mem, "segment %u (height %llu) has its file", i,
                           (unsigned long long)first);
        cr_assert_leq(mem->len, SMALL_SEGMENT, "segment %u over the limit", i);
        if (i + 1 < count) {
            /* it was full: the next record would not have fit */
            uint64_t next = store.segments[i + 1].first_height;
            cr_assert_gt(mem->len + (mem->len - CONS_WAL_FILE_HEADER_BYTES) /
                                        (next - first), SMALL_SEGMENT - 64);
        }
        total += mem->len;
    }
    cr_assert_eq(store.segments[0].first_height, 1);
    cr_assert_eq(cons_store_bytes(&store), total);
    cr_assert_eq(cons_store_oldest(&store), 1);
    static uint8_t got_ids[IDS][CONS_ID_BYTES];
    struct cons_block got;
    struct cons_cert cert;
    cons_block_init(&got, got_ids, IDS);
    for (uint64_t h = 60; h >= 1; h--) { /* every segment, attached in turn */
        cr_assert_eq(cons_store_read(&store, h, &got, &cert), 0, "height %llu",
                     (unsigned long long)h);
        cr_assert_eq(got.header.height, h);
    }
    grow(&store, 70);
    cons_store_fini(&store);
    cr_assert_eq(store_open(&store, CONS_STORE_READONLY, SMALL_SEGMENT, 0, 0, NULL), 0);
    cr_assert_eq(cons_store_height(&store), 70);
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem), 0, "%s",
                 problem.why);
    cons_store_fini(&store);
}

Test(cons_store, reopens_after_many_segments)
{
    build_with(400, 2048, 0, 0);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, 0, NULL), 0);
    cr_assert_eq(cons_store_height(&store), 400);
    cr_assert_gt(cons_store_segment_count(&store), 100);
    cr_assert_eq(store.ids_total, 400 * IDS);
    cons_store_fini(&store);
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem), 0, "%s",
                 problem.why);
    cons_store_fini(&store);
}

Test(cons_store, a_torn_tail_in_the_last_segment_is_cut, .init = quiet)
{
    build_with(40, SMALL_SEGMENT, 0, 0);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
    uint64_t last_first = store.segments[store.segment_count - 1].first_height;
    cons_store_fini(&store);
    cr_assert_lt(last_first, 40, "the last segment holds more than height 40");
    struct cons_disk_mem *mem = seg(last_first);
    uint64_t last = offset_of(40);
    uint64_t end = mem->len;
    memcpy(snapshot, mem->bytes, (size_t)end);
    for (uint64_t cut = last + 1; cut < end; cut += 37) {
        memcpy(mem->bytes, snapshot, (size_t)end);
        mem->len = cut;
        struct cons_store_problem problem;
        cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, &problem), DC_ECORRUPT);
        cr_assert_eq(problem.height, 40);
        cr_assert_eq(open_plain(&store, 0, &problem), 0);
        cr_assert_eq(cons_store_height(&store), 39);
        cr_assert_eq(mem->len, last);
        cons_store_fini(&store);
    }
}

Test(cons_store, a_torn_tail_in_an_earlier_segment_is_corruption_naming_the_file, .init = quiet)
{
    build_with(40, SMALL_SEGMENT, 0, 0);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
    uint64_t second = store.segments[1].first_height;
    cons_store_fini(&store);
    seg(1)->len -= 5; /* the last record of the first segment */
    struct cons_store_problem problem;
    cr_assert_eq(open_plain(&store, 0, &problem), DC_ECORRUPT);
    cr_assert_str_eq(problem.file, SEG1);
    cr_assert_eq(problem.height, second - 1);
    cr_assert(strstr(problem.why, "incomplete record") != NULL, "%s", problem.why);
}

Test(cons_store, damage_in_an_earlier_segment_names_the_file, .init = quiet)
{
    build_with(40, SMALL_SEGMENT, 0, 0);
    uint64_t off = offset_of(2);
    seg(1)->bytes[off + 60] ^= 0x01;
    struct cons_store store;
    struct cons_store_problem problem;
    cr_assert_eq(open_plain(&store, 0, &problem), DC_ECORRUPT);
    cr_assert_str_eq(problem.file, SEG1);
    cr_assert_eq(problem.height, 2);
    cr_assert(strstr(problem.why, "checksum mismatch") != NULL, "%s", problem.why);
}

Test(cons_store, a_missing_or_overlapping_middle_segment_is_corruption, .init = quiet)
{
    build_with(40, SMALL_SEGMENT, 0, 0);
    struct cons_store store;
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
    cr_assert_geq(store.segment_count, 4);
    uint64_t second = store.segments[1].first_height, third = store.segments[2].first_height;
    cons_store_fini(&store);
    char name2[CONS_DIR_NAME_BYTES], name3[CONS_DIR_NAME_BYTES], moved[CONS_DIR_NAME_BYTES];
    cons_store_segment_name(second, name2);
    cons_store_segment_name(third, name3);
    cons_store_segment_name(second - 1, moved);
    struct cons_dir d = dir();
    cr_assert_eq(d.ops->rename(d.ctx, name2, moved), 0);
    struct cons_store_problem problem;
    cr_assert_eq(open_plain(&store, 0, &problem), DC_ECORRUPT, "an overlap");
    cr_assert_str_eq(problem.file, moved);
    cr_assert(strstr(problem.why, "overlaps " SEG1) != NULL, "%s", problem.why);
    cr_assert_eq(d.ops->rename(d.ctx, moved, name2), 0);
    cr_assert_eq(open_plain(&store, 0, NULL), 0, "back in place");
    cons_store_fini(&store);
    cr_assert_eq(d.ops->unlink(d.ctx, name2), 0);
    cr_assert_eq(open_plain(&store, 0, &problem), DC_ECORRUPT);
    cr_assert_str_eq(problem.file, name3);
    cr_assert_eq(problem.height, second);
    cr_assert(strstr(problem.why, "missing") != NULL, "%s", problem.why);
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, &problem), DC_ECORRUPT);
}

/* ---- Pruning ---- */

static void check_pruned(struct cons_store *store, uint64_t height)
{
    uint64_t oldest = cons_store_oldest(store);
    cr_assert_gt(oldest, 1, "something was pruned");
    cr_assert_eq(cons_store_height(store), height);
    static uint8_t got_ids[IDS][CONS_ID_BYTES];
    struct cons_block got;
    struct cons_cert cert;
    cons_block_init(&got, got_ids, IDS);
    cr_assert_eq(cons_store_read(store, 1, &got, &cert), DC_EPRUNED);
    cr_assert_eq(cons_store_read(store, oldest - 1, &got, &cert), DC_EPRUNED);
    cr_assert_eq(cons_store_read(store, oldest, &got, &cert), 0);
    cr_assert_eq(cons_store_read(store, height, &got, &cert), 0);
    cr_assert_eq(cons_store_read(store, height + 1, &got, &cert), DC_ENOTFOUND);
    cr_assert_not_null(cons_dir_mem_file(&dm, CONS_STORE_PRUNED_FILE_NAME));
    cr_assert_null(seg(1), "the first segment is gone");
    cr_assert_not_null(seg(store->segments[store->segment_count - 1].first_height));
    cr_assert_eq(cons_store_first_header(store)->height, 1);
    cr_assert_eq(memcmp(cons_store_first_header(store)->prev_hash, genesis_hash,
                        CONS_HASH_BYTES), 0);
    cr_assert_eq(cons_store_bytes(store), files_bytes());
    cr_assert_eq(store->ids_total, height * IDS, "pruned blocks still counted");
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(store, &keys.set, CHAIN, genesis_hash, &problem), 0, "%s",
                 problem.why);
    uint8_t other[CONS_HASH_BYTES] = { 9 };
    cr_assert_eq(cons_store_verify(store, &keys.set, CHAIN, other, &problem), DC_ECORRUPT);
    cr_assert_eq(problem.height, 1, "the pruned headers still link to the genesis");
    cr_assert_str_eq(problem.file, CONS_STORE_PRUNED_FILE_NAME);
}

Test(cons_store, pruning_by_blocks_keeps_the_newest_and_every_header)
{
    build_with(100, SMALL_SEGMENT, 10, 0);
    struct cons_store store;
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 10, 0, NULL), 0);
    check_pruned(&store, 100);
    cr_assert_leq(cons_store_oldest(&store), 91, "the newest 10 blocks are whole");
    uint64_t last_of_first = store.segments[1].first_height - 1;
    cr_assert_lt(100 - last_of_first, 10, "the oldest segment kept is not beyond the limit");
    grow(&store, 150);
    check_pruned(&store, 150);
    cons_store_fini(&store);
    cr_assert_eq(store_open(&store, CONS_STORE_READONLY, 0, 0, 0, NULL), 0);
    check_pruned(&store, 150);
    cons_store_fini(&store);
}

Test(cons_store, pruning_by_bytes_keeps_the_head_segment)
{
    build_with(100, SMALL_SEGMENT, 0, 3 * SMALL_SEGMENT);
    struct cons_store store;
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 0, 3 * SMALL_SEGMENT, NULL), 0);
    check_pruned(&store, 100);
    uint64_t side = cons_dir_mem_file(&dm, CONS_STORE_PRUNED_FILE_NAME)->len;
    cr_assert_leq(cons_store_bytes(&store) - side, 3 * SMALL_SEGMENT);
    cons_store_fini(&store);
    /* A limit below one segment keeps the head segment all the same. */
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 0, 1, NULL), 0);
    grow(&store, 130);
    cr_assert_eq(cons_store_segment_count(&store), 1);
    check_pruned(&store, 130);
    cons_store_fini(&store);
}

Test(cons_store, damage_to_the_pruned_headers_fails_open_or_verify, .init = quiet)
{
    build_with(60, SMALL_SEGMENT, 5, 0);
    struct cons_disk_mem *mem = cons_dir_mem_file(&dm, CONS_STORE_PRUNED_FILE_NAME);
    cr_assert_not_null(mem);
    uint64_t end = mem->len;
    memcpy(snapshot, mem->bytes, (size_t)end);
    for (uint64_t at = 0; at < end; at += 13) {
        memcpy(mem->bytes, snapshot, (size_t)end);
        mem->bytes[at] ^= 0x20;
        struct cons_store store;
        struct cons_store_problem problem;
        int rc = open_plain(&store, CONS_STORE_READONLY, &problem);
        if (rc == 0) {
            rc = cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem);
            cons_store_fini(&store);
        }
        cr_assert_neq(rc, 0, "flipped byte %llu of the side file went unnoticed",
                      (unsigned long long)at);
        cr_assert_str_eq(problem.file, CONS_STORE_PRUNED_FILE_NAME, "byte %llu: %s",
                         (unsigned long long)at, problem.why);
    }
    memcpy(mem->bytes, snapshot, (size_t)end);
    mem->len = end - 3; /* the side file must be whole for a read-only open */
    struct cons_store store;
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), DC_ECORRUPT);
}

Test(cons_store, a_crash_between_the_side_file_and_the_unlink_leaves_a_store_that_opens,
     .init = quiet)
{
    build_with(60, SMALL_SEGMENT, 0, 0);
    struct cons_store store;
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 10, 0, NULL), 0);
    dm.fail_next_unlink = 1;
    cr_assert_eq(cons_store_prune(&store), -EIO, "side file synced, segment not unlinked");
    cons_store_fini(&store); /* the crash */
    cr_assert_not_null(seg(1));
    cr_assert_not_null(cons_dir_mem_file(&dm, CONS_STORE_PRUNED_FILE_NAME));
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0, "headers in both files");
    cr_assert_eq(cons_store_oldest(&store), 1);
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem), 0, "%s",
                 problem.why);
    cons_store_fini(&store);
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 10, 0, NULL), 0);
    cr_assert_eq(cons_store_prune(&store), 0, "the prune finishes");
    check_pruned(&store, 60);
    /* A crash while the side file is written: its torn tail is cut, the segment stays. */
    grow(&store, 65);
    uint64_t oldest = cons_store_oldest(&store);
    cons_store_fini(&store);
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 0, 0, NULL), 0);
    grow(&store, 100);
    cons_store_fini(&store);
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 10, 0, NULL), 0);
    struct cons_disk_mem *side = cons_dir_mem_file(&dm, CONS_STORE_PRUNED_FILE_NAME);
    side->fail_next_sync = 1;
    cr_assert_eq(cons_store_prune(&store), -EIO);
    cons_store_fini(&store);
    cons_dir_mem_crash(&dm, 37);
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 10, 0, NULL), 0);
    cr_assert_eq(cons_store_oldest(&store), oldest, "nothing was unlinked");
    cr_assert_eq(cons_store_prune(&store), 0);
    check_pruned(&store, 100);
    cons_store_fini(&store);
}

Test(cons_store, a_missing_side_file_or_a_gap_after_it_is_corruption, .init = quiet)
{
    build_with(60, SMALL_SEGMENT, 10, 0);
    struct cons_dir d = dir();
    cr_assert_eq(d.ops->rename(d.ctx, CONS_STORE_PRUNED_FILE_NAME, "elsewhere"), 0);
    struct cons_store store;
    struct cons_store_problem problem;
    cr_assert_eq(open_plain(&store, 0, &problem), DC_ECORRUPT);
    cr_assert_eq(problem.height, 1);
    cr_assert(strstr(problem.why, "is absent") != NULL, "%s", problem.why);
    cr_assert_eq(d.ops->rename(d.ctx, "elsewhere", CONS_STORE_PRUNED_FILE_NAME), 0);
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
    uint64_t oldest = cons_store_oldest(&store);
    cons_store_fini(&store);
    char name[CONS_DIR_NAME_BYTES];
    cons_store_segment_name(oldest, name);
    cr_assert_eq(d.ops->unlink(d.ctx, name), 0);
    cr_assert_eq(open_plain(&store, 0, &problem), DC_ECORRUPT);
    cr_assert_eq(problem.height, oldest);
    cr_assert(strstr(problem.why, "missing") != NULL, "%s", problem.why);
}

/* ---- The store before segments: one blocks.log ---- */

Test(cons_store, the_old_single_file_store_opens)
{
    build(12);
    struct cons_dir d = dir();
    cr_assert_eq(d.ops->rename(d.ctx, SEG1, CONS_STORE_FILE_NAME), 0, "what the old code wrote");
    struct cons_store store;
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
    cr_assert_eq(cons_store_height(&store), 12);
    struct cons_store_problem problem;
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem), 0, "%s",
                 problem.why);
    cons_store_fini(&store);
    cr_assert_not_null(cons_dir_mem_file(&dm, CONS_STORE_FILE_NAME), "read-only: not renamed");
    cr_assert_eq(store_open(&store, 0, SMALL_SEGMENT, 0, 0, NULL), 0);
    cr_assert_null(cons_dir_mem_file(&dm, CONS_STORE_FILE_NAME));
    cr_assert_not_null(seg(1), "migrated once: renamed to the first segment");
    cr_assert_eq(cons_store_height(&store), 12);
    grow(&store, 40);
    cr_assert_gt(cons_store_segment_count(&store), 1);
    cons_store_fini(&store);
    cr_assert_eq(open_plain(&store, CONS_STORE_READONLY, NULL), 0);
    cr_assert_eq(cons_store_verify(&store, &keys.set, CHAIN, genesis_hash, &problem), 0, "%s",
                 problem.why);
    cons_store_fini(&store);
    /* Both names at once: an operator's mix-up, refused. */
    struct cons_disk disk;
    cr_assert_eq(d.ops->open(d.ctx, CONS_STORE_FILE_NAME, CONS_DISK_CREATE, &disk), 0);
    cr_assert_eq(open_plain(&store, 0, &problem), DC_ECORRUPT);
    cr_assert_str_eq(problem.file, CONS_STORE_FILE_NAME);
}
