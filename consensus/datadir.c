#include "consensus/datadir.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t err_size, int code, const char *fmt, ...)
{
    if (err != NULL && err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int open_store(struct cons_datadir *dd, const char *label,
                      const struct cons_datadir_settings *settings, char *err, size_t err_size)
{
    struct cons_store_problem problem = { 0 };
    struct cons_store_config config = {
        .segment_bytes = settings->segment_bytes,
        .retain_blocks = settings->retain_blocks,
        .retain_bytes = settings->retain_bytes,
    };
    int rc = cons_store_open(&dd->store, dd->dir, &config, &problem);
    if (rc != 0) {
        const char *why = problem.why[0] != '\0' ? problem.why : dc_strerror(rc);
        if (problem.height > 0) {
            return fail(err, err_size, rc, "%s/%s: height %llu: %s", label, problem.file,
                        (unsigned long long)problem.height, why);
        }
        return fail(err, err_size, rc, "%s/%s: %s", label, problem.file, why);
    }
    dd->store_open = 1;
    return 0;
}

static int open_wal(struct cons_datadir *dd, const char *label, char *err, size_t err_size)
{
    const char *name = CONS_WAL_VOTES_FILE_NAME;
    struct cons_wal_config config = {
        .kind = CONS_WAL_KIND_VOTES,
        .payload_bytes_max = CONS_STORE_PAYLOAD_BYTES_MAX, /* a precommit may carry its block */
        .buffer = dd->wal_buffer,
        .buffer_bytes = CONS_DATADIR_WAL_BUFFER_BYTES,
        .first_seq = 1,
    };
    struct cons_wal_report report;
    int rc = dd->dir.ops->open(dd->dir.ctx, name, CONS_DISK_CREATE, &dd->wal_disk);
    if (rc != 0) {
        return fail(err, err_size, rc, "%s/%s: %s", label, name,
                    rc == -EWOULDBLOCK ? "in use by another process" : dc_strerror(rc));
    }
    rc = cons_wal_open(&dd->wal, dd->wal_disk, &config, &report);
    if (rc != 0) {
        dd->dir.ops->close(dd->dir.ctx, dd->wal_disk);
        return fail(err, err_size, rc, "%s/%s: %s%s (record seq %llu at byte offset %llu)",
                    label, name, rc == DC_ECORRUPT ? "damaged before its end: " : "",
                    report.why != NULL ? report.why : dc_strerror(rc),
                    (unsigned long long)report.bad_seq, (unsigned long long)report.bad_offset);
    }
    dd->wal_open = 1;
    return 0;
}

/* The stored chain must start at this genesis: another chain's blocks are never extended. */
static int check_chain(struct cons_datadir *dd, const char *label, char *err, size_t err_size)
{
    const struct cons_header *first = cons_store_first_header(&dd->store);
    if (first == NULL) {
        return 0;
    }
    if (memcmp(first->prev_hash, dd->genesis_hash, CONS_HASH_BYTES) != 0 ||
        !cons_header_chain_is(first, dd->genesis.chain_id)) {
        return fail(err, err_size, DC_ECORRUPT,
                    "%s: the stored chain does not start at this genesis (chain '%s'): "
                    "another network's data directory?", label, dd->genesis.chain_id);
    }
    return 0;
}

static void close_logs(struct cons_datadir *dd)
{
    if (dd->wal_open) {
        cons_wal_fini(&dd->wal);
        dd->dir.ops->close(dd->dir.ctx, dd->wal_disk);
        dd->wal_open = 0;
    }
    if (dd->store_open) {
        cons_store_fini(&dd->store);
        dd->store_open = 0;
    }
}

/* The genesis, its validator set and its hash; `name` labels an error. */
static int adopt_genesis(struct cons_datadir *dd, const struct cons_genesis *genesis,
                         const char *name, char *err, size_t err_size)
{
    if (genesis != &dd->genesis) {
        dd->genesis = *genesis;
    }
    int rc = cons_genesis_valset(&dd->genesis, &dd->valset);
    if (rc != 0) {
        return fail(err, err_size, rc, "%s: %s", name, dc_strerror(rc));
    }
    cons_genesis_hash(&dd->genesis, dd->genesis_hash);
    return 0;
}

/* Both logs over dd->dir, then the genesis check; on failure nothing stays open. */
static int open_logs(struct cons_datadir *dd, const char *label,
                     const struct cons_datadir_settings *settings, char *err, size_t err_size)
{
    static const struct cons_datadir_settings defaults = { 0 };
    int rc = open_store(dd, label, settings != NULL ? settings : &defaults, err, err_size);
    if (rc == 0) {
        rc = open_wal(dd, label, err, err_size);
    }
    if (rc == 0) {
        rc = check_chain(dd, label, err, err_size);
    }
    if (rc != 0) {
        close_logs(dd);
    }
    return rc;
}

static void free_buffers(struct cons_datadir *dd)
{
    dc_free(dd->wal_buffer);
    dc_free(dd->record);
    dc_free(dd->ids);
    dd->wal_buffer = NULL;
    dd->record = NULL;
    dd->ids = NULL;
}

static int alloc_buffers(struct cons_datadir *dd, const char *label, char *err,
                         size_t err_size)
{
    memset(dd, 0, sizeof(*dd));
    dd->store_dir.fd = -1;
    dd->wal_buffer = dc_alloc(CONS_DATADIR_WAL_BUFFER_BYTES);
    dd->record = dc_alloc(CONS_STORE_PAYLOAD_BYTES_MAX);
    dd->ids = dc_alloc((size_t)CONS_BLOCK_IDS_MAX * CONS_ID_BYTES);
    if (dd->wal_buffer == NULL || dd->record == NULL || dd->ids == NULL) {
        free_buffers(dd);
        return fail(err, err_size, -ENOMEM, "%s: out of memory", label);
    }
    cons_block_init(&dd->block, dd->ids, CONS_BLOCK_IDS_MAX);
    return 0;
}

static int open_path(struct cons_datadir *dd, const char *dir, const char *genesis_path,
                     const struct cons_datadir_settings *settings, char *err, size_t err_size)
{
    char path[PATH_MAX + 64];
    if (genesis_path == NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, CONS_GENESIS_FILE_NAME);
        genesis_path = path;
    }
    int rc = cons_genesis_load(&dd->genesis, genesis_path, err, err_size);
    if (rc == 0) {
        rc = adopt_genesis(dd, &dd->genesis, genesis_path, err, err_size);
    }
    if (rc != 0) {
        return rc;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return fail(err, err_size, -errno, "%s: cannot create: %s", dir, strerror(errno));
    }
    rc = cons_dir_fs_open(&dd->store_dir, dir, 0);
    if (rc != 0) {
        return fail(err, err_size, rc, "%s: %s", dir,
                    rc == -EWOULDBLOCK ? "in use by another process" : dc_strerror(rc));
    }
    dd->dir = cons_dir_fs_dir(&dd->store_dir);
    rc = open_logs(dd, dir, settings, err, err_size);
    if (rc != 0) {
        cons_dir_fs_close(&dd->store_dir);
    }
    return rc;
}

int cons_datadir_open(struct cons_datadir *dd, const char *dir, const char *genesis_path,
                      const struct cons_datadir_settings *settings, char *err, size_t err_size)
{
    int rc = alloc_buffers(dd, dir, err, err_size);
    if (rc == 0) {
        rc = open_path(dd, dir, genesis_path, settings, err, err_size);
        if (rc != 0) {
            free_buffers(dd);
        }
    }
    return rc;
}

int cons_datadir_open_dir(struct cons_datadir *dd, struct cons_dir dir, const char *label,
                          const struct cons_genesis *genesis,
                          const struct cons_datadir_settings *settings, char *err,
                          size_t err_size)
{
    int rc = alloc_buffers(dd, label, err, err_size);
    if (rc != 0) {
        return rc;
    }
    dd->dir = dir;
    rc = adopt_genesis(dd, genesis, label, err, err_size);
    if (rc == 0) {
        rc = open_logs(dd, label, settings, err, err_size);
    }
    if (rc != 0) {
        free_buffers(dd);
    }
    return rc;
}

void cons_datadir_close(struct cons_datadir *dd)
{
    close_logs(dd);
    if (dd->store_dir.fd >= 0) {
        cons_dir_fs_close(&dd->store_dir);
    }
    free_buffers(dd);
}

int cons_datadir_resume(struct cons_datadir *dd, struct cons_machine *m)
{
    uint64_t height = cons_store_height(&dd->store);
    uint8_t prev[CONS_HASH_BYTES];
    uint64_t prev_time = 0;
    memcpy(prev, dd->genesis_hash, CONS_HASH_BYTES);
    if (height > 0) {
        int rc = cons_store_read(&dd->store, height, &dd->block, &dd->cert);
        if (rc != 0) {
            return rc;
        }
        memcpy(prev, cons_store_head_hash(&dd->store), CONS_HASH_BYTES);
        prev_time = dd->block.header.time_ticks;
    }
    cons_machine_start(m, height + 1, prev, prev_time);
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    int rc;
    cons_wal_cursor_init(&dd->wal, &cursor);
    while ((rc = cons_wal_next(&dd->wal, &cursor, &rec, dd->record,
                               CONS_STORE_PAYLOAD_BYTES_MAX)) == 1) {
        struct cons_msg msg;
        rc = cons_record_decode(rec.payload, rec.payload_len, &msg, &dd->block);
        if (rc == 0) {
            rc = cons_machine_restore(m, &msg);
        }
        if (rc != 0 && rc != DC_ESTALE) {
            return rc; /* DC_ESTALE: a record of a height the store already holds */
        }
        dd->wal_records_replayed++;
    }
    return rc;
}

int cons_datadir_persist(struct cons_datadir *dd, const struct cons_msg *msg)
{
    size_t len = cons_record_encoded_size(msg);
    DC_ASSERT(len > 0 && len <= CONS_STORE_PAYLOAD_BYTES_MAX);
    cons_record_encode(msg, dd->record, len);
    int rc = cons_wal_append(&dd->wal, msg->kind, dd->record, (uint32_t)len, NULL);
    if (rc == 0) {
        dd->unsynced = 1;
    }
    return rc;
}

int cons_datadir_before_send(struct cons_datadir *dd)
{
    if (!dd->unsynced) {
        return 0;
    }
    int rc = cons_wal_sync(&dd->wal);
    if (rc == 0) {
        dd->unsynced = 0;
        dd->wal_syncs++;
        DC_ASSERT(cons_wal_synced_seq(&dd->wal) + 1 == cons_wal_next_seq(&dd->wal));
    }
    return rc;
}

int cons_datadir_commit(struct cons_datadir *dd, const struct cons_block *block,
                        const struct cons_cert *cert)
{
    int rc = cons_store_append(&dd->store, block, cert);
    if (rc == 0) {
        rc = cons_store_sync(&dd->store);
        dd->store_syncs += rc == 0;
    }
    if (rc == 0) {
        rc = cons_wal_reset(&dd->wal); /* the height is final in the store: its votes may go */
    }
    if (rc == 0) {
        dd->unsynced = 0;
        DC_ASSERT(dd->wal.end_offset == CONS_WAL_FILE_HEADER_BYTES);
        rc = cons_store_prune(&dd->store);
    }
    return rc;
}

int cons_datadir_read(struct cons_datadir *dd, uint64_t height, const struct cons_block **block,
                      const struct cons_cert **cert)
{
    int rc = cons_store_read(&dd->store, height, &dd->block, &dd->cert);
    if (rc == 0) {
        *block = &dd->block;
        *cert = &dd->cert;
    }
    return rc;
}

uint64_t cons_datadir_ids_total(const struct cons_datadir *dd)
{
    return dd->store.ids_total;
}

uint64_t cons_datadir_height(const struct cons_datadir *dd)
{
    return cons_store_height(&dd->store);
}

const uint8_t *cons_datadir_head_hash(const struct cons_datadir *dd)
{
    return cons_store_head_hash(&dd->store);
}

uint64_t cons_datadir_store_bytes(const struct cons_datadir *dd)
{
    return cons_store_bytes(&dd->store);
}

uint64_t cons_datadir_oldest_height(const struct cons_datadir *dd)
{
    return cons_store_oldest(&dd->store);
}

uint64_t cons_datadir_wal_bytes(const struct cons_datadir *dd)
{
    return dd->wal.end_offset;
}
