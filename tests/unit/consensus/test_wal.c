#include "consensus/wal.h"

#include "common/dc_err.h"
#include "common/dc_log.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DISK_BYTES (1u << 20)
#define PAYLOAD_MAX 512u
#define RECORDS 12u

static uint8_t disk_bytes[DISK_BYTES];
static uint8_t snapshot[DISK_BYTES];
static uint8_t wal_buffer[4096];
static uint8_t payload_buf[PAYLOAD_MAX];

static void quiet(void)
{
    dc_log_set_level(DC_LOG_ERROR + 1); /* recovery logs each cut; thousands here */
}

static struct cons_wal_config config(unsigned flags)
{
    return (struct cons_wal_config){ .kind = CONS_WAL_KIND_TEST,
                                     .payload_bytes_max = PAYLOAD_MAX,
                                     .buffer = wal_buffer,
                                     .buffer_bytes = sizeof(wal_buffer),
                                     .flags = flags,
                                     .first_seq = 1 };
}

/* Record i: type 1 + i % 3, i*7 % 100 bytes of a pattern derived from i (0 bytes for i=0). */
static uint32_t fill_payload(uint32_t i, uint8_t *out)
{
    uint32_t len = (i * 37u) % 200u;
    for (uint32_t b = 0; b < len; b++) {
        out[b] = (uint8_t)(i * 31u + b);
    }
    return len;
}

/* Write RECORDS records and sync; offsets_out[i] = offset of record i, [RECORDS] = end. */
static void write_log(struct cons_disk_mem *mem, uint64_t *offsets_out)
{
    struct cons_wal wal;
    cons_disk_mem_init(mem, disk_bytes, sizeof(disk_bytes));
    struct cons_wal_config cfg = config(0);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(mem), &cfg, NULL), 0);
    uint8_t payload[PAYLOAD_MAX];
    for (uint32_t i = 0; i < RECORDS; i++) {
        offsets_out[i] = wal.end_offset;
        uint32_t len = fill_payload(i, payload);
        uint64_t seq = 0;
        cr_assert_eq(cons_wal_append(&wal, (uint16_t)(1 + i % 3), payload, len, &seq), 0);
        cr_assert_eq(seq, i + 1);
    }
    offsets_out[RECORDS] = wal.end_offset;
    cr_assert_eq(cons_wal_sync(&wal), 0);
    cr_assert_eq(mem->len, offsets_out[RECORDS]);
    cons_wal_fini(&wal);
}

/* Reopen and check that exactly the first `whole` records come back, in order. */
static void expect_records(struct cons_disk_mem *mem, uint32_t whole, unsigned flags)
{
    struct cons_wal wal;
    struct cons_wal_report report;
    struct cons_wal_config cfg = config(flags);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(mem), &cfg, &report), 0);
    cr_assert_eq(report.records, whole);
    struct cons_wal_cursor cursor;
    cons_wal_cursor_init(&wal, &cursor);
    uint8_t want[PAYLOAD_MAX];
    for (uint32_t i = 0; i < whole; i++) {
        struct cons_wal_record rec;
        cr_assert_eq(cons_wal_next(&wal, &cursor, &rec, payload_buf, sizeof(payload_buf)), 1);
        uint32_t len = fill_payload(i, want);
        cr_assert_eq(rec.seq, i + 1);
        cr_assert_eq(rec.type, 1 + i % 3);
        cr_assert_eq(rec.payload_len, len);
        cr_assert_eq(memcmp(rec.payload, want, len), 0);
    }
    struct cons_wal_record rec;
    cr_assert_eq(cons_wal_next(&wal, &cursor, &rec, payload_buf, sizeof(payload_buf)), 0);
    cr_assert_eq(cons_wal_next_seq(&wal), whole + 1);
    cons_wal_fini(&wal);
}

Test(cons_wal, records_round_trip_across_reopen)
{
    struct cons_disk_mem mem;
    uint64_t offsets[RECORDS + 1];
    write_log(&mem, offsets);
    expect_records(&mem, RECORDS, 0);
    expect_records(&mem, RECORDS, CONS_WAL_STRICT);
    cr_assert_eq(mem.len, offsets[RECORDS], "a clean log is left as it was");
}

