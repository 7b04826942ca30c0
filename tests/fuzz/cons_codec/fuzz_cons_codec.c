/*
 * libFuzzer target for the consensus codecs that read network and disk bytes: messages
 * (proposal + block, vote, sync request, sync block + certificate) and WAL records. Every
 * input must decode to an error or to a value that re-encodes to exactly the same bytes
 * (the encodings are canonical); decoded messages then go through a state machine, whose
 * checks must turn them away without tripping an assertion.
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "common/dc_assert.h"
#include "consensus/machine.h"

#define IDS 64

static uint8_t ids[IDS][CONS_ID_BYTES];
static uint8_t out[CONS_HEADER_BYTES_MAX + IDS * CONS_ID_BYTES + CONS_CERT_BYTES_MAX + 256];
static struct cons_machine machine;
static struct cons_valset valset;
static uint8_t arena[1 << 20] __attribute__((aligned(64)));
static struct cons_actions actions;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void machine_setup(void)
{
    static int keyed;
    static uint8_t pk[4][CONS_PK_BYTES], sk[4][CONS_SK_BYTES];
    struct cons_config cfg = {
        .valset = &valset, .chain_id = "fuzz-chain", .self = 0,
        .timeout_propose_ticks = 3, .timeout_prevote_ticks = 1,
        .timeout_precommit_ticks = 1, .timeout_delta_ticks = 1, .rebroadcast_ticks = 2,
        .sync_retry_ticks = 2, .block_ids_max = IDS, .mempool_ids_max = 64,
        .recent_ids_max = 64,
    };
    if (!keyed) {
        DC_ASSERT(sodium_init() >= 0);
        for (int i = 0; i < 4; i++) {
            uint8_t seed[crypto_sign_SEEDBYTES] = { (uint8_t)(i + 1) };
            crypto_sign_seed_keypair(pk[i], sk[i], seed);
        }
        DC_ASSERT(cons_valset_init(&valset, (const uint8_t (*)[CONS_PK_BYTES])pk, 4, 0) == 0);
        keyed = 1;
    }
    memcpy(cfg.secret_key, sk[0], CONS_SK_BYTES);
    DC_ASSERT(cons_machine_arena_size(&cfg) <= sizeof(arena));
    DC_ASSERT(cons_machine_init(&machine, &cfg, arena, sizeof(arena)) == 0);
    cons_machine_start(&machine, 1, (const uint8_t[CONS_HASH_BYTES]){ 0 }, 0);
    cons_machine_begin(&machine, 1, &actions);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cons_block block;
    struct cons_cert cert;
    struct cons_msg msg;
    cons_block_init(&block, ids, IDS);
    if (cons_msg_decode(data, size, &msg, &block, &cert) == 0) {
        size_t len = cons_msg_encode(&msg, out, sizeof(out));
        DC_ASSERT(len == size);
        DC_ASSERT(memcmp(out, data, size) == 0);
        machine_setup();
        (void)cons_on_message(&machine, &msg, &actions);
        cons_tick(&machine, 5, &actions);
    }
    cons_block_init(&block, ids, IDS);
    if (cons_record_decode(data, size, &msg, &block) == 0) {
        size_t len = cons_record_encode(&msg, out, sizeof(out));
        DC_ASSERT(len == size);
        DC_ASSERT(memcmp(out, data, size) == 0);
    }
    return 0;
}
