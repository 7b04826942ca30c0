/*
 * The RPC server on 127.0.0.1 (port chosen by the kernel), driven by the HTTP client of
 * `dchat status` and by raw sockets for the requests that client never sends.
 */
#include "engine/rpc.h"
#include "engine/status.h"

#include "common/dc_err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct eng_rpc rpc;
static struct eng_disc_stats disc;
static char base[64];

static void start(void)
{
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    eng_disc_stats_init(&disc);
    cr_assert_eq(eng_rpc_start(&rpc, (struct sockaddr *)&in, sizeof(in), NULL, &disc, 60000), 0);
    snprintf(base, sizeof(base), "127.0.0.1:%u", eng_rpc_port(&rpc));
    static struct eng_rpc_peer peers[2];
    struct eng_rpc_view v = { .role = ENG_NODEREC_ROLE_VALIDATOR, .connected_peers = 1,
                              .known_peers = 3, .peer_count = 2, .peers = peers,
                              .published_ms = eng_now_ms() };
    snprintf(v.id, sizeof(v.id), "%064d", 7);
    snprintf(v.address, sizeof(v.address), "127.0.0.1:9000");
    snprintf(peers[0].id, sizeof(peers[0].id), "%064d", 1);
    snprintf(peers[0].address, sizeof(peers[0].address), "127.0.0.1:9001");
    peers[0].latency_ms = 2;
    peers[0].connected = 1;
    peers[0].role = ENG_NODEREC_ROLE_RELAY;
    snprintf(peers[1].id, sizeof(peers[1].id), "%064d", 2);
    snprintf(peers[1].address, sizeof(peers[1].address), "127.0.0.1:9002");
    eng_rpc_publish(&rpc, &v);
}

static void stop(void)
{
    eng_rpc_stop(&rpc);
}

static char *get(const char *path, int want_code)
{
    int code = 0;
    char *body = NULL;
    cr_assert_eq(eng_http_get(base, path, 5000, &code, &body), 0, "GET %s", path);
    cr_assert_eq(code, want_code, "GET %s: %d", path, code);
    return body;
}

/* Sends raw bytes, returns the status code of the answer (0 when the server just closed). */
static int raw(const char *request, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons(eng_rpc_port(&rpc)) };
    cr_assert_eq(connect(fd, (struct sockaddr *)&in, sizeof(in)), 0);
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    send(fd, request, len, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    int code = 0;
    size_t off;
    if (n > 0 && eng_http_parse_response(buf, (size_t)n, &code, &off) != 0) {
        code = -1;
    }
    return code;
}

Test(eng_rpc, endpoints_answer_in_the_seed_shape, .init = start, .fini = stop)
{
    char *body = get("/network/peers", 200);
    cr_assert(strstr(body, "\"connected_peers\":1"), "%s", body);
    cr_assert(strstr(body, "\"known_peers\":3"), "%s", body);
    cr_assert(strstr(body, "\"address\":\"127.0.0.1:9001\",\"latency_ms\":2,\"role\":\"relay\","
                           "\"connected\":true"), "%s", body);
    free(body);
    body = get("/chain/status", 200);
    cr_assert(strstr(body, "\"height\":0,\"hash\":\"\",\"role\":\"validator\""), "%s", body);
    free(body);
    struct eng_rpc_chain chain = { .height = 12, .has_hash = 1, .validators = 4,
                                   .online_validators = 3 };
    chain.hash[0] = 0xab;
    eng_rpc_set_chain(&rpc, &chain);
    body = get("/chain/status", 200);
    cr_assert(strstr(body, "\"height\":12,\"hash\":\"ab00"), "%s", body);
    cr_assert(strstr(body, "\"validators\":4,\"online_validators\":3"), "%s", body);
    free(body);
    body = get("/node/info", 200);
    cr_assert(strstr(body, "\"version\":\"" DCHAT_VERSION "\""), "%s", body);
    cr_assert(strstr(body, "\"addresses\":[\"127.0.0.1:9000\"]"), "%s", body);
    free(body);
    body = get("/health", 200);
    cr_assert(strstr(body, "\"status\":\"ok\""), "%s", body);
    free(body);
}

Test(eng_rpc, health_is_503_with_a_reason_when_isolated, .init = start, .fini = stop)
{
    struct eng_rpc_view v = { .role = ENG_NODEREC_ROLE_RELAY, .known_peers = 4,
                              .published_ms = eng_now_ms() };
    eng_rpc_publish(&rpc, &v);
    char *body = get("/health", 503);
    cr_assert(strstr(body, "no connected peers"), "%s", body);
    free(body);
}

