/*
 * A signature stand-in for simulated runs: sig = BLAKE2b-512 of the message keyed with the
 * signer's public key. It is not a signature at all (anyone who knows the public key can make
 * one), which is fine here: no simulated fault forges a message, the Byzantine validator signs
 * only as itself, and a wrong key or altered message is still refused. What it buys is speed:
 * a simulated run then costs state-machine work, not curve arithmetic (~100x cheaper per
 * verification), so CI and soak runs cover many more seeds. `--crypto ed25519` runs the real
 * scheme, and CI runs a share of the seeds that way too.
 */
#include <sodium.h>

#include "world.h"

_Static_assert(crypto_generichash_BYTES_MAX >= CONS_SIG_BYTES, "a 64-byte BLAKE2b output");

static void fast_sign(uint8_t sig_out[CONS_SIG_BYTES], const uint8_t *msg, size_t len,
                      const uint8_t sk[CONS_SK_BYTES])
{
    /* libsodium's secret key is seed || public key. */
    crypto_generichash(sig_out, CONS_SIG_BYTES, msg, len, sk + 32, CONS_PK_BYTES);
}

static int fast_verify(const uint8_t sig[CONS_SIG_BYTES], const uint8_t *msg, size_t len,
                       const uint8_t pk[CONS_PK_BYTES])
{
    uint8_t expect[CONS_SIG_BYTES];
    crypto_generichash(expect, CONS_SIG_BYTES, msg, len, pk, CONS_PK_BYTES);
    return sodium_memcmp(expect, sig, CONS_SIG_BYTES) == 0 ? 0 : -1;
}

const struct cons_sig_ops sim_fast_sig = { .sign = fast_sign, .verify = fast_verify };
