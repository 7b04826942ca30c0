#include "consensus/disk.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

/* ---- A real file ---- */

static int file_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    struct cons_disk_file *file = ctx;
    uint8_t *at = buf;
    while (len > 0) {
        ssize_t n = pread(file->fd, at, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return DC_ETRUNCATED;
        }
        at += n;
        offset += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int file_write(void *ctx, uint64_t offset, const void *buf, size_t len)
{
    struct cons_disk_file *file = ctx;
    const uint8_t *at = buf;
    while (len > 0) {
        ssize_t n = pwrite(file->fd, at, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        at += n;
        offset += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int file_sync(void *ctx)
{
    struct cons_disk_file *file = ctx;
    return fdatasync(file->fd) == 0 ? 0 : -errno;
}

static int file_truncate(void *ctx, uint64_t len)
{
    struct cons_disk_file *file = ctx;
    return ftruncate(file->fd, (off_t)len) == 0 ? 0 : -errno;
}

static int file_size(void *ctx, uint64_t *len_out)
{
    struct cons_disk_file *file = ctx;
    struct stat st;
    if (fstat(file->fd, &st) != 0) {
        return -errno;
    }
    *len_out = (uint64_t)st.st_size;
    return 0;
}

static const struct cons_disk_ops file_ops = {
    .read = file_read,
    .write = file_write,
    .sync = file_sync,
    .truncate = file_truncate,
    .size = file_size,
};

/* A new file's name is durable only once its directory is synced. */
static int sync_parent_dir(const char *path)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy)) {
        return -ENAMETOOLONG;
    }
    int dir = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        return -errno;
    }
    int rc = fsync(dir) == 0 ? 0 : -errno;
    close(dir);
    return rc;
}

int cons_disk_file_open(struct cons_disk_file *file, const char *path, unsigned flags)
{
    int readonly = (flags & CONS_DISK_READONLY) != 0;
    int oflags = O_CLOEXEC | (readonly ? O_RDONLY : O_RDWR);
    file->fd = open(path, oflags);
    if (file->fd < 0 && errno == ENOENT && !readonly && (flags & CONS_DISK_CREATE) != 0) {
        file->fd = open(path, oflags | O_CREAT | O_EXCL, 0600);
        if (file->fd >= 0) {
            int rc = sync_parent_dir(path);
            if (rc != 0) {
                cons_disk_file_close(file);
                return rc;
            }
        }
    }
    if (file->fd < 0) {
        return -errno;
    }
    if (!readonly && flock(file->fd, LOCK_EX | LOCK_NB) != 0) {
        int rc = -errno;
        cons_disk_file_close(file);
        return rc;
    }
    return 0;
}

void cons_disk_file_close(struct cons_disk_file *file)
{
    if (file->fd >= 0) {
        close(file->fd); /* also drops the flock */
        file->fd = -1;
    }
}

struct cons_disk cons_disk_file_disk(struct cons_disk_file *file)
{
    DC_ASSERT(file->fd >= 0);
    return (struct cons_disk){ .ops = &file_ops, .ctx = file };
}

/* ---- Memory ---- */

static int mem_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    struct cons_disk_mem *mem = ctx;
    if (offset > mem->len || len > mem->len - offset) {
        return DC_ETRUNCATED;
    }
    memcpy(buf, mem->bytes + offset, len);
    return 0;
}

static int mem_write(void *ctx, uint64_t offset, const void *buf, size_t len)
{
    struct cons_disk_mem *mem = ctx;
    if (offset > mem->capacity || len > mem->capacity - offset) {
        return -ENOSPC;
    }
    if (offset > mem->len) {
        memset(mem->bytes + mem->len, 0, (size_t)(offset - mem->len));
    }
    memcpy(mem->bytes + offset, buf, len);
    if (offset + len > mem->len) {
        mem->len = offset + len;
    }
    /* Overwritten bytes are not durable until the next sync: the old ones may be lost too. */
    if (offset < mem->durable_len) {
        mem->durable_len = offset;
    }
    return 0;
}

static int mem_sync(void *ctx)
{
    struct cons_disk_mem *mem = ctx;
    if (mem->fail_next_sync) {
        mem->fail_next_sync = 0;
        return -EIO;
    }
    mem->durable_len = mem->len;
    mem->syncs++;
    return 0;
}

static int mem_truncate(void *ctx, uint64_t len)
{
    struct cons_disk_mem *mem = ctx;
    if (len > mem->capacity) {
        return -ENOSPC;
    }
    if (len > mem->len) {
        memset(mem->bytes + mem->len, 0, (size_t)(len - mem->len));
    }
    mem->len = len;
    if (mem->durable_len > len) {
        mem->durable_len = len;
    }
    return 0;
}

