#include "consensus/wal.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"

#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: recovery streams payloads */
#include <xxhash.h>

#define FILE_MAGIC "DCHATLOG"
#define RECORD_MAGIC 0xDC57u
#define SCAN_CHUNK_BYTES 4096u

_Static_assert(sizeof(FILE_MAGIC) - 1 == 8, "file magic is 8 bytes");
_Static_assert(CONS_WAL_PAYLOAD_BYTES_LIMIT <= UINT32_MAX, "payload_len is a u32");

/* ---- Encoding ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

struct rec_header {
    uint16_t magic;
    uint16_t type;
    uint32_t payload_len;
    uint64_t seq;
};

static void header_encode(uint8_t out[CONS_WAL_RECORD_HEADER_BYTES], const struct rec_header *h)
{
    put16(out, h->magic);
    put16(out + 2, h->type);
    put32(out + 4, h->payload_len);
    put64(out + 8, h->seq);
}

static void header_decode(const uint8_t in[CONS_WAL_RECORD_HEADER_BYTES], struct rec_header *h)
{
    h->magic = get16(in);
    h->type = get16(in + 2);
    h->payload_len = get32(in + 4);
    h->seq = get64(in + 8);
}

/* The record checksum covers header and payload: the header's hash seeds the payload's. */
static uint64_t record_checksum(const uint8_t *header, const void *payload, size_t len)
{
    return XXH3_64bits_withSeed(payload, len, XXH3_64bits(header, CONS_WAL_RECORD_HEADER_BYTES));
}

static uint64_t record_bytes(uint32_t payload_len)
{
    return (uint64_t)CONS_WAL_RECORD_OVERHEAD_BYTES + payload_len;
}

/* ---- File header ---- */

static void file_header_encode(uint8_t out[CONS_WAL_FILE_HEADER_BYTES], uint32_t kind,
                               uint64_t first_seq)
{
    memcpy(out, FILE_MAGIC, 8);
    put32(out + 8, CONS_WAL_VERSION);
    put32(out + 12, kind);
    put64(out + 16, first_seq);
    put64(out + 24, XXH3_64bits(out, 24));
}

static int corrupt(struct cons_wal_report *report, uint64_t offset, uint64_t seq,
                   const char *why)
{
    report->bad_offset = offset;
    report->bad_seq = seq;
    report->why = why;
    return DC_ECORRUPT;
}

static int file_header_check(const uint8_t in[CONS_WAL_FILE_HEADER_BYTES], uint32_t kind,
                             uint64_t *first_seq_out, struct cons_wal_report *report)
{
    if (memcmp(in, FILE_MAGIC, 8) != 0) {
        return corrupt(report, 0, 0, "not a dchat log (bad file magic)");
    }
    if (get64(in + 24) != XXH3_64bits(in, 24)) {
        return corrupt(report, 0, 0, "file header checksum mismatch");
    }
    if (get32(in + 8) != CONS_WAL_VERSION) {
        return corrupt(report, 0, 0, "unsupported log format version");
    }
    if (get32(in + 12) != kind) {
        return corrupt(report, 0, 0, "log holds another kind of records");
    }
    *first_seq_out = get64(in + 16);
    if (*first_seq_out == 0 || *first_seq_out > UINT64_MAX / 2) {
        return corrupt(report, 0, 0, "file header's first seq is out of range");
    }
    return 0;
}

/* ---- Recovery ---- */

/*
 * Check the record at `offset` of a `size`-byte file without trusting any of it. Returns
 * 0 with `len_out` set (valid), 1 with `why` set (bad), or a negative errno from the disk.
 * `seq` 0 accepts any seq (the scan for valid data after a bad record).
 */
