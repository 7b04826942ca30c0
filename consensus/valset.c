#include "consensus/valset.h"

#include <sodium.h>
#include <string.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"

uint32_t cons_valset_quorum_min(uint32_t count)
{
    return count * 2 / 3 + 1;
}

uint32_t cons_valset_faulty_max(uint32_t count)
{
    return count == 0 ? 0 : (count - 1) / 3;
}

int cons_valset_init(struct cons_valset *set, const uint8_t (*keys)[CONS_PK_BYTES],
                     uint32_t count, uint32_t quorum)
{
    memset(set, 0, sizeof(*set));
    if (sodium_init() < 0) {
        return DC_ECONFIG;
    }
    if (count == 0) {
        return DC_ECONFIG;
    }
    if (count > CONS_VALIDATORS_MAX) {
        return DC_ETOOBIG;
    }
    if (quorum == 0) {
        quorum = cons_valset_quorum_min(count);
    }
    if (quorum < cons_valset_quorum_min(count) || quorum > count) {
        return DC_EQUORUM;
    }
    for (uint32_t i = 0; i < count; i++) {
        for (uint32_t j = 0; j < i; j++) {
            if (memcmp(keys[i], keys[j], CONS_PK_BYTES) == 0) {
                return DC_EDUPLICATE;
            }
        }
        memcpy(set->keys[i], keys[i], CONS_PK_BYTES);
    }
    set->count = count;
    set->quorum = quorum;
    DC_ASSERT(set->quorum * 3 > set->count * 2);
    return 0;
}

int cons_valset_find(const struct cons_valset *set, const uint8_t key[CONS_PK_BYTES])
{
    for (uint32_t i = 0; i < set->count; i++) {
        if (memcmp(set->keys[i], key, CONS_PK_BYTES) == 0) {
            return (int)i;
        }
    }
    return DC_EMEMBER;
}