static int mem_size(void *ctx, uint64_t *len_out)
{
    struct cons_disk_mem *mem = ctx;
    *len_out = mem->len;
    return 0;
}

static const struct cons_disk_ops mem_ops = {
    .read = mem_read,
    .write = mem_write,
    .sync = mem_sync,
    .truncate = mem_truncate,
    .size = mem_size,
};

void cons_disk_mem_init(struct cons_disk_mem *mem, uint8_t *bytes, size_t capacity)
{
    memset(mem, 0, sizeof(*mem));
    mem->bytes = bytes;
    mem->capacity = capacity;
}

struct cons_disk cons_disk_mem_disk(struct cons_disk_mem *mem)
{
    return (struct cons_disk){ .ops = &mem_ops, .ctx = mem };
}

void cons_disk_mem_crash(struct cons_disk_mem *mem, uint64_t keep_unsynced)
{
    DC_ASSERT(mem->durable_len <= mem->len);
    uint64_t unsynced = mem->len - mem->durable_len;
    mem->len = mem->durable_len + (keep_unsynced < unsynced ? keep_unsynced : unsynced);
    mem->durable_len = mem->len;
    mem->fail_next_sync = 0;
}

/* ---- A real directory ---- */

static int name_ok(const char *name)
{
    size_t len = strnlen(name, CONS_DIR_NAME_BYTES);
    return len > 0 && len < CONS_DIR_NAME_BYTES && strchr(name, '/') == NULL && name[0] != '.';
}

static int fs_sync_dir(struct cons_dir_fs *fs)
{
    return fsync(fs->fd) == 0 ? 0 : -errno;
}

static int fs_list(void *ctx, int (*fn)(void *arg, const char *name), void *arg)
{
    struct cons_dir_fs *fs = ctx;
    DIR *d = opendir(fs->path);
    if (d == NULL) {
        return -errno;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (name_ok(e->d_name) && (e->d_type == DT_REG || e->d_type == DT_UNKNOWN)) {
            rc = fn(arg, e->d_name);
        }
    }
    closedir(d);
    return rc;
}

static int fs_open(void *ctx, const char *name, unsigned flags, struct cons_disk *disk_out)
{
    struct cons_dir_fs *fs = ctx;
    if (!name_ok(name)) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < CONS_DIR_FS_FILES; i++) {
        struct cons_disk_file *file = &fs->files[i];
        if (file->fd >= 0) {
            continue;
        }
        char path[CONS_DIR_PATH_BYTES + CONS_DIR_NAME_BYTES + 1];
        snprintf(path, sizeof(path), "%s/%s", fs->path, name);
        int rc = cons_disk_file_open(file, path, flags);
        if (rc == 0) {
            *disk_out = cons_disk_file_disk(file);
        }
        return rc;
    }
    return DC_EFULL;
}

static void fs_close(void *ctx, struct cons_disk disk)
{
    struct cons_dir_fs *fs = ctx;
    struct cons_disk_file *file = disk.ctx;
    DC_ASSERT(file >= fs->files && file < fs->files + CONS_DIR_FS_FILES);
    cons_disk_file_close(file);
}

static int fs_unlink(void *ctx, const char *name)
{
    struct cons_dir_fs *fs = ctx;
    if (!name_ok(name)) {
        return -EINVAL;
    }
    if (unlinkat(fs->fd, name, 0) != 0) {
        return -errno;
    }
    return fs_sync_dir(fs);
}

static int fs_rename(void *ctx, const char *from, const char *to)
{
    struct cons_dir_fs *fs = ctx;
    if (!name_ok(from) || !name_ok(to)) {
        return -EINVAL;
    }
    if (renameat(fs->fd, from, fs->fd, to) != 0) {
        return -errno;
    }
    return fs_sync_dir(fs);
}

static const struct cons_dir_ops fs_ops = {
    .list = fs_list,
    .open = fs_open,
    .close = fs_close,
    .unlink = fs_unlink,
    .rename = fs_rename,
};

int cons_dir_fs_open(struct cons_dir_fs *fs, const char *path, unsigned flags)
{
    memset(fs, 0, sizeof(*fs));
    for (unsigned i = 0; i < CONS_DIR_FS_FILES; i++) {
        fs->files[i].fd = -1;
    }
    if (snprintf(fs->path, sizeof(fs->path), "%s", path) >= (int)sizeof(fs->path)) {
        fs->fd = -1;
        return -ENAMETOOLONG;
    }
    fs->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->fd < 0) {
        return -errno;
    }
    if ((flags & CONS_DISK_READONLY) == 0 && flock(fs->fd, LOCK_EX | LOCK_NB) != 0) {
        int rc = -errno;
        close(fs->fd);
        fs->fd = -1;
        return rc;
    }
    return 0;
}

