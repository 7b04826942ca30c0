#include "engine/key.h"

#include "common/dc_err.h"
#include "common/dc_hex.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void eng_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int eng_unhex(const char *hex, uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi = dc_hex_digit(hex[2 * i]);
        int lo = hi < 0 ? -1 : dc_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return DC_EMALFORMED;
        }
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[2 * len] == '\0' ? 0 : DC_EMALFORMED;
}

void eng_key_node_id(const uint8_t pk[ENG_KEY_PK_BYTES], uint8_t id_out[ENG_KEY_ID_BYTES])
{
    crypto_generichash(id_out, ENG_KEY_ID_BYTES, pk, ENG_KEY_PK_BYTES, NULL, 0);
}

int eng_key_from_seed(struct eng_key *key, const uint8_t seed[ENG_KEY_SEED_BYTES])
{
    if (sodium_init() < 0) {
        return -EIO;
    }
    crypto_sign_seed_keypair(key->pk, key->sk, seed);
    eng_key_node_id(key->pk, key->id);
    return 0;
}

int eng_key_generate(struct eng_key *key)
{
    if (sodium_init() < 0) {
        return -EIO;
    }
    uint8_t seed[ENG_KEY_SEED_BYTES];
    randombytes_buf(seed, sizeof(seed));
    int rc = eng_key_from_seed(key, seed);
    sodium_memzero(seed, sizeof(seed));
    return rc;
}

int eng_key_save(const struct eng_key *key, const char *path)
{
    char pk_hex[2 * ENG_KEY_PK_BYTES + 1];
    char seed_hex[2 * ENG_KEY_SEED_BYTES + 1];
    eng_hex(key->pk, ENG_KEY_PK_BYTES, pk_hex);
    eng_hex(key->sk, ENG_KEY_SEED_BYTES, seed_hex); /* libsodium's sk starts with the seed */
    char text[256];
    int n = snprintf(text, sizeof(text),
                     "# dchat node key (Ed25519). Keep it secret.\n"
                     "public_key = \"%s\"\nsecret_seed = \"%s\"\n",
                     pk_hex, seed_hex);
    sodium_memzero(seed_hex, sizeof(seed_hex));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        sodium_memzero(text, sizeof(text));
        return -errno;
    }
    int rc = 0;
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        rc = errno != 0 ? -errno : -EIO;
    }
    sodium_memzero(text, sizeof(text));
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
}

/* Find `name = "<hex>"` on its own line and decode `len` bytes. */
static int read_hex_field(const char *text, const char *name, uint8_t *out, size_t len)
{
    size_t name_len = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        if (strncmp(line, name, name_len) == 0) {
            const char *p = line + name_len;
            while (*p == ' ' || *p == '\t') {
                p++;
            }
            if (*p++ != '=') {
                return DC_EMALFORMED;
            }
            while (*p == ' ' || *p == '\t') {
                p++;
            }
            if (*p++ != '"') {
                return DC_EMALFORMED;
            }
            char hex[2 * 64 + 1];
            if (len > 64 || strnlen(p, 2 * len + 1) < 2 * len || p[2 * len] != '"') {
                return DC_EMALFORMED;
            }
            memcpy(hex, p, 2 * len);
            hex[2 * len] = '\0';
            int rc = eng_unhex(hex, out, len);
            sodium_memzero(hex, sizeof(hex));
            return rc;
        }
        line = strchr(line, '\n');
        if (line != NULL) {
            line++;
        }
    }
    return DC_ENOTFOUND;
}

int eng_key_load(struct eng_key *key, const char *path, char *why, size_t why_size)
{
    char text[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        if (why != NULL) {
            snprintf(why, why_size, "%s", strerror(-err));
        }
        return err;
    }
    ssize_t n = read(fd, text, sizeof(text) - 1);
    int err = n < 0 ? -errno : 0;
    close(fd);
    if (n < 0) {
        if (why != NULL) {
            snprintf(why, why_size, "%s", strerror(-err));
        }
        return err;
    }
    text[n] = '\0';
    uint8_t pk[ENG_KEY_PK_BYTES];
    uint8_t seed[ENG_KEY_SEED_BYTES];
    int rc = read_hex_field(text, "public_key", pk, sizeof(pk));
    if (rc == 0) {
        rc = read_hex_field(text, "secret_seed", seed, sizeof(seed));
    }
    sodium_memzero(text, sizeof(text));
    if (rc != 0) {
        if (why != NULL) {
            snprintf(why, why_size, "not a dchat key file (need public_key and secret_seed "
                                    "as 64 hex digits in quotes)");
        }
        return DC_EMALFORMED;
    }
    rc = eng_key_from_seed(key, seed);
    sodium_memzero(seed, sizeof(seed));
    if (rc != 0) {
        return rc;
    }
    if (sodium_memcmp(pk, key->pk, sizeof(pk)) != 0) {
        sodium_memzero(key, sizeof(*key));
        if (why != NULL) {
            snprintf(why, why_size, "public_key does not match secret_seed");
        }
        return DC_ECONFLICT;
    }
    return 0;
}
