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

struct fwd_args {
    struct bench_addr listen;
    const char *listen_text;
    unsigned long mtu;
    unsigned long copies;
    unsigned long drop_every;
    unsigned long conflict_every;
    int final;
};

/* A whole-number flag value in [lo, hi]: 0, or the usage error's exit status. */
static int number(const char *flag, const char *value, unsigned long lo, unsigned long hi,
                  unsigned long *out)
{
    char *end = NULL;
    *out = strtoul(value, &end, 10);
    if (*value == '\0' || *end != '\0' || *out < lo || *out > hi) {
        char what[96];
        snprintf(what, sizeof(what), "%s: out of range %lu..%lu:", flag, lo, hi);
        return usage_error(what, value);
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct fwd_args *a)
{
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--final") == 0) {
            a->final = 1;
        } else if (value == NULL) {
            rc = usage_error("unknown flag or missing value:", flag);
        } else if (strcmp(flag, "--listen") == 0) {
            a->listen_text = argv[++i];
            if (bench_net_parse(a->listen_text, &a->listen) != 0) {
                rc = usage_error("--listen: not HOST:PORT:", a->listen_text);
            }
        } else if (strcmp(flag, "--mtu") == 0) {
            rc = number(flag, argv[++i], 64, DP_WIRE_FRAME_BYTES_MAX, &a->mtu);
        } else if (strcmp(flag, "--copies") == 0) {
            rc = number(flag, argv[++i], 1, BENCH_FWD_COPIES_MAX, &a->copies);
        } else if (strcmp(flag, "--drop-every") == 0) {
            rc = number(flag, argv[++i], 0, 1000000, &a->drop_every);
        } else if (strcmp(flag, "--final-conflict-every") == 0) {
            rc = number(flag, argv[++i], 1, 1000000, &a->conflict_every);
            a->final = 1;
        } else {
            rc = usage_error("unknown flag or missing value:", flag);
        }
    }
    if (rc == 0 && a->listen_text == NULL) {
        rc = usage_error("missing flag", "--listen");
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct fwd_args a = { .mtu = DP_WIRE_FRAME_BYTES_MAX, .copies = 1 };
    int rc = parse_args(argc, argv, &a);
    if (rc != 0) {
        return rc;
    }
    rc = bench_fwd_init(&fwd, &a.listen, (uint32_t)a.mtu);
    if (rc != 0) {
        fprintf(stderr, "dchat-fwd: cannot listen on %s: %s\n", a.listen_text, dc_strerror(rc));
        return 1;
    }
    bench_fwd_faults(&fwd, (uint32_t)a.copies, (uint32_t)a.drop_every);
    if (a.final && bench_fwd_final(&fwd, (uint32_t)a.conflict_every) != 0) {
        fprintf(stderr, "dchat-fwd: out of memory\n");
        bench_fwd_fini(&fwd);
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "dchat-fwd: forwarding on %s\n", a.listen_text);
    bench_fwd_run(&fwd);
    fprintf(stderr, "dchat-fwd: rx %llu datagrams, tx %llu, tx errors %llu, truncated %llu, "
                    "subscribers %u\n",
            (unsigned long long)fwd.rx_dgrams, (unsigned long long)fwd.tx_dgrams,
            (unsigned long long)fwd.tx_errors, (unsigned long long)fwd.rx_truncated,
            fwd.sub_count);
    bench_fwd_fini(&fwd);
    return 0;
}
