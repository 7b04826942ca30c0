#include "consensus/mailbox.h"

#include "consensus/wakeup.h"

#include "common/dc_alloc.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum mail_state { MAIL_IDLE, MAIL_ASKED, MAIL_ANSWERING, MAIL_ANSWERED };

int cons_mailbox_init(struct cons_mailbox *mb, int owner_fd)
{
    memset(mb, 0, sizeof(*mb));
    mb->owner_fd = owner_fd;
    atomic_init(&mb->state, MAIL_IDLE);
    mb->answer_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->answer_fd < 0) {
        return -errno;
    }
    uint8_t (*ids)[CONS_ID_BYTES] = dc_alloc((size_t)CONS_BLOCK_IDS_MAX * CONS_ID_BYTES);
    int rc = ids == NULL ? -ENOMEM : -pthread_mutex_init(&mb->lock, NULL);
    if (rc != 0) {
        dc_free(ids);
        close(mb->answer_fd);
        mb->answer_fd = -1;
        return rc;
    }
    cons_block_init(&mb->block, ids, CONS_BLOCK_IDS_MAX);
    return 0;
}

void cons_mailbox_fini(struct cons_mailbox *mb)
{
    if (mb->answer_fd >= 0) {
        close(mb->answer_fd);
        pthread_mutex_destroy(&mb->lock);
        dc_free(mb->block.ids);
    }
    memset(mb, 0, sizeof(*mb));
    mb->answer_fd = -1;
}

int cons_mailbox_serve(struct cons_mailbox *mb, void (*answer)(void *arg, struct cons_mailbox *mb),
                       void *arg)
{
    int asked = MAIL_ASKED;
    if (!atomic_compare_exchange_strong(&mb->state, &asked, MAIL_ANSWERING)) {
        return 0;
    }
    answer(arg, mb);
    atomic_store_explicit(&mb->state, MAIL_ANSWERED, memory_order_release);
    cons_wakeup_signal(mb->answer_fd);
    return 1;
}

/* Post the question (fields already written), wait for the answer or the timeout. */
static int ask(struct cons_mailbox *mb, uint32_t timeout_ms)
{
    cons_wakeup_clear(mb->answer_fd);
    atomic_store_explicit(&mb->state, MAIL_ASKED, memory_order_release);
    cons_wakeup_signal(mb->owner_fd);
    uint64_t deadline = cons_wakeup_now_ms() + timeout_ms;
    for (;;) {
        if (atomic_load_explicit(&mb->state, memory_order_acquire) == MAIL_ANSWERED) {
            return mb->rc;
        }
        uint64_t now = cons_wakeup_now_ms();
        if (now >= deadline) {
            int expected = MAIL_ASKED;
            if (atomic_compare_exchange_strong(&mb->state, &expected, MAIL_IDLE)) {
                return -ETIMEDOUT; /* withdrawn before the owner took it */
            }
            deadline = now + 1000; /* the owner is answering right now */
        }
        struct pollfd pfd = { .fd = mb->answer_fd, .events = POLLIN };
        (void)poll(&pfd, 1, (int)(deadline - now));
        cons_wakeup_clear(mb->answer_fd);
    }
}

int cons_mailbox_ask_id(struct cons_mailbox *mb, const uint8_t id[CONS_ID_BYTES],
                        uint32_t timeout_ms, struct cons_id_answer *out)
{
    pthread_mutex_lock(&mb->lock);
    mb->kind = CONS_MAILBOX_ID;
    memcpy(mb->id, id, CONS_ID_BYTES);
    int rc = ask(mb, timeout_ms);
    if (rc == 0) {
        *out = mb->id_answer;
    }
    atomic_store(&mb->state, MAIL_IDLE);
    pthread_mutex_unlock(&mb->lock);
    return rc;
}

int cons_mailbox_ask_block(struct cons_mailbox *mb, uint64_t height, uint32_t timeout_ms,
                           struct cons_block *block, struct cons_cert *cert)
{
    pthread_mutex_lock(&mb->lock);
    mb->kind = CONS_MAILBOX_BLOCK;
    mb->height = height;
    int rc = ask(mb, timeout_ms);
    if (rc == 0) {
        rc = cons_block_copy(block, &mb->block);
        *cert = mb->cert;
    }
    atomic_store(&mb->state, MAIL_IDLE);
    pthread_mutex_unlock(&mb->lock);
    return rc;
}
