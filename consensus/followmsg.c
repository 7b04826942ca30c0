#include "consensus/followmsg.h"

#include "common/dc_err.h"

#include <string.h>

int cons_followmsg_is(const uint8_t *body, size_t len)
{
    return len >= 1 && (body[0] == CONS_FOLLOW_KIND_REQUEST || body[0] == CONS_FOLLOW_KIND_COOKIE);
}

size_t cons_followmsg_encode(const struct cons_followmsg *m, uint8_t *out)
{
    out[0] = m->kind;
    out[1] = CONS_FOLLOW_VERSION;
    for (int i = 0; i < 8; i++) {
        out[2 + i] = (uint8_t)(m->height >> (56 - 8 * i));
    }
    memcpy(out + 10, m->cookie, CONS_FOLLOW_COOKIE_BYTES);
    return CONS_FOLLOW_MSG_BYTES;
}

int cons_followmsg_decode(const uint8_t *in, size_t len, struct cons_followmsg *out)
{
    if (len != CONS_FOLLOW_MSG_BYTES || !cons_followmsg_is(in, len)) {
        return DC_EMALFORMED;
    }
    if (in[1] != CONS_FOLLOW_VERSION) {
        return DC_EVERSION;
    }
    out->kind = in[0];
    out->height = 0;
    for (int i = 0; i < 8; i++) {
        out->height = out->height << 8 | in[2 + i];
    }
    if (out->kind == CONS_FOLLOW_KIND_COOKIE && out->height != 0) {
        return DC_EMALFORMED;
    }
    memcpy(out->cookie, in + 10, CONS_FOLLOW_COOKIE_BYTES);
    return 0;
}
