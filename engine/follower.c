/*
 * follower: a relay's chain follower, assembled (see follower.h).
 */
#include "engine/follower.h"

#include "engine/ctl.h"
#include "engine/node_config.h"
#include "engine/rpc.h"
#include "engine/rpc_chain.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"
#include "consensus/follow.h"
#include "consensus/genesis.h"
#include "dataplane/relay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct eng_follower_state {
    struct cons_genesis genesis;
    struct cons_valset valset;
    struct cons_follow_params params;
    struct cons_follow follow;
    int follow_init;
    struct eng_ctl *ctl;
};

static int resolve(struct eng_follower_state *s, char *err, size_t err_size)
{
    const struct cons_genesis *g = &s->genesis;
    for (uint32_t i = 0; i < g->count; i++) {
        struct eng_node_addr addr;
        if (eng_node_addr_parse(&addr, g->validators[i].address, 0) != 0) {
            snprintf(err, err_size, "genesis: validator %s has address '%s', which does not "
                                    "resolve to HOST:PORT", g->validators[i].name,
                     g->validators[i].address);
            return DC_ECONFIG;
        }
        s->params.addrs[i] = addr.sa;
        s->params.addr_lens[i] = addr.sa_len;
    }
    s->params.count = g->count;
    return 0;
}

int eng_follower_open(struct eng_follower *f, const struct eng_node_config *cfg, char *err,
                      size_t err_size)
{
    f->state = NULL;
    char path[ENG_NODE_PATH_MAX + 32];
    if (cfg->genesis_file[0] != '\0') {
        snprintf(path, sizeof(path), "%s", cfg->genesis_file);
    } else {
        snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, CONS_GENESIS_FILE_NAME);
        if (cfg->data_dir[0] == '\0' || access(path, F_OK) != 0) {
            return 0; /* no chain to follow: a plain relay */
        }
    }
    struct eng_follower_state *s = dc_alloc(sizeof(*s));
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    memset(s, 0, sizeof(*s));
    int rc = cons_genesis_load(&s->genesis, path, err, err_size);
    if (rc == 0) {
        rc = cons_genesis_valset(&s->genesis, &s->valset);
        if (rc != 0) {
            snprintf(err, err_size, "%s: the validator set is not usable: %s", path,
                     dc_strerror(rc));
        }
    }
    if (rc == 0) {
        rc = resolve(s, err, err_size);
    }
    if (rc != 0) {
        dc_free(s);
        return rc;
    }
    s->params.valset = &s->valset;
    s->params.chain_id = s->genesis.chain_id;
    cons_genesis_hash(&s->genesis, s->params.genesis_hash);
    f->state = s;
    DC_INFO("follower", "following chain '%s' (%u validators) from %s", s->genesis.chain_id,
            s->genesis.count, path);
    return 0;
}

/* Follower thread: the head goes to /chain/status. */
static void publish_view(void *arg, const struct cons_follow_view *v)
{
    struct eng_follower_state *s = arg;
    struct eng_rpc_chain c = {
        .height = v->height, .has_hash = 1, .validators = v->validators,
        .online_validators = v->online_validators, .messages_ordered = v->messages_ordered,
        .has_chain_api = 1,
    };
    memcpy(c.hash, v->hash, sizeof(c.hash));
    eng_ctl_set_chain(s->ctl, &c);
}

/* Follower thread, at most ~10 times a second: the counters go to /metrics (a copy). */
static void publish_counters(void *arg, const struct cons_follow_counters *c)
{
    struct eng_follower_state *s = arg;
    struct eng_rpc_follow r = { .has = 1, .height = c->height };
    r.v[ENG_FOLLOW_STAT_BLOCKS_ACCEPTED] = c->blocks_accepted;
    r.v[ENG_FOLLOW_STAT_BLOCKS_REFUSED] = c->blocks_refused;
    r.v[ENG_FOLLOW_STAT_BLOCKS_OUT_OF_ORDER] = c->blocks_out_of_order;
    r.v[ENG_FOLLOW_STAT_FINALS_DROPPED] = c->finals_dropped;
    r.v[ENG_FOLLOW_STAT_BAD_MSGS] = c->bad_msgs;
    r.v[ENG_FOLLOW_STAT_PARTS_IN] = c->parts_in;
    r.v[ENG_FOLLOW_STAT_PARTED_COMPLETE] = c->parted_complete;
    eng_ctl_set_follow(s->ctl, &r);
}

static int query_id(void *arg, const uint8_t id[ENG_RPC_ID_BYTES], struct eng_rpc_msg *out)
{
    struct eng_follower_state *s = arg;
    struct cons_id_answer a;
    int rc = cons_follow_query_id(&s->follow, id, ENG_FOLLOWER_QUERY_MS, &a);
    if (rc == 0) {
        eng_rpc_chain_msg_from(out, &a);
    }
    return rc;
}

static int query_block(void *arg, uint64_t height, struct cons_block *block,
                       struct cons_cert *cert)
{
    (void)arg;
    (void)height;
    (void)block;
    (void)cert;
    return DC_EUNSUPPORTED; /* a relay keeps positions, not blocks */
}

static void wake_io(void *arg)
{
    dp_relay_wake_io(arg);
}

int eng_follower_start(struct eng_follower *f, struct eng_ctl *ctl, struct dp_relay *relay)
{
    struct eng_follower_state *s = f->state;
    DC_ASSERT(s != NULL);
    s->ctl = ctl;
    s->params.port = dp_relay_cons_port(relay);
    s->params.finals = dp_relay_finals(relay);
    s->params.wake_io = wake_io;
    s->params.wake_io_arg = relay;
    s->params.publish = publish_view;
    s->params.publish_counters = publish_counters;
    s->params.publish_arg = s;
    DC_ASSERT(s->params.port != NULL);
    DC_ASSERT(s->params.finals != NULL);
    int rc = cons_follow_init(&s->follow, &s->params);
    if (rc != 0) {
        return rc;
    }
    s->follow_init = 1;
    rc = cons_follow_start(&s->follow);
    if (rc == 0) {
        struct eng_rpc_chain_source src = { .arg = s, .query_id = query_id,
                                            .query_block = query_block };
        eng_ctl_set_chain_source(ctl, &src);
    }
    return rc;
}

void eng_follower_stop(struct eng_follower *f)
{
    struct eng_follower_state *s = f->state;
    if (s != NULL && s->follow_init) {
        eng_ctl_set_chain_source(s->ctl, NULL);
        cons_follow_stop(&s->follow);
    }
}

void eng_follower_close(struct eng_follower *f)
{
    struct eng_follower_state *s = f->state;
    if (s == NULL) {
        return;
    }
    eng_follower_stop(f);
    if (s->follow_init) {
        const struct cons_follow *w = &s->follow;
        DC_INFO("follower", "stopped at height %llu: %llu blocks accepted, %llu refused, %llu "
                            "out of order, %llu final positions dropped (ring full)",
                (unsigned long long)(w->next_height - 1), (unsigned long long)w->blocks_accepted,
                (unsigned long long)w->blocks_refused,
                (unsigned long long)w->blocks_out_of_order,
                (unsigned long long)w->finals_dropped);
        cons_follow_fini(&s->follow);
    }
    dc_free(s);
    f->state = NULL;
}
