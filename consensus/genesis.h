/*
 * cons_genesis: the genesis file, which names a chain and the validators that run it.
 *
 *     chain_id = "dchat-local"           # 1..64 bytes, printable ASCII
 *     required_confirmations = 3         # the commit quorum, at least 2f+1
 *
 *     [[validators]]                     # 1..CONS_VALIDATORS_MAX, in index order
 *     name = "validator1"
 *     public_key = "<64 hex digits>"     # Ed25519
 *     address = "127.0.0.1:9000"         # where its peers reach it
 *
 * With n validators, f = (n-1)/3 may be faulty and the quorum must be at least
 * floor(2n/3)+1 (= 2f+1 when n = 3f+1); a smaller one is refused, because two quorums would
 * not need to share an honest validator. Unknown keys, an empty set, duplicate keys or
 * names are refused too, each with one line naming the file, the line and the problem.
 *
 * The genesis hash, which block 1 names as its prev_hash, is BLAKE2b-256 of
 *     "dchat/genesis/v1\0" || u8 len(chain_id) || chain_id || u32 required_confirmations ||
 *     u32 n || n x public_key        (integers little-endian)
 * i.e. of what consensus depends on; names and addresses may change without forking.
 *
 * Threads: control path (loading allocates through the TOML parser).
 */
#ifndef CONS_GENESIS_H
#define CONS_GENESIS_H

#include "consensus/block.h"
#include "consensus/valset.h"

#include <stddef.h>
#include <stdint.h>

/* Where `dchat chain verify` and a validator look for the genesis in a data directory. */
#define CONS_GENESIS_FILE_NAME "genesis.toml"
#define CONS_GENESIS_NAME_MAX 64
#define CONS_GENESIS_ADDRESS_MAX 255
#define CONS_GENESIS_ERROR_BYTES 320

struct cons_genesis_validator {
    char name[CONS_GENESIS_NAME_MAX + 1];
    char address[CONS_GENESIS_ADDRESS_MAX + 1];
    uint8_t public_key[CONS_PK_BYTES];
};

struct cons_genesis {
    char chain_id[CONS_CHAIN_ID_MAX + 1];
    uint32_t required_confirmations;
    uint32_t count;
    struct cons_genesis_validator validators[CONS_VALIDATORS_MAX];
};

/*
 * Parse and validate genesis TOML held in memory; `name` labels errors. 0, or DC_EMALFORMED
 * (not TOML), DC_EUNKNOWNKEY, DC_ETYPE, DC_ERANGE (a value out of bounds), DC_ENOTFOUND (a
 * required key missing), DC_EDUPLICATE, DC_EQUORUM or DC_ECONFIG (empty set), with `err`
 * holding one line "NAME:LINE: problem". Never reads past `len`.
 */
int cons_genesis_parse(struct cons_genesis *genesis, const char *text, size_t len,
                       const char *name, char *err, size_t err_size);
/* Read `path` and parse it as above; also the negative errno of open/read failures. */
int cons_genesis_load(struct cons_genesis *genesis, const char *path, char *err, size_t err_size);
/*
 * The whole-set rules alone (count, quorum, duplicates), for a genesis built in memory.
 * 0 or the codes above, `err` filled.
 */
int cons_genesis_validate(const struct cons_genesis *genesis, const char *name, char *err,
                          size_t err_size);

/*
 * Write `genesis` as TOML to `path` (mode 0644), refusing to overwrite: 0, -EEXIST or
 * -errno. The file is synced before returning.
 */
int cons_genesis_write(const struct cons_genesis *genesis, const char *path);

/* The validator set consensus runs with. 0 or cons_valset_init's codes. */
int cons_genesis_valset(const struct cons_genesis *genesis, struct cons_valset *set);
/* The genesis hash (block 1's prev_hash). */
void cons_genesis_hash(const struct cons_genesis *genesis, uint8_t hash_out[CONS_HASH_BYTES]);

#endif
