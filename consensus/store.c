#include "consensus/store.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SEGMENT_DIGITS_MAX 20

_Static_assert(CONS_STORE_PAYLOAD_BYTES_MAX <= CONS_WAL_PAYLOAD_BYTES_LIMIT,
               "the biggest block fits a log record");
_Static_assert((CONS_STORE_HEIGHTS_MAX & (CONS_STORE_HEIGHTS_MAX - 1)) == 0,
               "the height index is a ring indexed by a mask");
_Static_assert(sizeof(CONS_STORE_SEGMENT_PREFIX) + SEGMENT_DIGITS_MAX +
                   sizeof(CONS_STORE_SEGMENT_SUFFIX) <= CONS_DIR_NAME_BYTES,
               "every segment name fits a directory name");
_Static_assert(sizeof(CONS_STORE_PRUNED_FILE_NAME) <= CONS_DIR_NAME_BYTES, "side file name");

/* ==== Problems ==== */

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

static void problem_file(struct cons_store_problem *problem, const char *name)
{
    if (problem != NULL) {
        snprintf(problem->file, sizeof(problem->file), "%s", name);
    }
}

/* A cons_wal_open() failure as a problem line. */
static int wal_problem(int rc, const struct cons_wal_report *report,
                       struct cons_store_problem *problem)
{
    if (rc == DC_ECORRUPT && report->bad_seq == 0) {
        return problem_set(problem, 0, "block store file: %s", report->why);
    }
    if (rc == DC_ECORRUPT) {
        return problem_set(problem, report->bad_seq, "stored record damaged (%s at byte offset "
                           "%llu)", report->why, (unsigned long long)report->bad_offset);
    }
    return rc;
}

/* ==== Names and segments ==== */

void cons_store_segment_name(uint64_t first_height, char out[CONS_DIR_NAME_BYTES])
{
    snprintf(out, CONS_DIR_NAME_BYTES, CONS_STORE_SEGMENT_PREFIX "%0*llu"
             CONS_STORE_SEGMENT_SUFFIX, CONS_STORE_SEGMENT_DIGITS,
             (unsigned long long)first_height);
}

/* The name of the segment starting at `first` (blocks.log for a read-only old store). */
static const char *segment_file(const struct cons_store *store, uint64_t first,
                                char buf[CONS_DIR_NAME_BYTES])
{
    if (store->legacy && first == 1) {
        return CONS_STORE_FILE_NAME;
    }
    cons_store_segment_name(first, buf);
    return buf;
}

/* 1 with `first_out` set when `name` is a segment's name, else 0. */
static int segment_parse(const char *name, uint64_t *first_out)
{
    size_t prefix = sizeof(CONS_STORE_SEGMENT_PREFIX) - 1;
    size_t suffix = sizeof(CONS_STORE_SEGMENT_SUFFIX) - 1;
    size_t len = strlen(name);
    if (len < prefix + CONS_STORE_SEGMENT_DIGITS + suffix ||
        len > prefix + SEGMENT_DIGITS_MAX + suffix ||
        strncmp(name, CONS_STORE_SEGMENT_PREFIX, prefix) != 0 ||
        strcmp(name + len - suffix, CONS_STORE_SEGMENT_SUFFIX) != 0) {
        return 0;
    }
    uint64_t value = 0;
    for (size_t i = prefix; i < len - suffix; i++) {
        if (name[i] < '0' || name[i] > '9' || value > (UINT64_MAX - 9) / 10) {
            return 0;
        }
        value = value * 10 + (uint64_t)(name[i] - '0');
    }
    *first_out = value;
    return value > 0;
}

/* Index of the segment holding `height` (oldest <= height <= head). */
static uint32_t segment_index(const struct cons_store *store, uint64_t height)
{
    DC_ASSERT(store->segment_count > 0);
    uint32_t lo = 0, hi = store->segment_count - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (store->segments[mid].first_height <= height) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    DC_ASSERT(store->segments[lo].first_height <= height);
    return lo;
}

static uint64_t *index_slot(struct cons_store *store, uint64_t height)
{
    DC_ASSERT(height >= 1);
    return &store->offsets[(height - 1) & (store->offsets_cap - 1)];
}

static int readonly(const struct cons_store *store)
{
    return (store->config.flags & CONS_STORE_READONLY) != 0;
}

/* ==== Records ==== */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/*
 * Decode a block record payload into `block` and `cert`. 0, DC_ETOOBIG (block has more ids
 * than block->id_cap) or DC_EMALFORMED with `why` set.
 */