Test(cons_wal, cut_at_every_offset_of_the_last_record_keeps_the_whole_ones, .init = quiet)
{
    struct cons_disk_mem mem;
    uint64_t offsets[RECORDS + 1];
    write_log(&mem, offsets);
    memcpy(snapshot, disk_bytes, (size_t)mem.len);
    uint64_t last = offsets[RECORDS - 1];
    for (uint64_t cut = last; cut < offsets[RECORDS]; cut++) {
        memcpy(disk_bytes, snapshot, (size_t)offsets[RECORDS]);
        mem.len = cut;
        mem.durable_len = cut;
        expect_records(&mem, RECORDS - 1, 0);
        cr_assert_eq(mem.len, last, "cut %llu: the torn tail is truncated away",
                     (unsigned long long)cut);
    }
}

Test(cons_wal, flipped_byte_in_the_last_record_is_a_torn_tail, .init = quiet)
{
    struct cons_disk_mem mem;
    uint64_t offsets[RECORDS + 1];
    write_log(&mem, offsets);
    memcpy(snapshot, disk_bytes, (size_t)mem.len);
    for (uint64_t at = offsets[RECORDS - 1]; at < offsets[RECORDS]; at++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            memcpy(disk_bytes, snapshot, (size_t)offsets[RECORDS]);
            mem.len = offsets[RECORDS];
            disk_bytes[at] ^= (uint8_t)(1u << bit);
            expect_records(&mem, RECORDS - 1, 0);
            cr_assert_eq(mem.len, offsets[RECORDS - 1]);
        }
    }
}

Test(cons_wal, flipped_byte_before_the_tail_is_corruption_and_changes_nothing, .init = quiet)
{
    struct cons_disk_mem mem;
    uint64_t offsets[RECORDS + 1];
    write_log(&mem, offsets);
    memcpy(snapshot, disk_bytes, (size_t)mem.len);
    uint32_t victims[] = { 0, 5, RECORDS - 2 };
    for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
        uint32_t r = victims[v];
        for (uint64_t at = offsets[r]; at < offsets[r + 1]; at++) {
            memcpy(disk_bytes, snapshot, (size_t)offsets[RECORDS]);
            mem.len = offsets[RECORDS];
            disk_bytes[at] ^= 0x20;
            struct cons_wal wal;
            struct cons_wal_report report;
            struct cons_wal_config cfg = config(0);
            int rc = cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, &report);
            cr_assert_eq(rc, DC_ECORRUPT, "record %u byte %llu: got %d", r,
                         (unsigned long long)(at - offsets[r]), rc);
            cr_assert_eq(report.bad_offset, offsets[r]);
            cr_assert_eq(report.bad_seq, r + 1);
            cr_assert_not_null(report.why);
            cr_assert_eq(mem.len, offsets[RECORDS], "never a silent truncation");
            cr_assert_eq(cons_wal_append(&wal, 1, "x", 1, NULL), DC_ECORRUPT);
        }
    }
}

Test(cons_wal, strict_mode_reports_a_torn_tail_instead_of_cutting_it, .init = quiet)
{
    struct cons_disk_mem mem;
    uint64_t offsets[RECORDS + 1];
    write_log(&mem, offsets);
    mem.len = offsets[RECORDS] - 3;
    struct cons_wal wal;
    struct cons_wal_report report;
    struct cons_wal_config cfg = config(CONS_WAL_STRICT);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, &report), DC_ECORRUPT);
    cr_assert_eq(report.bad_seq, RECORDS);
    cr_assert_str_eq(report.why, "incomplete record");
    cr_assert_eq(mem.len, offsets[RECORDS] - 3);
}

Test(cons_wal, group_commit_syncs_once_and_durability_follows_the_sync)
{
    struct cons_disk_mem mem;
    cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
    struct cons_wal wal;
    struct cons_wal_config cfg = config(0);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, NULL), 0);
    uint64_t syncs_before = mem.syncs;
    uint64_t seq = 0;
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(cons_wal_append(&wal, 2, "vote", 4, &seq), 0);
        cr_assert_not(cons_wal_is_durable(&wal, seq));
    }
    cr_assert_eq(mem.syncs, syncs_before, "appending never syncs");
    cr_assert_eq(cons_wal_sync(&wal), 0);
    cr_assert_eq(mem.syncs, syncs_before + 1, "one sync for the whole group");
    cr_assert(cons_wal_is_durable(&wal, seq));
    cr_assert_eq(cons_wal_synced_seq(&wal), 200);
    cr_assert_eq(cons_wal_sync(&wal), 0);
    cr_assert_eq(mem.syncs, syncs_before + 1, "nothing new: no sync");
}

