/*
 * cons_disk: the byte-addressed file that the WAL and the block store sit on.
 *
 * Storage reaches the disk only through this small ops table, so the node runs the WAL and
 * the block store over a real file (cons_disk_file) while the simulator and the unit tests
 * run the very same code over memory (cons_disk_mem) that can lose its unsynced writes or
 * keep only a torn prefix of them, as a power cut would.
 *
 * The block store is a directory of such files (segments and a side file), so a second small
 * table, cons_dir_ops, lists, opens, renames and unlinks files by name: cons_dir_fs is a real
 * directory, cons_dir_mem a fixed set of named memory disks with the same crash faults.
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

/* ---- A directory of files (the block store's segments) ---- */

#define CONS_DIR_NAME_BYTES 64u   /* longest file name, with its NUL */
#define CONS_DIR_PATH_BYTES 4096u
#define CONS_DIR_FS_FILES 8u      /* files one cons_dir_fs holds open at once */
#define CONS_DIR_MEM_FILES 256u

/*
 * Every op returns 0 or a negative errno. `open` takes enum cons_disk_file_flags (a missing
 * file without CONS_DISK_CREATE: -ENOENT; no free slot: DC_EFULL); `list` calls `fn` once per
 * file name in no order and stops at fn's first non-zero return, which it returns; `unlink`
 * and `rename` (atomic, replaces `to`) are durable when they return 0.
 */
struct cons_dir_ops {
    int (*list)(void *ctx, int (*fn)(void *arg, const char *name), void *arg);
    int (*open)(void *ctx, const char *name, unsigned flags, struct cons_disk *disk_out);
    void (*close)(void *ctx, struct cons_disk disk);
    int (*unlink)(void *ctx, const char *name);
    int (*rename)(void *ctx, const char *from, const char *to);
};

struct cons_dir {
    const struct cons_dir_ops *ops;
    void *ctx;
};

struct cons_dir_fs {
    char path[CONS_DIR_PATH_BYTES];
    int fd;                                    /* the directory; locked when writable */
    struct cons_disk_file files[CONS_DIR_FS_FILES];
};

/*
 * Open the directory `path` (it must exist). Unless CONS_DISK_READONLY, it is locked (flock,
 * exclusive, non-blocking): a second writer gets -EWOULDBLOCK. 0 or a negative errno.
 */
int cons_dir_fs_open(struct cons_dir_fs *fs, const char *path, unsigned flags);
/* Closes every file still open and drops the lock. */
void cons_dir_fs_close(struct cons_dir_fs *fs);
struct cons_dir cons_dir_fs_dir(struct cons_dir_fs *fs);

struct cons_dir_mem_file {
    char name[CONS_DIR_NAME_BYTES];
    int exists;
    struct cons_disk_mem mem;
};

struct cons_dir_mem {
    struct cons_dir_mem_file files[CONS_DIR_MEM_FILES];
    unsigned file_count;   /* files usable, <= CONS_DIR_MEM_FILES */
    int fail_next_unlink;  /* fault hook: the next unlink returns -EIO, the file stays */
};

/*
 * `files` (<= CONS_DIR_MEM_FILES) files at most, file i in bytes[i * file_capacity, (i + 1) *
 * file_capacity); the directory starts empty.
 */
void cons_dir_mem_init(struct cons_dir_mem *dm, uint8_t *bytes, size_t file_capacity,
                       unsigned files);
struct cons_dir cons_dir_mem_dir(struct cons_dir_mem *dm);
/* The memory disk named `name` (NULL when missing), for tests that damage or crash it. */
struct cons_disk_mem *cons_dir_mem_file(struct cons_dir_mem *dm, const char *name);
/* A power cut: cons_disk_mem_crash(keep_unsynced) on every file (names are always durable). */
void cons_dir_mem_crash(struct cons_dir_mem *dm, uint64_t keep_unsynced);

#endif