static int record_check(const struct cons_wal *wal, uint64_t offset, uint64_t size, uint64_t seq,
                        uint64_t *len_out, const char **why)
{
    uint8_t raw[CONS_WAL_RECORD_HEADER_BYTES];
    if (size - offset < CONS_WAL_RECORD_OVERHEAD_BYTES) {
        *why = "incomplete record";
        return 1;
    }
    int rc = wal->disk.ops->read(wal->disk.ctx, offset, raw, sizeof(raw));
    if (rc != 0) {
        return rc;
    }
    struct rec_header h;
    header_decode(raw, &h);
    if (h.magic != RECORD_MAGIC || h.type == 0 || h.payload_len > wal->config.payload_bytes_max) {
        *why = "impossible record header";
        return 1;
    }
    if (record_bytes(h.payload_len) > size - offset) {
        *why = "incomplete record";
        return 1;
    }
    XXH3_state_t state;
    XXH3_64bits_reset_withSeed(&state, XXH3_64bits(raw, sizeof(raw)));
    uint8_t chunk[SCAN_CHUNK_BYTES];
    uint64_t at = offset + CONS_WAL_RECORD_HEADER_BYTES;
    for (uint32_t left = h.payload_len; left > 0;) {
        uint32_t n = left < sizeof(chunk) ? left : (uint32_t)sizeof(chunk);
        rc = wal->disk.ops->read(wal->disk.ctx, at, chunk, n);
        if (rc != 0) {
            return rc;
        }
        XXH3_64bits_update(&state, chunk, n);
        at += n;
        left -= n;
    }
    rc = wal->disk.ops->read(wal->disk.ctx, at, chunk, CONS_WAL_RECORD_TRAILER_BYTES);
    if (rc != 0) {
        return rc;
    }
    if (get64(chunk) != XXH3_64bits_digest(&state)) {
        *why = "checksum mismatch";
        return 1;
    }
    if (seq != 0 && h.seq != seq) {
        *why = "sequence number out of order";
        return 1;
    }
    *len_out = record_bytes(h.payload_len);
    return 0;
}

/*
 * Whether any valid record starts after `offset`: if one does, the bad record at `offset`
 * is damage in the middle of the log, not a torn append. Costs a read of the rest of the
 * file, on the rare path only. Returns 1 (found, `found_out` set), 0 (none) or -errno.
 */
static int valid_record_after(const struct cons_wal *wal, uint64_t offset, uint64_t size,
                              uint64_t *found_out)
{
    uint8_t window[SCAN_CHUNK_BYTES + 1];
    for (uint64_t base = offset + 1; base + CONS_WAL_RECORD_OVERHEAD_BYTES <= size;
         base += SCAN_CHUNK_BYTES) {
        size_t n = size - base < sizeof(window) ? (size_t)(size - base) : sizeof(window);
        int rc = wal->disk.ops->read(wal->disk.ctx, base, window, n);
        if (rc != 0) {
            return rc;
        }
        for (size_t i = 0; i + 1 < n && i < SCAN_CHUNK_BYTES; i++) {
            if (get16(window + i) != RECORD_MAGIC) {
                continue;
            }
            uint64_t len = 0;
            const char *why = NULL;
            rc = record_check(wal, base + i, size, 0, &len, &why);
            if (rc < 0) {
                return rc;
            }
            if (rc == 0) {
                *found_out = base + i;
                return 1;
            }
        }
    }
    return 0;
}

/* A new (or torn-at-birth) file: write the header and make it durable before any record. */
static int create_header(struct cons_wal *wal, uint64_t old_size)
{
    uint8_t raw[CONS_WAL_FILE_HEADER_BYTES];
    file_header_encode(raw, wal->config.kind, wal->config.first_seq);
    int rc = wal->disk.ops->truncate(wal->disk.ctx, 0);
    if (rc == 0) {
        rc = wal->disk.ops->write(wal->disk.ctx, 0, raw, sizeof(raw));
    }
    if (rc == 0) {
        rc = wal->disk.ops->sync(wal->disk.ctx);
    }
    if (rc == 0 && old_size > 0) {
        DC_WARN("wal", "log file was torn while being created (%llu bytes); started it anew",
                (unsigned long long)old_size);
    }
    wal->first_seq = wal->config.first_seq;
    return rc;
}

