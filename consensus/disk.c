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
