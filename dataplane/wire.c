#include "dataplane/wire.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <sodium.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

int dp_wire_frame_open(struct dp_wire_iter *it, const uint8_t *buf, size_t len)
{
    if (len < DP_WIRE_FRAME_HDR_BYTES) {
        return DC_ETRUNCATED;
    }
    if (buf[0] != DP_WIRE_MAGIC0 || buf[1] != DP_WIRE_MAGIC1) {
        return DC_EMALFORMED;
    }
    if (buf[2] != DP_WIRE_VERSION) {
        return DC_EVERSION;
    }
    uint16_t count = get16(buf + 4);
    if (buf[3] != 0 || get16(buf + 6) != 0 || count == 0) {
        return DC_EMALFORMED;
    }
    /* Walk every record header before handing any out: the frame is accepted as a unit. */
    size_t off = DP_WIRE_FRAME_HDR_BYTES;
    for (uint16_t i = 0; i < count; i++) {
        if (len - off < DP_WIRE_REC_HDR_BYTES) {
            return DC_ETRUNCATED;
        }
        if (buf[off + 1] != 0) {
            return DC_EMALFORMED; /* record flags are reserved */
        }
        size_t body_len = get16(buf + off + 2);
        off += DP_WIRE_REC_HDR_BYTES;
        if (len - off < body_len) {
            return DC_ETRUNCATED;
        }
        off += body_len;
    }
    if (off != len) {
        return DC_EMALFORMED; /* trailing bytes */
    }
    it->buf = buf;
    it->len = len;
    it->off = DP_WIRE_FRAME_HDR_BYTES;
    it->left = count;
    return 0;
}

int dp_wire_next(struct dp_wire_iter *it, struct dp_wire_rec *rec)
{
    if (it->left == 0) {
        DC_ASSERT(it->off == it->len);
        return 0;
    }
    DC_ASSERT(it->len - it->off >= DP_WIRE_REC_HDR_BYTES);
    const uint8_t *p = it->buf + it->off;
    rec->type = p[0];
    rec->body_len = get16(p + 2);
    rec->body = p + DP_WIRE_REC_HDR_BYTES;
    it->off += DP_WIRE_REC_HDR_BYTES + rec->body_len;
    DC_ASSERT(it->off <= it->len);
    it->left--;
    return 1;
}

int dp_wire_msg_parse(const struct dp_wire_rec *rec, struct dp_wire_msg *msg)
{
    const uint8_t *b = rec->body;
    if (rec->type != DP_WIRE_REC_MSG || rec->body_len < DP_WIRE_MSG_BYTES(0)) {
        return DC_EMALFORMED;
    }
    if (b[0] != DP_WIRE_MSG_VERSION) {
        return DC_EVERSION;
    }
    if (b[1] != DP_WIRE_MSG_CHANNEL && b[1] != DP_WIRE_MSG_DIRECT) {
        return DC_EMALFORMED;
    }
    uint16_t payload_len = get16(b + 2);
    if (payload_len > DP_WIRE_PAYLOAD_BYTES_MAX) {
        return DC_ETOOBIG;
    }
    if (rec->body_len != DP_WIRE_MSG_BYTES(payload_len)) {
        return DC_EMALFORMED;
    }
    msg->kind = b[1];
    msg->payload_len = payload_len;
    msg->target = b + 4;
    msg->sender = b + 36;
    msg->seq = get64(b + 68);
    msg->timestamp_us = get64(b + 76);
    msg->payload = b + DP_WIRE_MSG_FIXED_BYTES;
    msg->sig = b + DP_WIRE_MSG_FIXED_BYTES + payload_len;
    msg->body = b;
    msg->body_len = rec->body_len;
    return 0;
}

int dp_wire_msg_verify(const struct dp_wire_msg *msg)
{
    size_t signed_len = (size_t)DP_WIRE_MSG_FIXED_BYTES + msg->payload_len;
    if (crypto_sign_verify_detached(msg->sig, msg->body, signed_len, msg->sender) != 0) {
        return DC_ESIGNATURE;
    }
    return 0;
}