void cons_dir_fs_close(struct cons_dir_fs *fs)
{
    for (unsigned i = 0; i < CONS_DIR_FS_FILES; i++) {
        cons_disk_file_close(&fs->files[i]);
    }
    if (fs->fd >= 0) {
        close(fs->fd);
        fs->fd = -1;
    }
}

struct cons_dir cons_dir_fs_dir(struct cons_dir_fs *fs)
{
    DC_ASSERT(fs->fd >= 0);
    return (struct cons_dir){ .ops = &fs_ops, .ctx = fs };
}

/* ---- A memory directory ---- */

static struct cons_dir_mem_file *mem_find(struct cons_dir_mem *dm, const char *name)
{
    for (unsigned i = 0; i < CONS_DIR_MEM_FILES; i++) {
        if (dm->files[i].exists && strcmp(dm->files[i].name, name) == 0) {
            return &dm->files[i];
        }
    }
    return NULL;
}

static int mem_list(void *ctx, int (*fn)(void *arg, const char *name), void *arg)
{
    struct cons_dir_mem *dm = ctx;
    for (unsigned i = 0; i < CONS_DIR_MEM_FILES; i++) {
        if (dm->files[i].exists) {
            int rc = fn(arg, dm->files[i].name);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static int mem_open(void *ctx, const char *name, unsigned flags, struct cons_disk *disk_out)
{
    struct cons_dir_mem *dm = ctx;
    if (!name_ok(name)) {
        return -EINVAL;
    }
    struct cons_dir_mem_file *file = mem_find(dm, name);
    if (file == NULL && (flags & CONS_DISK_CREATE) != 0 && (flags & CONS_DISK_READONLY) == 0) {
        for (unsigned i = 0; i < dm->file_count && file == NULL; i++) {
            if (!dm->files[i].exists) {
                file = &dm->files[i];
            }
        }
        if (file == NULL) {
            return DC_EFULL;
        }
        snprintf(file->name, sizeof(file->name), "%s", name);
        file->exists = 1;
        file->mem.len = 0;
        file->mem.durable_len = 0;
    }
    if (file == NULL) {
        return -ENOENT;
    }
    *disk_out = cons_disk_mem_disk(&file->mem);
    return 0;
}

static void mem_close(void *ctx, struct cons_disk disk)
{
    (void)ctx;
    (void)disk;
}

static int mem_unlink(void *ctx, const char *name)
{
    struct cons_dir_mem *dm = ctx;
    if (dm->fail_next_unlink) {
        dm->fail_next_unlink = 0;
        return -EIO;
    }
    struct cons_dir_mem_file *file = mem_find(dm, name);
    if (file == NULL) {
        return -ENOENT;
    }
    file->exists = 0;
    return 0;
}

static int mem_rename(void *ctx, const char *from, const char *to)
{
    struct cons_dir_mem *dm = ctx;
    struct cons_dir_mem_file *file = mem_find(dm, from);
    if (file == NULL) {
        return -ENOENT;
    }
    if (!name_ok(to)) {
        return -EINVAL;
    }
    struct cons_dir_mem_file *old = mem_find(dm, to);
    if (old != NULL && old != file) {
        old->exists = 0;
    }
    snprintf(file->name, sizeof(file->name), "%s", to);
    return 0;
}

static const struct cons_dir_ops dir_mem_ops = {
    .list = mem_list,
    .open = mem_open,
    .close = mem_close,
    .unlink = mem_unlink,
    .rename = mem_rename,
};

void cons_dir_mem_init(struct cons_dir_mem *dm, uint8_t *bytes, size_t file_capacity,
                       unsigned files)
{
    DC_ASSERT(files <= CONS_DIR_MEM_FILES);
    memset(dm, 0, sizeof(*dm));
    dm->file_count = files;
    for (unsigned i = 0; i < files; i++) {
        cons_disk_mem_init(&dm->files[i].mem, bytes + (size_t)i * file_capacity, file_capacity);
    }
}

struct cons_dir cons_dir_mem_dir(struct cons_dir_mem *dm)
{
    return (struct cons_dir){ .ops = &dir_mem_ops, .ctx = dm };
}

struct cons_disk_mem *cons_dir_mem_file(struct cons_dir_mem *dm, const char *name)
{
    struct cons_dir_mem_file *file = mem_find(dm, name);
    return file != NULL ? &file->mem : NULL;
}

void cons_dir_mem_crash(struct cons_dir_mem *dm, uint64_t keep_unsynced)
{
    for (unsigned i = 0; i < CONS_DIR_MEM_FILES; i++) {
        if (dm->files[i].exists) {
            cons_disk_mem_crash(&dm->files[i].mem, keep_unsynced);
        }
    }
}
