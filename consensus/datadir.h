/*
 * cons_datadir: a validator's data directory, wired to its state machine.
 *
 * One object holds what a validator keeps on disk (docs/STORAGE.md): the genesis, the vote
 * WAL (DIR/votes.wal) and the block store (DIR/blocks-*.log segments, DIR/blocks-pruned.log),
 * and carries out the storage
 * side of the state machine's actions in the order the safety argument needs:
 *
 *   cons_datadir_open()         load the genesis, recover both logs, check that the stored
 *                               chain starts at this genesis (cons_datadir_open_dir(): the
 *                               same over a cons_dir, e.g. the simulator's memory one)
 *   cons_datadir_resume()       cons_machine_start() after the stored head, then every WAL
 *                               record through cons_machine_restore()
 *   for each batch of actions:
 *     PERSIST    -> cons_datadir_persist()      (buffered, not yet durable)
 *     SEND       -> cons_datadir_before_send()  first (one sync covers the batch so far)
 *     COMMIT     -> cons_datadir_commit()       (store + sync, reset the WAL, prune the store)
 *     SERVE_SYNC -> cons_datadir_read()         per height
 *   and cons_datadir_before_send() once more at the end of the batch.
 *
 * consensus/exec.h does the per-batch part for the node, the simulator and
 * tests/integration/cons_net.c (four validators over real files, crashed and resumed).
 *
 * Threads: the consensus thread that owns the machine. Opening allocates (start-up); after
 * that nothing allocates (the block index is reserved at open), so a sealed lcore may run it.
 */
#ifndef CONS_DATADIR_H
#define CONS_DATADIR_H

#include "consensus/genesis.h"
#include "consensus/machine.h"
#include "consensus/store.h"
#include "consensus/wal.h"

#include <stddef.h>
#include <stdint.h>

#define CONS_DATADIR_WAL_BUFFER_BYTES (64u * 1024)
#define CONS_DATADIR_ERROR_BYTES 512u

/* [consensus] segment_bytes, retain_blocks, retain_bytes (docs/CONFIG.md); 0 = the default. */
struct cons_datadir_settings {
    uint64_t segment_bytes;  /* block store segment size (0: CONS_STORE_SEGMENT_BYTES_DEFAULT) */
    uint64_t retain_blocks;  /* keep at least the newest N full blocks (0: keep every block) */
    uint64_t retain_bytes;   /* prune old segments while segments pass N bytes (0: no limit) */
};

struct cons_datadir {
    struct cons_genesis genesis;
    struct cons_valset valset;             /* from the genesis: give it to cons_config */
    uint8_t genesis_hash[CONS_HASH_BYTES];
    struct cons_dir dir;                   /* where both logs live: store_dir's, or the caller's */
    struct cons_dir_fs store_dir;          /* cons_datadir_open(): the directory, locked */
    struct cons_disk wal_disk;             /* votes.wal, opened through `dir` */
    int wal_open;
    int store_open;
    struct cons_wal wal;
    struct cons_store store;
    uint8_t *wal_buffer;
    uint8_t *record;                       /* one encoded WAL record */
    uint8_t (*ids)[CONS_ID_BYTES];         /* block storage for replay and reads */
    struct cons_block block;
    struct cons_cert cert;
    int unsynced;                          /* records persisted since the last sync */
    uint64_t wal_records_replayed;
    uint64_t wal_syncs;                    /* vote WAL syncs before a send (group commits) */
    uint64_t store_syncs;                  /* block store syncs, one per commit */
};

/*
 * Open DIR (created when missing) with the genesis at `genesis_path` (NULL: DIR/genesis.toml)
 * and the block store `settings` (NULL: every default). 0, or an error with one line in
 * `err`: the genesis errors (cons_genesis_load), DC_ECORRUPT (a log damaged before its tail,
 * a missing or overlapping segment, or the stored chain does not start at this genesis),
 * -EWOULDBLOCK (another process has the directory open) or another negative errno.
 */
int cons_datadir_open(struct cons_datadir *dd, const char *dir, const char *genesis_path,
                      const struct cons_datadir_settings *settings, char *err, size_t err_size);
/*
 * The same over a directory the caller provides (`dir` must outlive the datadir): the
 * simulator's faulty memory directory (cons_dir_mem), so that a simulated crash goes through
 * this recovery and cons_datadir_resume(). `genesis` (validated) is copied; `label` names the
 * directory in `err`. The codes of cons_datadir_open() but the genesis file's and mkdir's.
 */
int cons_datadir_open_dir(struct cons_datadir *dd, struct cons_dir dir, const char *label,
                          const struct cons_genesis *genesis,
                          const struct cons_datadir_settings *settings, char *err,
                          size_t err_size);
/* Close both logs; unsynced records are dropped (as a crash would). */
void cons_datadir_close(struct cons_datadir *dd);

/*
 * Start `m` (initialised with dd->valset and the genesis chain id) after the stored head and
 * replay the WAL into it. 0, DC_EMALFORMED (a WAL record that is not ours) or a read error.
 */
int cons_datadir_resume(struct cons_datadir *dd, struct cons_machine *m);

/* PERSIST: queue the record. 0 or the WAL's error (then stop the node: see wal.h). */
int cons_datadir_persist(struct cons_datadir *dd, const struct cons_msg *msg);
/* Before a SEND (and at the end of each batch): one sync for every record persisted so far. */
int cons_datadir_before_send(struct cons_datadir *dd);
/*
 * COMMIT: append and sync the block with its certificate, reset the WAL to its header (it
 * holds one height's votes at most: bounded), then prune the store by the retain settings.
 * 0 or the first error (then stop the node).
 */
int cons_datadir_commit(struct cons_datadir *dd, const struct cons_block *block,
                        const struct cons_cert *cert);
/*
 * SERVE_SYNC / RPC: the stored block at `height`, in storage inside `dd` valid until the next
 * call. 0, DC_ENOTFOUND, DC_EPRUNED (below cons_datadir_oldest_height()) or
 * cons_store_read()'s errors.
 */
int cons_datadir_read(struct cons_datadir *dd, uint64_t height, const struct cons_block **block,
                      const struct cons_cert **cert);

uint64_t cons_datadir_height(const struct cons_datadir *dd);
/* Message ids ordered by the stored chain, every block counted (the same on every node). */
uint64_t cons_datadir_ids_total(const struct cons_datadir *dd);
const uint8_t *cons_datadir_head_hash(const struct cons_datadir *dd);
/* /metrics: bytes of the block store on disk (segments and blocks-pruned.log). */
uint64_t cons_datadir_store_bytes(const struct cons_datadir *dd);
/* /metrics: the oldest height whose full block is kept (1 until pruning starts). */
uint64_t cons_datadir_oldest_height(const struct cons_datadir *dd);
/* Bytes of the vote WAL, appended or synced (its header alone right after a commit). */
uint64_t cons_datadir_wal_bytes(const struct cons_datadir *dd);

#endif
