/*
 * cons_follow: a relay's chain follower, the thread that learns which messages are final.
 *
 * A relay given the genesis (its validators, their keys and addresses) follows the chain
 * without voting: once a second it sends each validator a FOLLOW with the next height it
 * needs (consensus/followmsg.h; the validator's first answer is an address cookie to echo),
 * and the validators send it every block they commit, plus the blocks it is missing. Each
 * block is accepted only at the next height, linked to the previous one by hash, with a
 * commit certificate that a quorum of the genesis validators signed (cons_cert_verify), so
 * no single validator, honest or not, can make the relay report a message final that is not.
 *
 * For every accepted block the follower pushes one struct dp_final_item per message onto the
 * dataplane's finals ring and wakes the I/O thread, which tells the subscribers that got
 * those messages (FINAL records, docs/PROTOCOL.md); it remembers recent positions for
 * GET /messages/{id} (consensus/mailbox.h) and publishes the head for /chain/status, and its
 * counters for /metrics (a copy, at most every CONS_FOLLOW_COUNTERS_MS, after a change).
 *
 * Threads: init/start/stop/fini on the main thread; cons_follow_main_loop() on the follower
 * thread; cons_follow_query_id() on any other thread.
 */
#ifndef CONS_FOLLOW_H
#define CONS_FOLLOW_H

#include "consensus/block.h"
#include "consensus/cert.h"
#include "consensus/followmsg.h"
#include "consensus/mailbox.h"
#include "consensus/posindex.h"
#include "consensus/valset.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

struct dp_ctl_port; /* dataplane/ctl_port.h */
struct dp_idring;   /* dataplane/idring.h */
struct dp_ctl_msg;
struct cons_frag;   /* consensus/frag.h */

#define CONS_FOLLOW_ASK_MS 1000u       /* FOLLOW to every validator this often */
#define CONS_FOLLOW_RECORDS_PER_PASS 256u
#define CONS_FOLLOW_COUNTERS_MS 100u   /* counters are published at most this often */

struct cons_follow_view {
    uint64_t height;                   /* the last block accepted */
    uint8_t hash[CONS_HASH_BYTES];
    uint32_t validators;
    uint32_t online_validators;        /* validators whose blocks arrived recently */
    uint64_t messages_ordered;         /* ids in the blocks accepted since start */
};

/* The follower's counters as published: a copy, consistent at one moment. */
struct cons_follow_counters {
    uint64_t height;                   /* the last block accepted */
    uint64_t blocks_accepted;
    uint64_t blocks_refused;
    uint64_t blocks_out_of_order;
    uint64_t finals_dropped;
    uint64_t bad_msgs;
    uint64_t parts_in;                 /* blocks sent as parts: parts received */
    uint64_t parted_complete;          /* ... and blocks reassembled from them */
};

struct cons_follow_params {
    const struct cons_valset *valset;  /* must outlive the follower */
    const char *chain_id;              /* must outlive the follower */
    uint8_t genesis_hash[CONS_HASH_BYTES];
    uint32_t count;                    /* validators */
    struct sockaddr_storage addrs[CONS_VALIDATORS_MAX];
    socklen_t addr_lens[CONS_VALIDATORS_MAX];
    struct dp_ctl_port *port;          /* CONSENSUS records in; FOLLOW out */
    struct dp_idring *finals;          /* struct dp_final_item out */
    void (*wake_io)(void *arg);        /* after pushing finals */
    void *wake_io_arg;
    void (*publish)(void *arg, const struct cons_follow_view *view);
    void *publish_arg;
    /* Counters (NULL: not published); called on the follower thread, with publish_arg. */
    void (*publish_counters)(void *arg, const struct cons_follow_counters *counters);
};

struct cons_follow_validator {
    uint8_t cookie[CONS_FOLLOW_COOKIE_BYTES];
    uint64_t heard_ms;                 /* a block or a cookie came from it; 0: never */
};

struct cons_follow {
    struct cons_follow_params p;
    struct cons_block rx_block;
    struct cons_cert rx_cert;
    struct dp_ctl_msg *rx;
    uint8_t frame[64];
    uint64_t next_height;              /* the height we wait for */
    uint8_t head_hash[CONS_HASH_BYTES];
    uint64_t ids_total;
    uint64_t asked_ms;
    struct cons_follow_validator vals[CONS_VALIDATORS_MAX];
    struct cons_posindex positions;
    void *positions_mem;
    struct cons_frag *frag;            /* reassembles blocks sent as parts */
    void *frag_mem;
    struct cons_mailbox mail;
    struct cons_follow_view view;
    int wake_fd;
    int started;
    pthread_t thread;
    _Atomic int stop;
    /* counters */
    uint64_t blocks_accepted;
    uint64_t blocks_refused;           /* bad certificate, chain or link */
    uint64_t blocks_out_of_order;      /* not the next height: asked again */
    uint64_t finals_dropped;           /* finals ring full */
    uint64_t bad_msgs;
    struct cons_follow_counters counters; /* last published */
    uint64_t counters_ms;
};

/* Main thread. 0, -ENOMEM or -errno. */
int cons_follow_init(struct cons_follow *f, const struct cons_follow_params *params);
int cons_follow_start(struct cons_follow *f);
void cons_follow_stop(struct cons_follow *f);
void cons_follow_fini(struct cons_follow *f);
/* The follower thread's loop; returns after cons_follow_stop(). */
void cons_follow_main_loop(struct cons_follow *f);
/* Any other thread: the status of `id` (final with its position, or unknown). */
int cons_follow_query_id(struct cons_follow *f, const uint8_t id[CONS_ID_BYTES],
                         uint32_t timeout_ms, struct cons_id_answer *out);

#endif
