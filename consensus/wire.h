/*
 * cons_wire: little-endian writers and readers shared by the consensus codecs.
 *
 * Every consensus encoding is a fixed sequence of little-endian integers and byte strings
 * (docs/CONSENSUS.md). A writer asserts that the caller sized the buffer (our bug otherwise);
 * a reader never trusts the input: running past the end latches DC_ETRUNCATED and returns
 * zeros, so a decoder checks `err` once after reading a whole record. Any thread may use
 * them on buffers it owns.
 */
#ifndef CONS_WIRE_H
#define CONS_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"

struct cons_wr {
    uint8_t *buf;
    size_t len;
    size_t cap;
};

struct cons_rd {
    const uint8_t *buf;
    size_t len;
    size_t off;
    int err;
};

static inline void cons_wr_bytes(struct cons_wr *wr, const void *src, size_t size)
{
    DC_ASSERT(wr->len <= wr->cap);
    DC_ASSERT(size <= wr->cap - wr->len);
    if (size > 0) {
        memcpy(wr->buf + wr->len, src, size);
    }
    wr->len += size;
}

static inline void cons_wr_uint(struct cons_wr *wr, uint64_t value, size_t size)
{
    uint8_t tmp[8];
    DC_ASSERT(size <= sizeof(tmp));
    for (size_t i = 0; i < size; i++) {
        tmp[i] = (uint8_t)(value >> (8 * i));
    }
    cons_wr_bytes(wr, tmp, size);
}

static inline void cons_wr_u8(struct cons_wr *wr, uint8_t v) { cons_wr_uint(wr, v, 1); }
static inline void cons_wr_u16(struct cons_wr *wr, uint16_t v) { cons_wr_uint(wr, v, 2); }
static inline void cons_wr_u32(struct cons_wr *wr, uint32_t v) { cons_wr_uint(wr, v, 4); }
static inline void cons_wr_u64(struct cons_wr *wr, uint64_t v) { cons_wr_uint(wr, v, 8); }

/* Copies `size` bytes out, or zeros them and latches DC_ETRUNCATED when the input is short. */
static inline void cons_rd_bytes(struct cons_rd *rd, void *dst, size_t size)
{
    if (rd->err != 0 || size > rd->len - rd->off) {
        rd->err = DC_ETRUNCATED;
        memset(dst, 0, size);
        return;
    }
    memcpy(dst, rd->buf + rd->off, size);
    rd->off += size;
}

static inline uint64_t cons_rd_uint(struct cons_rd *rd, size_t size)
{
    uint8_t tmp[8];
    uint64_t value = 0;
    DC_ASSERT(size <= sizeof(tmp));
    cons_rd_bytes(rd, tmp, size);
    for (size_t i = 0; i < size; i++) {
        value |= (uint64_t)tmp[i] << (8 * i);
    }
    return value;
}

static inline uint8_t cons_rd_u8(struct cons_rd *rd) { return (uint8_t)cons_rd_uint(rd, 1); }
static inline uint16_t cons_rd_u16(struct cons_rd *rd) { return (uint16_t)cons_rd_uint(rd, 2); }
static inline uint32_t cons_rd_u32(struct cons_rd *rd) { return (uint32_t)cons_rd_uint(rd, 4); }
static inline uint64_t cons_rd_u64(struct cons_rd *rd) { return cons_rd_uint(rd, 8); }

#endif
