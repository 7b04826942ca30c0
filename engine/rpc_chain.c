/*
 * rpc_chain: chain endpoints' paths and JSON (see rpc_chain.h).
 */
#include "engine/rpc_chain.h"

#include "common/dc_err.h"
#include "common/dc_hex.h"
#include "consensus/block.h"
#include "consensus/cert.h"
#include "engine/key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGES_PREFIX "/messages/"
#define BLOCKS_PREFIX "/chain/blocks/"
#define HEIGHT_DIGITS_MAX 19 /* below 2^63 */

static int parse_id(const char *text, uint8_t id[ENG_RPC_ID_BYTES], const char **why)
{
    if (strlen(text) != 2 * ENG_RPC_ID_BYTES) {
        *why = "a message id is 64 hex digits";
        return DC_EMALFORMED;
    }
    for (size_t i = 0; i < ENG_RPC_ID_BYTES; i++) {
        int hi = dc_hex_digit(text[2 * i]);
        int lo = dc_hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            *why = "a message id is 64 hex digits";
            return DC_EMALFORMED;
        }
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int parse_height(const char *text, uint64_t *height, const char **why)
{
    size_t len = strlen(text);
    *why = "a height is a positive decimal number";
    if (len == 0 || len > HEIGHT_DIGITS_MAX || text[0] == '0') {
        return DC_EMALFORMED;
    }
    uint64_t h = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return DC_EMALFORMED;
        }
        h = h * 10 + (uint64_t)(text[i] - '0');
    }
    *height = h;
    return 0;
}

int eng_rpc_chain_parse(const char *url, struct eng_rpc_chain_req *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(url, MESSAGES_PREFIX, strlen(MESSAGES_PREFIX)) == 0) {
        out->path = ENG_RPC_CHAIN_MESSAGE;
        return parse_id(url + strlen(MESSAGES_PREFIX), out->id, why);
    }
    if (strncmp(url, BLOCKS_PREFIX, strlen(BLOCKS_PREFIX)) == 0) {
        out->path = ENG_RPC_CHAIN_BLOCK;
        return parse_height(url + strlen(BLOCKS_PREFIX), &out->height, why);
    }
    return 0;
}

static void add_hex(cJSON *obj, const char *name, const uint8_t *bytes, size_t len)
{
    char hex[2 * CONS_SIG_BYTES + 1];
    eng_hex(bytes, len, hex);
    cJSON_AddStringToObject(obj, name, hex);
}

void eng_rpc_chain_msg_from(struct eng_rpc_msg *out, const struct cons_id_answer *a)
{
    out->status = a->status == CONS_MSG_FINAL     ? ENG_RPC_MSG_FINAL
                  : a->status == CONS_MSG_PENDING ? ENG_RPC_MSG_PENDING
                                                  : ENG_RPC_MSG_UNKNOWN;
    out->height = a->height;
    out->index = a->index;
    memcpy(out->block_hash, a->block_hash, sizeof(out->block_hash));
}

cJSON *eng_rpc_chain_msg_json(const uint8_t id[ENG_RPC_ID_BYTES], const struct eng_rpc_msg *m)
{
    static const char *const names[] = { "unknown", "pending", "final" };
    cJSON *obj = cJSON_CreateObject();
    add_hex(obj, "id", id, ENG_RPC_ID_BYTES);
    cJSON_AddStringToObject(obj, "status", names[m->status <= ENG_RPC_MSG_FINAL ? m->status : 0]);
    if (m->status == ENG_RPC_MSG_FINAL) {
        cJSON_AddNumberToObject(obj, "height", (double)m->height);
        cJSON_AddNumberToObject(obj, "index", m->index);
        add_hex(obj, "block_hash", m->block_hash, sizeof(m->block_hash));
    }
    return obj;
}

static cJSON *cert_json(const struct cons_cert *cert)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddNumberToObject(obj, "height", (double)cert->height);
    cJSON_AddNumberToObject(obj, "round", cert->round);
    add_hex(obj, "block_hash", cert->block_hash, CONS_HASH_BYTES);
    cJSON *sigs = cJSON_AddArrayToObject(obj, "signatures");
    for (uint16_t i = 0; i < cert->count; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "validator", cert->sigs[i].validator);
        add_hex(e, "signature", cert->sigs[i].sig, CONS_SIG_BYTES);
        cJSON_AddItemToArray(sigs, e);
    }
    return obj;
}

cJSON *eng_rpc_chain_block_json(const struct cons_block *block, const struct cons_cert *cert)
{
    const struct cons_header *h = &block->header;
    uint8_t hash[CONS_HASH_BYTES];
    cons_block_hash(block, hash);
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddNumberToObject(obj, "height", (double)h->height);
    add_hex(obj, "hash", hash, sizeof(hash));
    cJSON_AddNumberToObject(obj, "round", h->round);
    cJSON_AddNumberToObject(obj, "time", (double)h->time_ticks);
    add_hex(obj, "prev_hash", h->prev_hash, CONS_HASH_BYTES);
    cJSON_AddNumberToObject(obj, "proposer", h->proposer);
    add_hex(obj, "payload_root", h->payload_root, CONS_HASH_BYTES);
    cJSON *ids = cJSON_AddArrayToObject(obj, "ids");
    for (uint32_t i = 0; i < h->id_count; i++) {
        char hex[2 * CONS_ID_BYTES + 1];
        eng_hex(block->ids[i], CONS_ID_BYTES, hex);
        cJSON_AddItemToArray(ids, cJSON_CreateString(hex));
    }
    cJSON_AddItemToObject(obj, "certificate", cert_json(cert));
    return obj;
}
