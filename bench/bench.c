/*
 * dchat-bench: the load generator. Signs a workload before the timed window, measures
 * libsodium's single-core verify rate and the kernel's recvmmsg/sendmmsg forwarding rate in the
 * same run (the baselines), then drives a relay with the same datagrams and reports what the
 * subscriber got: rates, loss, duplicates, latency, and anything that must never have arrived.
 * With --finality it also matches the relay's FINAL records to the messages it sent and
 * reports how many became final, how fast, and any message final at two positions.
 * Flags: see usage(). Exit: 0 measured (loss is a figure, not a failure), 1 could not measure,
 * 2 bad command line.
 */
#include "bench/fwd.h"
#include "bench/load.h"
#include "bench/net.h"
#include "bench/phase.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "dataplane/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VERIFY_MEASURE_NS 500000000ull
#define NS_PER_S 1e9

struct opts {
    const char *target_text;
    const char *subscribe_text;
    struct bench_addr target;
    struct bench_addr subscribe;
    uint64_t messages;
    uint64_t size;
    uint64_t rate;
    uint64_t window;
    uint64_t users;
    uint64_t invalid;
    uint64_t garbage;
    uint64_t mtu;
    uint64_t drain_ms;
    uint64_t warmup_ms;
    uint64_t final_wait_ms;
    int json;
    int baseline;
    int finality;
    int final_wait_set;
};

/* Flags without a value: each sets one int field to `value`. */
struct bool_flag {
    const char *name;
    size_t field;
    int value;
};

static const struct bool_flag bool_flags[] = {
    { "--json", offsetof(struct opts, json), 1 },
    { "--no-baseline", offsetof(struct opts, baseline), 0 },
    { "--finality", offsetof(struct opts, finality), 1 },
};

struct num_flag {
    const char *name;
    size_t field;
    uint64_t min;
    uint64_t max;
};

static const struct num_flag num_flags[] = {
    { "--messages", offsetof(struct opts, messages), 1, 100000000 },
    { "--size", offsetof(struct opts, size), BENCH_PAYLOAD_HDR_BYTES, DP_WIRE_PAYLOAD_BYTES_MAX },
    { "--rate", offsetof(struct opts, rate), 1, 1000000000 },
    { "--window", offsetof(struct opts, window), 1, 100000000 },
    { "--users", offsetof(struct opts, users), 1, 10000000 },
    { "--invalid", offsetof(struct opts, invalid), 0, 10000000 },
    { "--garbage", offsetof(struct opts, garbage), 0, 10000000 },
    { "--mtu", offsetof(struct opts, mtu), 256, DP_WIRE_FRAME_BYTES_MAX },
    { "--drain-ms", offsetof(struct opts, drain_ms), 100, 600000 },
    { "--warmup-ms", offsetof(struct opts, warmup_ms), 100, 600000 },
    { "--final-wait-ms", offsetof(struct opts, final_wait_ms), 0, 600000 },
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dchat-bench --target HOST:PORT [--subscribe HOST:PORT] [--messages N]\n"
            "         [--size BYTES] [--rate MSGS_PER_S] [--users U] [--invalid K]\n"
            "         [--garbage G] [--json] [--window MSGS] [--mtu BYTES] [--drain-ms MS]\n"
            "         [--warmup-ms MS] [--no-baseline] [--finality [--final-wait-ms MS]]\n\n"
            "  --target     relay that receives the load\n"
            "  --subscribe  relay the subscriber subscribes at (default: the target)\n"
            "  --messages   valid signed messages to send (default 100000)\n"
            "  --size       payload bytes per message, %d..%d (default 128)\n"
            "  --rate       messages per second (default: full speed)\n"
            "  --users      simulated users signing them (default 1000)\n"
            "  --invalid    extra messages with a broken signature (must not be delivered)\n"
            "  --garbage    random datagrams (must not be delivered)\n"
            "  --json       one JSON object on stdout instead of the text report\n"
            "  --window     at most this many messages sent and not yet delivered: the load\n"
            "               runs at the rate the relays sustain (stops if losses fill it)\n"
            "  --mtu        largest datagram built (default %d)\n"
            "  --drain-ms   wait this long for stragglers once nothing arrives (default 3000)\n"
            "  --warmup-ms  give up when no probe reaches the subscriber by then (default 15000)\n"
            "  --no-baseline  skip the kernel forwarder and libsodium baselines\n"
            "  --finality   also match the relay's FINAL records to the messages sent: how many\n"
            "               became final, how fast, and any final at two positions (a safety\n"
            "               violation)\n"
            "  --final-wait-ms  with --finality, after the drain wait this long for FINAL\n"
            "               records, or until every delivered message is final (default 2000)\n",
            BENCH_PAYLOAD_HDR_BYTES, DP_WIRE_PAYLOAD_BYTES_MAX, DP_WIRE_MTU_DEFAULT);
}

