/*
 * cons-bench: the consensus engine's own cost. Four validators run in one process with zero
 * network delay (every message is encoded, queued and decoded, as on the wire, but delivered
 * at once), for blocks of 1, 100 and 10,000 message ids. It prints committed blocks per
 * second, ids ordered per second and signature operations per commit, beside libsodium's
 * single-core Ed25519 sign and verify rates measured in the same run, and the ratios that
 * say how close the engine runs to its signature bound.
 *   cons-bench [--seconds S]   (per block size; default 2)
 * Single-threaded; not a test (benchmarks stay out of `meson test`).
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "consensus/machine.h"

#define VALIDATORS 4
#define CHAIN "bench-chain"
#define QUEUE_MAX 4096
#define BYTES_MAX (64u << 20)

struct queued {
    uint16_t to;
    uint32_t offset;
    uint32_t len;
};

struct bench {
    struct cons_valset set;
    uint8_t sk[VALIDATORS][CONS_SK_BYTES];
    struct cons_machine *m[VALIDATORS];
    uint8_t *arena[VALIDATORS];
    struct cons_actions out;
    struct queued queue[QUEUE_MAX];
    uint32_t head, tail;
    uint8_t *bytes;                 /* encoded messages of the queue, reset when it drains */
    uint32_t bytes_len;
    struct cons_block dec_block;
    uint8_t (*dec_ids)[CONS_ID_BYTES];
    struct cons_cert dec_cert;
    uint64_t now;
    uint64_t next_id;
    uint64_t commits;               /* blocks committed by validator 0 */
    uint32_t ids_per_block;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libsodium's single-core Ed25519 rates, measured now: the baseline. */
static void sodium_rates(double seconds, double *sign_per_s, double *verify_per_s)
{
    uint8_t pk[CONS_PK_BYTES], sk[CONS_SK_BYTES], sig[CONS_SIG_BYTES], msg[160] = { 1 };
    uint64_t n = 0;
    double t0 = now_s(), t;
    crypto_sign_keypair(pk, sk);
    do {
        for (int i = 0; i < 64; i++, n++) {
            msg[0] = (uint8_t)n;
            crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
        }
        t = now_s() - t0;
    } while (t < seconds);
    *sign_per_s = (double)n / t;
    n = 0;
    t0 = now_s();
    do {
        for (int i = 0; i < 64; i++, n++) {
            if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0) {
                abort();
            }
        }
        t = now_s() - t0;
    } while (t < seconds);
    *verify_per_s = (double)n / t;
}

static void enqueue(struct bench *b, uint32_t from, uint16_t to, const struct cons_msg *msg)
{
    size_t size = cons_msg_encoded_size(msg);
    uint32_t offset = b->bytes_len;
    DC_ASSERT(size > 0 && size <= BYTES_MAX - b->bytes_len);
    b->bytes_len += (uint32_t)cons_msg_encode(msg, b->bytes + offset, size);
    for (uint16_t j = 0; j < VALIDATORS; j++) {
        if (j == from || (to != CONS_TO_ALL && j != to)) {
            continue;
        }
        DC_ASSERT(b->tail - b->head < QUEUE_MAX);
        b->queue[b->tail++ % QUEUE_MAX] = (struct queued){ j, offset, (uint32_t)size };
    }
}

static void run_actions(struct bench *b, uint32_t v)
{
    for (uint32_t i = 0; i < b->out.count; i++) {
        const struct cons_action *a = &b->out.items[i];
        if (a->type == CONS_ACT_SEND) {
            enqueue(b, v, a->to, &a->msg);
        } else if (a->type == CONS_ACT_COMMIT && v == 0) {
            b->commits++;
        }
    }
}

/* Keep two blocks' worth of ids pending at every validator (gossip gave each the same). */
static void refill(struct bench *b)
{
    uint8_t id[CONS_ID_BYTES] = { 0 };
    while (cons_mempool_pending(&b->m[0]->mempool) < 2 * b->ids_per_block) {
        memcpy(id, &b->next_id, sizeof(b->next_id));
        memcpy(id + 8, "cons-bench-ids", 14);
        b->next_id++;
        for (uint32_t v = 0; v < VALIDATORS; v++) {
            int err = cons_submit(b->m[v], id);
            DC_ASSERT(err == 0 || err == DC_EDUPLICATE);
        }
    }
}

static void setup(struct bench *b, uint32_t ids_per_block)
{
    uint8_t pk[VALIDATORS][CONS_PK_BYTES];
    uint8_t genesis[CONS_HASH_BYTES] = { 'g' };
    uint32_t pool = ids_per_block * 4 < 64 ? 64 : ids_per_block * 4;
    b->ids_per_block = ids_per_block;
    for (uint32_t v = 0; v < VALIDATORS; v++) {
        uint8_t seed[crypto_sign_SEEDBYTES] = { (uint8_t)(v + 1) };
        crypto_sign_seed_keypair(pk[v], b->sk[v], seed);
    }
    DC_ASSERT(cons_valset_init(&b->set, (const uint8_t (*)[CONS_PK_BYTES])pk, VALIDATORS, 0) ==
              0);
    for (uint32_t v = 0; v < VALIDATORS; v++) {
        struct cons_config cfg = {
            .valset = &b->set, .chain_id = CHAIN, .self = v,
            .timeout_propose_ticks = 1000000, .timeout_prevote_ticks = 1000000,
            .timeout_precommit_ticks = 1000000, .timeout_delta_ticks = 1,
            .rebroadcast_ticks = 1000000, .sync_retry_ticks = 1000000,
            .block_ids_max = ids_per_block, .mempool_ids_max = pool, .recent_ids_max = pool,
        };
        memcpy(cfg.secret_key, b->sk[v], CONS_SK_BYTES);
        cfg.hash_key[0] = (uint8_t)v;
        size_t size = cons_machine_arena_size(&cfg);
        b->m[v] = aligned_alloc(64, (sizeof(struct cons_machine) + 63) & ~(size_t)63);
        b->arena[v] = aligned_alloc(64, (size + 63) & ~(size_t)63);
        DC_ASSERT(b->m[v] != NULL && b->arena[v] != NULL);
        DC_ASSERT(cons_machine_init(b->m[v], &cfg, b->arena[v], size) == 0);
        cons_machine_start(b->m[v], 1, genesis, 0);
    }
    b->dec_ids = malloc((size_t)ids_per_block * CONS_ID_BYTES);
    DC_ASSERT(b->dec_ids != NULL);
    cons_block_init(&b->dec_block, b->dec_ids, ids_per_block);
    refill(b);
    for (uint32_t v = 0; v < VALIDATORS; v++) {
        cons_machine_begin(b->m[v], 1, &b->out);
        run_actions(b, v);
    }
}

