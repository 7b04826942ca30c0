/*
 * replay: the anti-replay window of one link session's receive direction (RFC 6479 style).
 *
 * A bitmap of DP_REPLAY_WINDOW_BITS bits, kept as a ring of 64-bit words, remembers which of
 * the most recent counters were seen. Moving the window forward clears whole words, so the
 * cost of a jump is bounded by the bitmap size, not by the jump. One word is always being
 * recycled, which is why the window that is guaranteed is DP_REPLAY_WINDOW_BITS - 64.
 *
 * Check and commit are separate: a packet's counter is checked before its AEAD tag (to skip
 * the decryption of replays) and committed only after the tag verified, so a forged packet
 * can never move the window. Pure functions on caller memory; one thread per window.
 */
#ifndef DP_REPLAY_H
#define DP_REPLAY_H

#include <stdint.h>

#define DP_REPLAY_WINDOW_BITS 2048
#define DP_REPLAY_WORD_BITS 64
#define DP_REPLAY_WORDS (DP_REPLAY_WINDOW_BITS / DP_REPLAY_WORD_BITS)
/* Counters at least this far behind the greatest one seen are refused as too old. */
#define DP_REPLAY_WINDOW (DP_REPLAY_WINDOW_BITS - DP_REPLAY_WORD_BITS)

_Static_assert((DP_REPLAY_WORDS & (DP_REPLAY_WORDS - 1)) == 0, "the word ring is a power of 2");

struct dp_replay {
    uint64_t greatest; /* greatest committed counter (0 before the first) */
    uint64_t bitmap[DP_REPLAY_WORDS];
};

void dp_replay_init(struct dp_replay *r);
/* Whether `counter` may be accepted: 0, DC_EDUPLICATE (seen) or DC_EWINDOW (too old). */
int dp_replay_check(const struct dp_replay *r, uint64_t counter);
/* Records `counter` as seen; it must have passed dp_replay_check() just before. */
void dp_replay_commit(struct dp_replay *r, uint64_t counter);

#endif