void dp_wire_msg_id(const struct dp_wire_msg *msg, uint8_t id[DP_WIRE_ID_BYTES])
{
    crypto_generichash(id, DP_WIRE_ID_BYTES, msg->sig, DP_WIRE_SIG_BYTES, NULL, 0);
}

int dp_wire_msg_encode(uint8_t *out, size_t out_size, uint8_t kind,
                       const uint8_t target[DP_WIRE_KEY_BYTES], const uint8_t sk[64],
                       uint64_t seq, uint64_t timestamp_us, const uint8_t *payload,
                       uint16_t payload_len)
{
    if (payload_len > DP_WIRE_PAYLOAD_BYTES_MAX || out_size < DP_WIRE_MSG_BYTES(payload_len)) {
        return DC_ETOOBIG;
    }
    out[0] = DP_WIRE_MSG_VERSION;
    out[1] = kind;
    put16(out + 2, payload_len);
    memcpy(out + 4, target, DP_WIRE_KEY_BYTES);
    memcpy(out + 36, sk + 32, DP_WIRE_KEY_BYTES); /* libsodium's sk is seed || pk */
    put64(out + 68, seq);
    put64(out + 76, timestamp_us);
    if (payload_len > 0) {
        memcpy(out + DP_WIRE_MSG_FIXED_BYTES, payload, payload_len);
    }
    size_t signed_len = (size_t)DP_WIRE_MSG_FIXED_BYTES + payload_len;
    crypto_sign_detached(out + signed_len, NULL, out, signed_len, sk);
    return (int)DP_WIRE_MSG_BYTES(payload_len);
}

int dp_wire_sub_parse(const struct dp_wire_rec *rec, struct dp_wire_sub *sub)
{
    if (rec->type != DP_WIRE_REC_SUBSCRIBE ||
        (rec->body_len != DP_WIRE_SUB_BYTES && rec->body_len != DP_WIRE_SUB_BYTES_MAX)) {
        return DC_EMALFORMED;
    }
    if (rec->body[0] != DP_WIRE_SUB_VERSION) {
        return DC_EVERSION;
    }
    uint8_t flags = rec->body[1];
    int has_cookie = (flags & DP_WIRE_SUB_FLAG_COOKIE) != 0;
    if ((flags & ~(DP_WIRE_SUB_FLAG_UNSUBSCRIBE | DP_WIRE_SUB_FLAG_COOKIE)) != 0 ||
        get16(rec->body + 2) != 0 ||
        rec->body_len != (has_cookie ? DP_WIRE_SUB_BYTES_MAX : DP_WIRE_SUB_BYTES)) {
        return DC_EMALFORMED;
    }
    sub->flags = flags;
    sub->channel = rec->body + 4;
    sub->cookie = has_cookie ? rec->body + DP_WIRE_SUB_BYTES : NULL;
    return 0;
}

size_t dp_wire_sub_encode_cookie(uint8_t out[DP_WIRE_SUB_BYTES_MAX], uint8_t flags,
                                 const uint8_t channel[DP_WIRE_KEY_BYTES],
                                 const uint8_t *cookie)
{
    dp_wire_sub_encode(out, (uint8_t)(cookie != NULL ? flags | DP_WIRE_SUB_FLAG_COOKIE
                                                     : flags & ~DP_WIRE_SUB_FLAG_COOKIE),
                       channel);
    if (cookie == NULL) {
        return DP_WIRE_SUB_BYTES;
    }
    memcpy(out + DP_WIRE_SUB_BYTES, cookie, DP_WIRE_SUB_COOKIE_BYTES);
    return DP_WIRE_SUB_BYTES_MAX;
}

void dp_wire_sub_encode(uint8_t out[DP_WIRE_SUB_BYTES], uint8_t flags,
                        const uint8_t channel[DP_WIRE_KEY_BYTES])
{
    out[0] = DP_WIRE_SUB_VERSION;
    out[1] = flags;
    put16(out + 2, 0);
    memcpy(out + 4, channel, DP_WIRE_KEY_BYTES);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    }
}

