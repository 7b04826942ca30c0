/*
 * cons_store: the block store, an append-only file of (block, commit certificate) per height.
 *
 * The file is a cons_wal log of kind CONS_WAL_KIND_BLOCKS whose record seq IS the height
 * (height 1 is the first record), so heights are contiguous by construction and every
 * record is checksummed. A record's payload is u32 block_len, the encoded block
 * (cons_block_encode), then the encoded certificate (cons_cert_encode).
 *
 * Opening walks the whole file (cons_wal recovery: a torn last append is cut, damage before
 * it is DC_ECORRUPT) and rebuilds the height -> offset index in memory, checking each record
 * as it goes: the block and certificate decode, both name the record's height, the
 * certificate is for this block's hash, and each block links to the one before by
 * prev_hash. Signatures are not checked on open (cost: one Ed25519 verify per signer per
 * block); cons_store_verify() checks them all, against the genesis validators.
 *
 * Threads: one owner thread. Opening allocates the scratch buffers and reserves the index
 * (address space for CONS_STORE_HEIGHTS_MAX heights, backed page by page as heights arrive);
 * after that nothing allocates, so the consensus lcore may append and read.
 */
#ifndef CONS_STORE_H
#define CONS_STORE_H

#include "consensus/block.h"
#include "consensus/cert.h"
#include "consensus/valset.h"
#include "consensus/wal.h"

#include <stdint.h>

/* The largest record payload: block length, the biggest block, the biggest certificate. */
#define CONS_STORE_PAYLOAD_BYTES_MAX                                           \
    (4u + CONS_HEADER_BYTES_MAX + CONS_BLOCK_IDS_MAX * CONS_ID_BYTES + CONS_CERT_BYTES_MAX)
/* The block store's file name inside a node's data directory (docs/OPERATIONS.md). */
#define CONS_STORE_FILE_NAME "blocks.log"
#define CONS_STORE_RECORD_TYPE_BLOCK 1u
#define CONS_STORE_WRITE_BUFFER_BYTES (256u * 1024)
/* Heights one store can hold: 2^27 (4 years at one block per second); 1 GiB of address
 * space for the index, of which only 8 bytes per stored height are ever backed. */
#define CONS_STORE_HEIGHTS_MAX (1u << 27)
#define CONS_STORE_PROBLEM_BYTES 160u

enum cons_store_flags {
    CONS_STORE_READONLY = 1u << 0, /* strict: report damage anywhere, never write */
};

/* Why an open or a verify failed: the height and a one-line reason. */
struct cons_store_problem {
    uint64_t height;                     /* 0 when not about one height (file header) */
    char why[CONS_STORE_PROBLEM_BYTES];
};

struct cons_store {
    struct cons_wal log;
    unsigned flags;
    uint8_t *write_buffer;              /* the log's group-commit buffer */
    uint8_t *record;                    /* one record payload, for reads and encodes */
    uint8_t (*ids)[CONS_ID_BYTES];      /* id storage for decodes during open */
    uint64_t *offsets;                  /* offsets[h - 1]: file offset of height h (mmap) */
    uint64_t offsets_cap;
    uint64_t height;                    /* head height, 0 when empty */
    uint8_t head_hash[CONS_HASH_BYTES]; /* hash of the head block, zero when empty */
    uint64_t ids_total;                 /* message ids in every stored block */
};

/*
 * Open (creating when writable and missing) and check the store on `disk`. 0; DC_ECORRUPT
 * with `problem` filled (may be NULL); -ENOMEM; or the disk's negative errno.
 */
int cons_store_open(struct cons_store *store, struct cons_disk disk, unsigned flags,
                    struct cons_store_problem *problem);
/* Free the buffers; pending appends not synced are dropped. The disk stays open. */
void cons_store_fini(struct cons_store *store);

/*
 * Append the committed `block` with its certificate (already verified by the caller).
 * Durable after cons_store_sync(). 0; DC_ESTALE (height already stored); DC_ERANGE (a gap:
 * height > head + 1); DC_ECONFLICT (prev_hash is not the head's hash, or the certificate is
 * for another height or block); DC_EFULL (CONS_STORE_HEIGHTS_MAX reached); or the log's
 * error.
 */
int cons_store_append(struct cons_store *store, const struct cons_block *block,
                      const struct cons_cert *cert);
/* Make every append durable (one sync). 0 or the log's sticky error. */
int cons_store_sync(struct cons_store *store);

/*
 * Read height `height` into `block` (ids storage set by cons_block_init, room for the
 * block's ids) and `cert`. 0; DC_ENOTFOUND (not stored); DC_ECORRUPT (changed on disk since
 * open); DC_ETOOBIG (block has more ids than block->id_cap); or a negative errno.
 */
int cons_store_read(struct cons_store *store, uint64_t height, struct cons_block *block,
                    struct cons_cert *cert);

uint64_t cons_store_height(const struct cons_store *store);
/* Hash of the head block (all zero when the store is empty). */
const uint8_t *cons_store_head_hash(const struct cons_store *store);

/*
 * Check the whole stored chain as `dchat chain verify` does: on top of the open-time checks,
 * height 1 links to `genesis_hash`, every block names `chain_id`, and every certificate
 * passes cons_cert_verify() against `set`. 0, or DC_ECORRUPT / the first failing check's code
 * with `problem` naming the height and what is wrong. Cost: every record read again, and
 * count signature checks per block.
 */
int cons_store_verify(struct cons_store *store, const struct cons_valset *set,
                      const char *chain_id, const uint8_t genesis_hash[CONS_HASH_BYTES],
                      struct cons_store_problem *problem);

#endif
