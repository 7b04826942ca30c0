/*
 * cons_wal: an append-only log of checksummed records with group commit and crash recovery.
 *
 * A validator persists every proposal and vote here and sends it only after the sync that
 * covers it returned (DESIGN.md section 5); the block store keeps its blocks in the same
 * format. Layout, all integers little-endian (docs/STORAGE.md has the full picture):
 *
 *   file header, 32 bytes: magic "DCHATLOG", u32 version (1), u32 kind, u64 first_seq,
 *                          u64 XXH3-64 of the 24 bytes before it
 *   record:                u16 magic 0xDC57, u16 type (non-zero), u32 payload_len,
 *                          u64 seq, payload, u64 checksum
 *
 * where seq counts records from first_seq up with no gap, and the checksum is
 * XXH3-64(payload, seed = XXH3-64(the 16 header bytes)), so it covers header and payload.
 *
 * Recovery (cons_wal_open) walks every record. A bad record (incomplete, impossible header,
 * checksum mismatch, wrong seq) that is the last thing in the file is a torn write: it is
 * cut off with a log line. A bad record with a valid record anywhere after it is real
 * corruption: DC_ECORRUPT, and nothing is changed. CONS_WAL_STRICT turns even the torn tail
 * into DC_ECORRUPT and never writes (`dchat chain verify`).
 *
 * Group commit: cons_wal_append() only copies into the caller-provided buffer (writing it
 * out when full); cons_wal_sync() writes what is pending and syncs once. After a failed
 * write or sync the log is poisoned: every later call returns the same error, because what
 * reached the disk is unknown (the "fsyncgate" lesson) and the node must restart and recover.
 *
 * Threads: one owner thread per log (the consensus lcore for the vote WAL). Appending never
 * allocates.
 */
#ifndef CONS_WAL_H
#define CONS_WAL_H

#include "consensus/disk.h"

#include <stddef.h>
#include <stdint.h>

#define CONS_WAL_FILE_HEADER_BYTES 32u
#define CONS_WAL_RECORD_HEADER_BYTES 16u
#define CONS_WAL_RECORD_TRAILER_BYTES 8u
#define CONS_WAL_RECORD_OVERHEAD_BYTES                                         \
    (CONS_WAL_RECORD_HEADER_BYTES + CONS_WAL_RECORD_TRAILER_BYTES)
/* Hard ceiling of any payload; each log sets its own lower payload_bytes_max. */
#define CONS_WAL_PAYLOAD_BYTES_LIMIT (64u * 1024 * 1024)
#define CONS_WAL_VERSION 1u
/* The vote WAL's file name inside a validator's data directory (docs/OPERATIONS.md). */
#define CONS_WAL_VOTES_FILE_NAME "votes.wal"

/* What a log holds; written in the file header and checked on open. */
enum cons_wal_kind {
    CONS_WAL_KIND_VOTES = 1,  /* the validator's proposals and votes */
    CONS_WAL_KIND_BLOCKS = 2, /* the block store's segments */
    CONS_WAL_KIND_PRUNED = 3, /* the block store's headers and certificates of pruned heights */
    CONS_WAL_KIND_TEST = 99,
};

enum cons_wal_flags {
    CONS_WAL_STRICT = 1u << 0, /* read-only: report a torn tail as corruption, never write */
};

struct cons_wal_config {
    uint32_t kind;              /* enum cons_wal_kind */
    uint32_t payload_bytes_max; /* larger appends fail; records over it on disk are corrupt */
    uint8_t *buffer;            /* group-commit buffer, caller-owned */
    size_t buffer_bytes;        /* >= CONS_WAL_RECORD_OVERHEAD_BYTES; bigger records bypass */
    unsigned flags;             /* enum cons_wal_flags */
    uint64_t first_seq;         /* seq of the first record when the file is new (>= 1) */
};

/* What recovery found; the why/offset fields explain a DC_ECORRUPT. */
struct cons_wal_report {
    uint64_t records;        /* whole records kept */
    uint64_t bytes_cut;      /* torn tail bytes removed (0 in strict mode) */
    uint64_t bad_offset;     /* file offset of the first bad record */
    uint64_t bad_seq;        /* the seq that record should have had */
    const char *why;         /* static text: what was wrong, NULL when nothing was */
    int torn_tail;           /* the bad record was a torn tail (no valid record after it) */
};

