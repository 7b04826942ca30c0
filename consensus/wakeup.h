/*
 * cons_wakeup: the eventfd signals and the millisecond clock the chain's threads share.
 *
 * The consensus thread (lcore.c), a relay's follower (follow.c) and the mailbox between them
 * and the RPC thread (mailbox.c) each sleep in poll() on eventfds and time out on
 * CLOCK_MONOTONIC milliseconds. An eventfd write never blocks here: EAGAIN means the counter
 * is already set, which is all a waker wants; a read of an empty one (EAGAIN) just finds
 * nothing pending. Not part of the pure core (it reads a clock and does I/O).
 *
 * Threads: any.
 */
#ifndef CONS_WAKEUP_H
#define CONS_WAKEUP_H

#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* Wake whoever polls `fd`. */
static inline void cons_wakeup_signal(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n;
}

/* Clear `fd` before looking at what woke us, so no later signal is lost. */
static inline void cons_wakeup_clear(int fd)
{
    uint64_t value;
    ssize_t n = read(fd, &value, sizeof(value));
    (void)n;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline uint64_t cons_wakeup_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
