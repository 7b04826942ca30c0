/*
 * ctl_harness: real control threads on 127.0.0.1 for the control-plane tests (ctl_harness.h).
 */
#include "tests/unit/engine/ctl_harness.h"

#include "dataplane/wire.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct eng_ctl ctl[NODES];
struct eng_key keys[NODES];
static char dirs[NODES][128];

void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

uint32_t interval_ms = INTERVAL_MS;

void start_node(int i, int boot_from)
{
    start_node_at(i, boot_from, 0, NULL);
}

void start_node_at(int i, int boot_from, uint16_t port, const struct sockaddr_in *boot)
{
    static struct eng_ctl_params p;
    memset(&p, 0, sizeof(p));
    p.key = keys[i];
    p.role = i < 4 ? ENG_NODEREC_ROLE_VALIDATOR : ENG_NODEREC_ROLE_RELAY;
    struct sockaddr_in *in = (struct sockaddr_in *)&p.listen;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons(port);
    p.listen_len = sizeof(*in);
    snprintf(p.data_dir, sizeof(p.data_dir), "%s", dirs[i]);
    if (boot_from >= 0) {
        cr_assert_eq(eng_ctl_listen_addr(&ctl[boot_from], &p.bootstrap[0], &p.bootstrap_len[0]),
                     0);
        p.bootstrap_count = 1;
    } else if (boot != NULL) {
        memcpy(&p.bootstrap[0], boot, sizeof(*boot));
        p.bootstrap_len[0] = sizeof(*boot);
        p.bootstrap_count = 1;
        /* By name, so every retry resolves it again (localhost may list ::1 first). */
        snprintf(p.bootstrap_text[0], sizeof(p.bootstrap_text[0]), "localhost:%u",
                 ntohs(boot->sin_port));
    }
    p.peer_check_interval_ms = interval_ms;
    p.udp_fd = -1;
    cr_assert_eq(eng_ctl_start_params(&ctl[i], &p), 0, "node %d starts", i + 1);
}

void wait_counts(int i, uint32_t want_connected, uint32_t want_known, int ms)
{
    uint32_t c = 0, k = 0;
    for (int waited = 0; waited < ms; waited += 50) {
        eng_ctl_peer_counts(&ctl[i], &c, &k);
        if (c == want_connected && k == want_known) {
            return;
        }
        sleep_ms(50);
    }
    cr_assert_fail("node %d: connected %u known %u, wanted %u / %u", i + 1, c, k,
                   want_connected, want_known);
}

void setup(void)
{
    memset(ctl, 0, sizeof(ctl));
    for (int i = 0; i < NODES; i++) {
        cr_assert_eq(eng_key_generate(&keys[i]), 0);
        snprintf(dirs[i], sizeof(dirs[i]), "/tmp/dchat-test-ctl-%d/node%d", (int)getpid(), i + 1);
    }
}

void teardown(void)
{
    for (int i = 0; i < NODES; i++) {
        eng_ctl_stop(&ctl[i]);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/dchat-test-ctl-%d", (int)getpid());
    cr_assert_eq(system(cmd), 0);
}

void send_msg_with(int fd, const struct sockaddr_storage *dst, socklen_t dst_len,
                   const struct eng_noderec *rec, uint8_t type, uint64_t nonce,
                   const uint8_t *target)
{
    uint8_t enc[ENG_NODEREC_BYTES_MAX], body[512], frame[600];
    int len = eng_noderec_encode(rec, enc, sizeof(enc));
    int body_len = eng_disc_encode(body, sizeof(body), type, nonce, enc, (size_t)len, target,
                                   NULL, 0);
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, frame, sizeof(frame));
    cr_assert_eq(dp_wire_builder_add(&b, DP_WIRE_REC_DISCOVERY, body, (uint16_t)body_len), 0);
    size_t n = dp_wire_builder_finish(&b);
    cr_assert_eq(sendto(fd, frame, n, 0, (const struct sockaddr *)dst, dst_len), (ssize_t)n);
}

int recv_msg(int fd, struct eng_disc_msg *m, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint8_t buf[2048];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        return 0;
    }
    struct dp_wire_iter it;
    struct dp_wire_rec rec;
    cr_assert_eq(dp_wire_frame_open(&it, buf, (size_t)n), 0);
    cr_assert(dp_wire_next(&it, &rec));
    cr_assert_eq(rec.type, DP_WIRE_REC_DISCOVERY);
    cr_assert_eq(eng_disc_decode(m, rec.body, rec.body_len), 0);
    return 1;
}