static int record_decode(const uint8_t *payload, uint32_t len, struct cons_block *block,
                         struct cons_cert *cert, const char **why)
{
    if (len < 4) {
        *why = "record too short for a block";
        return DC_EMALFORMED;
    }
    uint32_t block_len = get32(payload);
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

/* Decode a pruned record (u32 header_len, header, certificate). 0 or DC_EMALFORMED. */
static int pruned_decode(const uint8_t *payload, uint32_t len, struct cons_header *header,
                         struct cons_cert *cert, const char **why)
{
    size_t used = 0;
    uint32_t header_len = len >= 4 ? get32(payload) : 0;
    if (len < 4 || header_len > len - 4) {
        *why = "header length runs past the record";
        return DC_EMALFORMED;
    }
    if (cons_header_decode(payload + 4, header_len, header, &used) != 0 || used != header_len) {
        *why = "header does not decode";
        return DC_EMALFORMED;
    }
    if (cons_cert_decode(payload + 4 + header_len, len - 4 - header_len, cert, &used) != 0 ||
        used != len - 4 - header_len) {
        *why = "certificate does not decode";
        return DC_EMALFORMED;
    }
    return 0;
}

static uint32_t pruned_encode(const struct cons_header *header, const struct cons_cert *cert,
                              uint8_t out[CONS_STORE_PRUNED_BYTES_MAX])
{
    size_t header_len = cons_header_encoded_size(header);
    size_t len = 4 + header_len + cons_cert_encoded_size(cert);
    DC_ASSERT(len <= CONS_STORE_PRUNED_BYTES_MAX);
    put32(out, (uint32_t)header_len);
    cons_header_encode(header, out + 4, header_len);
    cons_cert_encode(cert, out + 4 + header_len, len - 4 - header_len);
    return (uint32_t)len;
}

/* The checks that need no keys: heights, the certificate's block, the link to the parent. */
static int header_check(const struct cons_header *header, const struct cons_cert *cert,
                        uint64_t height, const uint8_t prev_hash[CONS_HASH_BYTES],
                        uint8_t hash_out[CONS_HASH_BYTES], struct cons_store_problem *problem)
{
    if (header->height != height) {
        return problem_set(problem, height, "block says height %llu",
                           (unsigned long long)header->height);
    }
    if (cert->height != height) {
        return problem_set(problem, height, "certificate says height %llu",
                           (unsigned long long)cert->height);
    }
    cons_header_hash(header, hash_out);
    if (memcmp(cert->block_hash, hash_out, CONS_HASH_BYTES) != 0) {
        return problem_set(problem, height, "certificate is for another block than the one "
                           "stored (block hash mismatch)");
    }
    if (prev_hash != NULL && memcmp(header->prev_hash, prev_hash, CONS_HASH_BYTES) != 0) {
        return problem_set(problem, height, "prev_hash does not match the hash of height %llu",
                           (unsigned long long)(height - 1));
    }
    return 0;
}

/* ==== Opening ==== */

/* Walk the head log just opened: check every record and index it. */
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
        if (rc <= 0) {
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
        rc = header_check(&block.header, &cert, rec.seq,
                          store->height > 0 ? store->head_hash : NULL, hash, problem);
        if (rc != 0) {
            return rc;
        }
        if (rec.seq == store->pruned_height &&
            memcmp(hash, store->pruned_hash, CONS_HASH_BYTES) != 0) {
            return problem_set(problem, rec.seq, "the block is not the one whose header %s "
                               "kept", CONS_STORE_PRUNED_FILE_NAME);
        }
        if (rec.seq - store->oldest >= store->offsets_cap) {
            return DC_EFULL;
        }
        if (rec.seq == 1) {
            store->first_header = block.header;
        }
        *index_slot(store, rec.seq) = offset;
        store->height = rec.seq;
        store->ids_total += block.header.id_count;
        memcpy(store->head_hash, hash, CONS_HASH_BYTES);
    }
}

