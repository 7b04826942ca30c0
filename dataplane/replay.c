#include "dataplane/replay.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <string.h>

void dp_replay_init(struct dp_replay *r)
{
    memset(r, 0, sizeof(*r));
}

static uint64_t bit_of(uint64_t counter)
{
    return (uint64_t)1 << (counter % DP_REPLAY_WORD_BITS);
}

static uint64_t word_of(uint64_t counter)
{
    return (counter / DP_REPLAY_WORD_BITS) % DP_REPLAY_WORDS;
}

int dp_replay_check(const struct dp_replay *r, uint64_t counter)
{
    if (counter > r->greatest) {
        return 0; /* ahead of the window: its word gets cleared on commit */
    }
    if (r->greatest - counter >= DP_REPLAY_WINDOW) {
        return DC_EWINDOW;
    }
    if (r->bitmap[word_of(counter)] & bit_of(counter)) {
        return DC_EDUPLICATE;
    }
    return 0;
}

void dp_replay_commit(struct dp_replay *r, uint64_t counter)
{
    DC_ASSERT(dp_replay_check(r, counter) == 0);
    if (counter > r->greatest) {
        uint64_t now_word = r->greatest / DP_REPLAY_WORD_BITS;
        uint64_t new_word = counter / DP_REPLAY_WORD_BITS;
        uint64_t steps = new_word - now_word;
        if (steps > DP_REPLAY_WORDS) {
            steps = DP_REPLAY_WORDS;
        }
        /* Words between the old and the new head held counters that are now too old. */
        for (uint64_t i = 1; i <= steps; i++) {
            r->bitmap[(now_word + i) % DP_REPLAY_WORDS] = 0;
        }
        r->greatest = counter;
    }
    r->bitmap[word_of(counter)] |= bit_of(counter);
}