Test(eng_rpc, health_is_503_when_the_control_thread_stalls, .init = start, .fini = stop)
{
    uint64_t now = eng_now_ms();
    if (now < 60002) {
        cr_skip_test("monotonic clock too young to fake a stall");
    }
    struct eng_rpc_view v = { .role = ENG_NODEREC_ROLE_RELAY, .known_peers = 1,
                              .published_ms = now - 60001 };
    eng_rpc_publish(&rpc, &v);
    char *body = get("/health", 503);
    cr_assert(strstr(body, "control thread stalled"), "%s", body);
    free(body);
}

Test(eng_rpc, bad_requests_get_404_405_413_and_the_server_survives, .init = start, .fini = stop)
{
    char *body = get("/nope", 404);
    cr_assert(strstr(body, "\"error\""), "%s", body);
    free(body);
    const char post[] = "POST /network/peers HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
    cr_assert_eq(raw(post, sizeof(post) - 1), 405);
    const char del[] = "DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(raw(del, sizeof(del) - 1), 405);
    const char big[] =
        "POST /network/peers HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n";
    cr_assert_eq(raw(big, sizeof(big) - 1), 413);
    int code;
    /* A chunked body that grows past the limit. */
    static char chunked[16384];
    int len = snprintf(chunked, sizeof(chunked),
                       "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 6; i++) {
        len += snprintf(chunked + len, sizeof(chunked) - (size_t)len, "400\r\n");
        memset(chunked + len, 'a', 1024);
        len += 1024;
        len += snprintf(chunked + len, sizeof(chunked) - (size_t)len, "\r\n");
    }
    len += snprintf(chunked + len, sizeof(chunked) - (size_t)len, "0\r\n\r\n");
    code = raw(chunked, (size_t)len);
    cr_assert_eq(code, 413, "chunked body over the limit answered %d", code);
    const char garbage[] = "\x01\x02 garbage \xff\r\n\r\n";
    code = raw(garbage, sizeof(garbage) - 1);
    cr_assert(code == 0 || code == 400, "garbage answered %d", code);
    static char huge_header[65536];
    len = snprintf(huge_header, sizeof(huge_header), "GET /health HTTP/1.1\r\nX: ");
    memset(huge_header + len, 'x', 60000);
    len += 60000;
    len += snprintf(huge_header + len, sizeof(huge_header) - (size_t)len, "\r\n\r\n");
    code = raw(huge_header, (size_t)len);
    cr_assert(code == 0 || code == 431 || code == 413, "huge header answered %d", code);
    body = get("/health", 200); /* still serving */
    free(body);
}

/* promtool check metrics on `body` (freed); skips the test when promtool is missing. */
static void promtool_check(char *body)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        free(body);
        cr_skip_test("promtool not installed (Debian package prometheus)");
    }
    char path[64];
    snprintf(path, sizeof(path), "/tmp/dchat-test-metrics-%d", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(body, f);
    fclose(f);
    free(body);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
    int rc = system(cmd);
    unlink(path);
    cr_assert_eq(rc, 0, "promtool check metrics failed");
}

Test(eng_rpc, metrics_pass_promtool, .init = start, .fini = stop)
{
    eng_histo_observe_us(&disc.rtt, 1500);
    eng_disc_stats_inc(&disc, ENG_DISC_STAT_BAD_SIGNATURE);
    free(get("/nope", 404));
    char *body = get("/metrics", 200);
    cr_assert(strstr(body, "dchat_discovery_bad_signature_total 1\n"), "%s", body);
    cr_assert(strstr(body, "dchat_discovery_ping_rtt_seconds_bucket{le=\"0.0025\"} 1\n"));
    cr_assert(strstr(body, "dchat_rpc_requests_total{code=\"404\"} 1\n"));
    cr_assert(strstr(body, "dchat_dp_rx_datagrams_total 0\n"));
    /* A node without consensus shows none of its families. */
    cr_assert_null(strstr(body, "dchat_consensus_"), "%s", body);
    cr_assert_null(strstr(body, "dchat_follow_"), "%s", body);
    promtool_check(body);
}

static const double cons_bounds[ENG_HISTO_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
};

