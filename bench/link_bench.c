/*
 * link-bench: what a peer link costs per packet. Seals and opens 1,400-byte packets between
 * two in-memory link tables (ChaCha20-Poly1305 both ways, the replay window, the index lookup)
 * and, in the same run, copies the same bytes with memcpy twice per packet, the floor any
 * datagram path pays anyway. Usage: link-bench [packets] (default 1,000,000). Not a test.
 */
#include "dataplane/link.h"

#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PLAIN_BYTES 1400

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void table(struct dp_link_table *t, uint8_t seed_byte, uint8_t pk[32])
{
    uint8_t seed[32], sk[64];
    memset(seed, seed_byte, sizeof(seed));
    crypto_sign_seed_keypair(pk, sk, seed);
    struct dp_link_conf conf = { .ed_sk = sk, .peers_max = 1 };
    if (dp_link_init(t, &conf) != 0) {
        abort();
    }
}

static void connect_(struct dp_link_table *a, struct dp_link_table *b, struct sockaddr_in *sa)
{
    static uint8_t m[2][DP_LINK_REPLY_BYTES_MAX * 2];
    struct dp_link_result res;
    const struct sockaddr *s = (const struct sockaddr *)sa;
    int n = dp_link_initiate(a, 0, 0, m[0], sizeof(m[0]));
    if (dp_link_handle(b, s, sizeof(*sa), m[0], (size_t)n, 0, m[1], sizeof(m[1]), &res) != 0 ||
        dp_link_handle(a, s, sizeof(*sa), m[1], res.len, 0, m[0], sizeof(m[0]), &res) != 0 ||
        dp_link_handle(b, s, sizeof(*sa), m[0], res.len, 0, m[1], sizeof(m[1]), &res) != 0) {
        abort();
    }
}

int main(int argc, char **argv)
{
    long packets = argc > 1 ? atol(argv[1]) : 1000000;
    if (sodium_init() < 0 || packets <= 0) {
        return 1;
    }
    static struct dp_link_table a, b;
    uint8_t pk_a[32], pk_b[32];
    table(&a, 1, pk_a);
    table(&b, 2, pk_b);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(1) };
    if (dp_link_peer_add(&a, pk_b, NULL, 0) != 0 || dp_link_peer_add(&b, pk_a, NULL, 0) != 0) {
        return 1;
    }
    connect_(&a, &b, &sa);
    static uint8_t plain[PLAIN_BYTES], pkt[PLAIN_BYTES + DP_LINK_DATA_OVERHEAD], out[2048];
    randombytes_buf(plain, sizeof(plain));
    struct dp_link_result res;
    double t0 = seconds();
    for (long i = 0; i < packets; i++) {
        plain[0] = (uint8_t)i;
        int n = dp_link_seal(&a, 0, plain, sizeof(plain), 1, pkt, sizeof(pkt));
        if (dp_link_handle(&b, (const struct sockaddr *)&sa, sizeof(sa), pkt, (size_t)n, 1, out,
                           sizeof(out), &res) != 0 || res.len != PLAIN_BYTES) {
            return 1;
        }
    }
    double t1 = seconds();
    uint64_t sink = 0;
    for (long i = 0; i < packets; i++) {
        plain[0] = (uint8_t)i;
        memcpy(pkt + DP_LINK_DATA_HDR_BYTES, plain, sizeof(plain));
        memcpy(out, pkt + DP_LINK_DATA_HDR_BYTES, sizeof(plain));
        __asm__ volatile("" : : "r"(out) : "memory"); /* keep the copies */
        sink += out[i % PLAIN_BYTES];
    }
    double t2 = seconds();
    double link_s = t1 - t0, copy_s = t2 - t1;
    printf("link-bench: %ld packets of %d bytes (sink %llu)\n", packets, PLAIN_BYTES,
           (unsigned long long)(sink & 1));
    printf("  seal+open: %10.0f packets/s  %6.2f Gbit/s  %6.0f ns/packet\n", packets / link_s,
           packets * PLAIN_BYTES * 8 / link_s / 1e9, link_s / packets * 1e9);
    printf("  memcpy x2: %10.0f packets/s  %6.2f Gbit/s  %6.0f ns/packet\n", packets / copy_s,
           packets * PLAIN_BYTES * 8 / copy_s / 1e9, copy_s / packets * 1e9);
    dp_link_fini(&a);
    dp_link_fini(&b);
    return 0;
}