int dp_wire_final_parse(const struct dp_wire_rec *rec, struct dp_wire_final *fin)
{
    if (rec->type != DP_WIRE_REC_FINAL || rec->body_len < DP_WIRE_FINAL_HDR_BYTES) {
        return DC_EMALFORMED;
    }
    if (rec->body[0] != DP_WIRE_FINAL_VERSION) {
        return DC_EVERSION;
    }
    uint16_t count = get16(rec->body + 41);
    if (count == 0 ||
        rec->body_len != DP_WIRE_FINAL_HDR_BYTES + (size_t)count * DP_WIRE_FINAL_ENTRY_BYTES) {
        return DC_EMALFORMED;
    }
    fin->height = get64(rec->body + 1);
    fin->block_hash = rec->body + 9;
    fin->count = count;
    fin->entries = rec->body + DP_WIRE_FINAL_HDR_BYTES;
    return 0;
}

void dp_wire_final_entry(const struct dp_wire_final *fin, uint16_t i, uint32_t *index_out,
                         const uint8_t **id_out)
{
    DC_ASSERT(i < fin->count);
    const uint8_t *e = fin->entries + (size_t)i * DP_WIRE_FINAL_ENTRY_BYTES;
    *index_out = get32(e);
    *id_out = e + 4;
}

void dp_wire_final_encode_header(uint8_t *out, uint64_t height,
                                 const uint8_t block_hash[DP_WIRE_HASH_BYTES], uint16_t count)
{
    out[0] = DP_WIRE_FINAL_VERSION;
    put64(out + 1, height);
    memcpy(out + 9, block_hash, DP_WIRE_HASH_BYTES);
    put16(out + 41, count);
}

void dp_wire_final_encode_entry(uint8_t *out, uint32_t index, const uint8_t id[DP_WIRE_ID_BYTES])
{
    put32(out, index);
    memcpy(out + 4, id, DP_WIRE_ID_BYTES);
}

void dp_wire_builder_init(struct dp_wire_builder *b, uint8_t *buf, size_t cap)
{
    DC_ASSERT(cap >= DP_WIRE_FRAME_HDR_BYTES);
    b->buf = buf;
    b->cap = cap < DP_WIRE_FRAME_BYTES_MAX ? cap : DP_WIRE_FRAME_BYTES_MAX;
    b->len = DP_WIRE_FRAME_HDR_BYTES;
    b->count = 0;
    buf[0] = DP_WIRE_MAGIC0;
    buf[1] = DP_WIRE_MAGIC1;
    buf[2] = DP_WIRE_VERSION;
    buf[3] = 0;
    put16(buf + 4, 0);
    put16(buf + 6, 0);
}

int dp_wire_builder_fits(const struct dp_wire_builder *b, size_t body_len)
{
    return b->count < UINT16_MAX && b->cap - b->len >= DP_WIRE_REC_HDR_BYTES + body_len;
}

int dp_wire_builder_add(struct dp_wire_builder *b, uint8_t type, const uint8_t *body,
                        uint16_t body_len)
{
    if (!dp_wire_builder_fits(b, body_len)) {
        return DC_EFULL;
    }
    uint8_t *p = b->buf + b->len;
    p[0] = type;
    p[1] = 0;
    put16(p + 2, body_len);
    if (body_len > 0) {
        memcpy(p + DP_WIRE_REC_HDR_BYTES, body, body_len);
    }
    b->len += DP_WIRE_REC_HDR_BYTES + (size_t)body_len;
    b->count++;
    return 0;
}

size_t dp_wire_builder_finish(struct dp_wire_builder *b)
{
    if (b->count == 0) {
        return 0;
    }
    put16(b->buf + 4, b->count);
    DC_ASSERT(b->len <= b->cap);
    return b->len;
}