/* One line on stderr, and the exit status of a usage error. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "dchat-bench: %s (try: dchat-bench --help)\n", line);
    return 2;
}

static int parse_num(const struct num_flag *f, const char *text, struct opts *o)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] == '\0' || text[0] == '-' || *end != '\0' || errno != 0) {
        return usage_error("%s: '%s' is not a number", f->name, text);
    }
    if (v < f->min || v > f->max) {
        return usage_error("%s: '%s' is out of range %" PRIu64 "..%" PRIu64, f->name, text,
                           f->min, f->max);
    }
    *(uint64_t *)((char *)o + f->field) = v;
    return 0;
}

static int parse_one(int argc, char **argv, int *i, struct opts *o)
{
    const char *flag = argv[*i];
    for (size_t k = 0; k < DC_ARRAY_LEN(bool_flags); k++) {
        if (strcmp(flag, bool_flags[k].name) == 0) {
            *(int *)((char *)o + bool_flags[k].field) = bool_flags[k].value;
            return 0;
        }
    }
    int is_addr = strcmp(flag, "--target") == 0 || strcmp(flag, "--subscribe") == 0;
    const struct num_flag *num = NULL;
    for (size_t k = 0; k < sizeof(num_flags) / sizeof(num_flags[0]); k++) {
        num = strcmp(flag, num_flags[k].name) == 0 ? &num_flags[k] : num;
    }
    if (!is_addr && num == NULL) {
        return usage_error("unknown flag '%s'", flag);
    }
    if (*i + 1 >= argc) {
        return usage_error("%s needs a value", flag);
    }
    const char *value = argv[++*i];
    if (num != NULL) {
        o->final_wait_set |= strcmp(flag, "--final-wait-ms") == 0;
        return parse_num(num, value, o);
    }
    if (flag[2] == 't') {
        o->target_text = value;
        return bench_net_parse(value, &o->target) == 0
                   ? 0 : usage_error("--target: '%s' is not HOST:PORT", value);
    }
    o->subscribe_text = value;
    return bench_net_parse(value, &o->subscribe) == 0
               ? 0 : usage_error("--subscribe: '%s' is not HOST:PORT", value);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .messages = 100000, .size = 128, .users = 1000,
                        .mtu = DP_WIRE_MTU_DEFAULT, .drain_ms = 3000, .warmup_ms = 15000,
                        .final_wait_ms = 2000, .baseline = 1 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return -1;
        }
        int rc = parse_one(argc, argv, &i, o);
        if (rc != 0) {
            return rc;
        }
    }
    if (o->target_text == NULL) {
        return usage_error("--target HOST:PORT is required");
    }
    if (o->final_wait_set && !o->finality) {
        return usage_error("--final-wait-ms is only meaningful with --finality");
    }
    if (o->subscribe_text == NULL) {
        o->subscribe_text = o->target_text;
        o->subscribe = o->target;
    }
    if (DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES + DP_WIRE_MSG_BYTES(o->size) > o->mtu) {
        return usage_error("--mtu %" PRIu64 " is too small for one message of %" PRIu64 " bytes",
                           o->mtu, o->size);
    }
    /* Every message is held signed in memory, with its tally: refuse what cannot fit. */
    uint64_t per_msg = DP_WIRE_REC_HDR_BYTES + DP_WIRE_MSG_BYTES(o->size) + 1 + 4 + 8;
    if (o->finality) { /* its id, two index slots, its FINAL position and latency */
        per_msg += DP_WIRE_ID_BYTES + 2 * 8 + 1 + 8 + 4 + 4;
    }
    uint64_t need = (o->messages + o->invalid) * per_msg + o->garbage * o->mtu;
    uint64_t have = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    if (need > have / 2) {
        return usage_error("--messages %" PRIu64 " of %" PRIu64 " bytes needs %" PRIu64
                           " MiB, more than half of this machine's memory",
                           o->messages, o->size, need >> 20);
    }
    return 0;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * libsodium's Ed25519 verify rate on one core, over the messages we will send: per second of
 * wall time (the baseline), and per second of this thread's CPU time in *per_cpu_s (what a
 * core could do undisturbed: on a shared machine the two differ).
 */
