/*
 * rpc_chain: the chain endpoints of the RPC server, for users and client authors.
 *
 *   GET /messages/{id}          {"id", "status": "pending"|"final"|"unknown", and when final
 *                               "height", "index", "block_hash"}
 *   GET /chain/blocks/{height}  {"height", "hash", "round", "time", "prev_hash", "proposer",
 *                               "ids": [hex ... in order], "certificate": {"height", "round",
 *                               "block_hash", "signatures": [{"validator", "signature"}]}}
 *
 * This module parses those paths and builds the JSON; engine/rpc.c routes the requests and
 * asks the chain source (a validator's consensus thread) for the facts.
 *
 * Threads: the RPC thread only.
 */
#ifndef ENG_RPC_CHAIN_H
#define ENG_RPC_CHAIN_H

#include "consensus/mailbox.h"
#include "engine/rpc.h"

#include <cjson/cJSON.h>
#include <stdint.h>

enum eng_rpc_chain_path {
    ENG_RPC_CHAIN_NONE = 0,      /* not a chain endpoint */
    ENG_RPC_CHAIN_MESSAGE = 1,   /* /messages/{id} */
    ENG_RPC_CHAIN_BLOCK = 2,     /* /chain/blocks/{height} */
};

struct eng_rpc_chain_req {
    uint8_t path;                /* enum eng_rpc_chain_path */
    uint8_t id[ENG_RPC_ID_BYTES];
    uint64_t height;
};

/*
 * Which chain endpoint `url` names. 0 with `out` filled (path NONE when it names none), or
 * DC_EMALFORMED with a reason in `*why` for a chain path whose argument does not parse (an
 * id that is not 64 hex digits, a height that is not a positive decimal number).
 */
int eng_rpc_chain_parse(const char *url, struct eng_rpc_chain_req *out, const char **why);

/* A chain owner's answer (consensus/mailbox.h) as the RPC server's message status. */
void eng_rpc_chain_msg_from(struct eng_rpc_msg *out, const struct cons_id_answer *a);
/* The /messages/{id} answer. */
cJSON *eng_rpc_chain_msg_json(const uint8_t id[ENG_RPC_ID_BYTES], const struct eng_rpc_msg *m);
/* The /chain/blocks/{height} answer. */
cJSON *eng_rpc_chain_block_json(const struct cons_block *block, const struct cons_cert *cert);

#endif
