/*
 * libFuzzer target for the discovery parser (engine/noderec.c): eng_disc_decode() on any
 * bytes must return an error or a message whose records re-encode to exactly the bytes they
 * came from, and never read outside the input.
 */
#include "engine/noderec.h"

#include "common/dc_assert.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const struct eng_noderec *rec)
{
    uint8_t buf[ENG_NODEREC_BYTES_MAX];
    int len = eng_noderec_encode(rec, buf, sizeof(buf));
    DC_ASSERT(len > 0);
    struct eng_noderec back;
    DC_ASSERT(eng_noderec_decode(&back, buf, (size_t)len) == len);
    DC_ASSERT(eng_noderec_equal(rec, &back));
    DC_ASSERT(eng_noderec_verify(rec) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct eng_disc_msg msg;
    if (eng_disc_decode(&msg, data, size) == 0) {
        check_record(&msg.sender);
        for (uint8_t i = 0; i < msg.node_count; i++) {
            check_record(&msg.nodes[i]);
        }
    }
    struct eng_noderec rec;
    int used = eng_noderec_decode(&rec, data, size);
    if (used > 0) {
        DC_ASSERT((size_t)used <= size);
        check_record(&rec);
    }
    return 0;
}