static double measure_verify(const struct bench_load *load, double *per_cpu_s)
{
    uint64_t count = 0;
    uint64_t cpu_start = thread_cpu_ns();
    uint64_t start = bench_now_ns();
    uint64_t now = start;
    while (now - start < VERIFY_MEASURE_NS) {
        for (int k = 0; k < 64; k++, count++) {
            struct dp_wire_rec rec = { DP_WIRE_REC_MSG, (uint16_t)load->msg_bytes,
                                       bench_load_item_body(load, count % load->item_count) };
            struct dp_wire_msg msg;
            int rc = dp_wire_msg_parse(&rec, &msg);
            /* The result is not the point, but it must not be optimised away. */
            rc |= dp_wire_msg_verify(&msg);
            __asm__ volatile("" : : "r"(rc));
        }
        now = bench_now_ns();
    }
    uint64_t cpu = thread_cpu_ns() - cpu_start;
    *per_cpu_s = cpu > 0 ? (double)count * NS_PER_S / (double)cpu : 0.0;
    return (double)count * NS_PER_S / (double)(now - start);
}

static void *fwd_main(void *arg)
{
    bench_fwd_run(arg);
    return NULL;
}

/* The same frames through a plain recvmmsg/sendmmsg forwarder on another loopback port. */
static int measure_kernel(const struct opts *o, const struct bench_load *load,
                          struct bench_phase_result *res, double *cpu_ns_per_msg)
{
    struct bench_fwd fwd;
    struct bench_addr listen;
    pthread_t tid;
    bench_net_loopback(o->target.ss.ss_family, &listen);
    int rc = bench_fwd_init(&fwd, &listen, (uint32_t)o->mtu);
    if (rc != 0) {
        return rc;
    }
    struct bench_phase_cfg cfg = { .load = load, .all_items = 1, .warmup_ms = 15000,
                                   .drain_ms = 500, .label = "kernel baseline" };
    bench_net_local(fwd.fd, &cfg.target);
    cfg.subscribe = cfg.target;
    if (pthread_create(&tid, NULL, fwd_main, &fwd) != 0) {
        bench_fwd_fini(&fwd);
        return -EAGAIN;
    }
    rc = bench_phase_run(&cfg, res);
    bench_fwd_stop(&fwd);
    pthread_join(tid, NULL);
    /* The forwarder's own CPU per message it sent on: a cost the machine's load cannot skew. */
    uint64_t msgs = atomic_load(&fwd.tx_dgrams) * load->per_frame;
    *cpu_ns_per_msg = msgs > 0 ? (double)fwd.cpu_ns / (double)msgs : 0.0;
    bench_fwd_fini(&fwd);
    return rc;
}

struct report {
    const struct opts *o;
    const struct bench_load *load;
    struct bench_phase_result relay;
    struct bench_phase_result kernel;
    double verify_per_s;     /* the higher sample: ratios against it are conservative */
    double kernel_per_s;
    double verify_samples[2]; /* before and after the relay phase */
    double verify_per_cpu_s;  /* the higher per-CPU-second sample */
    double kernel_cpu_ns_per_msg; /* the forwarder thread's CPU per message (lower sample) */
    double kernel_samples[2];
};

