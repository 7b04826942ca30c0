#include "consensus/msg.h"

#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/wire.h"

#define SYNC_REQUEST_BYTES (2 + 8)

size_t cons_msg_encoded_size(const struct cons_msg *msg)
{
    switch (msg->kind) {
    case CONS_MSG_PROPOSAL:
        return msg->block == NULL ? 0
                                  : 1 + CONS_PROPOSAL_BYTES + cons_block_encoded_size(msg->block);
    case CONS_MSG_VOTE:
        return 1 + CONS_VOTE_BYTES;
    case CONS_MSG_SYNC_REQUEST:
        return 1 + SYNC_REQUEST_BYTES;
    case CONS_MSG_SYNC_BLOCK:
        if (msg->block == NULL || msg->cert == NULL) {
            return 0;
        }
        return 1 + cons_block_encoded_size(msg->block) + cons_cert_encoded_size(msg->cert);
    default:
        return 0;
    }
}

size_t cons_msg_encode(const struct cons_msg *msg, uint8_t *out, size_t cap)
{
    size_t size = cons_msg_encoded_size(msg);
    size_t len = 1;
    DC_ASSERT(size > 0);
    DC_ASSERT(cap >= size);
    out[0] = msg->kind;
    switch (msg->kind) {
    case CONS_MSG_PROPOSAL:
        cons_proposal_encode(&msg->proposal, out + len);
        len += CONS_PROPOSAL_BYTES;
        len += cons_block_encode(msg->block, out + len, cap - len);
        break;
    case CONS_MSG_VOTE:
        cons_vote_encode(&msg->vote, out + len);
        len += CONS_VOTE_BYTES;
        break;
    case CONS_MSG_SYNC_REQUEST: {
        struct cons_wr wr = { .buf = out + len, .len = 0, .cap = cap - len };
        cons_wr_u16(&wr, msg->sync.requester);
        cons_wr_u64(&wr, msg->sync.from_height);
        len += wr.len;
        break;
    }
    case CONS_MSG_SYNC_BLOCK:
        len += cons_block_encode(msg->block, out + len, cap - len);
        len += cons_cert_encode(msg->cert, out + len, cap - len);
        break;
    default:
        DC_ASSERT(0);
    }
    DC_ASSERT(len == size);
    return len;
}

static int decode_sync_request(const uint8_t *in, size_t len, struct cons_msg *msg)
{
    struct cons_rd rd = { .buf = in, .len = len, .off = 0, .err = 0 };
    msg->sync.requester = cons_rd_u16(&rd);
    msg->sync.from_height = cons_rd_u64(&rd);
    if (rd.err != 0) {
        return rd.err;
    }
    if (rd.off != len) {
        return DC_EMALFORMED;
    }
    return msg->sync.from_height == 0 || msg->sync.requester >= CONS_VALIDATORS_MAX
               ? DC_EMALFORMED
               : 0;
}

/* Everything after the kind byte. */
static int decode_body(const uint8_t *in, size_t len, struct cons_msg *msg,
                       struct cons_block *block, struct cons_cert *cert)
{
    size_t used = 0;
    size_t cert_used = 0;
    int err;
    switch (msg->kind) {
    case CONS_MSG_PROPOSAL:
        err = cons_proposal_decode(in, len, &msg->proposal);
        if (err != 0) {
            return err;
        }
        err = cons_block_decode(in + CONS_PROPOSAL_BYTES, len - CONS_PROPOSAL_BYTES, block,
                                &used);
        msg->block = block;
        return err != 0 ? err : (CONS_PROPOSAL_BYTES + used == len ? 0 : DC_EMALFORMED);
    case CONS_MSG_VOTE:
        err = cons_vote_decode(in, len, &msg->vote);
        return err != 0 ? err : (len == CONS_VOTE_BYTES ? 0 : DC_EMALFORMED);
    case CONS_MSG_SYNC_REQUEST:
        return decode_sync_request(in, len, msg);
    case CONS_MSG_SYNC_BLOCK:
        err = cons_block_decode(in, len, block, &used);
        if (err != 0) {
            return err;
        }
        err = cons_cert_decode(in + used, len - used, cert, &cert_used);
        msg->block = block;
        msg->cert = cert;
        return err != 0 ? err : (used + cert_used == len ? 0 : DC_EMALFORMED);
    default:
        return DC_EMALFORMED;
    }
}

int cons_msg_decode(const uint8_t *in, size_t len, struct cons_msg *msg,
                    struct cons_block *block, struct cons_cert *cert)
{
    memset(msg, 0, sizeof(*msg));
    if (len < 1) {
        return DC_ETRUNCATED;
    }
    msg->kind = in[0];
    return decode_body(in + 1, len - 1, msg, block, cert);
}

size_t cons_record_encoded_size(const struct cons_msg *record)
{
    if (record->kind == CONS_MSG_PROPOSAL) {
        return cons_msg_encoded_size(record);
    }
    if (record->kind != CONS_MSG_VOTE) {
        return 0;
    }
    return 1 + CONS_VOTE_BYTES + 1 +
           (record->block != NULL ? cons_block_encoded_size(record->block) : 0);
}

size_t cons_record_encode(const struct cons_msg *record, uint8_t *out, size_t cap)
{
    size_t len;
    if (record->kind == CONS_MSG_PROPOSAL) {
        return cons_msg_encode(record, out, cap);
    }
    DC_ASSERT(record->kind == CONS_MSG_VOTE);
    DC_ASSERT(cap >= cons_record_encoded_size(record));
    out[0] = CONS_MSG_VOTE;
    cons_vote_encode(&record->vote, out + 1);
    len = 1 + CONS_VOTE_BYTES;
    out[len++] = record->block != NULL;
    if (record->block != NULL) {
        len += cons_block_encode(record->block, out + len, cap - len);
    }
    DC_ASSERT(len == cons_record_encoded_size(record));
    return len;
}

int cons_record_decode(const uint8_t *in, size_t len, struct cons_msg *record,
                       struct cons_block *block)
{
    size_t used = 0;
    int err;
    memset(record, 0, sizeof(*record));
    if (len < 1) {
        return DC_ETRUNCATED;
    }
    if (in[0] == CONS_MSG_PROPOSAL) {
        return cons_msg_decode(in, len, record, block, NULL);
    }
    if (in[0] != CONS_MSG_VOTE) {
        return DC_EMALFORMED;
    }
    record->kind = CONS_MSG_VOTE;
    if (len < 1 + CONS_VOTE_BYTES + 1) {
        return DC_ETRUNCATED;
    }
    err = cons_vote_decode(in + 1, CONS_VOTE_BYTES, &record->vote);
    if (err != 0) {
        return err;
    }
    len -= 1 + CONS_VOTE_BYTES + 1;
    in += 1 + CONS_VOTE_BYTES + 1;
    if (in[-1] > 1 || (in[-1] == 0 && len != 0)) {
        return DC_EMALFORMED;
    }
    if (in[-1] == 0) {
        return 0;
    }
    err = cons_block_decode(in, len, block, &used);
    if (err != 0) {
        return err;
    }
    record->block = block;
    return used == len ? 0 : DC_EMALFORMED;
}