Test(cons_wal, crash_loses_only_unsynced_records, .init = quiet)
{
    struct cons_disk_mem mem;
    struct cons_wal wal;
    struct cons_wal_config cfg = config(0);
    for (uint64_t keep = 0; keep < 120; keep += 7) {
        cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
        cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, NULL), 0);
        for (int i = 0; i < 5; i++) {
            cr_assert_eq(cons_wal_append(&wal, 1, "synced!!", 8, NULL), 0);
        }
        cr_assert_eq(cons_wal_sync(&wal), 0);
        for (int i = 0; i < 5; i++) {
            cr_assert_eq(cons_wal_append(&wal, 1, "unsynced", 8, NULL), 0);
        }
        mem.fail_next_sync = 1; /* written out, never made durable: then the power cut */
        cr_assert_eq(cons_wal_sync(&wal), -EIO);
        cons_disk_mem_crash(&mem, keep);
        struct cons_wal_report report;
        cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, &report), 0);
        cr_assert_eq(report.records, 5 + keep / (CONS_WAL_RECORD_OVERHEAD_BYTES + 8));
    }
}

Test(cons_wal, failed_sync_poisons_the_log)
{
    struct cons_disk_mem mem;
    cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
    struct cons_wal wal;
    struct cons_wal_config cfg = config(0);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, NULL), 0);
    uint64_t seq = 0;
    cr_assert_eq(cons_wal_append(&wal, 1, "a", 1, &seq), 0);
    mem.fail_next_sync = 1;
    cr_assert_eq(cons_wal_sync(&wal), -EIO);
    cr_assert_not(cons_wal_is_durable(&wal, seq));
    cr_assert_eq(cons_wal_append(&wal, 1, "b", 1, NULL), -EIO, "sticky after a failed sync");
    cr_assert_eq(cons_wal_sync(&wal), -EIO);
}

Test(cons_wal, limits_and_bad_headers_are_refused, .init = quiet)
{
    struct cons_disk_mem mem;
    cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
    struct cons_wal wal;
    struct cons_wal_config cfg = config(0);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, NULL), 0);
    static uint8_t big[PAYLOAD_MAX + 1];
    cr_assert_eq(cons_wal_append(&wal, 1, big, PAYLOAD_MAX + 1, NULL), DC_ETOOBIG);
    cr_assert_eq(cons_wal_sync(&wal), 0);
    struct cons_wal_config other = cfg;
    other.kind = CONS_WAL_KIND_BLOCKS;
    struct cons_wal_report report;
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &other, &report), DC_ECORRUPT);
    cr_assert_str_eq(report.why, "log holds another kind of records");
    disk_bytes[3] ^= 1;
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, &report), DC_ECORRUPT);
    cr_assert_str_eq(report.why, "not a dchat log (bad file magic)");
    struct cons_wal_config bad = cfg;
    bad.buffer_bytes = 3;
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &bad, NULL), DC_ECONFIG);
}

Test(cons_wal, torn_file_header_starts_a_new_log, .init = quiet)
{
    struct cons_disk_mem mem;
    cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
    mem.len = 11; /* a header write cut short by a crash */
    struct cons_wal wal;
    struct cons_wal_config cfg = config(0);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, NULL), 0);
    cr_assert_eq(mem.len, CONS_WAL_FILE_HEADER_BYTES);
    cr_assert_eq(cons_wal_next_seq(&wal), 1);
}