static double per_s(uint64_t count, double seconds)
{
    return seconds > 0 ? (double)count / seconds : 0.0;
}

/* A JSON number, or null when the baseline was skipped. */
static void json_num(const char *name, double v, int have, const char *sep)
{
    if (have) {
        printf("\"%s\": %.3f%s", name, v, sep);
    } else {
        printf("\"%s\": null%s", name, sep);
    }
}

/* The finality figures (--finality only): final items per second from the first send. */
static void print_json_final(const struct bench_phase_result *x)
{
    printf("\"final\": %" PRIu64 ", \"final_per_s\": %.1f, \"final_s\": %.3f, "
           "\"finality_us\": {\"p50\": %u, \"p99\": %u, \"max\": %u}, ",
           x->final, per_s(x->final, x->final_s), x->final_s, x->finality.p50_us,
           x->finality.p99_us, x->finality.max_us);
    printf("\"not_final\": %" PRIu64 ", \"final_conflicts\": %" PRIu64
           ", \"final_foreign\": %" PRIu64 ", \"final_duplicates\": %" PRIu64
           ", \"final_invalid\": %" PRIu64 ", \"final_malformed\": %" PRIu64 ", ",
           x->not_final, x->final_conflicts, x->final_foreign, x->final_duplicates,
           x->final_invalid, x->final_malformed);
}

static void print_json(const struct report *r)
{
    const struct opts *o = r->o;
    const struct bench_phase_result *x = &r->relay;
    double rate = per_s(x->delivered, x->deliver_s);
    printf("{\"target\": \"%s\", \"subscribe\": \"%s\", \"messages\": %" PRIu64
           ", \"size\": %" PRIu64 ", \"users\": %" PRIu64 ", \"rate\": %" PRIu64
           ", \"msgs_per_datagram\": %u, ",
           o->target_text, o->subscribe_text, o->messages, o->size, o->users, o->rate,
           r->load->per_frame);
    printf("\"sent\": %" PRIu64 ", \"invalid_sent\": %" PRIu64 ", \"garbage_sent\": %" PRIu64
           ", \"datagrams_sent\": %" PRIu64 ", \"send_retries\": %" PRIu64
           ", \"unsent\": %" PRIu64 ", \"window\": %" PRIu64 ", ",
           x->items_sent - x->invalid_sent, x->invalid_sent, x->garbage_sent, x->dgrams_sent,
           x->send_retries, x->unsent, o->window);
    printf("\"delivered\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"duplicates\": %" PRIu64
           ", \"invalid_delivered\": %" PRIu64 ", \"foreign\": %" PRIu64
           ", \"sink_drops\": %" PRIu64 ", ",
           x->delivered, x->lost, x->duplicates, x->invalid_delivered, x->foreign,
           x->sink_drops);
    printf("\"sent_per_s\": %.1f, \"msgs_per_s\": %.1f, \"send_s\": %.3f, \"deliver_s\": %.3f, ",
           per_s(x->items_sent, x->send_s), rate, x->send_s, x->deliver_s);
    printf("\"latency_us\": {\"p50\": %u, \"p99\": %u, \"max\": %u}, ", x->latency.p50_us,
           x->latency.p99_us, x->latency.max_us);
    if (o->finality) {
        print_json_final(x);
    }
    printf("\"baseline\": {");
    json_num("kernel_udp_msgs_per_s", r->kernel_per_s, o->baseline, ", ");
    printf("\"kernel_udp_lost\": %" PRIu64 ", ", r->kernel.lost);
    printf("\"kernel_udp_samples\": [%.1f, %.1f], \"verify_samples\": [%.1f, %.1f], "
           "\"verify_per_cpu_s\": %.1f, \"kernel_udp_cpu_ns_per_msg\": %.1f, ",
           r->kernel_samples[0], r->kernel_samples[1], r->verify_samples[0],
           r->verify_samples[1], r->verify_per_cpu_s, r->kernel_cpu_ns_per_msg);
    json_num("verify_per_s_per_core", r->verify_per_s, o->baseline, "}, ");
    printf("\"ratios\": {");
    json_num("vs_kernel_udp", r->kernel_per_s > 0 ? rate / r->kernel_per_s : 0, o->baseline,
             ", ");
    json_num("vs_verify_core", r->verify_per_s > 0 ? rate / r->verify_per_s : 0, o->baseline,
             ", ");
    json_num("vs_verify_cpu", r->verify_per_cpu_s > 0 ? rate / r->verify_per_cpu_s : 0,
             o->baseline, "}}\n");
}

