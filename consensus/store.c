#include "consensus/store.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define READONLY_BUFFER_BYTES 64u

_Static_assert(CONS_STORE_PAYLOAD_BYTES_MAX <= CONS_WAL_PAYLOAD_BYTES_LIMIT,
               "the biggest block fits a log record");

__attribute__((format(printf, 3, 4)))
static int problem_set(struct cons_store_problem *problem, uint64_t height, const char *fmt, ...)
{
    if (problem != NULL) {
        problem->height = height;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(problem->why, sizeof(problem->why), fmt, ap);
        va_end(ap);
    }
    return DC_ECORRUPT;
}

/* Room for `count` heights: the index is reserved whole at open, so this only checks. */
static int index_reserve(const struct cons_store *store, uint64_t count)
{
    return count <= store->offsets_cap ? 0 : DC_EFULL;
}

/*
 * Decode a record payload into `block` and `cert`. 0, DC_ETOOBIG (block has more ids than
 * block->id_cap) or DC_EMALFORMED with `why` set.
 */
static int record_decode(const uint8_t *payload, uint32_t len, struct cons_block *block,
                         struct cons_cert *cert, const char **why)
{
    if (len < 4) {
        *why = "record too short for a block";
        return DC_EMALFORMED;
    }
    uint32_t block_len = (uint32_t)payload[0] | (uint32_t)payload[1] << 8 |
                         (uint32_t)payload[2] << 16 | (uint32_t)payload[3] << 24;
    if (block_len > len - 4) {
        *why = "block length runs past the record";
        return DC_EMALFORMED;
    }
    size_t used = 0;
    int rc = cons_block_decode(payload + 4, block_len, block, &used);
    if (rc == DC_ETOOBIG && block->header.id_count <= CONS_BLOCK_IDS_MAX) {
        *why = "block has more ids than the reader's buffer";
        return DC_ETOOBIG;
    }
    if (rc != 0 || used != block_len) {
        *why = "block does not decode";
        return DC_EMALFORMED;
    }
    rc = cons_cert_decode(payload + 4 + block_len, len - 4 - block_len, cert, &used);
    if (rc != 0 || used != len - 4 - block_len) {
        *why = "certificate does not decode";
        return DC_EMALFORMED;
    }
    return 0;
}

/* The checks that need no keys: heights, the certificate's block, the link to the parent. */
static int record_check(const struct cons_block *block, const struct cons_cert *cert,
                        uint64_t height, const uint8_t prev_hash[CONS_HASH_BYTES],
                        uint8_t hash_out[CONS_HASH_BYTES], struct cons_store_problem *problem)
{
    if (block->header.height != height) {
        return problem_set(problem, height, "block says height %llu",
                           (unsigned long long)block->header.height);
    }
    if (cert->height != height) {
        return problem_set(problem, height, "certificate says height %llu",
                           (unsigned long long)cert->height);
    }
    cons_block_hash(block, hash_out);
    if (memcmp(cert->block_hash, hash_out, CONS_HASH_BYTES) != 0) {
        return problem_set(problem, height, "certificate is for another block than the one "
                           "stored (block hash mismatch)");
    }
    if (prev_hash != NULL && memcmp(block->header.prev_hash, prev_hash, CONS_HASH_BYTES) != 0) {
        return problem_set(problem, height, "prev_hash does not match the hash of height %llu",
                           (unsigned long long)(height - 1));
    }
    return 0;
}

/* Walk the recovered log: check every record and index it. */
static int index_rebuild(struct cons_store *store, struct cons_store_problem *problem)
{
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    struct cons_block block;
    struct cons_cert cert;
    cons_block_init(&block, store->ids, CONS_BLOCK_IDS_MAX);
    cons_wal_cursor_init(&store->log, &cursor);
    for (;;) {
        uint64_t offset = cursor.offset;
        int rc = cons_wal_next(&store->log, &cursor, &rec, store->record,
                               CONS_STORE_PAYLOAD_BYTES_MAX);
        if (rc == 0) {
            return 0;
        }
        if (rc < 0) {
            return rc == DC_ECORRUPT
                       ? problem_set(problem, cursor.seq, "record changed on disk while read")
                       : rc;
        }
        DC_ASSERT(rec.seq == store->height + 1);
        const char *why = NULL;
        if (rec.type != CONS_STORE_RECORD_TYPE_BLOCK) {
            return problem_set(problem, rec.seq, "record of unknown type %u", rec.type);
        }
        if (record_decode(rec.payload, rec.payload_len, &block, &cert, &why) != 0) {
            return problem_set(problem, rec.seq, "%s", why);
        }
        uint8_t hash[CONS_HASH_BYTES];
        rc = record_check(&block, &cert, rec.seq, store->height > 0 ? store->head_hash : NULL,
                          hash, problem);
        if (rc == 0) {
            rc = index_reserve(store, rec.seq);
        }
        if (rc != 0) {
            return rc;
        }
        store->offsets[rec.seq - 1] = offset;
        store->height = rec.seq;
        store->ids_total += block.header.id_count;
        memcpy(store->head_hash, hash, CONS_HASH_BYTES);
    }
}

