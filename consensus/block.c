#include "consensus/block.h"

#include <sodium.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/wire.h"

_Static_assert(CONS_HASH_BYTES == crypto_generichash_BYTES, "block hash is BLAKE2b-256");
_Static_assert(CONS_CHAIN_ID_MAX <= UINT8_MAX, "chain id length fits its byte");
_Static_assert(CONS_VALIDATORS_MAX <= UINT16_MAX, "validator index fits 16 bits");

void cons_block_init(struct cons_block *block, uint8_t (*ids)[CONS_ID_BYTES], uint32_t id_cap)
{
    DC_ASSERT(ids != NULL || id_cap == 0);
    memset(block, 0, sizeof(*block));
    block->ids = ids;
    block->id_cap = id_cap;
}

int cons_header_set_chain(struct cons_header *header, const char *chain_id)
{
    size_t len = strlen(chain_id);
    if (len == 0) {
        return DC_EMALFORMED;
    }
    if (len > CONS_CHAIN_ID_MAX) {
        return DC_ETOOBIG;
    }
    memcpy(header->chain_id, chain_id, len);
    header->chain_id_len = (uint8_t)len;
    return 0;
}

int cons_header_chain_is(const struct cons_header *header, const char *chain_id)
{
    size_t len = strlen(chain_id);
    return len == header->chain_id_len && memcmp(header->chain_id, chain_id, len) == 0;
}

void cons_payload_root(const uint8_t (*ids)[CONS_ID_BYTES], uint32_t count,
                       uint8_t root_out[CONS_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, CONS_HASH_BYTES);
    if (count > 0) {
        crypto_generichash_update(&st, ids[0], (unsigned long long)count * CONS_ID_BYTES);
    }
    crypto_generichash_final(&st, root_out, CONS_HASH_BYTES);
}

size_t cons_header_encoded_size(const struct cons_header *header)
{
    DC_ASSERT(header->chain_id_len <= CONS_CHAIN_ID_MAX);
    return CONS_HEADER_BYTES_MAX - CONS_CHAIN_ID_MAX + header->chain_id_len;
}

size_t cons_header_encode(const struct cons_header *header, uint8_t *out, size_t cap)
{
    struct cons_wr wr = { .buf = out, .len = 0, .cap = cap };
    DC_ASSERT(header->chain_id_len > 0);
    DC_ASSERT(header->height > 0);
    cons_wr_u8(&wr, CONS_WIRE_VERSION);
    cons_wr_u8(&wr, header->chain_id_len);
    cons_wr_bytes(&wr, header->chain_id, header->chain_id_len);
    cons_wr_u64(&wr, header->height);
    cons_wr_u32(&wr, header->round);
    cons_wr_u64(&wr, header->time_ticks);
    cons_wr_bytes(&wr, header->prev_hash, CONS_HASH_BYTES);
    cons_wr_u16(&wr, header->proposer);
    cons_wr_bytes(&wr, header->payload_root, CONS_HASH_BYTES);
    cons_wr_u32(&wr, header->id_count);
    DC_ASSERT(wr.len == cons_header_encoded_size(header));
    return wr.len;
}

int cons_header_decode(const uint8_t *in, size_t len, struct cons_header *header,
                       size_t *used_out)
{
    struct cons_rd rd = { .buf = in, .len = len, .off = 0, .err = 0 };
    memset(header, 0, sizeof(*header));
    if (cons_rd_u8(&rd) != CONS_WIRE_VERSION) {
        return rd.err != 0 ? rd.err : DC_EVERSION;
    }
    header->chain_id_len = cons_rd_u8(&rd);
    if (rd.err == 0 && (header->chain_id_len == 0 || header->chain_id_len > CONS_CHAIN_ID_MAX)) {
        return DC_EMALFORMED;
    }
    cons_rd_bytes(&rd, header->chain_id, header->chain_id_len);
    header->height = cons_rd_u64(&rd);
    header->round = cons_rd_u32(&rd);
    header->time_ticks = cons_rd_u64(&rd);
    cons_rd_bytes(&rd, header->prev_hash, CONS_HASH_BYTES);
    header->proposer = cons_rd_u16(&rd);
    cons_rd_bytes(&rd, header->payload_root, CONS_HASH_BYTES);
    header->id_count = cons_rd_u32(&rd);
    if (rd.err != 0) {
        return rd.err;
    }
    if (header->height == 0 || header->proposer >= CONS_VALIDATORS_MAX) {
        return DC_EMALFORMED;
    }
    if (header->id_count > CONS_BLOCK_IDS_MAX) {
        return DC_ETOOBIG;
    }
    *used_out = rd.off;
    return 0;
}

void cons_header_hash(const struct cons_header *header, uint8_t hash_out[CONS_HASH_BYTES])
{
    uint8_t buf[CONS_HEADER_BYTES_MAX];
    size_t len = cons_header_encode(header, buf, sizeof(buf));
    crypto_generichash(hash_out, CONS_HASH_BYTES, buf, len, NULL, 0);
}

size_t cons_block_encoded_size(const struct cons_block *block)
{
    return cons_header_encoded_size(&block->header) +
           (size_t)block->header.id_count * CONS_ID_BYTES;
}

size_t cons_block_encode(const struct cons_block *block, uint8_t *out, size_t cap)
{
    size_t ids_bytes = (size_t)block->header.id_count * CONS_ID_BYTES;
    size_t len;
    DC_ASSERT(block->header.id_count <= block->id_cap);
    DC_ASSERT(cap >= cons_block_encoded_size(block));
    len = cons_header_encode(&block->header, out, cap);
    if (ids_bytes > 0) {
        memcpy(out + len, block->ids[0], ids_bytes);
    }
    return len + ids_bytes;
}

int cons_block_decode(const uint8_t *in, size_t len, struct cons_block *block,
                      size_t *used_out)
{
    uint8_t root[CONS_HASH_BYTES];
    size_t used = 0;
    size_t ids_bytes;
    int err = cons_header_decode(in, len, &block->header, &used);
    if (err != 0) {
        return err;
    }
    if (block->header.id_count > block->id_cap) {
        return DC_ETOOBIG;
    }
    ids_bytes = (size_t)block->header.id_count * CONS_ID_BYTES;
    if (ids_bytes > len - used) {
        return DC_ETRUNCATED;
    }
    if (ids_bytes > 0) {
        memcpy(block->ids[0], in + used, ids_bytes);
    }
    cons_payload_root((const uint8_t (*)[CONS_ID_BYTES])block->ids, block->header.id_count,
                      root);
    if (sodium_memcmp(root, block->header.payload_root, CONS_HASH_BYTES) != 0) {
        return DC_EMALFORMED;
    }
    *used_out = used + ids_bytes;
    return 0;
}

int cons_block_copy(struct cons_block *dst, const struct cons_block *src)
{
    if (src->header.id_count > dst->id_cap) {
        return DC_ETOOBIG;
    }
    dst->header = src->header;
    if (src->header.id_count > 0) {
        memmove(dst->ids[0], src->ids[0], (size_t)src->header.id_count * CONS_ID_BYTES);
    }
    return 0;
}

void cons_block_seal(struct cons_block *block)
{
    DC_ASSERT(block->header.id_count <= block->id_cap);
    cons_payload_root((const uint8_t (*)[CONS_ID_BYTES])block->ids, block->header.id_count,
                      block->header.payload_root);
}

void cons_block_hash(const struct cons_block *block, uint8_t hash_out[CONS_HASH_BYTES])
{
    cons_header_hash(&block->header, hash_out);
}