static void print_text(const struct report *r)
{
    const struct opts *o = r->o;
    const struct bench_phase_result *x = &r->relay;
    double rate = per_s(x->delivered, x->deliver_s);
    printf("dchat-bench: %" PRIu64 " msgs of %" PRIu64 " payload bytes from %" PRIu64
           " users, %u per datagram, to %s, subscriber at %s\n",
           o->messages, o->size, o->users, r->load->per_frame, o->target_text,
           o->subscribe_text);
    printf("  sent        %" PRIu64 " msgs + %" PRIu64 " invalid + %" PRIu64
           " garbage datagrams in %.2f s = %.0f msgs/s\n",
           x->items_sent - x->invalid_sent, x->invalid_sent, x->garbage_sent, x->send_s,
           per_s(x->items_sent, x->send_s));
    printf("  delivered   %" PRIu64 " in %.2f s = %.0f msgs/s; lost %" PRIu64
           " (%" PRIu64 " datagrams dropped by our own socket), duplicates %" PRIu64
           ", invalid delivered %" PRIu64 "\n",
           x->delivered, x->deliver_s, rate, x->lost, x->sink_drops, x->duplicates,
           x->invalid_delivered);
    if (x->unsent != 0) {
        printf("  STALLED     %" PRIu64 " msgs never sent: losses filled the window\n",
               x->unsent);
    }
    printf("  latency     p50 %u us, p99 %u us, max %u us\n", x->latency.p50_us,
           x->latency.p99_us, x->latency.max_us);
    if (o->finality) {
        printf("  final       %" PRIu64 " in %.2f s = %.0f msgs/s; not final %" PRIu64
               "; finality p50 %u us, p99 %u us, max %u us; conflicts %" PRIu64
               ", foreign %" PRIu64 ", duplicates %" PRIu64 ", invalid final %" PRIu64
               ", malformed %" PRIu64 "\n",
               x->final, x->final_s, per_s(x->final, x->final_s), x->not_final,
               x->finality.p50_us, x->finality.p99_us, x->finality.max_us, x->final_conflicts,
               x->final_foreign, x->final_duplicates, x->final_invalid, x->final_malformed);
    }
    if (o->baseline) {
        printf("  baseline    kernel recvmmsg/sendmmsg forwarder %.0f msgs/s (lost %" PRIu64
               "; before/after %.0f/%.0f); libsodium verify %.0f/s on one core "
               "(before/after %.0f/%.0f)\n",
               r->kernel_per_s, r->kernel.lost, r->kernel_samples[0], r->kernel_samples[1],
               r->verify_per_s, r->verify_samples[0], r->verify_samples[1]);
        printf("  ratios      relay/kernel %.3f, relay/verify-core %.3f\n",
               r->kernel_per_s > 0 ? rate / r->kernel_per_s : 0,
               r->verify_per_s > 0 ? rate / r->verify_per_s : 0);
    }
}

/*
 * Baseline sample `round` (0 before the relay phase, 1 after). The machine is shared, so each
 * baseline is taken on both sides of the relay's run and the higher one is kept.
 */
