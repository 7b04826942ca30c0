/*
 * Shared by the consensus unit tests: deterministic validator keys and a validator set.
 * Key i comes from the seed (i+1, 0, 0, ...), so every test run signs the same bytes.
 */
#ifndef CONS_TEST_KEYS_H
#define CONS_TEST_KEYS_H

#include <sodium.h>
#include <string.h>

#include "consensus/valset.h"

struct test_keys {
    uint8_t pk[CONS_VALIDATORS_MAX][CONS_PK_BYTES];
    uint8_t sk[CONS_VALIDATORS_MAX][CONS_SK_BYTES];
    struct cons_valset set;
};

static inline int test_keys_make(struct test_keys *keys, uint32_t count)
{
    if (sodium_init() < 0) {
        return -1;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint8_t seed[crypto_sign_SEEDBYTES] = { 0 };
        seed[0] = (uint8_t)(i + 1);
        crypto_sign_seed_keypair(keys->pk[i], keys->sk[i], seed);
    }
    return cons_valset_init(&keys->set, (const uint8_t (*)[CONS_PK_BYTES])keys->pk, count, 0);
}

#endif
