/*
 * libFuzzer target for consensus/followmsg: FOLLOW and COOKIE bodies as a validator or a
 * relay receives them (any bytes a datagram may carry). Checked: decode never reads past
 * the input, agrees with cons_followmsg_is() on the kind, refuses every length but
 * CONS_FOLLOW_MSG_BYTES, and for accepted input the encoding is canonical: re-encoding the
 * decoded message gives back exactly the input bytes, and decoding that again gives the
 * same message. Any decode error leaves no requirement but a known error code.
 */
#include <stdint.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/followmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cons_followmsg m, again;
    uint8_t out[CONS_FOLLOW_MSG_BYTES];
    memset(&m, 0, sizeof(m));
    int err = cons_followmsg_decode(data, size, &m);
    DC_ASSERT(err == 0 || err == DC_EMALFORMED || err == DC_EVERSION);
    if (err != 0) {
        DC_ASSERT(size != CONS_FOLLOW_MSG_BYTES || !cons_followmsg_is(data, size) ||
                  data[1] != CONS_FOLLOW_VERSION || data[0] == CONS_FOLLOW_KIND_COOKIE);
        return 0;
    }
    DC_ASSERT(size == CONS_FOLLOW_MSG_BYTES);
    DC_ASSERT(cons_followmsg_is(data, size));
    DC_ASSERT(m.kind == CONS_FOLLOW_KIND_REQUEST || m.kind == CONS_FOLLOW_KIND_COOKIE);
    DC_ASSERT(m.kind != CONS_FOLLOW_KIND_COOKIE || m.height == 0);
    size_t n = cons_followmsg_encode(&m, out);
    DC_ASSERT(n == CONS_FOLLOW_MSG_BYTES);
    DC_ASSERT(memcmp(out, data, n) == 0);
    memset(&again, 0xa5, sizeof(again));
    DC_ASSERT(cons_followmsg_decode(out, n, &again) == 0);
    DC_ASSERT(again.kind == m.kind && again.height == m.height);
    DC_ASSERT(memcmp(again.cookie, m.cookie, CONS_FOLLOW_COOKIE_BYTES) == 0);
    return 0;
}
