#include "consensus/posindex.h"

#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t key[CONS_POSINDEX_KEY_BYTES] = { 7, 1, 2, 3 };

static void make_id(uint32_t i, uint8_t id[CONS_ID_BYTES])
{
    memset(id, 0, CONS_ID_BYTES);
    memcpy(id, &i, sizeof(i));
    id[31] = 0xa5;
}

static void *new_index(struct cons_posindex *ix, uint32_t cap)
{
    void *mem = aligned_alloc(64, (cons_posindex_mem_size(cap) + 63) & ~(size_t)63);
    cr_assert_not_null(mem);
    cons_posindex_init(ix, mem, cap, key);
    return mem;
}

Test(cons_posindex, finds_what_was_added_and_nothing_else)
{
    struct cons_posindex ix;
    void *mem = new_index(&ix, 1000);
    uint8_t id[CONS_ID_BYTES];
    for (uint32_t i = 0; i < 1000; i++) {
        make_id(i, id);
        cons_posindex_add(&ix, id, 10 + i / 100, i % 100);
    }
    for (uint32_t i = 0; i < 1000; i++) {
        uint64_t h = 0;
        uint32_t at = 0;
        make_id(i, id);
        cr_assert_eq(cons_posindex_find(&ix, id, &h, &at), 0, "id %u", i);
        cr_assert_eq(h, 10 + i / 100);
        cr_assert_eq(at, i % 100);
    }
    uint64_t h;
    uint32_t at;
    make_id(5000, id);
    cr_assert_eq(cons_posindex_find(&ix, id, &h, &at), DC_ENOTFOUND);
    free(mem);
}

/* The window slides: after 10x its size, exactly the newest `cap` ids are found. */
Test(cons_posindex, oldest_ids_leave_when_the_window_is_full)
{
    enum { CAP = 512, TOTAL = 10 * CAP };
    struct cons_posindex ix;
    void *mem = new_index(&ix, CAP);
    uint8_t id[CONS_ID_BYTES];
    for (uint32_t i = 0; i < TOTAL; i++) {
        make_id(i, id);
        cons_posindex_add(&ix, id, i + 1, 0);
        cr_assert_leq(ix.count, CAP);
    }
    uint32_t found = 0;
    for (uint32_t i = 0; i < TOTAL; i++) {
        uint64_t h;
        uint32_t at;
        make_id(i, id);
        int rc = cons_posindex_find(&ix, id, &h, &at);
        if (i < TOTAL - CAP) {
            cr_assert_eq(rc, DC_ENOTFOUND, "evicted id %u still found", i);
        } else {
            cr_assert_eq(rc, 0, "newest id %u lost", i);
            cr_assert_eq(h, i + 1);
            found++;
        }
    }
    cr_assert_eq(found, CAP);
    free(mem);
}