static int measure_baselines(struct report *r, int round)
{
    struct bench_phase_result kernel;
    double per_cpu_s = 0;
    double cpu_ns_per_msg = 0;
    r->verify_samples[round] = measure_verify(r->load, &per_cpu_s);
    if (per_cpu_s > r->verify_per_cpu_s) {
        r->verify_per_cpu_s = per_cpu_s;
    }
    int rc = measure_kernel(r->o, r->load, &kernel, &cpu_ns_per_msg);
    if (rc != 0) {
        fprintf(stderr, "dchat-bench: kernel baseline failed: %s\n", dc_strerror(rc));
        return rc;
    }
    r->kernel_samples[round] = per_s(kernel.delivered, kernel.deliver_s);
    if (r->kernel_cpu_ns_per_msg == 0 || cpu_ns_per_msg < r->kernel_cpu_ns_per_msg) {
        r->kernel_cpu_ns_per_msg = cpu_ns_per_msg;
    }
    if (r->kernel_samples[round] >= r->kernel_per_s) {
        r->kernel_per_s = r->kernel_samples[round];
        r->kernel = kernel;
    }
    if (r->verify_samples[round] > r->verify_per_s) {
        r->verify_per_s = r->verify_samples[round];
    }
    return 0;
}

/* On stderr whatever the output format: these must never happen, so they must not be missed. */
static void warn_final(const struct bench_phase_result *x)
{
    if (x->final_conflicts != 0) {
        const struct bench_final_conflict *c = &x->first_conflict;
        fprintf(stderr,
                "dchat-bench: SAFETY VIOLATION: %" PRIu64 " FINAL entries put a message at a "
                "second position (first: message %" PRIu64 " final at height %" PRIu64
                " index %u, then at height %" PRIu64 " index %u)\n",
                x->final_conflicts, c->item, c->height_first, c->index_first, c->height_then,
                c->index_then);
    }
    if (x->final_invalid != 0) {
        fprintf(stderr, "dchat-bench: WARNING: %" PRIu64 " messages with a broken signature "
                        "were reported final\n", x->final_invalid);
    }
}

static int run(const struct opts *o, struct bench_load *load)
{
    struct report r = { .o = o, .load = load };
    char t[80];
    char s[80];
    if (o->baseline && measure_baselines(&r, 0) != 0) {
        return 1;
    }
    struct bench_phase_cfg cfg = { .load = load, .target = o->target, .subscribe = o->subscribe,
                                   .rate_msgs_per_s = o->rate, .window_msgs = o->window,
                                   .send_garbage = 1,
                                   .warmup_ms = (uint32_t)o->warmup_ms,
                                   .drain_ms = (uint32_t)o->drain_ms,
                                   .finality = o->finality,
                                   .final_wait_ms = (uint32_t)o->final_wait_ms,
                                   .label = "relay" };
    int rc = bench_phase_run(&cfg, &r.relay);
    if (rc == -ETIMEDOUT) {
        fprintf(stderr, "dchat-bench: no message sent to %s reached the subscriber at %s "
                        "within %" PRIu64 " ms (is the relay running?)\n",
                bench_net_format(&o->target, t, sizeof(t)),
                bench_net_format(&o->subscribe, s, sizeof(s)), o->warmup_ms);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "dchat-bench: %s\n", dc_strerror(rc));
        return 1;
    }
    warn_final(&r.relay);
    if (o->baseline && measure_baselines(&r, 1) != 0) {
        return 1;
    }
    if (o->json) {
        print_json(&r);
    } else {
        print_text(&r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct bench_load load;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "dchat-bench: libsodium failed to initialise\n");
        return 1;
    }
    struct bench_load_params p = { .valid_count = o.messages, .invalid_count = o.invalid,
                                   .garbage_count = o.garbage, .payload_bytes = (uint32_t)o.size,
                                   .users = (uint32_t)o.users, .mtu_bytes = (uint32_t)o.mtu,
                                   .ids = o.finality };
    randombytes_buf(&p.run_id, sizeof(p.run_id));
    uint64_t t0 = bench_now_ns();
    rc = bench_load_init(&load, &p);
    if (rc != 0) {
        fprintf(stderr, "dchat-bench: cannot build the load: %s\n", dc_strerror(rc));
        return 1;
    }
    fprintf(stderr, "dchat-bench: signed %" PRIu64 " messages in %.2f s\n", load.item_count,
            (double)(bench_now_ns() - t0) / NS_PER_S);
    rc = run(&o, &load);
    bench_load_fini(&load);
    return rc;
}