Test(cons_wal, records_larger_than_the_buffer_go_straight_to_disk)
{
    struct cons_disk_mem mem;
    cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
    static uint8_t small_buffer[64];
    struct cons_wal_config cfg = config(0);
    cfg.buffer = small_buffer;
    cfg.buffer_bytes = sizeof(small_buffer);
    struct cons_wal wal;
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, NULL), 0);
    uint8_t payload[300];
    memset(payload, 0xab, sizeof(payload));
    cr_assert_eq(cons_wal_append(&wal, 1, "tiny", 4, NULL), 0);
    cr_assert_eq(cons_wal_append(&wal, 2, payload, sizeof(payload), NULL), 0);
    cr_assert_eq(cons_wal_append(&wal, 3, "tail", 4, NULL), 0);
    cr_assert_eq(cons_wal_sync(&wal), 0);
    struct cons_wal_report report;
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, &report), 0);
    cr_assert_eq(report.records, 3);
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    cons_wal_cursor_init(&wal, &cursor);
    cr_assert_eq(cons_wal_next(&wal, &cursor, &rec, payload_buf, sizeof(payload_buf)), 1);
    cr_assert_eq(cons_wal_next(&wal, &cursor, &rec, payload_buf, sizeof(payload_buf)), 1);
    cr_assert_eq(rec.payload_len, sizeof(payload));
    cr_assert_eq(memcmp(rec.payload, payload, sizeof(payload)), 0);
    cr_assert_eq(cons_wal_next(&wal, &cursor, &rec, payload_buf, sizeof(payload_buf)), 1);
    cr_assert_eq(rec.type, 3);
}

Test(cons_wal, a_real_file_survives_reopen_and_is_locked)
{
    char path[128];
    snprintf(path, sizeof(path), "/tmp/dchat-test-wal-%d.log", (int)getpid());
    unlink(path);
    struct cons_disk_file file, second;
    cr_assert_eq(cons_disk_file_open(&file, path, 0), -ENOENT);
    cr_assert_eq(cons_disk_file_open(&file, path, CONS_DISK_CREATE), 0);
    cr_assert_eq(cons_disk_file_open(&second, path, CONS_DISK_CREATE), -EWOULDBLOCK,
                 "one writer per log");
    struct cons_wal wal;
    struct cons_wal_config cfg = config(0);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_file_disk(&file), &cfg, NULL), 0);
    cr_assert_eq(cons_wal_append(&wal, 7, "persisted", 9, NULL), 0);
    cr_assert_eq(cons_wal_sync(&wal), 0);
    cons_disk_file_close(&file);
    cr_assert_eq(cons_disk_file_open(&file, path, CONS_DISK_READONLY), 0);
    struct cons_wal_report report;
    cfg.flags = CONS_WAL_STRICT;
    cr_assert_eq(cons_wal_open(&wal, cons_disk_file_disk(&file), &cfg, &report), 0);
    cr_assert_eq(report.records, 1);
    cr_assert_eq(cons_wal_append(&wal, 7, "no", 2, NULL), DC_EUNSUPPORTED);
    cons_disk_file_close(&file);
    unlink(path);
}

Test(cons_wal, reset_prunes_and_seqs_go_on, .init = quiet)
{
    struct cons_disk_mem mem;
    cons_disk_mem_init(&mem, disk_bytes, sizeof(disk_bytes));
    struct cons_wal wal;
    struct cons_wal_config cfg = config(0);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, NULL), 0);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(cons_wal_append(&wal, 1, "old height", 10, NULL), 0);
    }
    cr_assert_eq(cons_wal_reset(&wal), 0);
    cr_assert_eq(mem.len, CONS_WAL_FILE_HEADER_BYTES, "the pruned records are gone");
    cr_assert_eq(cons_wal_synced_seq(&wal), 5, "pending records were synced first");
    uint64_t seq = 0;
    cr_assert_eq(cons_wal_append(&wal, 2, "new", 3, &seq), 0);
    cr_assert_eq(seq, 6);
    cr_assert_eq(cons_wal_sync(&wal), 0);
    struct cons_wal_report report;
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, &report), 0);
    cr_assert_eq(report.records, 1);
    struct cons_wal_cursor cursor;
    struct cons_wal_record rec;
    cons_wal_cursor_init(&wal, &cursor);
    cr_assert_eq(cons_wal_next(&wal, &cursor, &rec, payload_buf, sizeof(payload_buf)), 1);
    cr_assert_eq(rec.seq, 6);
    cr_assert_eq(cons_wal_next_seq(&wal), 7);

    /* A power cut inside the reset leaves an empty log that opens cleanly. */
    mem.fail_next_sync = 1;
    cr_assert_eq(cons_wal_reset(&wal), -EIO);
    cons_disk_mem_crash(&mem, 0);
    cr_assert_eq(cons_wal_open(&wal, cons_disk_mem_disk(&mem), &cfg, &report), 0);
    cr_assert_eq(report.records, 0);
}