static void teardown(struct bench *b)
{
    for (uint32_t v = 0; v < VALIDATORS; v++) {
        free(b->m[v]);
        free(b->arena[v]);
    }
    free(b->dec_ids);
}

/* Deliver one queued message, or let a tick pass when nothing is in flight. */
static void step(struct bench *b)
{
    struct cons_msg msg;
    if (b->head == b->tail) {
        b->bytes_len = 0;
        b->now++;
        for (uint32_t v = 0; v < VALIDATORS; v++) {
            cons_tick(b->m[v], b->now, &b->out);
            run_actions(b, v);
        }
        return;
    }
    struct queued q = b->queue[b->head++ % QUEUE_MAX];
    int err = cons_msg_decode(b->bytes + q.offset, q.len, &msg, &b->dec_block, &b->dec_cert);
    DC_ASSERT(err == 0);
    (void)cons_on_message(b->m[q.to], &msg, &b->out);
    run_actions(b, q.to);
}

struct result {
    uint32_t ids_per_block;
    double blocks_s;
    double signs_per_commit;
    double verifies_per_commit;
};

static void print_result(const struct result *r, double sign_per_s, double verify_per_s)
{
    /* Seconds per commit libsodium alone would need, from the baseline rates. */
    double sig_s = r->signs_per_commit / sign_per_s + r->verifies_per_commit / verify_per_s;
    printf("%6u ids/block: %8.1f blocks/s %10.0f ids/s | %4.1f sig ops/commit (%3.1f sign, "
           "%4.1f verify) | signatures %3.0f%% of the time, bound %6.1f blocks/s\n",
           r->ids_per_block, r->blocks_s, r->blocks_s * r->ids_per_block,
           r->signs_per_commit + r->verifies_per_commit, r->signs_per_commit,
           r->verifies_per_commit, 100.0 * r->blocks_s * sig_s, 1.0 / sig_s);
}

static void run_size(uint32_t ids_per_block, double seconds, struct result *r)
{
    static struct bench b;
    uint64_t sig_ops = 0, signs = 0;
    memset(&b, 0, sizeof(b));
    b.bytes = malloc(BYTES_MAX);
    DC_ASSERT(b.bytes != NULL);
    setup(&b, ids_per_block);
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 64; i++) {
            uint64_t before = b.commits;
            step(&b);
            if (b.commits != before) {
                refill(&b);
            }
        }
        t = now_s() - t0;
    } while (t < seconds || b.commits < 3);
    for (uint32_t v = 0; v < VALIDATORS; v++) {
        sig_ops += b.m[v]->stats.signs + b.m[v]->stats.verifies;
        signs += b.m[v]->stats.signs;
    }
    r->ids_per_block = ids_per_block;
    r->blocks_s = (double)b.commits / t;
    r->signs_per_commit = (double)signs / (double)b.commits;
    r->verifies_per_commit = (double)(sig_ops - signs) / (double)b.commits;
    teardown(&b);
    free(b.bytes);
}

int main(int argc, char **argv)
{
    double seconds = 2.0, sign_s, verify_s;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            seconds = strtod(argv[++i], &end);
            if (errno != 0 || *end != '\0' || !(seconds > 0 && seconds < 3600)) {
                fprintf(stderr, "cons-bench: --seconds: not a duration: '%s'\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: cons-bench [--seconds S]\n");
            return 2;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "cons-bench: libsodium failed to initialise\n");
        return 1;
    }
    /* Sampled before and after (higher kept): the machine is shared, rates drift. */
    struct result results[3];
    const uint32_t sizes[3] = { 1, 100, 10000 };
    double sign_after, verify_after;
    sodium_rates(seconds / 2, &sign_s, &verify_s);
    for (uint32_t i = 0; i < 3; i++) {
        run_size(sizes[i], seconds, &results[i]);
    }
    sodium_rates(seconds / 2, &sign_after, &verify_after);
    printf("baseline: libsodium Ed25519 on one core: %.0f signs/s, %.0f verifies/s "
           "(before %.0f / %.0f, after %.0f / %.0f)\n",
           sign_s > sign_after ? sign_s : sign_after,
           verify_s > verify_after ? verify_s : verify_after, sign_s, verify_s, sign_after,
           verify_after);
    sign_s = sign_s > sign_after ? sign_s : sign_after;
    verify_s = verify_s > verify_after ? verify_s : verify_after;
    printf("engine: 4 validators, one process, zero network delay, %.1f s per size\n", seconds);
    for (uint32_t i = 0; i < 3; i++) {
        print_result(&results[i], sign_s, verify_s);
    }
    printf("signatures = blocks/s x (signs/sign rate + verifies/verify rate): near 100%% the "
           "engine is bound by Ed25519; bound = the blocks/s that signatures alone allow\n");
    return 0;
}