static int buffers_alloc(struct cons_store *store)
{
    size_t write_bytes = (store->flags & CONS_STORE_READONLY) != 0
                             ? READONLY_BUFFER_BYTES
                             : CONS_STORE_WRITE_BUFFER_BYTES;
    store->write_buffer = dc_alloc(write_bytes);
    store->record = dc_alloc(CONS_STORE_PAYLOAD_BYTES_MAX);
    store->ids = dc_alloc((size_t)CONS_BLOCK_IDS_MAX * CONS_ID_BYTES);
    if (store->write_buffer == NULL || store->record == NULL || store->ids == NULL) {
        return -ENOMEM;
    }
    /*
     * The height index is one reservation of address space made now: pages are backed only
     * as heights arrive, and appending never calls an allocator on the consensus thread.
     */
    size_t bytes = (size_t)CONS_STORE_HEIGHTS_MAX * sizeof(*store->offsets);
    void *index = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (index == MAP_FAILED) {
        return -ENOMEM;
    }
    store->offsets = index;
    store->offsets_cap = CONS_STORE_HEIGHTS_MAX;
    return 0;
}

int cons_store_open(struct cons_store *store, struct cons_disk disk, unsigned flags,
                    struct cons_store_problem *problem)
{
    memset(store, 0, sizeof(*store));
    store->flags = flags;
    int rc = buffers_alloc(store);
    if (rc != 0) {
        cons_store_fini(store);
        return rc;
    }
    int readonly = (flags & CONS_STORE_READONLY) != 0;
    struct cons_wal_config config = {
        .kind = CONS_WAL_KIND_BLOCKS,
        .payload_bytes_max = CONS_STORE_PAYLOAD_BYTES_MAX,
        .buffer = store->write_buffer,
        .buffer_bytes = readonly ? READONLY_BUFFER_BYTES : CONS_STORE_WRITE_BUFFER_BYTES,
        .flags = readonly ? CONS_WAL_STRICT : 0,
        .first_seq = 1,
    };
    struct cons_wal_report report;
    rc = cons_wal_open(&store->log, disk, &config, &report);
    if (rc == DC_ECORRUPT && report.bad_seq == 0) {
        rc = problem_set(problem, 0, "block store file: %s", report.why);
    } else if (rc == DC_ECORRUPT) {
        rc = problem_set(problem, report.bad_seq, "stored record damaged (%s at byte offset %llu)",
                         report.why, (unsigned long long)report.bad_offset);
    }
    if (rc == 0) {
        rc = index_rebuild(store, problem);
    }
    if (rc != 0) {
        cons_store_fini(store);
    }
    return rc;
}

void cons_store_fini(struct cons_store *store)
{
    cons_wal_fini(&store->log);
    dc_free(store->write_buffer);
    dc_free(store->record);
    dc_free(store->ids);
    if (store->offsets != NULL) {
        munmap(store->offsets, (size_t)store->offsets_cap * sizeof(*store->offsets));
    }
    store->write_buffer = NULL;
    store->record = NULL;
    store->ids = NULL;
    store->offsets = NULL;
    store->offsets_cap = 0;
}