static int config_check(const struct cons_wal_config *config)
{
    if (config->payload_bytes_max == 0 ||
        config->payload_bytes_max > CONS_WAL_PAYLOAD_BYTES_LIMIT ||
        config->buffer == NULL || config->buffer_bytes < CONS_WAL_RECORD_OVERHEAD_BYTES ||
        config->first_seq == 0 || config->kind == 0) {
        return DC_ECONFIG;
    }
    return 0;
}

/* Walk every record from the header on; stop at the end or at the first bad record. */
static int walk(struct cons_wal *wal, uint64_t size, uint64_t *end_out, uint64_t *seq_out,
                struct cons_wal_report *report)
{
    uint64_t offset = CONS_WAL_FILE_HEADER_BYTES;
    uint64_t seq = wal->first_seq;
    while (offset < size) {
        uint64_t len = 0;
        const char *why = NULL;
        int rc = record_check(wal, offset, size, seq, &len, &why);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            report->bad_offset = offset;
            report->bad_seq = seq;
            report->why = why;
            break;
        }
        DC_ASSERT(len >= CONS_WAL_RECORD_OVERHEAD_BYTES);
        offset += len;
        seq++;
        report->records++;
    }
    DC_ASSERT(offset <= size);
    *end_out = offset;
    *seq_out = seq;
    return 0;
}

/* The walk stopped at a bad record: cut it if it is a torn tail, refuse if it is not. */
static int handle_bad(struct cons_wal *wal, uint64_t end, uint64_t size,
                      struct cons_wal_report *report)
{
    uint64_t found = 0;
    int rc = valid_record_after(wal, end, size, &found);
    if (rc < 0) {
        return rc;
    }
    int strict = (wal->config.flags & CONS_WAL_STRICT) != 0;
    if (rc == 1 && !strict) { /* strict callers print their own one-line message */
        DC_ERROR("wal", "record seq %llu at offset %llu: %s, with a valid record after it at "
                 "offset %llu: corruption inside the log, refusing to truncate",
                 (unsigned long long)report->bad_seq, (unsigned long long)end, report->why,
                 (unsigned long long)found);
    }
    report->torn_tail = rc == 0;
    if (rc == 1 || strict) {
        return DC_ECORRUPT;
    }
    rc = wal->disk.ops->truncate(wal->disk.ctx, end);
    if (rc == 0) {
        rc = wal->disk.ops->sync(wal->disk.ctx);
    }
    if (rc != 0) {
        return rc;
    }
    report->bytes_cut = size - end;
    DC_WARN("wal", "cut a torn tail: record seq %llu at offset %llu (%s), %llu bytes dropped",
            (unsigned long long)report->bad_seq, (unsigned long long)end, report->why,
            (unsigned long long)report->bytes_cut);
    return 0;
}

static int recover(struct cons_wal *wal, struct cons_wal_report *report)
{
    uint64_t size = 0;
    int rc = wal->disk.ops->size(wal->disk.ctx, &size);
    if (rc != 0) {
        return rc;
    }
    int strict = (wal->config.flags & CONS_WAL_STRICT) != 0;
    if (size < CONS_WAL_FILE_HEADER_BYTES) {
        if (strict) {
            return corrupt(report, 0, 0, "file shorter than its header");
        }
        rc = create_header(wal, size);
        wal->end_offset = CONS_WAL_FILE_HEADER_BYTES;
        wal->next_seq = wal->first_seq;
        return rc;
    }
    uint8_t raw[CONS_WAL_FILE_HEADER_BYTES];
    rc = wal->disk.ops->read(wal->disk.ctx, 0, raw, sizeof(raw));
    if (rc == 0) {
        rc = file_header_check(raw, wal->config.kind, &wal->first_seq, report);
    }
    uint64_t end = 0;
    if (rc == 0) {
        rc = walk(wal, size, &end, &wal->next_seq, report);
    }
    if (rc == 0 && end < size) {
        rc = handle_bad(wal, end, size, report);
    }
    wal->end_offset = end;
    return rc;
}

