/*
 * cons_followmsg: the two messages by which a relay follows the chain (docs/CONSENSUS.md).
 *
 * A relay that holds the genesis asks validators for committed blocks: FOLLOW carries the
 * next height it wants and a cookie. A validator answers a FOLLOW whose cookie is wrong or
 * stale with COOKIE (the same size: no amplification), a keyed hash of the relay's address
 * and the time, which the relay echoes in its next FOLLOW. Only an address that proved it
 * receives becomes a follower: it gets every block the validator commits, as SYNC_BLOCK
 * messages (consensus/msg.h), and the blocks from the height it asked for. Both messages
 * travel as CONSENSUS records, after the consensus kinds (consensus/msg.h).
 *
 * Threads: pure functions over caller buffers; any thread may call them.
 */
#ifndef CONS_FOLLOWMSG_H
#define CONS_FOLLOWMSG_H

#include <stddef.h>
#include <stdint.h>

#define CONS_FOLLOW_KIND_REQUEST 7u   /* relay -> validator */
#define CONS_FOLLOW_KIND_COOKIE 8u    /* validator -> relay */
#define CONS_FOLLOW_VERSION 1u
#define CONS_FOLLOW_COOKIE_BYTES 16u
#define CONS_FOLLOW_MSG_BYTES 26u     /* kind, version, height, cookie: both kinds */

struct cons_followmsg {
    uint8_t kind;                     /* CONS_FOLLOW_KIND_* */
    uint64_t height;                  /* REQUEST: the next height wanted; COOKIE: 0 */
    uint8_t cookie[CONS_FOLLOW_COOKIE_BYTES]; /* REQUEST: zeros before the first COOKIE */
};

/* Whether a CONSENSUS record body is one of these two (by its first byte). */
int cons_followmsg_is(const uint8_t *body, size_t len);
/* Encodes into out[CONS_FOLLOW_MSG_BYTES]; returns CONS_FOLLOW_MSG_BYTES. */
size_t cons_followmsg_encode(const struct cons_followmsg *m, uint8_t *out);
/* 0, DC_EMALFORMED (length, kind, a COOKIE with a height) or DC_EVERSION. */
int cons_followmsg_decode(const uint8_t *in, size_t len, struct cons_followmsg *out);

#endif
