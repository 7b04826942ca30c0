/*
 * libFuzzer target for dp_link_handle(): arbitrary bytes from a peer's address into a table
 * that has one peer (a) with an established session and a handshake of its own in flight, so
 * initiations, responses, cookie replies and data all reach their deep paths.
 *
 * Input: byte 0 is control (bit 0: under load; bits 1-7: the clock, in 10 s steps past the
 * set-up time, so expiry and rekey paths run), the rest is the packet. libsodium's randomness
 * is replaced by a seeded deterministic one and the table is restored from a snapshot before
 * each input, so every input is replayable on its own and the seed corpus stays valid: with
 * DCHAT_FUZZ_LINK_CORPUS=<dir> set, the set-up writes the real packets it made into <dir>.
 */
#include "dataplane/link.h"

#include "common/dc_err.h"

#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 70000
#define PEERS 2

static uint8_t rng_seed[randombytes_SEEDBYTES];
static uint64_t rng_calls;

static const char *rng_name(void)
{
    return "fuzz-deterministic";
}

static void rng_buf(void *const buf, const size_t size)
{
    uint8_t seed[randombytes_SEEDBYTES];
    memcpy(seed, rng_seed, sizeof(seed));
    memcpy(seed, &rng_calls, sizeof(rng_calls));
    rng_calls++;
    randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t rng_random(void)
{
    uint32_t v;
    rng_buf(&v, sizeof(v));
    return v;
}

static randombytes_implementation rng = {
    .implementation_name = rng_name, .random = rng_random, .buf = rng_buf,
};

static struct dp_link_table ta, tb, tb_snap;
static struct dp_link_peer tb_peers_snap[PEERS];
static struct sockaddr_in addr_a, addr_b;
static uint8_t out[CAP];

static void node(struct dp_link_table *t, uint8_t seed_byte, uint8_t pk[32])
{
    uint8_t seed[32], sk[64];
    memset(seed, seed_byte, sizeof(seed));
    crypto_sign_seed_keypair(pk, sk, seed);
    struct dp_link_conf conf = { .ed_sk = sk, .peers_max = PEERS };
    if (dp_link_init(t, &conf) != 0) {
        __builtin_trap();
    }
}

static void save(const char *dir, const char *name, uint8_t ctl, const uint8_t *p, size_t len)
{
    if (dir == NULL) {
        return;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(&ctl, 1, 1, f) != 1 || fwrite(p, 1, len, f) != len) {
        __builtin_trap();
    }
    fclose(f);
}

/* One packet from `from` handled by `to`; must succeed (or give the cookie) with a reply. */
static size_t pass(struct dp_link_table *to, const struct sockaddr_in *src, const uint8_t *in,
                   size_t len, uint8_t *reply)
{
    struct dp_link_result res;
    int rc = dp_link_handle(to, (const struct sockaddr *)src, sizeof(*src), in, len, 0, reply,
                            CAP, &res);
    if ((rc != 0 && rc != DC_ECOOKIE) || res.action != DP_LINK_REPLY) {
        __builtin_trap();
    }
    return res.len;
}

static uint64_t rng_calls_snap;
static int verbose; /* DCHAT_FUZZ_LINK_VERBOSE: print each input's outcome */

static void take(struct dp_link_table *to, const struct sockaddr_in *src, const uint8_t *in,
                 size_t len)
{
    struct dp_link_result res;
    if (dp_link_handle(to, (const struct sockaddr *)src, sizeof(*src), in, len, 0, out, CAP,
                       &res) != 0) {
        __builtin_trap();
    }
}

static void setup_packets(const char *dir)
{
    static uint8_t m1[CAP], m2[CAP], m3[CAP], pkt[CAP];
    size_t n;
    /* a -> b: an established session, confirmed by a's keepalive. */
    dp_link_initiate(&ta, 0, 0, m1, CAP);
    n = pass(&tb, &addr_a, m1, DP_HS_INIT_BYTES, m2);
    n = pass(&ta, &addr_b, m2, n, m3);
    take(&tb, &addr_a, m3, n);
    /* b -> a: b's own initiation in flight; a's cookie reply (under load) and response. */
    dp_link_initiate(&tb, 0, 0, m1, CAP);
    dp_link_set_under_load(&ta, 1);
    n = pass(&ta, &addr_b, m1, DP_HS_INIT_BYTES, m2);
    save(dir, "cookie_reply", 0, m2, n);
    dp_link_set_under_load(&ta, 0);
    n = pass(&ta, &addr_b, m1, DP_HS_INIT_BYTES, m2);
    save(dir, "response", 0, m2, n);
    /* A newer initiation from a, without and (under load, after a cookie) with mac2. */
    dp_link_initiate(&ta, 0, 1, m1, CAP);
    save(dir, "init", 0, m1, DP_HS_INIT_BYTES);
    dp_link_set_under_load(&tb, 1);
    n = pass(&tb, &addr_a, m1, DP_HS_INIT_BYTES, m2);
    save(dir, "garbage_cookie_reply_for_a", 1, m2, n);
    take(&ta, &addr_b, m2, n);
    dp_link_initiate(&ta, 0, 2, m1, CAP);
    save(dir, "init_mac2", 1, m1, DP_HS_INIT_BYTES);
    dp_link_set_under_load(&tb, 0);
    /* Data on the established session. */
    static const char hello[] = "hello";
    n = (size_t)dp_link_seal(&ta, 0, (const uint8_t *)hello, sizeof(hello), 3, pkt, CAP);
    save(dir, "data_hello", 0, pkt, n);
    n = (size_t)dp_link_seal(&ta, 0, NULL, 0, 3, pkt, CAP);
    save(dir, "data_keepalive", 0, pkt, n);
    memset(m3, 0xab, 1400);
    n = (size_t)dp_link_seal(&ta, 0, m3, 1400, 3, pkt, CAP);
    save(dir, "data_1400", 2, pkt, n);
    /* Garbage: a v1 frame header, random bytes, a link type with nothing after it. */
    static const uint8_t frame[] = { 0x64, 0x43, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0 };
    save(dir, "garbage_v1_frame", 0, frame, sizeof(frame));
    randombytes_buf(pkt, 200);
    save(dir, "garbage_random", 0, pkt, 200);
    pkt[0] = DP_HS_TYPE_DATA;
    save(dir, "garbage_short_data", 0, pkt, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memset(rng_seed, 0x5a, sizeof(rng_seed));
    if (randombytes_set_implementation(&rng) != 0 || sodium_init() < 0) {
        __builtin_trap();
    }
    uint8_t pk_a[32], pk_b[32];
    node(&ta, 1, pk_a);
    node(&tb, 2, pk_b);
    addr_a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(1) };
    addr_b = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(2) };
    if (dp_link_peer_add(&ta, pk_b, (const struct sockaddr *)&addr_b, sizeof(addr_b)) != 0 ||
        dp_link_peer_add(&tb, pk_a, (const struct sockaddr *)&addr_a, sizeof(addr_a)) != 0) {
        __builtin_trap();
    }
    setup_packets(getenv("DCHAT_FUZZ_LINK_CORPUS"));
    verbose = getenv("DCHAT_FUZZ_LINK_VERBOSE") != NULL;
    tb_snap = tb;
    memcpy(tb_peers_snap, tb.peers, sizeof(tb_peers_snap));
    rng_calls_snap = rng_calls;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    tb = tb_snap;
    memcpy(tb.peers, tb_peers_snap, sizeof(tb_peers_snap));
    rng_calls = rng_calls_snap;
    dp_link_set_under_load(&tb, data[0] & 1);
    uint64_t now_ms = (uint64_t)(data[0] >> 1) * 10000u;
    struct dp_link_result res;
    int rc = dp_link_handle(&tb, (const struct sockaddr *)&addr_a, sizeof(addr_a), data + 1,
                            size - 1, now_ms, out, CAP, &res);
    if (verbose) {
        fprintf(stderr, "link: %zu bytes type 0x%02x: rc %d (%s) action %d len %zu\n", size - 1,
                size > 1 ? data[1] : 0, rc, dc_strerror(rc), res.action, res.len);
    }
    /* Every outcome is a known drop or a success with a coherent result. */
    if (rc != 0 && dp_link_drop_of(rc) == DP_LINK_DROP_COUNT) {
        __builtin_trap();
    }
    if (res.action == DP_LINK_REPLY && (res.len == 0 || res.len > DP_LINK_REPLY_BYTES_MAX ||
                                        !dp_link_is_packet(out, res.len))) {
        __builtin_trap();
    }
    if (res.action == DP_LINK_DELIVER && (rc != 0 || res.len + DP_LINK_DATA_OVERHEAD != size - 1)) {
        __builtin_trap();
    }
    if (rc != 0 && res.action != DP_LINK_NONE && rc != DC_ECOOKIE) {
        __builtin_trap();
    }
    return 0;
}
