/*
 * dchat-fwd: the kernel baseline forwarder (bench/fwd.h) as a program, for measuring and for
 * testing dchat-bench without a relay. Runs until SIGINT/SIGTERM, then prints its counters.
 *   dchat-fwd --listen HOST:PORT [--mtu BYTES] [--copies N] [--drop-every N]
 *             [--final] [--final-conflict-every N]
 * --copies and --drop-every are faults for testing dchat-bench's duplicate and loss counts;
 * --final sends FINAL records after each datagram (as a relay following a chain would) for
 * testing dchat-bench --finality, and --final-conflict-every N resends every Nth of them at
 * another height (a safety violation the bench must report).
 * Exit: 0 after a signal, 1 when the port cannot be bound, 2 on a bad command line.
 */
#include "bench/fwd.h"

#include "common/dc_err.h"
#include "dataplane/wire.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct bench_fwd fwd;

static void on_signal(int sig)
{
    (void)sig;
    bench_fwd_stop(&fwd); /* an atomic store: safe in a handler */
}

static int usage_error(const char *what, const char *value)
{
    fprintf(stderr,
            "dchat-fwd: %s '%s' (usage: dchat-fwd --listen HOST:PORT [--mtu BYTES] "
            "[--copies N] [--drop-every N] [--final] [--final-conflict-every N])\n",
            what, value);
    return 2;
}

int main(int argc, char **argv)
{
    struct bench_addr listen;
    const char *listen_text = NULL;
    unsigned long mtu = DP_WIRE_FRAME_BYTES_MAX;
    unsigned long copies = 1;
    unsigned long drop_every = 0;
    unsigned long conflict_every = 0;
    int final = 0;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_text = argv[++i];
            if (bench_net_parse(listen_text, &listen) != 0) {
                return usage_error("--listen: not HOST:PORT:", listen_text);
            }
        } else if (strcmp(argv[i], "--mtu") == 0 && i + 1 < argc) {
            char *end = NULL;
            mtu = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || mtu < 64 || mtu > DP_WIRE_FRAME_BYTES_MAX) {
                return usage_error("--mtu: out of range 64..65507:", value);
            }
        } else if (strcmp(argv[i], "--copies") == 0 && i + 1 < argc) {
            char *end = NULL;
            copies = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || copies < 1 || copies > BENCH_FWD_COPIES_MAX) {
                return usage_error("--copies: out of range 1..4:", value);
            }
        } else if (strcmp(argv[i], "--drop-every") == 0 && i + 1 < argc) {
            char *end = NULL;
            drop_every = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || drop_every > 1000000) {
                return usage_error("--drop-every: out of range 0..1000000:", value);
            }
        } else if (strcmp(argv[i], "--final") == 0) {
            final = 1;
        } else if (strcmp(argv[i], "--final-conflict-every") == 0 && i + 1 < argc) {
            char *end = NULL;
            conflict_every = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || conflict_every < 1 || conflict_every > 1000000) {
                return usage_error("--final-conflict-every: out of range 1..1000000:", value);
            }
            final = 1;
        } else {
            return usage_error("unknown flag or missing value:", argv[i]);
        }
    }
    if (listen_text == NULL) {
        return usage_error("missing flag", "--listen");
    }
    int rc = bench_fwd_init(&fwd, &listen, (uint32_t)mtu);
    if (rc != 0) {
        fprintf(stderr, "dchat-fwd: cannot listen on %s: %s\n", listen_text, dc_strerror(rc));
        return 1;
    }
    bench_fwd_faults(&fwd, (uint32_t)copies, (uint32_t)drop_every);
    if (final && bench_fwd_final(&fwd, (uint32_t)conflict_every) != 0) {
        fprintf(stderr, "dchat-fwd: out of memory\n");
        bench_fwd_fini(&fwd);
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "dchat-fwd: forwarding on %s\n", listen_text);
    bench_fwd_run(&fwd);
    fprintf(stderr, "dchat-fwd: rx %llu datagrams, tx %llu, tx errors %llu, truncated %llu, "
                    "subscribers %u\n",
            (unsigned long long)fwd.rx_dgrams, (unsigned long long)fwd.tx_dgrams,
            (unsigned long long)fwd.tx_errors, (unsigned long long)fwd.rx_truncated,
            fwd.sub_count);
    bench_fwd_fini(&fwd);
    return 0;
}