int cons_wal_open(struct cons_wal *wal, struct cons_disk disk, const struct cons_wal_config *config,
                  struct cons_wal_report *report)
{
    struct cons_wal_report unused;
    if (report == NULL) {
        report = &unused;
    }
    memset(report, 0, sizeof(*report));
    memset(wal, 0, sizeof(*wal));
    int rc = config_check(config);
    if (rc != 0) {
        return rc;
    }
    wal->disk = disk;
    wal->config = *config;
    rc = recover(wal, report);
    if (rc != 0) {
        wal->failed = rc;
        return rc;
    }
    DC_ASSERT(wal->next_seq >= wal->first_seq);
    DC_ASSERT(wal->end_offset >= CONS_WAL_FILE_HEADER_BYTES);
    DC_ASSERT(report->records == wal->next_seq - wal->first_seq);
    wal->synced_seq = wal->next_seq - 1;
    wal->pending_first_seq = wal->next_seq;
    wal->buffer_offset = wal->end_offset;
    return 0;
}

int cons_wal_attach(struct cons_wal *wal, struct cons_disk disk,
                    const struct cons_wal_config *config, uint64_t first_seq, uint64_t next_seq,
                    uint64_t end_offset)
{
    memset(wal, 0, sizeof(*wal));
    int rc = config_check(config);
    if (rc != 0 || first_seq == 0 || next_seq < first_seq ||
        end_offset < CONS_WAL_FILE_HEADER_BYTES) {
        return rc != 0 ? rc : DC_ECONFIG;
    }
    wal->disk = disk;
    wal->config = *config;
    wal->config.flags |= CONS_WAL_STRICT;
    wal->first_seq = first_seq;
    wal->next_seq = next_seq;
    wal->synced_seq = next_seq - 1;
    wal->end_offset = end_offset;
    wal->buffer_offset = end_offset;
    wal->pending_first_seq = next_seq;
    return 0;
}

void cons_wal_fini(struct cons_wal *wal)
{
    wal->buffer_used = 0;
    wal->failed = DC_EUNSUPPORTED;
}

/* ---- Appending ---- */

static int poison(struct cons_wal *wal, int rc)
{
    DC_ASSERT(rc < 0);
    wal->failed = rc;
    return rc;
}

/* Write the buffered records out (no sync). */
static int flush(struct cons_wal *wal)
{
    if (wal->buffer_used == 0) {
        return 0;
    }
    int rc = wal->disk.ops->write(wal->disk.ctx, wal->buffer_offset, wal->config.buffer,
                                  wal->buffer_used);
    if (rc != 0) {
        return poison(wal, rc);
    }
    wal->buffer_offset += wal->buffer_used;
    wal->buffer_used = 0;
    wal->pending_first_seq = wal->next_seq;
    DC_ASSERT(wal->buffer_offset == wal->end_offset);
    return 0;
}

/* A record bigger than the whole buffer goes straight to the disk in three writes. */
static int write_direct(struct cons_wal *wal, const uint8_t *header, const void *payload,
                        uint32_t len, const uint8_t *trailer)
{
    uint64_t at = wal->buffer_offset;
    int rc = wal->disk.ops->write(wal->disk.ctx, at, header, CONS_WAL_RECORD_HEADER_BYTES);
    if (rc == 0 && len > 0) {
        rc = wal->disk.ops->write(wal->disk.ctx, at + CONS_WAL_RECORD_HEADER_BYTES, payload, len);
    }
    if (rc == 0) {
        rc = wal->disk.ops->write(wal->disk.ctx, at + CONS_WAL_RECORD_HEADER_BYTES + len, trailer,
                                  CONS_WAL_RECORD_TRAILER_BYTES);
    }
    if (rc != 0) {
        return poison(wal, rc);
    }
    wal->buffer_offset += record_bytes(len);
    return 0;
}

