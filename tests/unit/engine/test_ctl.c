/*
 * The control plane in one process, one node at a time: a control thread with its own UDP
 * socket on 127.0.0.1 refuses bad parameters, rejects forged and replayed records sent at it,
 * and feeds its consensus hooks. The multi-node scenarios (Day 1-4, 24-node chain) run real
 * sockets and threads under load, so they live in tests/integration/test_ctl_net.c.
 */
#include "tests/unit/engine/ctl_harness.h"

#include "engine/status.h"

#include "dataplane/wire.h"

#include "common/dc_err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void send_ping_with(int fd, const struct sockaddr_storage *dst, socklen_t dst_len,
                           const struct eng_noderec *rec)
{
    send_msg_with(fd, dst, dst_len, rec, ENG_DISC_PING, 99, NULL);
}

Test(eng_ctl, refuses_bad_parameters_and_busy_ports, .init = setup, .fini = teardown)
{
    struct eng_ctl c;
    struct eng_ctl_params p;
    memset(&p, 0, sizeof(p));
    p.key = keys[0];
    p.role = ENG_NODEREC_ROLE_RELAY;
    p.udp_fd = -1;
    cr_assert_eq(eng_ctl_start_params(&c, &p), DC_ECONFIG, "no interval, no address");
    start_node(0, -1);
    cr_assert_eq(eng_ctl_listen_addr(&ctl[0], &p.listen, &p.listen_len), 0);
    p.peer_check_interval_ms = 100;
    cr_assert_eq(eng_ctl_start_params(&c, &p), -EADDRINUSE);
    cr_assert_null(c.state);
}

/* Polls /metrics until `needle` appears. */
static void wait_metric(const char *base, const char *needle)
{
    for (int waited = 0; waited < 10000; waited += 50) {
        int code = 0;
        char *body = NULL;
        if (eng_http_get(base, "/metrics", 2000, &code, &body) == 0 && strstr(body, needle)) {
            free(body);
            return;
        }
        free(body);
        sleep_ms(50);
    }
    cr_assert_fail("metric '%s' never appeared", needle);
}

Test(eng_ctl, forged_and_replayed_records_are_rejected_on_the_wire, .init = setup,
     .fini = teardown, .timeout = 60)
{
    static struct eng_ctl_params p;
    memset(&p, 0, sizeof(p));
    p.key = keys[0];
    p.role = ENG_NODEREC_ROLE_VALIDATOR;
    struct sockaddr_in *in = (struct sockaddr_in *)&p.listen;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p.listen_len = sizeof(*in);
    memcpy(&p.rpc, &p.listen, sizeof(*in));
    p.rpc_len = sizeof(*in);
    p.peer_check_interval_ms = INTERVAL_MS;
    p.udp_fd = -1;
    cr_assert_eq(eng_ctl_start_params(&ctl[0], &p), 0);
    uint16_t rpc_port = 0;
    cr_assert_eq(eng_ctl_rpc_port(&ctl[0], &rpc_port), 0);
    char base[64];
    snprintf(base, sizeof(base), "127.0.0.1:%u", rpc_port);
    struct sockaddr_storage dst;
    socklen_t dst_len;
    cr_assert_eq(eng_ctl_listen_addr(&ctl[0], &dst, &dst_len), 0);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct eng_noderec_addr addr = { .family = 4, .port = 9, .ip = { 127, 0, 0, 1 } };
    struct eng_noderec newer, older, forged;
    cr_assert_eq(eng_noderec_make(&newer, keys[1].sk, ENG_NODEREC_ROLE_RELAY, 10, &addr, 1), 0);
    cr_assert_eq(eng_noderec_make(&older, keys[1].sk, ENG_NODEREC_ROLE_RELAY, 9, &addr, 1), 0);
    cr_assert_eq(eng_noderec_make(&forged, keys[2].sk, ENG_NODEREC_ROLE_RELAY, 5, &addr, 1), 0);
    forged.sig[10] ^= 0x40;

    send_ping_with(fd, &dst, dst_len, &newer);
    wait_counts(0, 0, 2, 10000); /* learned (not connected: our socket never answers PINGs) */
    send_ping_with(fd, &dst, dst_len, &older);
    wait_metric(base, "dchat_discovery_stale_record_total 1\n");
    send_ping_with(fd, &dst, dst_len, &forged);
    wait_metric(base, "dchat_discovery_bad_signature_total 1\n");
    uint32_t c, k;
    eng_ctl_peer_counts(&ctl[0], &c, &k);
    cr_assert_eq(k, 2, "the forged node was not added");
    close(fd);
}

