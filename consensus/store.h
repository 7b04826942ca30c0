/*
 * cons_store: the block store, a directory of append-only segment files holding (block,
 * commit certificate) per height, prunable from the old end.
 *
 * Each segment blocks-<first height, 12 digits>.log is a cons_wal log of kind
 * CONS_WAL_KIND_BLOCKS whose record seq IS the height, so heights are contiguous inside a
 * segment by construction and every record is checksummed. A record's payload is u32
 * block_len, the encoded block (cons_block_encode), then the encoded certificate
 * (cons_cert_encode). An append that would take the head segment past segment_bytes first
 * syncs it and starts the next segment at its height (a record bigger than segment_bytes
 * gets a segment of its own).
 *
 * Pruning (cons_store_prune, after a synced commit) deletes whole old segments beyond
 * retain_blocks / retain_bytes, never the one holding the head. Before a segment goes, the
 * header and certificate of each of its heights are appended to blocks-pruned.log (a cons_wal
 * log of kind CONS_WAL_KIND_PRUNED, seq = height from 1) and synced, so the hash chain and
 * the certificates of pruned heights stay verifiable; reading a pruned block is DC_EPRUNED.
 *
 * Opening lists the segments, checks that they and the pruned side file are contiguous,
 * recovers only the last segment's torn tail (an earlier segment must be whole) and rebuilds
 * the height -> offset index while checking each record: the block and certificate decode,
 * both name the record's height, the certificate is for this block's hash, and each block
 * links to the one before by prev_hash (across segments and from the last pruned header).
 * Signatures are not checked on open; cons_store_verify() checks them all. A store written
 * before segments (one file, blocks.log) is renamed to blocks-000000000001.log by the first
 * writable open, and read as that segment by a read-only one.
 *
 * Threads: one owner thread. Opening allocates the scratch buffers and reserves the index
 * (address space for CONS_STORE_HEIGHTS_MAX retained heights, a ring backed page by page);
 * after that nothing allocates, so the consensus lcore may append and read. Rolling to a new
 * segment and pruning create and unlink files on the caller's thread.
 */
#ifndef CONS_STORE_H
#define CONS_STORE_H

#include "consensus/block.h"
#include "consensus/cert.h"
#include "consensus/disk.h"
#include "consensus/valset.h"
#include "consensus/wal.h"

#include <stdint.h>

/* The largest record payload: block length, the biggest block, the biggest certificate. */
#define CONS_STORE_PAYLOAD_BYTES_MAX                                           \
    (4u + CONS_HEADER_BYTES_MAX + CONS_BLOCK_IDS_MAX * CONS_ID_BYTES + CONS_CERT_BYTES_MAX)
/* A pruned height's record: u32 header_len, the header, the certificate. */
#define CONS_STORE_PRUNED_BYTES_MAX (4u + CONS_HEADER_BYTES_MAX + CONS_CERT_BYTES_MAX)
/* The block store written before segments: opened as the segment of height 1. */
#define CONS_STORE_FILE_NAME "blocks.log"
#define CONS_STORE_PRUNED_FILE_NAME "blocks-pruned.log"
/* Segment names: "blocks-" + the first height in CONS_STORE_SEGMENT_DIGITS digits + ".log". */
#define CONS_STORE_SEGMENT_PREFIX "blocks-"
#define CONS_STORE_SEGMENT_SUFFIX ".log"
#define CONS_STORE_SEGMENT_DIGITS 12
#define CONS_STORE_SEGMENT_BYTES_DEFAULT (64ull * 1024 * 1024)
#define CONS_STORE_SEGMENTS_MAX 65536u
#define CONS_STORE_RECORD_TYPE_BLOCK 1u
#define CONS_STORE_RECORD_TYPE_PRUNED 1u
#define CONS_STORE_WRITE_BUFFER_BYTES (256u * 1024)
#define CONS_STORE_PRUNED_BUFFER_BYTES (64u * 1024)
/* Retained (unpruned) heights one store can hold: 2^27; 1 GiB of address space for the
 * index ring, of which only 8 bytes per retained height are ever backed. */
#define CONS_STORE_HEIGHTS_MAX (1u << 27)
#define CONS_STORE_PROBLEM_BYTES 160u

enum cons_store_flags {
    CONS_STORE_READONLY = 1u << 0, /* strict: report damage anywhere, never write */
};

struct cons_store_config {
    unsigned flags;          /* enum cons_store_flags */
    uint64_t segment_bytes;  /* roll to a new segment past this (0: the default, 64 MiB) */
    uint64_t retain_blocks;  /* prune segments wholly older than the newest N heights (0: keep) */
    uint64_t retain_bytes;   /* prune old segments while all segments pass N bytes (0: keep) */
};

/* Why an open or a verify failed: the file, the height and a one-line reason. */
struct cons_store_problem {
    char file[CONS_DIR_NAME_BYTES];      /* the file inside the directory, "" when none */
    uint64_t height;                     /* 0 when not about one height (file header) */
    char why[CONS_STORE_PROBLEM_BYTES];
};

struct cons_store_segment {
    uint64_t first_height;
    uint64_t bytes;                      /* file size (closed segments only) */
};

