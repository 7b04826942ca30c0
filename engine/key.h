/*
 * key: a node's Ed25519 identity on disk.
 *
 * A key file is two TOML lines, written with mode 0600:
 *     public_key = "<64 hex>"
 *     secret_seed = "<64 hex>"
 * The node id is BLAKE2b-256 of the public key (DESIGN.md section 6). Control-path only: the
 * main thread loads or generates the key at start-up; eng_hex() and eng_unhex() keep no state,
 * so any thread may call them.
 */
#ifndef ENG_KEY_H
#define ENG_KEY_H

#include <stddef.h>
#include <stdint.h>

#define ENG_KEY_PK_BYTES 32
#define ENG_KEY_SK_BYTES 64
#define ENG_KEY_SEED_BYTES 32
#define ENG_KEY_ID_BYTES 32

struct eng_key {
    uint8_t pk[ENG_KEY_PK_BYTES];
    uint8_t sk[ENG_KEY_SK_BYTES]; /* libsodium's expanded secret key (seed || pk) */
    uint8_t id[ENG_KEY_ID_BYTES];
};

/* Fresh random key. 0 or -errno (libsodium failed to initialise). */
int eng_key_generate(struct eng_key *key);
/* Key from a 32-byte seed (deterministic: tests and `dchat genesis`). */
int eng_key_from_seed(struct eng_key *key, const uint8_t seed[ENG_KEY_SEED_BYTES]);
/* Write `key` to `path` (mode 0600, refuses to overwrite). 0, -EEXIST or -errno. */
int eng_key_save(const struct eng_key *key, const char *path);
/*
 * Read a key file. 0, -errno when unreadable, DC_EMALFORMED when it does not parse, or
 * DC_ECONFLICT when the public key does not match the seed. `why` (may be NULL) gets a short
 * reason for the error message.
 */
int eng_key_load(struct eng_key *key, const char *path, char *why, size_t why_size);
/* node id = BLAKE2b-256(pk). */
void eng_key_node_id(const uint8_t pk[ENG_KEY_PK_BYTES], uint8_t id_out[ENG_KEY_ID_BYTES]);
/* Lower-case hex of `len` bytes into `out` (2*len+1 bytes). */
void eng_hex(const uint8_t *bytes, size_t len, char *out);
/* Parse exactly 2*len hex digits. 0 or DC_EMALFORMED. */
int eng_unhex(const char *hex, uint8_t *bytes, size_t len);

#endif
