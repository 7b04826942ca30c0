/*
 * libFuzzer target for storage recovery (consensus/wal.c, consensus/store.c): the input is
 * the whole content of a log file on a memory disk. The first byte picks the reader (even:
 * the vote WAL, odd: the block store, read-write or strict by bit 1). Whatever the bytes,
 * opening returns an error or a log whose every record reads back; a recovered log opens
 * again strictly with the same records (recovery is idempotent and leaves a clean file).
 */
#include "consensus/store.h"
#include "consensus/wal.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"

#include <stdint.h>
#include <string.h>

#define DISK_BYTES (1u << 20)
#define PAYLOAD_MAX 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t disk_bytes[DISK_BYTES];
static uint8_t buffer[8192];
static uint8_t payload[PAYLOAD_MAX];

static void fuzz_wal(struct cons_disk_mem *mem, unsigned flags)
{
    struct cons_wal wal;
    struct cons_wal_report report;
    struct cons_wal_config config = { .kind = CONS_WAL_KIND_VOTES, .payload_bytes_max = PAYLOAD_MAX,
                                      .buffer = buffer, .buffer_bytes = sizeof(buffer),
                                      .flags = flags, .first_seq = 1 };
    if (cons_wal_open(&wal, cons_disk_mem_disk(mem), &config, &report) != 0) {
        DC_ASSERT(report.why != NULL || (flags & CONS_WAL_STRICT) == 0);
        return;
    }
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    cons_wal_cursor_init(&wal, &cursor);
    uint64_t count = 0;
    while (cons_wal_next(&wal, &cursor, &rec, payload, sizeof(payload)) == 1) {
        count++;
    }
    DC_ASSERT(count == report.records);
    config.flags = CONS_WAL_STRICT;
    struct cons_wal_report again;
    DC_ASSERT(cons_wal_open(&wal, cons_disk_mem_disk(mem), &config, &again) == 0);
    DC_ASSERT(again.records == report.records);
}

static void fuzz_store(struct cons_disk_mem *mem, unsigned flags)
{
    static struct cons_store store;
    struct cons_store_problem problem;
    memset(&problem, 0, sizeof(problem));
    if (cons_store_open(&store, cons_disk_mem_disk(mem), flags, &problem) != 0) {
        return;
    }
    /* Verify against block 1's own chain and parent, so the walk reaches the certificates. */
    static uint8_t ids[CONS_BLOCK_IDS_MAX][CONS_ID_BYTES];
    static struct cons_cert cert;
    static struct cons_valset set;
    static const uint8_t keys[4][CONS_PK_BYTES] = { { 1 }, { 2 }, { 3 }, { 4 } };
    struct cons_block block;
    char chain[CONS_CHAIN_ID_MAX + 1] = "fuzz";
    uint8_t genesis_hash[CONS_HASH_BYTES] = { 0 };
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    if (cons_store_read(&store, 1, &block, &cert) == 0) {
        memcpy(chain, block.header.chain_id, block.header.chain_id_len);
        chain[block.header.chain_id_len] = '\0';
        memcpy(genesis_hash, block.header.prev_hash, CONS_HASH_BYTES);
    }
    DC_ASSERT(cons_valset_init(&set, keys, 4, 0) == 0);
    int rc = cons_store_verify(&store, &set, chain, genesis_hash, &problem);
    DC_ASSERT(rc == 0 || problem.why[0] != '\0');
    cons_store_fini(&store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_log_set_level(DC_LOG_ERROR + 1);
    if (size < 1 || size - 1 > DISK_BYTES) {
        return 0;
    }
    struct cons_disk_mem mem;
    cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
    memcpy(disk_bytes, data + 1, size - 1);
    mem.len = size - 1;
    mem.durable_len = mem.len;
    int strict = (data[0] & 2) != 0;
    if ((data[0] & 1) == 0) {
        fuzz_wal(&mem, strict ? CONS_WAL_STRICT : 0);
    } else {
        fuzz_store(&mem, strict ? CONS_STORE_READONLY : 0);
    }
    return 0;
}