/* A validator's published counters: each family with its value, and promtool accepts them. */
Test(eng_rpc, consensus_counters_appear_in_metrics, .init = start, .fini = stop)
{
    static struct eng_rpc_consensus c; /* static: zeroed */
    c.has = 1;
    c.height = 42;
    c.round = 2;
    c.mempool_pending = 17;
    c.followers = 3;
    for (int i = 0; i < ENG_CONS_STAT_COUNT; i++) {
        c.v[i] = 1000u + (uint64_t)i;
    }
    uint64_t commit[ENG_HISTO_BUCKETS + 1] = { 0 };
    commit[7] = 5; /* five commits between 0.5 and 1 s */
    commit[ENG_HISTO_BUCKETS] = 1;
    eng_histo_load(&c.commit_latency, cons_bounds, commit, 4500000 + 60000000);
    uint64_t sync[ENG_HISTO_BUCKETS + 1] = { 2 };
    eng_histo_load(&c.wal_sync, cons_bounds, sync, 3000);
    eng_rpc_set_consensus(&rpc, &c);
    struct eng_rpc_follow fl = { .has = 1, .height = 41 };
    fl.v[ENG_FOLLOW_STAT_BLOCKS_ACCEPTED] = 40;
    fl.v[ENG_FOLLOW_STAT_FINALS_DROPPED] = 7;
    eng_rpc_set_follow(&rpc, &fl);
    char *body = get("/metrics", 200);
    static const char *const want[] = {
        "# TYPE dchat_consensus_height gauge\ndchat_consensus_height 42\n",
        "dchat_consensus_round 2\n",
        "dchat_consensus_mempool_pending 17\n",
        "dchat_consensus_followers 3\n",
        "# TYPE dchat_consensus_rounds_started_total counter\n"
        "dchat_consensus_rounds_started_total 1000\n",
        "dchat_consensus_commits_total 1001\n",
        "dchat_consensus_messages_total{kind=\"proposal\"} 1002\n"
        "dchat_consensus_messages_total{kind=\"vote\"} 1003\n",
        "dchat_consensus_messages_dropped_total{reason=\"undecodable\"} 1006\n",
        "dchat_consensus_messages_dropped_total{reason=\"duplicate\"} 1012\n",
        "dchat_consensus_equivocations_total 1013\n",
        "dchat_consensus_ids_refused_total{reason=\"mempool_full\"} 1021\n",
        "dchat_consensus_ids_ordered_total 1022\n",
        "dchat_consensus_part_answers_limited_total 1028\n",
        "dchat_consensus_part_requests_answered_total 1043\n",
        "dchat_consensus_follow_refused_total 1045\n",
        "dchat_consensus_commit_latency_seconds_bucket{le=\"0.5\"} 0\n"
        "dchat_consensus_commit_latency_seconds_bucket{le=\"1\"} 5\n",
        "dchat_consensus_commit_latency_seconds_bucket{le=\"+Inf\"} 6\n"
        "dchat_consensus_commit_latency_seconds_sum 64.500000\n"
        "dchat_consensus_commit_latency_seconds_count 6\n",
        "dchat_consensus_wal_sync_seconds_bucket{le=\"0.005\"} 2\n",
        "dchat_consensus_wal_sync_seconds_count 2\n",
        "# TYPE dchat_follow_height gauge\ndchat_follow_height 41\n",
        "dchat_follow_blocks_accepted_total 40\n",
        "dchat_follow_finals_dropped_total 7\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cr_assert(strstr(body, want[i]), "missing:\n%s\nin:\n%s", want[i], body);
    }
    /* One HELP per family, labels apart. */
    const char *p = body;
    int helps = 0;
    while ((p = strstr(p, "# HELP dchat_consensus_messages_total ")) != NULL) {
        helps++;
        p++;
    }
    cr_assert_eq(helps, 1);
    promtool_check(body);
}

Test(eng_http, response_parser_rejects_garbage)
{
    int code;
    size_t off;
    const char ok[] = "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
    cr_assert_eq(eng_http_parse_response(ok, sizeof(ok) - 1, &code, &off), 0);
    cr_assert_eq(code, 200);
    cr_assert_str_eq(ok + off, "body");
    cr_assert_eq(eng_http_parse_response("HTTP/1.1 200 OK\r\n", 17, &code, &off), DC_ETRUNCATED);
    cr_assert_eq(eng_http_parse_response("HTTP/2.0 200 OK\r\n\r\n", 19, &code, &off),
                 DC_EMALFORMED);
    cr_assert_eq(eng_http_parse_response("HTTP/1.1 2x0 OK\r\n\r\n", 19, &code, &off),
                 DC_EMALFORMED);
    cr_assert_eq(eng_http_parse_response("HTTP/1.1 20000\r\n\r\n", 18, &code, &off),
                 DC_EMALFORMED);
    int c;
    char *body;
    cr_assert_eq(eng_http_get("no-port", "/", 100, &c, &body), DC_ECONFIG);
    cr_assert_eq(eng_http_get("127.0.0.1:1", "/", 1000, &c, &body), -ECONNREFUSED);
}