struct cons_wal {
    struct cons_disk disk;
    struct cons_wal_config config;
    uint64_t first_seq;
    uint64_t next_seq;       /* seq the next append gets */
    uint64_t synced_seq;     /* every seq <= this is durable (first_seq - 1 when none) */
    uint64_t end_offset;     /* file offset just past the last appended record */
    uint64_t buffer_offset;  /* file offset where the buffered bytes go */
    size_t buffer_used;
    uint64_t pending_first_seq; /* first seq not yet written to the disk */
    int failed;              /* sticky error after a failed write or sync */
};

/* A record as read back; `payload` points into the caller's buffer. */
struct cons_wal_record {
    uint16_t type;
    uint32_t payload_len;
    uint64_t seq;
    uint64_t offset;         /* file offset of the record's header */
    const uint8_t *payload;
};

/*
 * Open the log on `disk`, recover it (see above) and position for appending. A disk shorter
 * than a file header (new, or torn while being created) gets a fresh header, synced, unless
 * strict. Returns 0; DC_ECORRUPT (report says where and why; also a file header that is not
 * ours or a kind mismatch); DC_ECONFIG for a bad config; or the disk's negative errno.
 */
int cons_wal_open(struct cons_wal *wal, struct cons_disk disk, const struct cons_wal_config *config,
                  struct cons_wal_report *report);
/*
 * Attach to a log this process recovered before (a block store segment walked at open)
 * without walking it again: records first_seq..next_seq-1 end at `end_offset`. The log is
 * read-only (CONS_WAL_STRICT is added); every read is still checksummed. 0 or DC_ECONFIG.
 */
int cons_wal_attach(struct cons_wal *wal, struct cons_disk disk,
                    const struct cons_wal_config *config, uint64_t first_seq, uint64_t next_seq,
                    uint64_t end_offset);
/* Drops pending (unsynced) records without writing them; does not close the disk. */
void cons_wal_fini(struct cons_wal *wal);

/*
 * Queue one record. `seq_out` (may be NULL) gets its seq. It is durable only after a
 * cons_wal_sync() that returns 0. Returns 0, DC_ETOOBIG (payload over payload_bytes_max),
 * DC_EUNSUPPORTED (strict log) or the sticky write error.
 */
int cons_wal_append(struct cons_wal *wal, uint16_t type, const void *payload, uint32_t len,
                    uint64_t *seq_out);
/* Write every pending record and sync once. 0 or the (sticky) negative errno. */
int cons_wal_sync(struct cons_wal *wal);
/* Write pending records out without syncing (so readers see them). 0 or the sticky error. */
int cons_wal_flush(struct cons_wal *wal);
/*
 * Pruning after commit: sync what is pending, then empty the log and start it again at the
 * next seq, so the vote WAL holds one height, not the chain's history. Call it only when no
 * record is needed any more (right after the block store synced a commit, before the first
 * vote of the next height). A crash inside leaves the old log or an empty one: both safe
 * then. 0 or the (sticky) error.
 */
int cons_wal_reset(struct cons_wal *wal);
/* Highest durable seq (first_seq - 1 when none). */
uint64_t cons_wal_synced_seq(const struct cons_wal *wal);
/* Whether the record with `seq` is durable: send the vote only when this is true. */
int cons_wal_is_durable(const struct cons_wal *wal, uint64_t seq);
/* Seq of the next append (= one past the last record). */
uint64_t cons_wal_next_seq(const struct cons_wal *wal);

/*
 * Reading. A cursor starts at the first record; cons_wal_next() reads one record into
 * `payload_buf` (>= payload_bytes_max). Returns 1 with `rec` filled, 0 at the end of the
 * synced-or-written records, DC_ECORRUPT when the disk changed under us, or a negative errno.
 * Pending records still in the buffer are not visible: sync first.
 */
struct cons_wal_cursor {
    uint64_t offset;
    uint64_t seq;
};

void cons_wal_cursor_init(const struct cons_wal *wal, struct cons_wal_cursor *cursor);
int cons_wal_next(struct cons_wal *wal, struct cons_wal_cursor *cursor,
                  struct cons_wal_record *rec, uint8_t *payload_buf, size_t payload_buf_bytes);
/* Read the record at a known offset (from an index); `seq` is what it must carry. */
int cons_wal_read_at(struct cons_wal *wal, uint64_t offset, uint64_t seq,
                     struct cons_wal_record *rec, uint8_t *payload_buf, size_t payload_buf_bytes);

#endif
