/*
 * cons_exec: the action executor (see exec.h).
 */
#include "consensus/exec.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_log.h"

#include <stddef.h>

void cons_exec_init(struct cons_exec *ex, struct cons_datadir *dd,
                    const struct cons_exec_ops *ops, void *ctx, uint32_t sync_blocks_max)
{
    DC_ASSERT(dd != NULL);
    DC_ASSERT(ops != NULL);
    DC_ASSERT(ops->send != NULL);
    DC_ASSERT(sync_blocks_max >= 1);
    ex->dd = dd;
    ex->ops = ops;
    ex->ctx = ctx;
    ex->sync_blocks_max = sync_blocks_max;
    ex->failed = 0;
    ex->failed_what = NULL;
    ex->serve_read_errors = 0;
}

/* The group commit: one sync for every record persisted since the last one. */
static int wal_sync(struct cons_exec *ex)
{
    if (!ex->dd->unsynced) {
        return 0;
    }
    if (ex->ops->sync_begin != NULL) {
        ex->ops->sync_begin(ex->ctx);
    }
    int rc = cons_datadir_before_send(ex->dd);
    if (ex->ops->sync_end != NULL) {
        ex->ops->sync_end(ex->ctx, rc);
    }
    DC_ASSERT(rc != 0 || !ex->dd->unsynced);
    return rc;
}

/* Our committed blocks from `from` on, a few per request: the requester asks again. */
static void serve_sync(struct cons_exec *ex, uint16_t to, uint64_t from)
{
    uint64_t last = cons_datadir_height(ex->dd);
    uint64_t end = from + ex->sync_blocks_max;
    for (uint64_t h = from; h >= 1 && h <= last && h < end; h++) {
        struct cons_msg msg = { .kind = CONS_MSG_SYNC_BLOCK };
        int rc = cons_datadir_read(ex->dd, h, &msg.block, &msg.cert);
        if (rc != 0) {
            DC_WARN("consensus", "sync: cannot read block %llu: %s", (unsigned long long)h,
                    dc_strerror(rc));
            ex->serve_read_errors++;
            return;
        }
        ex->ops->send(ex->ctx, to, &msg);
    }
}

static int commit(struct cons_exec *ex, const struct cons_action *a)
{
    DC_ASSERT(a->block != NULL && a->cert != NULL);
    DC_ASSERT(a->block->header.height == cons_datadir_height(ex->dd) + 1);
    int rc = cons_datadir_commit(ex->dd, a->block, a->cert);
    if (rc == 0) {
        DC_ASSERT(cons_datadir_height(ex->dd) == a->block->header.height);
        DC_ASSERT(!ex->dd->unsynced); /* the commit reset the WAL: nothing is pending */
        if (ex->ops->commit != NULL) {
            ex->ops->commit(ex->ctx, a->block, a->cert);
        }
    }
    return rc;
}

/* One action; a storage error names what failed in ex->failed_what. */
static int run_one(struct cons_exec *ex, const struct cons_action *a)
{
    int rc = 0;
    switch (a->type) {
    case CONS_ACT_PERSIST:
        rc = cons_datadir_persist(ex->dd, &a->msg);
        ex->failed_what = "vote WAL write";
        break;
    case CONS_ACT_SEND:
        rc = wal_sync(ex);
        if (rc == 0) {
            ex->ops->send(ex->ctx, a->to, &a->msg);
        }
        ex->failed_what = "vote WAL write";
        break;
    case CONS_ACT_COMMIT:
        rc = commit(ex, a);
        ex->failed_what = "block store append";
        break;
    case CONS_ACT_SERVE_SYNC:
        serve_sync(ex, a->to, a->height);
        break;
    case CONS_ACT_SCHEDULE:
        if (ex->ops->schedule != NULL) {
            ex->ops->schedule(ex->ctx, a->at_tick);
        }
        break;
    default:
        DC_ASSERT(0); /* the machine emits only the kinds above */
    }
    return rc;
}

int cons_exec_run(struct cons_exec *ex, const struct cons_actions *actions)
{
    if (ex->failed != 0) {
        return ex->failed;
    }
    DC_ASSERT(actions->count <= CONS_ACTIONS_MAX);
    int rc = 0;
    for (uint32_t i = 0; i < actions->count && rc == 0; i++) {
        rc = run_one(ex, &actions->items[i]);
    }
    if (rc == 0) {
        rc = wal_sync(ex);
        ex->failed_what = "vote WAL sync";
    }
    if (rc != 0) {
        ex->failed = rc;
        return rc;
    }
    ex->failed_what = NULL;
    return 0;
}