static int buffers_alloc(struct cons_store *store)
{
    if (!readonly(store)) {
        store->write_buffer = dc_alloc(CONS_STORE_WRITE_BUFFER_BYTES);
        store->pruned_buffer = dc_alloc(CONS_STORE_PRUNED_BUFFER_BYTES);
        if (store->write_buffer == NULL || store->pruned_buffer == NULL) {
            return -ENOMEM;
        }
    }
    store->record = dc_alloc(CONS_STORE_PAYLOAD_BYTES_MAX);
    store->pruned_record = dc_alloc(CONS_STORE_PRUNED_BYTES_MAX);
    store->ids = dc_alloc((size_t)CONS_BLOCK_IDS_MAX * CONS_ID_BYTES);
    store->segments = dc_alloc((size_t)CONS_STORE_SEGMENTS_MAX * sizeof(*store->segments));
    if (store->record == NULL || store->pruned_record == NULL || store->ids == NULL ||
        store->segments == NULL) {
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

struct listing {
    struct cons_store *store;
    int legacy_found;
    int pruned_found;
};

static int list_one(void *arg, const char *name)
{
    struct listing *listing = arg;
    struct cons_store *store = listing->store;
    uint64_t first = 0;
    if (strcmp(name, CONS_STORE_FILE_NAME) == 0) {
        listing->legacy_found = 1;
    } else if (strcmp(name, CONS_STORE_PRUNED_FILE_NAME) == 0) {
        listing->pruned_found = 1;
    } else if (segment_parse(name, &first)) {
        if (store->segment_count == CONS_STORE_SEGMENTS_MAX) {
            return DC_EFULL;
        }
        store->segments[store->segment_count++] =
            (struct cons_store_segment){ .first_height = first };
    }
    return 0;
}

static int segment_compare(const void *a, const void *b)
{
    uint64_t x = ((const struct cons_store_segment *)a)->first_height;
    uint64_t y = ((const struct cons_store_segment *)b)->first_height;
    return x < y ? -1 : x > y;
}

/* blocks.log, the store before segments, is the segment of height 1: renamed when writable. */
static int legacy_adopt(struct cons_store *store, struct cons_store_problem *problem)
{
    char name[CONS_DIR_NAME_BYTES];
    cons_store_segment_name(1, name);
    if (store->segment_count > 0 && store->segments[0].first_height == 1) {
        problem_file(problem, CONS_STORE_FILE_NAME);
        return problem_set(problem, 0, "both %s and %s exist (an interrupted upgrade? keep "
                           "one)", CONS_STORE_FILE_NAME, name);
    }
    if (readonly(store)) {
        store->legacy = 1;
    } else {
        int rc = store->dir.ops->rename(store->dir.ctx, CONS_STORE_FILE_NAME, name);
        if (rc != 0) {
            problem_file(problem, CONS_STORE_FILE_NAME);
            return rc;
        }
        DC_INFO("store", "renamed %s to %s (the first segment)", CONS_STORE_FILE_NAME, name);
    }
    DC_ASSERT(store->segment_count < CONS_STORE_SEGMENTS_MAX);
    memmove(store->segments + 1, store->segments,
            store->segment_count * sizeof(*store->segments));
    store->segments[0] = (struct cons_store_segment){ .first_height = 1 };
    store->segment_count++;
    return 0;
}

static int segments_list(struct cons_store *store, int *pruned_found,
                         struct cons_store_problem *problem)
{
    struct listing listing = { .store = store };
    int rc = store->dir.ops->list(store->dir.ctx, list_one, &listing);
    if (rc == DC_EFULL) {
        return problem_set(problem, 0, "more than %u segment files", CONS_STORE_SEGMENTS_MAX);
    }
    if (rc != 0) {
        return rc;
    }
    qsort(store->segments, store->segment_count, sizeof(*store->segments), segment_compare);
    for (uint32_t i = 1; i < store->segment_count; i++) {
        if (store->segments[i].first_height == store->segments[i - 1].first_height) {
            return problem_set(problem, store->segments[i].first_height,
                               "two segment files start at this height");
        }
    }
    *pruned_found = listing.pruned_found;
    return listing.legacy_found ? legacy_adopt(store, problem) : 0;
}

/* Open blocks-pruned.log (creating it when `create`) and recover it. */
static int pruned_open(struct cons_store *store, int create, struct cons_store_problem *problem)
{
    int ro = readonly(store);
    unsigned flags = ro ? CONS_DISK_READONLY : (create ? CONS_DISK_CREATE : 0);
    problem_file(problem, CONS_STORE_PRUNED_FILE_NAME);
    int rc = store->dir.ops->open(store->dir.ctx, CONS_STORE_PRUNED_FILE_NAME, flags,
                                  &store->pruned_disk);
    if (rc != 0) {
        return rc;
    }
    struct cons_wal_config config = {
        .kind = CONS_WAL_KIND_PRUNED,
        .payload_bytes_max = CONS_STORE_PRUNED_BYTES_MAX,
        .buffer = ro ? store->read_buffer : store->pruned_buffer,
        .buffer_bytes = ro ? sizeof(store->read_buffer) : CONS_STORE_PRUNED_BUFFER_BYTES,
        .flags = ro ? CONS_WAL_STRICT : 0,
        .first_seq = 1,
    };
    struct cons_wal_report report;
    rc = cons_wal_open(&store->pruned, store->pruned_disk, &config, &report);
    if (rc != 0) {
        store->dir.ops->close(store->dir.ctx, store->pruned_disk);
        return wal_problem(rc, &report, problem);
    }
    store->pruned_open = 1;
    if (store->pruned.first_seq != 1) {
        return problem_set(problem, 0, "starts at height %llu, not 1",
                           (unsigned long long)store->pruned.first_seq);
    }
    return 0;
}

/* Check every pruned header; the hash of height base - 1 becomes the parent of `base`. */
static int pruned_walk(struct cons_store *store, uint64_t base, struct cons_store_problem *problem)
{
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    struct cons_header header;
    struct cons_cert cert;
    uint8_t hash[CONS_HASH_BYTES];
    cons_wal_cursor_init(&store->pruned, &cursor);
    for (;;) {
        int rc = cons_wal_next(&store->pruned, &cursor, &rec, store->pruned_record,
                               CONS_STORE_PRUNED_BYTES_MAX);
        if (rc <= 0) {
            return rc == DC_ECORRUPT
                       ? problem_set(problem, cursor.seq, "record changed on disk while read")
                       : rc;
        }
        const char *why = NULL;
        if (rec.type != CONS_STORE_RECORD_TYPE_PRUNED) {
            return problem_set(problem, rec.seq, "record of unknown type %u", rec.type);
        }
        if (pruned_decode(rec.payload, rec.payload_len, &header, &cert, &why) != 0) {
            return problem_set(problem, rec.seq, "%s", why);
        }
        rc = header_check(&header, &cert, rec.seq, rec.seq > 1 ? store->pruned_hash : NULL,
                          hash, problem);
        if (rc != 0) {
            return rc;
        }
        if (rec.seq == 1) {
            store->first_header = header;
        }
        if (rec.seq < base) {
            store->ids_total += header.id_count;
        }
        if (rec.seq + 1 == base) {
            memcpy(store->head_hash, hash, CONS_HASH_BYTES);
        }
        memcpy(store->pruned_hash, hash, CONS_HASH_BYTES);
        store->pruned_height = rec.seq;
    }
}

/* Open segment `index` as the head log: writable when it is the last one of a writable store. */
static int segment_open(struct cons_store *store, uint32_t index, unsigned create,
                        struct cons_store_problem *problem)
{
    char buf[CONS_DIR_NAME_BYTES];
    uint64_t first = store->segments[index].first_height;
    const char *name = segment_file(store, first, buf);
    int writable = !readonly(store) && index + 1 == store->segment_count;
    problem_file(problem, name);
    int rc = store->dir.ops->open(store->dir.ctx, name,
                                  writable ? create : CONS_DISK_READONLY, &store->head_disk);
    if (rc != 0) {
        return rc;
    }
    struct cons_wal_config config = {
        .kind = CONS_WAL_KIND_BLOCKS,
        .payload_bytes_max = CONS_STORE_PAYLOAD_BYTES_MAX,
        .buffer = writable ? store->write_buffer : store->read_buffer,
        .buffer_bytes = writable ? CONS_STORE_WRITE_BUFFER_BYTES : sizeof(store->read_buffer),
        .flags = writable ? 0 : CONS_WAL_STRICT,
        .first_seq = first,
    };
    struct cons_wal_report report;
    rc = cons_wal_open(&store->log, store->head_disk, &config, &report);
    if (rc != 0) {
        store->dir.ops->close(store->dir.ctx, store->head_disk);
        return wal_problem(rc, &report, problem);
    }
    store->head_open = 1;
    if (store->log.first_seq != first) {
        return problem_set(problem, 0, "block store file: its header says first height %llu, "
                           "its name %llu", (unsigned long long)store->log.first_seq,
                           (unsigned long long)first);
    }
    return 0;
}

static void head_close(struct cons_store *store)
{
    if (store->head_open) {
        cons_wal_fini(&store->log);
        store->dir.ops->close(store->dir.ctx, store->head_disk);
        store->head_open = 0;
    }
}

/* A segment must start right after the one before it ends. */
static int segment_follows(struct cons_store *store, uint32_t index,
                           struct cons_store_problem *problem)
{
    uint64_t first = store->segments[index].first_height;
    uint64_t next = store->height + 1;
    if (first == next) {
        return 0;
    }
    char buf[CONS_DIR_NAME_BYTES], prev_buf[CONS_DIR_NAME_BYTES];
    problem_file(problem, segment_file(store, first, buf));
    const char *prev = segment_file(store, store->segments[index - 1].first_height, prev_buf);
    if (first > next) {
        return problem_set(problem, next, "heights %llu..%llu are missing: %s ends at height "
                           "%llu (a segment file lost?)", (unsigned long long)next,
                           (unsigned long long)(first - 1), prev,
                           (unsigned long long)store->height);
    }
    return problem_set(problem, first, "overlaps %s, which ends at height %llu", prev,
                       (unsigned long long)store->height);
}

/* Walk the segments oldest first; the last one stays open as the head log. */
static int segments_walk(struct cons_store *store, unsigned create,
                         struct cons_store_problem *problem)
{
    for (uint32_t i = 0; i < store->segment_count; i++) {
        int rc = i > 0 ? segment_follows(store, i, problem) : 0;
        if (rc == 0) {
            rc = segment_open(store, i, create, problem);
        }
        if (rc == 0) {
            rc = index_rebuild(store, problem);
        }
        if (rc != 0) {
            return rc;
        }
        if (i + 1 < store->segment_count) {
            store->segments[i].bytes = store->log.end_offset;
            store->closed_bytes += store->log.end_offset;
            head_close(store);
        }
    }
    problem_file(problem, "");
    return 0;
}

static int store_load(struct cons_store *store, struct cons_store_problem *problem)
{
    int pruned_found = 0;
    int rc = segments_list(store, &pruned_found, problem);
    if (rc != 0) {
        return rc;
    }
    unsigned create = 0;
    if (store->segment_count == 0 && !pruned_found) {
        if (readonly(store)) {
            problem_set(problem, 0, "no block store (no %s*%s file)", CONS_STORE_SEGMENT_PREFIX,
                        CONS_STORE_SEGMENT_SUFFIX);
            return -ENOENT;
        }
        store->segments[store->segment_count++] =
            (struct cons_store_segment){ .first_height = 1 };
        create = CONS_DISK_CREATE;
    }
    if (store->segment_count == 0) {
        problem_file(problem, CONS_STORE_PRUNED_FILE_NAME);
        return problem_set(problem, 0, "pruned headers but no block segment file");
    }
    uint64_t base = store->segments[0].first_height;
    if (pruned_found) {
        rc = pruned_open(store, 0, problem);
        if (rc == 0) {
            rc = pruned_walk(store, base, problem);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (store->pruned_height + 1 < base) {
        char buf[CONS_DIR_NAME_BYTES];
        problem_file(problem, segment_file(store, base, buf));
        return problem_set(problem, store->pruned_height + 1, "heights %llu..%llu are missing: "
                           "the oldest segment starts at %llu and %s %s",
                           (unsigned long long)(store->pruned_height + 1),
                           (unsigned long long)(base - 1), (unsigned long long)base,
                           CONS_STORE_PRUNED_FILE_NAME, pruned_found ? "ends before" : "is absent");
    }
    store->height = base - 1;
    store->oldest = base;
    return segments_walk(store, create, problem);
}

int cons_store_open(struct cons_store *store, struct cons_dir dir,
                    const struct cons_store_config *config, struct cons_store_problem *problem)
{
    memset(store, 0, sizeof(*store));
    if (problem != NULL) {
        memset(problem, 0, sizeof(*problem));
    }
    store->dir = dir;
    store->config = *config;
    if (store->config.segment_bytes == 0) {
        store->config.segment_bytes = CONS_STORE_SEGMENT_BYTES_DEFAULT;
    }
    store->oldest = 1;
    int rc = buffers_alloc(store);
    if (rc == 0) {
        rc = store_load(store, problem);
    }
    if (rc != 0) {
        cons_store_fini(store);
    }
    return rc;
}

static void read_detach(struct cons_store *store)
{
    if (store->read_first != 0) {
        cons_wal_fini(&store->read_log);
        store->dir.ops->close(store->dir.ctx, store->read_disk);
        store->read_first = 0;
    }
}

void cons_store_fini(struct cons_store *store)
{
    read_detach(store);
    head_close(store);
    if (store->pruned_open) {
        cons_wal_fini(&store->pruned);
        store->dir.ops->close(store->dir.ctx, store->pruned_disk);
        store->pruned_open = 0;
    }
    dc_free(store->write_buffer);
    dc_free(store->pruned_buffer);
    dc_free(store->record);
    dc_free(store->pruned_record);
    dc_free(store->ids);
    dc_free(store->segments);
    if (store->offsets != NULL) {
        munmap(store->offsets, (size_t)store->offsets_cap * sizeof(*store->offsets));
    }
    store->write_buffer = NULL;
    store->pruned_buffer = NULL;
    store->record = NULL;
    store->pruned_record = NULL;
    store->ids = NULL;
    store->segments = NULL;
    store->offsets = NULL;
    store->offsets_cap = 0;
    store->segment_count = 0;
}

/* ==== Appending ==== */

/* Sync the head segment and start the next one at `height`, when `len` would not fit. */
static int maybe_roll(struct cons_store *store, uint64_t height, size_t len)
{
    uint64_t end = store->log.end_offset;
    if (cons_wal_next_seq(&store->log) == store->log.first_seq ||
        end + CONS_WAL_RECORD_OVERHEAD_BYTES + len <= store->config.segment_bytes) {
        return 0; /* an empty segment takes any record: a big one gets a segment of its own */
    }
    if (store->segment_count == CONS_STORE_SEGMENTS_MAX) {
        return DC_EFULL;
    }
    /* An earlier segment must be whole on disk before a later one exists. */
    int rc = cons_wal_sync(&store->log);
    if (rc != 0) {
        return rc;
    }
    char name[CONS_DIR_NAME_BYTES];
    cons_store_segment_name(height, name);
    struct cons_disk disk;
    rc = store->dir.ops->open(store->dir.ctx, name, CONS_DISK_CREATE, &disk);
    if (rc != 0) {
        return rc;
    }
    struct cons_wal next;
    struct cons_wal_config config = store->log.config;
    config.first_seq = height;
    rc = cons_wal_open(&next, disk, &config, NULL);
    if (rc == 0 && next.first_seq != height) {
        rc = DC_ECORRUPT; /* a file of that name was there already */
    }
    if (rc != 0) {
        store->dir.ops->close(store->dir.ctx, disk);
        store->failed = rc;
        return rc;
    }
    store->segments[store->segment_count - 1].bytes = end;
    store->closed_bytes += end;
    head_close(store);
    store->log = next;
    store->head_disk = disk;
    store->head_open = 1;
    store->segments[store->segment_count++] =
        (struct cons_store_segment){ .first_height = height };
    return 0;
}

int cons_store_append(struct cons_store *store, const struct cons_block *block,
                      const struct cons_cert *cert)
{
    if (store->failed != 0) {
        return store->failed;
    }
    if (readonly(store)) {
        return DC_EUNSUPPORTED;
    }
    uint64_t height = block->header.height;
    if (height <= store->height) {
        return DC_ESTALE;
    }
    if (height > store->height + 1) {
        return DC_ERANGE;
    }
    uint8_t hash[CONS_HASH_BYTES];
    if (header_check(&block->header, cert, height, store->height > 0 ? store->head_hash : NULL,
                     hash, NULL) != 0) {
        return DC_ECONFLICT;
    }
    if (height - store->oldest >= store->offsets_cap) {
        return DC_EFULL;
    }
    size_t block_len = cons_block_encoded_size(block);
    size_t len = 4 + block_len + cons_cert_encoded_size(cert);
    DC_ASSERT(len <= CONS_STORE_PAYLOAD_BYTES_MAX);
    int rc = maybe_roll(store, height, len);
    if (rc != 0) {
        return rc;
    }
    put32(store->record, (uint32_t)block_len);
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
    if (height == 1) {
        store->first_header = block->header;
    }
    *index_slot(store, height) = offset;
    store->height = height;
    store->ids_total += block->header.id_count;
    memcpy(store->head_hash, hash, CONS_HASH_BYTES);
    return 0;
}

int cons_store_sync(struct cons_store *store)
{
    if (store->failed != 0) {
        return store->failed;
    }
    return cons_wal_sync(&store->log);
}

/* ==== Reading ==== */

/* The log holding `height`: the head one, or a closed segment attached for reads. */
static int segment_log(struct cons_store *store, uint64_t height, struct cons_wal **log_out)
{
    uint32_t i = segment_index(store, height);
    if (i + 1 == store->segment_count) {
        *log_out = &store->log;
        return cons_wal_flush(&store->log);
    }
    const struct cons_store_segment *seg = &store->segments[i];
    *log_out = &store->read_log;
    if (store->read_first == seg->first_height) {
        return 0;
    }
    read_detach(store);
    char buf[CONS_DIR_NAME_BYTES];
    const char *name = segment_file(store, seg->first_height, buf);
    int rc = store->dir.ops->open(store->dir.ctx, name, CONS_DISK_READONLY, &store->read_disk);
    if (rc != 0) {
        return rc == -ENOENT ? DC_ECORRUPT : rc;
    }
    struct cons_wal_config config = {
        .kind = CONS_WAL_KIND_BLOCKS,
        .payload_bytes_max = CONS_STORE_PAYLOAD_BYTES_MAX,
        .buffer = store->read_buffer,
        .buffer_bytes = sizeof(store->read_buffer),
        .flags = CONS_WAL_STRICT,
        .first_seq = seg->first_height,
    };
    rc = cons_wal_attach(&store->read_log, store->read_disk, &config, seg->first_height,
                         store->segments[i + 1].first_height, seg->bytes);
    if (rc != 0) {
        store->dir.ops->close(store->dir.ctx, store->read_disk);
        return rc;
    }
    store->read_first = seg->first_height;
    return 0;
}

int cons_store_read(struct cons_store *store, uint64_t height, struct cons_block *block,
                    struct cons_cert *cert)
{
    if (height == 0 || height > store->height) {
        return DC_ENOTFOUND;
    }
    if (height < store->oldest) {
        return DC_EPRUNED;
    }
    struct cons_wal *log = NULL;
    int rc = segment_log(store, height, &log);
    struct cons_wal_record rec;
    if (rc == 0) {
        rc = cons_wal_read_at(log, *index_slot(store, height), height, &rec, store->record,
                              CONS_STORE_PAYLOAD_BYTES_MAX);
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

/* ==== Pruning ==== */

/* Headers and certificates of heights up to `last` into the side file, then one sync. */
static int prune_copy(struct cons_store *store, uint64_t last)
{
    int rc = store->pruned_open ? 0 : pruned_open(store, CONS_DISK_CREATE, NULL);
    if (rc != 0) {
        return rc;
    }
    DC_ASSERT(store->pruned_height + 1 >= store->oldest);
    DC_ASSERT(cons_wal_next_seq(&store->pruned) == store->pruned_height + 1);
    struct cons_block block;
    struct cons_cert cert;
    cons_block_init(&block, store->ids, CONS_BLOCK_IDS_MAX);
    for (uint64_t h = store->pruned_height + 1; h <= last; h++) {
        rc = cons_store_read(store, h, &block, &cert);
        if (rc != 0) {
            return rc;
        }
        uint32_t len = pruned_encode(&block.header, &cert, store->pruned_record);
        uint64_t seq = 0;
        rc = cons_wal_append(&store->pruned, CONS_STORE_RECORD_TYPE_PRUNED, store->pruned_record,
                             len, &seq);
        if (rc != 0) {
            return rc;
        }
        DC_ASSERT(seq == h);
        cons_block_hash(&block, store->pruned_hash);
        store->pruned_height = h;
    }
    return cons_wal_sync(&store->pruned);
}

/* The oldest segment's headers are durable in the side file: unlink it. */
static int prune_unlink(struct cons_store *store)
{
    const struct cons_store_segment seg = store->segments[0];
    DC_ASSERT(store->segment_count >= 2);
    DC_ASSERT(store->pruned_height + 1 >= store->segments[1].first_height);
    if (store->read_first == seg.first_height) {
        read_detach(store);
    }
    char name[CONS_DIR_NAME_BYTES];
    cons_store_segment_name(seg.first_height, name);
    int rc = store->dir.ops->unlink(store->dir.ctx, name);
    if (rc != 0) {
        return rc;
    }
    store->closed_bytes -= seg.bytes;
    store->segment_count--;
    memmove(store->segments, store->segments + 1,
            store->segment_count * sizeof(*store->segments));
    store->oldest = store->segments[0].first_height;
    DC_INFO("store", "pruned %s (heights %llu..%llu, %llu bytes)", name,
            (unsigned long long)seg.first_height, (unsigned long long)(store->oldest - 1),
            (unsigned long long)seg.bytes);
    return 0;
}

/* Whether the oldest segment is beyond the limits (and is not the one holding the head). */
static int prune_due(const struct cons_store *store)
{
    if (store->segment_count < 2) {
        return 0;
    }
    uint64_t last = store->segments[1].first_height - 1;
    if (last >= store->height) {
        return 0; /* the head segment is empty: the one before holds the head */
    }
    uint64_t blocks = store->config.retain_blocks;
    uint64_t bytes = store->config.retain_bytes;
    uint64_t segment_bytes = store->closed_bytes + store->log.end_offset;
    return (blocks > 0 && store->height - last >= blocks) ||
           (bytes > 0 && segment_bytes > bytes);
}

int cons_store_prune(struct cons_store *store)
{
    if (store->failed != 0) {
        return store->failed;
    }
    if (readonly(store)) {
        return 0;
    }
    while (prune_due(store)) {
        int rc = prune_copy(store, store->segments[1].first_height - 1);
        if (rc == 0) {
            rc = prune_unlink(store);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ==== Accessors ==== */

uint64_t cons_store_height(const struct cons_store *store)
{
    return store->height;
}

const uint8_t *cons_store_head_hash(const struct cons_store *store)
{
    return store->head_hash;
}

const struct cons_header *cons_store_first_header(const struct cons_store *store)
{
    return store->height > 0 ? &store->first_header : NULL;
}

uint64_t cons_store_oldest(const struct cons_store *store)
{
    return store->oldest;
}

uint64_t cons_store_bytes(const struct cons_store *store)
{
    return store->closed_bytes + (store->head_open ? store->log.end_offset : 0) +
           (store->pruned_open ? store->pruned.end_offset : 0);
}

uint32_t cons_store_segment_count(const struct cons_store *store)
{
    return store->segment_count;
}

/* ==== Verifying ==== */

/* The checks that need the genesis: chain, proposer, certificate signatures. */
static int verify_one(const struct cons_header *header, const struct cons_cert *cert,
                      const struct cons_valset *set, const char *chain_id,
                      struct cons_store_problem *problem)
{
    uint64_t height = header->height;
    if (!cons_header_chain_is(header, chain_id)) {
        return problem_set(problem, height, "block names chain '%.*s', the genesis '%s'",
                           (int)header->chain_id_len, header->chain_id, chain_id);
    }
    if (header->proposer >= set->count) {
        return problem_set(problem, height, "proposer index %u is not a genesis validator",
                           header->proposer);
    }
    uint8_t hash[CONS_HASH_BYTES];
    cons_header_hash(header, hash);
    int rc = cons_cert_verify(cert, hash, set, chain_id);
    if (rc != 0) {
        problem_set(problem, height, "commit certificate does not verify (%s; %u signatures, "
                    "quorum %u)", dc_strerror(rc), cert->count, set->quorum);
        return rc;
    }
    return 0;
}

static int verify_link(const struct cons_header *header, const uint8_t prev[CONS_HASH_BYTES],
                       struct cons_store_problem *problem)
{
    if (memcmp(header->prev_hash, prev, CONS_HASH_BYTES) == 0) {
        return 0;
    }
    return problem_set(problem, header->height, header->height == 1
                           ? "prev_hash is not the genesis hash (another chain?)"
                           : "prev_hash does not match the hash of the block before");
}

/* The pruned headers below the oldest full block: links, chain, certificates. */
static int verify_pruned(struct cons_store *store, const struct cons_valset *set,
                         const char *chain_id, uint8_t prev[CONS_HASH_BYTES],
                         struct cons_store_problem *problem)
{
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    struct cons_header header;
    struct cons_cert cert;
    problem_file(problem, CONS_STORE_PRUNED_FILE_NAME);
    cons_wal_cursor_init(&store->pruned, &cursor);
    while (cursor.seq < store->oldest) {
        const char *why = NULL;
        uint64_t height = cursor.seq;
        int rc = cons_wal_next(&store->pruned, &cursor, &rec, store->pruned_record,
                               CONS_STORE_PRUNED_BYTES_MAX);
        const char *what = rc == 0 ? "the file ends early" : rc < 0 ? dc_strerror(rc) : NULL;
        if (rc == 1 && pruned_decode(rec.payload, rec.payload_len, &header, &cert, &why) != 0) {
            what = why;
        } else if (rc == 1 && header.height != rec.seq) {
            what = "wrong height";
        }
        if (what != NULL) {
            return problem_set(problem, height, "cannot read back: %s", what);
        }
        rc = verify_link(&header, prev, problem);
        if (rc == 0) {
            rc = verify_one(&header, &cert, set, chain_id, problem);
        }
        if (rc != 0) {
            return rc;
        }
        cons_header_hash(&header, prev);
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
    int rc = 0;
    if (store->oldest > 1) {
        DC_ASSERT(store->pruned_open);
        rc = verify_pruned(store, set, chain_id, prev, problem);
    }
    for (uint64_t height = store->oldest; rc == 0 && height <= store->height; height++) {
        rc = cons_store_read(store, height, &block, &cert);
        if (rc != 0) {
            char buf[CONS_DIR_NAME_BYTES];
            uint32_t i = segment_index(store, height);
            problem_file(problem, segment_file(store, store->segments[i].first_height, buf));
            return problem_set(problem, height, "cannot read back: %s", dc_strerror(rc));
        }
        rc = verify_link(&block.header, prev, problem);
        if (rc == 0) {
            rc = verify_one(&block.header, &cert, set, chain_id, problem);
        }
        if (rc != 0) {
            char buf[CONS_DIR_NAME_BYTES];
            uint32_t i = segment_index(store, height);
            problem_file(problem, segment_file(store, store->segments[i].first_height, buf));
        }
        cons_block_hash(&block, prev);
    }
    if (rc == 0) {
        problem_file(problem, "");
        DC_ASSERT(memcmp(prev, store->head_hash, CONS_HASH_BYTES) == 0 || store->height == 0);
    }
    return rc;
}
