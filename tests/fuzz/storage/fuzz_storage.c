/*
 * libFuzzer target for storage recovery (consensus/wal.c, consensus/store.c): the input is
 * the whole content of a log file on a memory disk. The first byte picks the reader (even:
 * the vote WAL, odd: the block store, read-write or strict by bit 1). Whatever the bytes,
 * opening returns an error or a log whose every record reads back; a recovered log opens
 * again strictly with the same records (recovery is idempotent and leaves a clean file).
 * For the block store, bit 2 names the file blocks.log (the store before segments) instead
 * of blocks-000000000001.log, and bit 3 splits the input at the u32 after the first byte:
 * that many bytes are blocks-pruned.log, the rest the segment of the height after the side
 * file's last record (so a pruned store opens; seeds store-pruned*). A writable open then
 * prunes (retain_blocks 1) and the store must reopen strictly with the same head.
 */
#include "consensus/store.h"
#include "consensus/wal.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DISK_BYTES (1u << 20)
#define STORE_FILES 4u
#define PAYLOAD_MAX 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t disk_bytes[DISK_BYTES];
static uint8_t dir_bytes[STORE_FILES * DISK_BYTES];
static struct cons_dir_mem dm;
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

static void verify_store(struct cons_store *store)
{
    /* Verify against block 1's own chain and parent, so the walk reaches the certificates. */
    static struct cons_valset set;
    static const uint8_t keys[4][CONS_PK_BYTES] = { { 1 }, { 2 }, { 3 }, { 4 } };
    struct cons_store_problem problem;
    memset(&problem, 0, sizeof(problem));
    char chain[CONS_CHAIN_ID_MAX + 1] = "fuzz";
    uint8_t genesis_hash[CONS_HASH_BYTES] = { 0 };
    const struct cons_header *first = cons_store_first_header(store);
    if (first != NULL) {
        memcpy(chain, first->chain_id, first->chain_id_len);
        chain[first->chain_id_len] = '\0';
        memcpy(genesis_hash, first->prev_hash, CONS_HASH_BYTES);
    }
    DC_ASSERT(cons_valset_init(&set, keys, 4, 0) == 0);
    int rc = cons_store_verify(store, &set, chain, genesis_hash, &problem);
    DC_ASSERT(rc == 0 || problem.why[0] != '\0');
}

static void fuzz_store(const uint8_t *data, size_t size, unsigned mode)
{
    static struct cons_store store;
    struct cons_store_problem problem;
    cons_dir_mem_init(&dm, dir_bytes, DISK_BYTES, STORE_FILES);
    struct cons_dir dir = cons_dir_mem_dir(&dm);
    size_t side = 0;
    if ((mode & 8) != 0) {
        if (size < 4) {
            return;
        }
        side = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
               (size_t)data[3] << 24;
        data += 4;
        size -= 4;
        side = side < size ? side : size;
    }
    char name[CONS_DIR_NAME_BYTES];
    uint64_t first = 1;
    struct cons_disk disk;
    if (side > 0) {
        DC_ASSERT(dir.ops->open(dir.ctx, CONS_STORE_PRUNED_FILE_NAME, CONS_DISK_CREATE,
                                &disk) == 0);
        struct cons_disk_mem *mem = cons_dir_mem_file(&dm, CONS_STORE_PRUNED_FILE_NAME);
        memcpy(mem->bytes, data, side);
        mem->len = mem->durable_len = side;
        /* The segment starts after the side file's last whole record (else at 2: a gap). */
        struct cons_wal wal;
        struct cons_wal_config wal_config = {
            .kind = CONS_WAL_KIND_PRUNED, .payload_bytes_max = CONS_STORE_PRUNED_BYTES_MAX,
            .buffer = buffer, .buffer_bytes = sizeof(buffer), .flags = CONS_WAL_STRICT,
            .first_seq = 1 };
        first = cons_wal_open(&wal, cons_disk_mem_disk(mem), &wal_config, NULL) == 0
                    ? cons_wal_next_seq(&wal) : 2;
    }
    if ((mode & 4) != 0 && side == 0) {
        snprintf(name, sizeof(name), "%s", CONS_STORE_FILE_NAME);
    } else {
        cons_store_segment_name(first, name);
    }
    DC_ASSERT(dir.ops->open(dir.ctx, name, CONS_DISK_CREATE, &disk) == 0);
    struct cons_disk_mem *mem = cons_dir_mem_file(&dm, name);
    memcpy(mem->bytes, data + side, size - side);
    mem->len = mem->durable_len = size - side;
    struct cons_store_config config = {
        .flags = (mode & 2) != 0 ? CONS_STORE_READONLY : 0,
        .segment_bytes = 4096,
        .retain_blocks = 1,
    };
    if (cons_store_open(&store, dir, &config, &problem) != 0) {
        DC_ASSERT(problem.why[0] != '\0' || (mode & 2) == 0);
        return;
    }
    verify_store(&store);
    uint64_t height = cons_store_height(&store);
    int pruned = cons_store_prune(&store);
    cons_store_fini(&store);
    if ((mode & 2) == 0 && pruned == 0) {
        config.flags = CONS_STORE_READONLY;
        DC_ASSERT(cons_store_open(&store, dir, &config, &problem) == 0);
        DC_ASSERT(cons_store_height(&store) == height);
        cons_store_fini(&store);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_log_set_level(DC_LOG_ERROR + 1);
    if (size < 1 || size - 1 > DISK_BYTES) {
        return 0;
    }
    int strict = (data[0] & 2) != 0;
    if ((data[0] & 1) == 0) {
        struct cons_disk_mem mem;
        cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
        memcpy(disk_bytes, data + 1, size - 1);
        mem.len = size - 1;
        mem.durable_len = mem.len;
        fuzz_wal(&mem, strict ? CONS_WAL_STRICT : 0);
    } else {
        fuzz_store(data + 1, size - 1, data[0]);
    }
    return 0;
}