int cons_wal_append(struct cons_wal *wal, uint16_t type, const void *payload, uint32_t len,
                    uint64_t *seq_out)
{
    if (wal->failed != 0) {
        return wal->failed;
    }
    if ((wal->config.flags & CONS_WAL_STRICT) != 0) {
        return DC_EUNSUPPORTED;
    }
    if (len > wal->config.payload_bytes_max) {
        return DC_ETOOBIG;
    }
    DC_ASSERT(type != 0);
    DC_ASSERT(payload != NULL || len == 0);
    struct rec_header h = { RECORD_MAGIC, type, len, wal->next_seq };
    uint8_t header[CONS_WAL_RECORD_HEADER_BYTES];
    uint8_t trailer[CONS_WAL_RECORD_TRAILER_BYTES];
    header_encode(header, &h);
    put64(trailer, record_checksum(header, payload, len));
    uint64_t size = record_bytes(len);
    int rc = 0;
    if (wal->buffer_used + size > wal->config.buffer_bytes) {
        rc = flush(wal);
    }
    if (rc == 0 && size > wal->config.buffer_bytes) {
        rc = write_direct(wal, header, payload, len, trailer);
    } else if (rc == 0) {
        uint8_t *at = wal->config.buffer + wal->buffer_used;
        memcpy(at, header, sizeof(header));
        if (len > 0) {
            memcpy(at + sizeof(header), payload, len);
        }
        memcpy(at + sizeof(header) + len, trailer, sizeof(trailer));
        /* Pair with the read side: what we buffered decodes to what we were given. */
        struct rec_header back;
        header_decode(at, &back);
        DC_ASSERT(back.seq == h.seq && back.payload_len == len && back.type == type);
        wal->buffer_used += (size_t)size;
    }
    if (rc != 0) {
        return rc;
    }
    wal->end_offset += size;
    if (seq_out != NULL) {
        *seq_out = wal->next_seq;
    }
    wal->next_seq++;
    DC_ASSERT(wal->buffer_used <= wal->config.buffer_bytes);
    DC_ASSERT(wal->buffer_offset + wal->buffer_used == wal->end_offset);
    return 0;
}

int cons_wal_sync(struct cons_wal *wal)
{
    if (wal->failed != 0) {
        return wal->failed;
    }
    if ((wal->config.flags & CONS_WAL_STRICT) != 0) {
        return DC_EUNSUPPORTED;
    }
    if (wal->synced_seq + 1 == wal->next_seq) {
        return 0; /* nothing new: no sync call at all */
    }
    int rc = flush(wal);
    if (rc != 0) {
        return rc;
    }
    rc = wal->disk.ops->sync(wal->disk.ctx);
    if (rc != 0) {
        return poison(wal, rc);
    }
    wal->synced_seq = wal->next_seq - 1;
    DC_ASSERT(wal->buffer_used == 0);
    return 0;
}

int cons_wal_reset(struct cons_wal *wal)
{
    int rc = cons_wal_sync(wal);
    if (rc != 0) {
        return rc;
    }
    DC_ASSERT(wal->buffer_used == 0);
    wal->config.first_seq = wal->next_seq;
    rc = create_header(wal, 0);
    if (rc != 0) {
        return poison(wal, rc);
    }
    DC_ASSERT(wal->first_seq == wal->next_seq);
    wal->end_offset = CONS_WAL_FILE_HEADER_BYTES;
    wal->buffer_offset = CONS_WAL_FILE_HEADER_BYTES;
    wal->pending_first_seq = wal->next_seq;
    return 0;
}

int cons_wal_flush(struct cons_wal *wal)
{
    if (wal->failed != 0) {
        return wal->failed;
    }
    return (wal->config.flags & CONS_WAL_STRICT) != 0 ? 0 : flush(wal);
}

