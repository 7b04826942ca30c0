/*
 * cons_mailbox: questions from other threads to a thread that owns chain state.
 *
 * The consensus thread (consensus/lcore.h) and a relay's chain follower (consensus/follow.h)
 * own what the RPC server wants to know: the status and final position of a message id, and
 * committed blocks. Asking must not make the owner lock or block, so the question goes
 * through a one-slot mailbox: the asker writes it, flips the state to ASKED and writes the
 * owner's eventfd; the owner looks once per loop pass (one atomic load), answers, flips the
 * state to ANSWERED and writes the asker's eventfd. Askers take turns on a mutex the owner
 * never touches; an asker that gives up withdraws its question only if the owner has not
 * taken it yet (compare-and-swap), so an answer is never written over a newer question.
 *
 * Threads: init/fini on the main thread; cons_mailbox_serve() on the owner thread only; the
 * ask functions on any other thread.
 */
#ifndef CONS_MAILBOX_H
#define CONS_MAILBOX_H

#include "consensus/block.h"
#include "consensus/cert.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum cons_mailbox_kind { CONS_MAILBOX_ID = 1, CONS_MAILBOX_BLOCK = 2 };

enum cons_msg_status {
    CONS_MSG_UNKNOWN = 0,          /* never seen, or older than the position window */
    CONS_MSG_PENDING = 1,          /* waiting to be ordered */
    CONS_MSG_FINAL = 2,            /* in a committed block */
};

struct cons_id_answer {
    uint8_t status;                /* enum cons_msg_status */
    uint64_t height;               /* FINAL: position */
    uint32_t index;
    uint8_t block_hash[CONS_HASH_BYTES];
};

struct cons_mailbox {
    pthread_mutex_t lock;          /* askers take turns; the owner never takes it */
    _Atomic int state;             /* idle, asked, answering, answered (mailbox.c) */
    int answer_fd;                 /* eventfd: an answer is ready */
    int owner_fd;                  /* the owner's wake-up eventfd (not owned) */
    /* the question */
    int kind;                      /* enum cons_mailbox_kind */
    uint8_t id[CONS_ID_BYTES];
    uint64_t height;
    /* the answer */
    int rc;
    struct cons_id_answer id_answer;
    struct cons_block block;       /* storage for CONS_BLOCK_IDS_MAX ids */
    struct cons_cert cert;
};

/* Main thread: `owner_fd` is the eventfd the owner polls. 0, -ENOMEM or -errno. */
int cons_mailbox_init(struct cons_mailbox *mb, int owner_fd);
void cons_mailbox_fini(struct cons_mailbox *mb);

/*
 * Owner, once per loop pass: when a question waits, `answer` fills mb->rc and mb->id_answer
 * (CONS_MAILBOX_ID) or mb->rc, mb->block and mb->cert (CONS_MAILBOX_BLOCK). 1 when a
 * question was answered, 0 otherwise.
 */
int cons_mailbox_serve(struct cons_mailbox *mb, void (*answer)(void *arg, struct cons_mailbox *mb),
                       void *arg);

/* Asker: the status of `id`. 0 with `out`, -ETIMEDOUT, or the owner's error. */
int cons_mailbox_ask_id(struct cons_mailbox *mb, const uint8_t id[CONS_ID_BYTES],
                        uint32_t timeout_ms, struct cons_id_answer *out);
/* Asker: the block at `height` copied into `block` (CONS_BLOCK_IDS_MAX ids) and `cert`. */
int cons_mailbox_ask_block(struct cons_mailbox *mb, uint64_t height, uint32_t timeout_ms,
                           struct cons_block *block, struct cons_cert *cert);

#endif
