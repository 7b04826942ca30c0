/*
 * cons_msg: the consensus messages validators exchange, and their wire envelope.
 *
 * Four kinds: a proposal (with its block), a vote, a sync request (send me your committed
 * blocks from height h) and a sync block (one committed block with its certificate). The
 * envelope is one kind byte followed by the kind's body (docs/CONSENSUS.md). Large parts
 * (block, certificate) are held by pointer so that a message is cheap to pass around; the
 * decoder fills caller-provided storage and checks every length, the payload root and
 * canonical form, but not signatures: the state machine checks those.
 *
 * Threads: pure functions over caller-owned memory; any thread may call them.
 */
#ifndef CONS_MSG_H
#define CONS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "consensus/block.h"
#include "consensus/cert.h"
#include "consensus/vote.h"

enum cons_msg_kind {
    CONS_MSG_PROPOSAL = 1,
    CONS_MSG_VOTE = 2,
    CONS_MSG_SYNC_REQUEST = 3,
    CONS_MSG_SYNC_BLOCK = 4,
    /* Record kinds of consensus/frag.h, never a struct cons_msg: a part of a message too
     * large for one record, and a request for missing parts. cons_msg_decode() refuses
     * them (DC_EMALFORMED); the receiver dispatches on the first byte. */
    CONS_MSG_PART = 5,
    CONS_MSG_PART_REQUEST = 6,
};

struct cons_sync_request {
    uint16_t requester;     /* validator index to answer */
    uint64_t from_height;   /* first height it lacks */
};

struct cons_msg {
    uint8_t kind;
    struct cons_proposal proposal;      /* CONS_MSG_PROPOSAL */
    struct cons_vote vote;              /* CONS_MSG_VOTE */
    struct cons_sync_request sync;      /* CONS_MSG_SYNC_REQUEST */
    const struct cons_block *block;     /* PROPOSAL and SYNC_BLOCK */
    const struct cons_cert *cert;       /* SYNC_BLOCK */
};

/* Encoded size; 0 for an unknown kind or a missing block/certificate. */
size_t cons_msg_encoded_size(const struct cons_msg *msg);
/* Encode into `out` (cap >= encoded size, asserted). Returns the bytes written. */
size_t cons_msg_encode(const struct cons_msg *msg, uint8_t *out, size_t cap);
/*
 * Decode one message that fills `len` bytes exactly. `block` and `cert` are storage the
 * message will point into (the block's id storage set by cons_block_init).
 * 0, DC_ETRUNCATED, DC_EMALFORMED (unknown kind, trailing bytes, bad field), DC_EVERSION or
 * DC_ETOOBIG (more ids than the block storage holds).
 */
int cons_msg_decode(const uint8_t *in, size_t len, struct cons_msg *msg,
                    struct cons_block *block, struct cons_cert *cert);

/*
 * Write-ahead-log records: the messages of PERSIST actions (our own signed votes and
 * proposals). A proposal record is its message encoding; a vote record is the vote message
 * followed by one flag byte and, when the flag is 1, the block a precommit locked on.
 */
size_t cons_record_encoded_size(const struct cons_msg *record);
size_t cons_record_encode(const struct cons_msg *record, uint8_t *out, size_t cap);
/* 0, or the cons_msg_decode() errors (a sync message is DC_EMALFORMED here). */
int cons_record_decode(const uint8_t *in, size_t len, struct cons_msg *record,
                       struct cons_block *block);

#endif
