/*
 * cons_disk: the byte-addressed file that the WAL and the block store sit on.
 *
 * Storage reaches the disk only through this small ops table, so the node runs the WAL and
 * the block store over a real file (cons_disk_file) while the simulator and the unit tests
 * run the very same code over memory (cons_disk_mem) that can lose its unsynced writes or
 * keep only a torn prefix of them, as a power cut would.
 *
 * Threads: a disk belongs to one thread at a time (the owner of the WAL or store on top).
 */
#ifndef CONS_DISK_H
#define CONS_DISK_H

#include <stddef.h>
#include <stdint.h>

/*
 * Every op returns 0 or a negative errno / DC_E* code. `read` fails with DC_ETRUNCATED when
 * the range runs past the end of the file. Writes are durable only once `sync` returns 0.
 */
struct cons_disk_ops {
    int (*read)(void *ctx, uint64_t offset, void *buf, size_t len);
    int (*write)(void *ctx, uint64_t offset, const void *buf, size_t len);
    int (*sync)(void *ctx);
    int (*truncate)(void *ctx, uint64_t len);
    int (*size)(void *ctx, uint64_t *len_out);
};

struct cons_disk {
    const struct cons_disk_ops *ops;
    void *ctx;
};

/* ---- A real file ---- */

enum cons_disk_file_flags {
    CONS_DISK_CREATE = 1u << 0,   /* create the file when missing */
    CONS_DISK_READONLY = 1u << 1, /* open for reading only (dchat chain verify) */
};

struct cons_disk_file {
    int fd;
};

/*
 * Open `path`. A writable file is locked (flock, exclusive, non-blocking) so that two
 * processes never append to one log: a second opener gets -EWOULDBLOCK. On creation the
 * directory entry is synced too. Returns 0 or a negative errno.
 */
int cons_disk_file_open(struct cons_disk_file *file, const char *path, unsigned flags);
void cons_disk_file_close(struct cons_disk_file *file);
struct cons_disk cons_disk_file_disk(struct cons_disk_file *file);

/* ---- Memory, with crash faults (unit tests and the simulator) ---- */

struct cons_disk_mem {
    uint8_t *bytes;        /* caller-owned storage */
    size_t capacity;       /* writes past it fail with -ENOSPC */
    uint64_t len;          /* current length, synced or not */
    uint64_t durable_len;  /* bytes [0, durable_len) survive a crash */
    uint64_t syncs;        /* how many sync calls succeeded (group-commit checks) */
    int fail_next_sync;    /* fault hook: the next sync returns -EIO when set */
};

/* `bytes` must outlive the disk; its contents start empty. */
void cons_disk_mem_init(struct cons_disk_mem *mem, uint8_t *bytes, size_t capacity);
struct cons_disk cons_disk_mem_disk(struct cons_disk_mem *mem);
/*
 * A power cut: everything written after the last sync is lost except its first
 * `keep_unsynced` bytes (0 loses all of it; a value inside a record makes a torn tail).
 */
void cons_disk_mem_crash(struct cons_disk_mem *mem, uint64_t keep_unsynced);

#endif
