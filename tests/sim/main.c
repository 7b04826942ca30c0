/*
 * cons-sim: run the deterministic consensus simulator over seeds and scenarios.
 *   cons-sim [--scenario NAME|all] [--seeds N] [--seed S] [--first-seed S]
 *            [--crypto fast|ed25519] [--parts] [--verbose]
 * --seed S replays exactly one run; --seeds N runs seeds first..first+N-1, each over the
 * named scenario (all: seed i runs scenario i mod count). Exit 0 when every run held every
 * invariant; otherwise the first failure is printed with its replay command and exit is 1.
 * --crypto picks the signature scheme: the fast stand-in (default, tests/sim/fastsig.c) or
 * Ed25519; a replay must use the same one (the replay line says so). --parts gives every run
 * large blocks (200-2,000 ids, ids in bursts), so that proposals and sync blocks travel as
 * parts; the scenarios parts, withhold and partmix always do.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dc_log.h"
#include "sim.h"

const struct sim_scenario sim_scenarios[] = {
    { "calm", "no faults: small random delays; blocks faster than the heartbeat", 4, 0, 0,
      20, 0, 0, 0, 0, 1, 0, SIM_BYZ_EQUIVOCATE },
    { "lossy", "loss, duplicates and reordering", 4, 300, 200, 120, 0, 0, 0, 0, 0, 0,
      SIM_BYZ_EQUIVOCATE },
    { "partition", "partitions that split and heal", 4, 50, 50, 40, 1, 0, 0, 0, 0, 0,
      SIM_BYZ_EQUIVOCATE },
    { "crash", "crashes and restarts that lose unsynced writes", 4, 50, 50, 40, 0, 1, 0, 0,
      0, 0, SIM_BYZ_EQUIVOCATE },
    { "skew", "clocks running at different rates", 4, 50, 50, 60, 0, 0, 1, 0, 0, 0,
      SIM_BYZ_EQUIVOCATE },
    { "byzantine", "one validator equivocates on proposals and votes", 4, 100, 100, 60, 0, 0,
      0, 1, 0, 0, SIM_BYZ_EQUIVOCATE },
    { "byzantine7", "7 validators, 2 of them Byzantine and colluding, crashes of others", 7,
      100, 100, 60, 0, 1, 0, 2, 0, 0, SIM_BYZ_EQUIVOCATE },
    { "chaos", "7 validators: everything at once, one of them Byzantine", 7, 200, 100, 80, 1,
      1, 1, 1, 0, 0, SIM_BYZ_EQUIVOCATE },
    { "parts", "large blocks as parts: loss, duplicates, reordering, crashes", 4, 200, 100,
      100, 0, 1, 0, 0, 0, 1, SIM_BYZ_EQUIVOCATE },
    { "withhold", "large blocks; one proposer withholds parts from some validators", 4, 50,
      50, 60, 0, 0, 0, 1, 0, 1, SIM_BYZ_WITHHOLD },
    { "partmix", "large blocks; one proposer mixes the parts of two proposals", 4, 50, 50, 60,
      0, 0, 0, 1, 0, 1, SIM_BYZ_PARTMIX },
    { "withhold7", "7 validators, 2 withholding parts, partitions and crashes of others", 7,
      100, 100, 80, 1, 1, 0, 2, 0, 1, SIM_BYZ_WITHHOLD },
};
const uint32_t sim_scenario_count = sizeof(sim_scenarios) / sizeof(sim_scenarios[0]);

const struct sim_scenario *sim_scenario_find(const char *name)
{
    for (uint32_t i = 0; i < sim_scenario_count; i++) {
        if (strcmp(sim_scenarios[i].name, name) == 0) {
            return &sim_scenarios[i];
        }
    }
    return NULL;
}

struct options {
    const char *scenario;
    uint64_t seeds;
    uint64_t first;
    int one_seed;
    int verbose;
    int ed25519;
    int parts;
};

static int parse_u64(const char *flag, const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        fprintf(stderr, "cons-sim: %s: not a number: '%s'\n", flag, text);
        return -1;
    }
    *out = v;
    return 0;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: cons-sim [--scenario NAME|all] [--seeds N] [--seed S] "
                "[--first-seed S] [--crypto fast|ed25519] [--parts] [--verbose]\nscenarios:\n");
    for (uint32_t i = 0; i < sim_scenario_count; i++) {
        fprintf(to, "  %-10s %s\n", sim_scenarios[i].name, sim_scenarios[i].what);
    }
}

static int parse(int argc, char **argv, struct options *opt)
{
    *opt = (struct options){ .scenario = "all", .seeds = 100, .first = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "--scenario") == 0 || strcmp(a, "--seeds") == 0 ||
                    strcmp(a, "--seed") == 0 || strcmp(a, "--first-seed") == 0 ||
                    strcmp(a, "--crypto") == 0;
        if (takes && v == NULL) {
            fprintf(stderr, "cons-sim: %s needs a value\n", a);
            return -1;
        }
        if (strcmp(a, "--scenario") == 0) {
            opt->scenario = v;
        } else if (strcmp(a, "--seeds") == 0) {
            if (parse_u64(a, v, &opt->seeds) != 0) {
                return -1;
            }
        } else if (strcmp(a, "--seed") == 0 || strcmp(a, "--first-seed") == 0) {
            if (parse_u64(a, v, &opt->first) != 0) {
                return -1;
            }
            opt->one_seed |= strcmp(a, "--seed") == 0;
        } else if (strcmp(a, "--crypto") == 0) {
            if (strcmp(v, "fast") != 0 && strcmp(v, "ed25519") != 0) {
                fprintf(stderr, "cons-sim: --crypto: expected fast or ed25519, got '%s'\n", v);
                return -1;
            }
            opt->ed25519 = strcmp(v, "ed25519") == 0;
        } else if (strcmp(a, "--parts") == 0) {
            opt->parts = 1;
        } else if (strcmp(a, "--verbose") == 0) {
            opt->verbose++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "cons-sim: unknown argument '%s'\n", a);
            return -1;
        }
        i += takes;
    }
    if (strcmp(opt->scenario, "all") != 0 && sim_scenario_find(opt->scenario) == NULL) {
        fprintf(stderr, "cons-sim: unknown scenario '%s'\n", opt->scenario);
        return -1;
    }
    if (opt->one_seed) {
        opt->seeds = 1;
    }
    return 0;
}

struct totals {
    uint64_t runs;
    uint64_t heights;
    uint64_t messages;
    uint64_t crashes;
    uint64_t equivocations;
    uint64_t fault_heights;
    uint64_t fault_time;
    uint64_t parts_sent;
    uint64_t msgs_reassembled;
    uint64_t part_requests;
    uint64_t requests_answered;
    uint64_t root_mismatches;
    uint64_t parts_foreign;
    uint64_t byz_part_acts;
};

static struct totals per_scenario[16];

static void add(struct totals *t, const struct sim_result *res)
{
    t->runs++;
    t->heights += res->heights;
    t->messages += res->messages;
    t->crashes += res->crashes;
    t->equivocations += res->equivocations;
    t->fault_heights += res->fault_heights;
    t->fault_time += res->fault_time;
    t->parts_sent += res->parts_sent;
    t->msgs_reassembled += res->msgs_reassembled;
    t->part_requests += res->part_requests;
    t->requests_answered += res->requests_answered;
    t->root_mismatches += res->root_mismatches;
    t->parts_foreign += res->parts_foreign;
    t->byz_part_acts += res->byz_part_acts;
}

/* Which fault a scenario's runs never showed ("" when none is missing). */
static const char *fault_missing(const struct sim_scenario *sc, const struct totals *t,
                                 int parts)
{
    if (sc->crashes && t->crashes == 0) {
        return "crash";
    }
    if (sc->byzantine && sc->byz_mode != SIM_BYZ_WITHHOLD && t->equivocations == 0) {
        return "equivocation";
    }
    if (sc->byzantine && sc->byz_mode != SIM_BYZ_EQUIVOCATE && t->byz_part_acts == 0) {
        return "proposal with tampered parts";
    }
    if ((parts || sc->parts) && t->msgs_reassembled == 0) {
        return "message reassembled from parts";
    }
    return "";
}

