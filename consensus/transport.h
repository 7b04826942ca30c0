/*
 * cons_transport: consensus messages on the wire, whole or as numbered parts.
 *
 * The consensus thread encodes a message once and hands it here. One that fits a CONSENSUS
 * record (1,472 bytes) leaves as one frame per destination; a larger one (a proposal or a
 * sync block of thousands of ids) is cut into parts (consensus/frag.h): proposals through
 * the sender cache, so validators missing a part can ask for it, sync blocks and blocks for
 * followers without caching (their receivers ask again by height). Received parts are
 * reassembled, only from the validator whose genesis address sent them; part requests are
 * answered to the requester's genesis address (never to a datagram's source: a request is
 * small and its answer is not), at most CONS_TRANSPORT_ANSWERS_PER_S per requester.
 *
 * Threads: the consensus thread only (init/fini on the main thread).
 */
#ifndef CONS_TRANSPORT_H
#define CONS_TRANSPORT_H

#include "consensus/frag.h"
#include "consensus/machine.h"
#include "consensus/msg.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct dp_ctl_port; /* dataplane/ctl_port.h */
struct dp_ctl_msg;

#define CONS_TRANSPORT_ANSWERS_PER_S 64u
#define CONS_TRANSPORT_REQUEST_AFTER_MS 20u /* no new part for this long: ask */
#define CONS_TRANSPORT_REQUEST_TRIES 50u

struct cons_transport_stats {
    uint64_t send_errors;         /* sendto failed (UDP: consensus re-sends on its own) */
    uint64_t too_big;             /* a message over CONS_FRAG_MSG_BYTES_MAX: not sent */
    uint64_t parts_sent;
    uint64_t parts_foreign;       /* a part whose origin is not the validator that sent it */
    uint64_t answers_limited;     /* part requests over a requester's budget */
};

struct cons_transport {
    struct dp_ctl_port *port;
    uint32_t self;
    uint32_t count;
    const struct sockaddr_storage *addrs; /* count validators, owned by the caller */
    const socklen_t *addr_lens;
    struct cons_frag frag;
    void *frag_mem;
    uint8_t *msg;                 /* one encoded message, CONS_FRAG_MSG_BYTES_MAX */
    uint8_t *part;                /* one record body */
    uint8_t *frame;               /* one frame */
    uint64_t answer_window_ms[CONS_VALIDATORS_MAX];
    uint32_t answers_in_window[CONS_VALIDATORS_MAX];
    struct cons_transport_stats stats;
};

/* Main thread. 0, -ENOMEM or DC_ECONFIG. */
int cons_transport_init(struct cons_transport *t, struct dp_ctl_port *port, uint32_t self,
                        uint32_t count, const struct sockaddr_storage *addrs,
                        const socklen_t *addr_lens);
void cons_transport_fini(struct cons_transport *t);

/* `msg` to validator `to` (CONS_TO_ALL: every other one). Proposals are cached for requests. */
void cons_transport_send(struct cons_transport *t, uint16_t to, const struct cons_msg *msg,
                         uint64_t now);
/* `msg` to an address that is not a validator's (a follower); nothing is cached. */
void cons_transport_send_to(struct cons_transport *t, const struct sockaddr_storage *sa,
                            socklen_t sa_len, const struct cons_msg *msg);
/* One record body as it is (e.g. a follow cookie) to an address. */
void cons_transport_send_body(struct cons_transport *t, const struct sockaddr_storage *sa,
                              socklen_t sa_len, const uint8_t *body, size_t len);

/*
 * A received CONSENSUS record. 1 with `*msg`/`*len` set to a whole encoded message (the
 * record itself, or the message its part completed; valid until the next call), 0 when it
 * was a part (or a part request, answered here) that yields nothing yet, or a part refused.
 * `from` is the validator whose address sent it (-1: none).
 */
int cons_transport_recv(struct cons_transport *t, const struct dp_ctl_msg *rx, int from,
                        uint64_t now, const uint8_t **msg, size_t *len);
/* Requests for missing parts that are due, to their origin (retries: round-robin). */
void cons_transport_poll(struct cons_transport *t, uint64_t now);
/* When cons_transport_poll() next has something to do (UINT64_MAX: nothing). */
uint64_t cons_transport_next_due(const struct cons_transport *t);
/* The validator whose genesis address is `rx`'s source, or -1. */
int cons_transport_sender(const struct cons_transport *t, const struct dp_ctl_msg *rx);
/* The same over any address list (a follower's validators): the index of `rx`'s source. */
int cons_transport_addr_index(const struct sockaddr_storage *addrs, const socklen_t *addr_lens,
                              uint32_t count, const struct dp_ctl_msg *rx);

#endif