int cons_store_append(struct cons_store *store, const struct cons_block *block,
                      const struct cons_cert *cert)
{
    uint64_t height = block->header.height;
    if (height <= store->height) {
        return DC_ESTALE;
    }
    if (height > store->height + 1) {
        return DC_ERANGE;
    }
    uint8_t hash[CONS_HASH_BYTES];
    if (record_check(block, cert, height, store->height > 0 ? store->head_hash : NULL, hash,
                     NULL) != 0) {
        return DC_ECONFLICT;
    }
    int rc = index_reserve(store, height);
    if (rc != 0) {
        return rc;
    }
    size_t block_len = cons_block_encoded_size(block);
    size_t len = 4 + block_len + cons_cert_encoded_size(cert);
    DC_ASSERT(len <= CONS_STORE_PAYLOAD_BYTES_MAX);
    for (int i = 0; i < 4; i++) {
        store->record[i] = (uint8_t)(block_len >> (8 * i));
    }
    cons_block_encode(block, store->record + 4, block_len);
    cons_cert_encode(cert, store->record + 4 + block_len, len - 4 - block_len);
    uint64_t offset = store->log.end_offset;
    uint64_t seq = 0;
    rc = cons_wal_append(&store->log, CONS_STORE_RECORD_TYPE_BLOCK, store->record,
                         (uint32_t)len, &seq);
    if (rc != 0) {
        return rc;
    }
    DC_ASSERT(seq == height);
    store->offsets[height - 1] = offset;
    store->height = height;
    store->ids_total += block->header.id_count;
    memcpy(store->head_hash, hash, CONS_HASH_BYTES);
    return 0;
}

int cons_store_sync(struct cons_store *store)
{
    return cons_wal_sync(&store->log);
}

int cons_store_read(struct cons_store *store, uint64_t height, struct cons_block *block,
                    struct cons_cert *cert)
{
    if (height == 0 || height > store->height) {
        return DC_ENOTFOUND;
    }
    int rc = cons_wal_flush(&store->log);
    struct cons_wal_record rec;
    if (rc == 0) {
        rc = cons_wal_read_at(&store->log, store->offsets[height - 1], height, &rec,
                              store->record, CONS_STORE_PAYLOAD_BYTES_MAX);
    }
    if (rc != 0) {
        return rc == DC_ENOTFOUND ? DC_ECORRUPT : rc;
    }
    const char *why = NULL;
    rc = record_decode(rec.payload, rec.payload_len, block, cert, &why);
    if (rc == DC_ETOOBIG) {
        return rc;
    }
    if (rc != 0 || block->header.height != height || cert->height != height) {
        return DC_ECORRUPT;
    }
    return 0;
}

uint64_t cons_store_height(const struct cons_store *store)
{
    return store->height;
}

const uint8_t *cons_store_head_hash(const struct cons_store *store)
{
    return store->head_hash;
}

/* The checks that need the genesis: chain, proposer, certificate signatures. */
static int verify_one(const struct cons_block *block, const struct cons_cert *cert,
                      const struct cons_valset *set, const char *chain_id,
                      struct cons_store_problem *problem)
{
    uint64_t height = block->header.height;
    if (!cons_header_chain_is(&block->header, chain_id)) {
        return problem_set(problem, height, "block names chain '%.*s', the genesis '%s'",
                           (int)block->header.chain_id_len, block->header.chain_id, chain_id);
    }
    if (block->header.proposer >= set->count) {
        return problem_set(problem, height, "proposer index %u is not a genesis validator",
                           block->header.proposer);
    }
    uint8_t hash[CONS_HASH_BYTES];
    cons_block_hash(block, hash);
    int rc = cons_cert_verify(cert, hash, set, chain_id);
    if (rc != 0) {
        problem_set(problem, height, "commit certificate does not verify (%s; %u signatures, "
                    "quorum %u)", dc_strerror(rc), cert->count, set->quorum);
        return rc;
    }
    return 0;
}

int cons_store_verify(struct cons_store *store, const struct cons_valset *set,
                      const char *chain_id, const uint8_t genesis_hash[CONS_HASH_BYTES],
                      struct cons_store_problem *problem)
{
    struct cons_block block;
    struct cons_cert cert;
    uint8_t prev[CONS_HASH_BYTES];
    memcpy(prev, genesis_hash, CONS_HASH_BYTES);
    cons_block_init(&block, store->ids, CONS_BLOCK_IDS_MAX);
    for (uint64_t height = 1; height <= store->height; height++) {
        int rc = cons_store_read(store, height, &block, &cert);
        if (rc != 0) {
            return problem_set(problem, height, "cannot read back: %s", dc_strerror(rc));
        }
        if (memcmp(block.header.prev_hash, prev, CONS_HASH_BYTES) != 0) {
            return problem_set(problem, height, height == 1
                                   ? "prev_hash is not the genesis hash (another chain?)"
                                   : "prev_hash does not match the hash of the block before");
        }
        rc = verify_one(&block, &cert, set, chain_id, problem);
        if (rc != 0) {
            return rc;
        }
        cons_block_hash(&block, prev);
    }
    DC_ASSERT(memcmp(prev, store->head_hash, CONS_HASH_BYTES) == 0 || store->height == 0);
    return 0;
}
