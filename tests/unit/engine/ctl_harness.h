/*
 * ctl_harness: real control threads on 127.0.0.1 for the control-plane tests
 * (tests/unit/engine/test_ctl.c, one node; tests/integration/test_ctl_net.c, many). Called from
 * the Criterion test thread only; each node's own control thread runs engine/ctl.c.
 */
#ifndef CTL_HARNESS_H
#define CTL_HARNESS_H

#include "engine/ctl.h"
#include "engine/noderec.h"

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#define NODES 24
#define INTERVAL_MS 200

extern struct eng_ctl ctl[NODES];
extern struct eng_key keys[NODES];
extern uint32_t interval_ms; /* peer check interval of the nodes started next */

void sleep_ms(int ms);
/* Starts node i, bootstrapping from node boot_from (-1: none). */
void start_node(int i, int boot_from);
/* Same on a given port (0: any), bootstrapping from `boot` by name when boot_from is -1. */
void start_node_at(int i, int boot_from, uint16_t port, const struct sockaddr_in *boot);
/* Waits until node i reports the counts, or fails after `ms`. */
void wait_counts(int i, uint32_t want_connected, uint32_t want_known, int ms);
/* Fresh keys and data directories; the .fini stops every node and removes the directories. */
void setup(void);
void teardown(void);
/* Sends one discovery message carrying `rec` to `dst` from `fd`. */
void send_msg_with(int fd, const struct sockaddr_storage *dst, socklen_t dst_len,
                   const struct eng_noderec *rec, uint8_t type, uint64_t nonce,
                   const uint8_t *target);
/* Receives one discovery message within `ms`; 0 when it timed out. */
int recv_msg(int fd, struct eng_disc_msg *m, int ms);

#endif