/*
 * A checker that never sees a fault proves nothing: a scenario that ran a fair number of
 * seeds must have crashed someone if it crashes, seen equivocations (or tampered parts) if
 * it has a Byzantine validator, and reassembled messages from parts if it has large
 * blocks. 0 when so.
 */
static int faults_happened(int parts)
{
    _Static_assert(sizeof(per_scenario) / sizeof(per_scenario[0]) >= 12, "room per scenario");
    for (uint32_t i = 0; i < sim_scenario_count; i++) {
        const struct sim_scenario *sc = &sim_scenarios[i];
        const struct totals *t = &per_scenario[i];
        const char *missing = fault_missing(sc, t, parts);
        if (t->runs < 20 || missing[0] == '\0') {
            continue;
        }
        printf("cons-sim: FAIL scenario=%s: %" PRIu64 " runs without a single %s: the "
               "fault injection is inert\n", sc->name, t->runs, missing);
        return -1;
    }
    return 0;
}

/*
 * Blocks follow each other as fast as the votes travel while ids are pending: a proposer
 * that waited for the heartbeat after every commit (the old commit wait) would commit at
 * most one height per SIM_EMPTY_BLOCK_TICKS ticks. Over the fault phases of a pace
 * scenario's runs, the heights committed must be SIM_PACE_FACTOR_MIN times that bound. The
 * sum over many runs, not each run: a run in which a lagging proposer stalls a height until
 * the others' timeout is legitimate, just slow. 0 when so.
 */