struct cons_store {
    struct cons_dir dir;
    struct cons_store_config config;
    struct cons_disk head_disk;
    struct cons_wal log;                 /* the head segment, the one appended to */
    struct cons_disk read_disk;
    struct cons_wal read_log;            /* one closed segment attached for reads */
    uint64_t read_first;                 /* its first height, 0 when none is attached */
    struct cons_disk pruned_disk;
    struct cons_wal pruned;              /* blocks-pruned.log, when pruned_open */
    int head_open;
    int pruned_open;
    int legacy;                          /* read-only over blocks.log: segment 1's name */
    int failed;                          /* sticky error after a failed roll or prune */
    uint8_t *write_buffer;               /* the head segment's group-commit buffer */
    uint8_t *pruned_buffer;              /* the side file's */
    uint8_t *record;                     /* one record payload, for reads and encodes */
    uint8_t *pruned_record;              /* one side-file record */
    uint8_t read_buffer[64];             /* config buffer of read-only logs (never written) */
    uint8_t (*ids)[CONS_ID_BYTES];       /* id storage for decodes during open */
    uint64_t *offsets;                   /* ring: offsets[(h - 1) % cap], retained h (mmap) */
    uint64_t offsets_cap;
    struct cons_store_segment *segments; /* oldest first; the last one is the head segment */
    uint32_t segment_count;
    uint64_t closed_bytes;               /* bytes of every segment but the head one */
    uint64_t height;                     /* head height, 0 when empty */
    uint64_t oldest;                     /* oldest height with its full block */
    uint64_t pruned_height;              /* last height in blocks-pruned.log, 0 when none */
    uint8_t head_hash[CONS_HASH_BYTES];  /* hash of the head block, zero when empty */
    uint8_t pruned_hash[CONS_HASH_BYTES]; /* hash of height pruned_height */
    struct cons_header first_header;     /* height 1's header, for the genesis check */
    uint64_t ids_total;                  /* message ids in every stored block, pruned too */
};

/*
 * Open (creating the first segment when writable and empty) and check the store in `dir`.
 * 0; DC_ECORRUPT with `problem` filled (may be NULL): damage, a gap or an overlap between
 * segments, a torn tail anywhere but the last segment (anywhere at all when read-only);
 * -ENOENT (read-only and no segment); -ENOMEM; DC_ECONFIG; or the dir's negative errno.
 */
int cons_store_open(struct cons_store *store, struct cons_dir dir,
                    const struct cons_store_config *config, struct cons_store_problem *problem);
/* Free the buffers and close the files; pending appends not synced are dropped. */
void cons_store_fini(struct cons_store *store);

/*
 * Append the committed `block` with its certificate (already verified by the caller),
 * rolling to a new segment first when the head one would pass segment_bytes. Durable after
 * cons_store_sync(). 0; DC_ESTALE (height already stored); DC_ERANGE (a gap: height > head
 * + 1); DC_ECONFLICT (prev_hash is not the head's hash, or the certificate is for another
 * height or block); DC_EFULL (CONS_STORE_HEIGHTS_MAX retained heights or
 * CONS_STORE_SEGMENTS_MAX segments); or the log's or the dir's error (sticky).
 */
int cons_store_append(struct cons_store *store, const struct cons_block *block,
                      const struct cons_cert *cert);
/* Make every append durable (one sync). 0 or the log's sticky error. */
int cons_store_sync(struct cons_store *store);

/*
 * Delete the old segments beyond retain_blocks / retain_bytes (call it after a synced
 * commit): for each, its headers and certificates go to blocks-pruned.log, synced, then the
 * segment is unlinked. A crash in between leaves headers that are also in a segment, which
 * opens fine and is pruned again. Cost: one sequential read of each pruned segment. 0 (also
 * when nothing is due or read-only) or the error of the read, the side file or the unlink.
 */
int cons_store_prune(struct cons_store *store);

/*
 * Read height `height` into `block` (ids storage set by cons_block_init, room for the
 * block's ids) and `cert`. 0; DC_ENOTFOUND (not stored); DC_EPRUNED (below
 * cons_store_oldest(): only its header and certificate are kept); DC_ECORRUPT (changed on
 * disk since open); DC_ETOOBIG (block has more ids than block->id_cap); or a negative errno.
 */
int cons_store_read(struct cons_store *store, uint64_t height, struct cons_block *block,
                    struct cons_cert *cert);

uint64_t cons_store_height(const struct cons_store *store);
/* Hash of the head block (all zero when the store is empty). */
const uint8_t *cons_store_head_hash(const struct cons_store *store);
/* Height 1's header, pruned or not; NULL when the store is empty. */
const struct cons_header *cons_store_first_header(const struct cons_store *store);
/* Oldest height whose full block is stored (height + 1 when the store is empty). */
uint64_t cons_store_oldest(const struct cons_store *store);
/* Bytes on disk: every segment (appended, synced or not) and blocks-pruned.log. */
uint64_t cons_store_bytes(const struct cons_store *store);
/* Segment files (the head one included). */
uint32_t cons_store_segment_count(const struct cons_store *store);
/* The file name of segment `first_height` into `out` (CONS_DIR_NAME_BYTES). */
void cons_store_segment_name(uint64_t first_height, char out[CONS_DIR_NAME_BYTES]);

/*
 * Check the whole stored chain as `dchat chain verify` does: on top of the open-time checks,
 * height 1 links to `genesis_hash`, every header names `chain_id` and a proposer inside
 * `set`, and every certificate passes cons_cert_verify() against `set`: over the pruned
 * headers first, then over the full blocks. 0, or DC_ECORRUPT / the first failing check's
 * code with `problem` naming the file, the height and what is wrong. Cost: every record
 * read again, and count signature checks per height.
 */
int cons_store_verify(struct cons_store *store, const struct cons_valset *set,
                      const char *chain_id, const uint8_t genesis_hash[CONS_HASH_BYTES],
                      struct cons_store_problem *problem);

#endif