uint64_t cons_wal_synced_seq(const struct cons_wal *wal)
{
    return wal->synced_seq;
}

int cons_wal_is_durable(const struct cons_wal *wal, uint64_t seq)
{
    return seq >= wal->first_seq && seq <= wal->synced_seq;
}

uint64_t cons_wal_next_seq(const struct cons_wal *wal)
{
    return wal->next_seq;
}

/* ---- Reading ---- */

void cons_wal_cursor_init(const struct cons_wal *wal, struct cons_wal_cursor *cursor)
{
    cursor->offset = CONS_WAL_FILE_HEADER_BYTES;
    cursor->seq = wal->first_seq;
}

int cons_wal_read_at(struct cons_wal *wal, uint64_t offset, uint64_t seq,
                     struct cons_wal_record *rec, uint8_t *payload_buf, size_t payload_buf_bytes)
{
    uint8_t raw[CONS_WAL_RECORD_HEADER_BYTES];
    if (offset < CONS_WAL_FILE_HEADER_BYTES ||
        offset + CONS_WAL_RECORD_OVERHEAD_BYTES > wal->buffer_offset) {
        return DC_ENOTFOUND;
    }
    int rc = wal->disk.ops->read(wal->disk.ctx, offset, raw, sizeof(raw));
    if (rc != 0) {
        return rc == DC_ETRUNCATED ? DC_ECORRUPT : rc;
    }
    struct rec_header h;
    header_decode(raw, &h);
    if (h.magic != RECORD_MAGIC || h.type == 0 || h.seq != seq ||
        h.payload_len > wal->config.payload_bytes_max ||
        offset + record_bytes(h.payload_len) > wal->buffer_offset) {
        return DC_ECORRUPT;
    }
    if (h.payload_len > payload_buf_bytes) {
        return DC_ETOOBIG;
    }
    uint8_t trailer[CONS_WAL_RECORD_TRAILER_BYTES];
    rc = wal->disk.ops->read(wal->disk.ctx, offset + sizeof(raw), payload_buf, h.payload_len);
    if (rc == 0) {
        rc = wal->disk.ops->read(wal->disk.ctx, offset + sizeof(raw) + h.payload_len, trailer,
                                 sizeof(trailer));
    }
    if (rc != 0) {
        return rc == DC_ETRUNCATED ? DC_ECORRUPT : rc;
    }
    if (get64(trailer) != record_checksum(raw, payload_buf, h.payload_len)) {
        return DC_ECORRUPT;
    }
    *rec = (struct cons_wal_record){ .type = h.type, .payload_len = h.payload_len,
                                     .seq = h.seq, .offset = offset, .payload = payload_buf };
    /* Pair with the write side's assertions. */
    DC_ASSERT(rec->type != 0);
    DC_ASSERT(rec->payload_len <= wal->config.payload_bytes_max);
    DC_ASSERT(rec->seq >= wal->first_seq && rec->seq < wal->next_seq);
    return 0;
}

int cons_wal_next(struct cons_wal *wal, struct cons_wal_cursor *cursor,
                  struct cons_wal_record *rec, uint8_t *payload_buf, size_t payload_buf_bytes)
{
    DC_ASSERT(cursor->offset >= CONS_WAL_FILE_HEADER_BYTES);
    if (cursor->offset >= wal->buffer_offset) {
        DC_ASSERT(cursor->offset == wal->buffer_offset);
        return 0;
    }
    int rc = cons_wal_read_at(wal, cursor->offset, cursor->seq, rec, payload_buf,
                              payload_buf_bytes);
    if (rc == DC_ENOTFOUND) {
        rc = DC_ECORRUPT; /* the offset was inside the log: the record must be there */
    }
    if (rc != 0) {
        return rc;
    }
    cursor->offset += record_bytes(rec->payload_len);
    cursor->seq++;
    return 1;
}
