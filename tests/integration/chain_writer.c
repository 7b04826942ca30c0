/*
 * chain_writer: test helper that writes a real chain into a data directory.
 *
 *   chain_writer --net DIR --data-dir DATA --blocks N [--ids K] [--segment-bytes B]
 *                [--retain-blocks R]
 *
 * DIR is what `dchat genesis --out DIR` wrote (genesis.toml, validator<i>.key). The helper
 * extends the block store in DATA (segments of B bytes, pruned to R blocks after each sync
 * when R > 0) up to height N: each block links to its parent (block 1 to the
 * genesis hash), orders K message ids, and carries a commit certificate of precommits signed
 * with the genesis validators' own keys by a rotating quorum of them, exactly what the commit
 * path hands the block store. `dchat chain verify` then checks the result end to end.
 */
#include "engine/key.h"

#include "common/dc_err.h"
#include "consensus/genesis.h"
#include "consensus/store.h"
#include "tests/unit/consensus/store_chain.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t ids[CONS_BLOCK_IDS_MAX][CONS_ID_BYTES];
static uint8_t sks[CONS_VALIDATORS_MAX][CONS_SK_BYTES];
static struct cons_genesis genesis;

/* Every validator's key file must match the genesis, or the certificates would not verify. */
static int load_keys(const char *net)
{
    for (uint32_t i = 0; i < genesis.count; i++) {
        char path[PATH_MAX];
        char why[128] = "";
        struct eng_key key;
        snprintf(path, sizeof(path), "%s/validator%u.key", net, i + 1);
        int rc = eng_key_load(&key, path, why, sizeof(why));
        if (rc != 0) {
            fprintf(stderr, "chain_writer: %s: %s %s\n", path, dc_strerror(rc), why);
            return 1;
        }
        if (memcmp(key.pk, genesis.validators[i].public_key, CONS_PK_BYTES) != 0) {
            fprintf(stderr, "chain_writer: %s is not validator %u of the genesis\n", path, i);
            return 1;
        }
        memcpy(sks[i], key.sk, CONS_SK_BYTES);
    }
    return 0;
}

static int write_chain(struct cons_store *store, uint64_t blocks, uint32_t id_count)
{
    struct cons_block block;
    static struct cons_cert cert;
    uint8_t prev[CONS_HASH_BYTES];
    cons_block_init(&block, ids, CONS_BLOCK_IDS_MAX);
    if (cons_store_height(store) == 0) {
        cons_genesis_hash(&genesis, prev);
    } else {
        memcpy(prev, cons_store_head_hash(store), CONS_HASH_BYTES);
    }
    uint64_t first = cons_store_height(store) + 1;
    for (uint64_t h = first; h <= blocks; h++) {
        int rc = store_chain_make(&block, &cert, genesis.chain_id, h, prev, id_count,
                                  (const uint8_t(*)[CONS_SK_BYTES])sks, genesis.count,
                                  (uint32_t)(h % genesis.count), genesis.required_confirmations);
        if (rc == 0) {
            rc = cons_store_append(store, &block, &cert);
        }
        if (rc != 0) {
            fprintf(stderr, "chain_writer: height %llu: %s\n", (unsigned long long)h,
                    dc_strerror(rc));
            return 1;
        }
        cons_block_hash(&block, prev);
    }
    int rc = cons_store_sync(store);
    if (rc == 0) {
        rc = cons_store_prune(store);
    }
    if (rc != 0) {
        fprintf(stderr, "chain_writer: sync or prune: %s\n", dc_strerror(rc));
        return 1;
    }
    printf("chain_writer: heights %llu..%llu written\n", (unsigned long long)first,
           (unsigned long long)blocks);
    return 0;
}

int main(int argc, char **argv)
{
    const char *net = NULL, *data = NULL;
    long blocks = -1, id_count = 3;
    struct cons_store_config config = { 0 };
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--net") == 0) {
            net = argv[i + 1];
        } else if (strcmp(argv[i], "--data-dir") == 0) {
            data = argv[i + 1];
        } else if (strcmp(argv[i], "--blocks") == 0) {
            blocks = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--ids") == 0) {
            id_count = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--segment-bytes") == 0) {
            config.segment_bytes = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--retain-blocks") == 0) {
            config.retain_blocks = strtoull(argv[i + 1], NULL, 10);
        }
    }
    if (net == NULL || data == NULL || blocks < 1 || id_count < 0 ||
        id_count > (long)CONS_BLOCK_IDS_MAX || argc % 2 != 1) {
        fprintf(stderr, "usage: chain_writer --net DIR --data-dir DATA --blocks N [--ids K] "
                "[--segment-bytes B] [--retain-blocks R]\n");
        return 2;
    }
    char path[PATH_MAX];
    char err[CONS_GENESIS_ERROR_BYTES];
    snprintf(path, sizeof(path), "%s/%s", net, CONS_GENESIS_FILE_NAME);
    if (cons_genesis_load(&genesis, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "chain_writer: %s\n", err);
        return 1;
    }
    if (load_keys(net) != 0) {
        return 1;
    }
    static struct cons_dir_fs dir;
    struct cons_store store;
    struct cons_store_problem problem = { 0 };
    int rc = cons_dir_fs_open(&dir, data, 0);
    if (rc == 0) {
        rc = cons_store_open(&store, cons_dir_fs_dir(&dir), &config, &problem);
        if (rc != 0) {
            cons_dir_fs_close(&dir);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "chain_writer: %s/%s: %s %s\n", data, problem.file, dc_strerror(rc),
                problem.why);
        return 1;
    }
    rc = write_chain(&store, (uint64_t)blocks, (uint32_t)id_count);
    cons_store_fini(&store);
    cons_dir_fs_close(&dir);
    return rc;
}
