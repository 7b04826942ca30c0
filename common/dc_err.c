#include "common/dc_err.h"

#include <string.h>

static const char *const domain_names[] = {
    [0] = "unknown dchat error",
    [1] = "malformed input",
    [2] = "length over limit",
    [3] = "unsupported version",
    [4] = "bad signature",
    [5] = "duplicate",
    [6] = "quorum not reached or invalid",
    [7] = "invalid configuration",
    [8] = "corrupt data (checksum mismatch)",
    [9] = "input truncated",
    [10] = "queue or table full",
    [11] = "empty",
    [12] = "not found",
    [13] = "stale (older than held)",
    [14] = "not supported here",
    [15] = "not a member of the validator set",
    [16] = "unknown key",
    [17] = "wrong type",
    [18] = "value out of range",
    [19] = "bad command line",
    [20] = "conflicts with an earlier signature",
    [21] = "authentication failed",
    [22] = "behind the anti-replay window",
    [23] = "expired",
    [24] = "bad handshake mac1",
    [25] = "cookie required (responder under load)",
    [26] = "pruned (only the header and certificate are kept)",
};

_Static_assert(sizeof(domain_names) / sizeof(domain_names[0]) == -DC_ERR_LAST - DC_ERR_BASE,
               "every DC_E* code has a name");

const char *dc_strerror(int err)
{
    if (err == 0) {
        return "success";
    }
    if (err <= -(DC_ERR_BASE + 1) && err > DC_ERR_LAST) {
        return domain_names[-err - DC_ERR_BASE];
    }
    if (err < 0 && err > -DC_ERR_BASE) {
        return strerror(-err);
    }
    return domain_names[0];
}
