/*
 * libFuzzer target for the genesis loader (consensus/genesis.c): cons_genesis_parse() on any
 * bytes returns an error with a one-line message, or a genesis that obeys every rule the
 * loader promises (non-empty set, safe quorum, distinct keys and names) and builds the
 * validator set consensus runs with.
 */
#include "consensus/genesis.h"

#include "common/dc_assert.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cons_genesis genesis;
    static struct cons_valset set;
    char err[CONS_GENESIS_ERROR_BYTES];
    err[0] = '\0';
    int rc = cons_genesis_parse(&genesis, (const char *)data, size, "fuzz.toml", err,
                                sizeof(err));
    if (rc != 0) {
        DC_ASSERT(rc < 0);
        DC_ASSERT(err[0] != '\0');
        DC_ASSERT(strchr(err, '\n') == NULL || strchr(err, '\n')[1] == '\0');
        return 0;
    }
    DC_ASSERT(genesis.count >= 1 && genesis.count <= CONS_VALIDATORS_MAX);
    DC_ASSERT(genesis.required_confirmations >= cons_valset_quorum_min(genesis.count));
    DC_ASSERT(genesis.required_confirmations <= genesis.count);
    DC_ASSERT(cons_genesis_validate(&genesis, "again", err, sizeof(err)) == 0);
    DC_ASSERT(cons_genesis_valset(&genesis, &set) == 0);
    uint8_t hash[CONS_HASH_BYTES];
    cons_genesis_hash(&genesis, hash);
    return 0;
}