static int pace_held(void)
{
    const uint64_t heartbeat = (uint64_t)SIM_EMPTY_BLOCK_TICKS * SIM_TICK_UNITS;
    for (uint32_t i = 0; i < sim_scenario_count; i++) {
        const struct sim_scenario *sc = &sim_scenarios[i];
        const struct totals *t = &per_scenario[i];
        if (!sc->pace || t->runs < 20 || t->fault_time == 0) {
            continue;
        }
        double factor = (double)t->fault_heights * (double)heartbeat / (double)t->fault_time;
        printf("cons-sim: scenario=%s pace: %" PRIu64 " heights in %" PRIu64 " time units "
               "of fault phases, %.1fx what the heartbeat alone allows\n", sc->name,
               t->fault_heights, t->fault_time, factor);
        if (factor < SIM_PACE_FACTOR_MIN) {
            printf("cons-sim: FAIL scenario=%s: blocks wait for the heartbeat (pace %.1fx < "
                   "%dx)\n", sc->name, factor, SIM_PACE_FACTOR_MIN);
            return -1;
        }
    }
    return 0;
}

static const struct sim_scenario *scenario_for(const struct options *opt, uint64_t seed)
{
    if (strcmp(opt->scenario, "all") == 0) {
        return &sim_scenarios[seed % sim_scenario_count];
    }
    return sim_scenario_find(opt->scenario);
}

int main(int argc, char **argv)
{
    struct options opt;
    struct sim_result res;
    struct totals all = { 0 };
    struct timespec t0, t1;
    if (parse(argc, argv, &opt) != 0) {
        usage(stderr);
        return 2;
    }
    /* The WAL logs each torn tail it cuts: thousands per soak. Verbose runs show them. */
    dc_log_set_level(opt.verbose ? DC_LOG_INFO : DC_LOG_ERROR);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0; i < opt.seeds; i++) {
        uint64_t seed = opt.first + i;
        const struct sim_scenario *sc = scenario_for(&opt, seed);
        sim_run(sc, seed, opt.verbose, opt.ed25519, opt.parts, &res);
        if (!res.ok) {
            printf("cons-sim: FAIL scenario=%s seed=%" PRIu64 " crypto=%s%s at t=%" PRIu64
                   ": %s\nreplay: tests/sim/run --scenario %s --seed %" PRIu64 " --crypto %s%s "
                   "--verbose\n",
                   sc->name, seed, opt.ed25519 ? "ed25519" : "fast", opt.parts ? " parts" : "",
                   res.time, res.why, sc->name, seed, opt.ed25519 ? "ed25519" : "fast",
                   opt.parts ? " --parts" : "");
            sim_release();
            return 1;
        }
        if (opt.seeds >= 10000 && (i + 1) % 10000 == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            fprintf(stderr, "cons-sim: %" PRIu64 "/%" PRIu64 " seeds ok, %.0f s\n", i + 1,
                    opt.seeds, (double)(t1.tv_sec - t0.tv_sec));
        }
        add(&all, &res);
        add(&per_scenario[sc - sim_scenarios], &res);
    }
    if (faults_happened(opt.parts) != 0 || pace_held() != 0) {
        sim_release();
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("cons-sim: OK %" PRIu64 " seeds (scenario %s, first seed %" PRIu64 ", %s): %" PRIu64
           " blocks, %" PRIu64 " messages, %" PRIu64 " crashes, %" PRIu64
           " equivocations, %.1f s\n",
           opt.seeds, opt.scenario, opt.first, opt.ed25519 ? "ed25519" : "fast", all.heights,
           all.messages, all.crashes, all.equivocations,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (all.parts_sent > 0) {
        printf("cons-sim: parts: %" PRIu64 " sent, %" PRIu64 " messages reassembled, %" PRIu64
               " part requests (%" PRIu64 " answered), %" PRIu64 " root mismatches, %" PRIu64
               " foreign parts dropped, %" PRIu64 " proposals with withheld or mixed parts\n",
               all.parts_sent, all.msgs_reassembled, all.part_requests, all.requests_answered,
               all.root_mismatches, all.parts_foreign, all.byz_part_acts);
    }
    sim_release();
    return 0;
}
