#include "dataplane/deliv.h"

#include <criterion/criterion.h>
#include <string.h>

static struct dp_deliv d;
static void setup(void)
{
    cr_assert_eq(dp_deliv_init(&d, 1u << 12), 0);
}
static void teardown(void)
{
    dp_deliv_fini(&d);
}
TestSuite(dp_deliv, .init = setup, .fini = teardown);

static void id_of(uint32_t i, uint8_t id[DP_WIRE_ID_BYTES])
{
    memset(id, 0, DP_WIRE_ID_BYTES);
    memcpy(id, &i, sizeof(i));
}

Test(dp_deliv, message_first_then_its_final_position)
{
    uint8_t id[DP_WIRE_ID_BYTES], chan[DP_WIRE_KEY_BYTES] = { 7 };
    const uint8_t *target = NULL;
    uint64_t h;
    uint32_t x;
    id_of(1, id);
    cr_assert_eq(dp_deliv_note(&d, id, chan, &h, &x), 0, "no position waited");
    cr_assert_eq(dp_deliv_final(&d, id, 9, 3, &target), 1);
    cr_assert_arr_eq(target, chan, sizeof(chan));
}

Test(dp_deliv, final_position_first_then_its_message)
{
    uint8_t id[DP_WIRE_ID_BYTES], chan[DP_WIRE_KEY_BYTES] = { 8 };
    const uint8_t *target = NULL;
    uint64_t h = 0;
    uint32_t x = 0;
    id_of(2, id);
    cr_assert_eq(dp_deliv_final(&d, id, 11, 5, &target), 0, "the message is not here yet");
    cr_assert_eq(dp_deliv_note(&d, id, chan, &h, &x), 1, "its position waited");
    cr_assert_eq(h, 11);
    cr_assert_eq(x, 5);
}

Test(dp_deliv, thousands_of_each_in_both_orders_all_pair_up)
{
    uint8_t id[DP_WIRE_ID_BYTES], chan[DP_WIRE_KEY_BYTES] = { 9 };
    const uint8_t *target;
    uint64_t h;
    uint32_t x;
    uint32_t paired = 0;
    for (uint32_t i = 0; i < 1000; i++) { /* half the positions come first */
        id_of(100 + i, id);
        if (i % 2) {
            paired += (uint32_t)dp_deliv_final(&d, id, 1, i, &target);
            paired += (uint32_t)dp_deliv_note(&d, id, chan, &h, &x);
        } else {
            paired += (uint32_t)dp_deliv_note(&d, id, chan, &h, &x);
            paired += (uint32_t)dp_deliv_final(&d, id, 1, i, &target);
        }
    }
    cr_assert_eq(paired, 1000, "every message met its position once");
}

Test(dp_deliv, positions_wait_through_a_burst_of_other_messages)
{
    /* a stalled round: 1,000 positions arrive, then 1,000 other messages, then theirs; the
     * table is sized as the node sizes it, 8 entries per message that can wait at once */
    dp_deliv_fini(&d);
    cr_assert_eq(dp_deliv_init(&d, 1u << 14), 0);
    d.seed = 0x5eed; /* fixed, so the bucket layout (and the test) is the same every run */
    uint8_t id[DP_WIRE_ID_BYTES], chan[DP_WIRE_KEY_BYTES] = { 3 };
    const uint8_t *target;
    uint64_t h;
    uint32_t x;
    for (uint32_t i = 0; i < 1000; i++) {
        id_of(5000 + i, id);
        cr_assert_eq(dp_deliv_final(&d, id, 2, i, &target), 0);
    }
    for (uint32_t i = 0; i < 1000; i++) {
        id_of(9000 + i, id);
        cr_assert_eq(dp_deliv_note(&d, id, chan, &h, &x), 0);
    }
    uint32_t paired = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        id_of(5000 + i, id);
        paired += (uint32_t)dp_deliv_note(&d, id, chan, &h, &x);
    }
    cr_assert_eq(d.evicted_waiting, 0);
    cr_assert_eq(paired, 1000, "every waiting position met its message");
}
