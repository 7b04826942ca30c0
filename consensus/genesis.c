#include "consensus/genesis.h"

#include "common/dc_alloc.h"
#include "common/dc_err.h"
#include "common/dc_hex.h"
#include "conf/toml.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HASH_DOMAIN "dchat/genesis/v1"
#define GENESIS_BYTES_MAX (1024u * 1024) /* 64 validators need about 16 KiB */

/* Where each part was written, so whole-set errors can point at a line (0: unknown). */
struct lines {
    uint32_t quorum;
    uint32_t validator[CONS_VALIDATORS_MAX];
};

__attribute__((format(printf, 6, 7)))
static int fail(char *err, size_t err_size, int code, const char *name, uint32_t line,
                const char *fmt, ...)
{
    if (err == NULL || err_size == 0) {
        return code;
    }
    int n = line > 0 ? snprintf(err, err_size, "%s:%u: ", name, line)
                     : snprintf(err, err_size, "%s: ", name);
    if (n >= 0 && (size_t)n < err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Names and chain ids: letters, digits, '.', '_', '-' (no quoting needed when written). */
static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* Addresses: printable ASCII without space, quote or backslash (multiaddr or host:port). */
static bool is_address_char(char c)
{
    return c > ' ' && c < 0x7f && c != '"' && c != '\\';
}

static bool all_chars(const char *s, size_t len, bool (*ok)(char))
{
    for (size_t i = 0; i < len; i++) {
        if (!ok(s[i])) {
            return false;
        }
    }
    return true;
}

static int unhex(const char *hex, size_t hex_len, uint8_t *out, size_t len)
{
    if (hex_len != 2 * len) {
        return DC_EMALFORMED;
    }
    for (size_t i = 0; i < len; i++) {
        int hi = dc_hex_digit(hex[2 * i]);
        int lo = dc_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return DC_EMALFORMED;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- Whole-set rules ---- */

/* Names and addresses as the parser would accept them, so a written file always loads. */
static int check_texts(const struct cons_genesis_validator *v, uint32_t index, uint32_t line,
                       const char *name, char *err, size_t err_size)
{
    size_t name_len = strnlen(v->name, sizeof(v->name));
    size_t address_len = strnlen(v->address, sizeof(v->address));
    if (name_len == 0 || name_len > CONS_GENESIS_NAME_MAX ||
        !all_chars(v->name, name_len, is_name_char)) {
        return fail(err, err_size, DC_ERANGE, name, line,
                    "validator %u: name must be 1 to %d letters, digits, '.', '_' or '-'", index,
                    CONS_GENESIS_NAME_MAX);
    }
    if (address_len == 0 || address_len > CONS_GENESIS_ADDRESS_MAX ||
        !all_chars(v->address, address_len, is_address_char)) {
        return fail(err, err_size, DC_ERANGE, name, line,
                    "validator %u: address must be 1 to %d characters without spaces or quotes",
                    index, CONS_GENESIS_ADDRESS_MAX);
    }
    return 0;
}

static int check_duplicates(const struct cons_genesis *genesis, const struct lines *lines,
                            const char *name, char *err, size_t err_size)
{
    for (uint32_t i = 0; i < genesis->count; i++) {
        const struct cons_genesis_validator *v = &genesis->validators[i];
        int rc = check_texts(v, i, lines != NULL ? lines->validator[i] : 0, name, err, err_size);
        if (rc != 0) {
            return rc;
        }
        for (uint32_t j = 0; j < i; j++) {
            const struct cons_genesis_validator *w = &genesis->validators[j];
            uint32_t line = lines != NULL ? lines->validator[i] : 0;
            if (memcmp(v->public_key, w->public_key, CONS_PK_BYTES) == 0) {
                return fail(err, err_size, DC_EDUPLICATE, name, line,
                            "validator '%s' has the same public_key as validator '%s' "
                            "(each validator needs its own key)", v->name, w->name);
            }
            if (strcmp(v->name, w->name) == 0) {
                return fail(err, err_size, DC_EDUPLICATE, name, line,
                            "validator name '%s' is used twice", v->name);
            }
        }
    }
    return 0;
}

static int validate(const struct cons_genesis *genesis, const struct lines *lines,
                    const char *name, char *err, size_t err_size)
{
    uint32_t n = genesis->count;
    uint32_t quorum_line = lines != NULL ? lines->quorum : 0;
    size_t chain_len = strnlen(genesis->chain_id, sizeof(genesis->chain_id));
    if (chain_len == 0 || chain_len > CONS_CHAIN_ID_MAX ||
        !all_chars(genesis->chain_id, chain_len, is_name_char)) {
        return fail(err, err_size, DC_ERANGE, name, 0,
                    "chain_id must be 1 to %d letters, digits, '.', '_' or '-'",
                    CONS_CHAIN_ID_MAX);
    }
    if (n == 0) {
        return fail(err, err_size, DC_ECONFIG, name, 0,
                    "the validator set is empty: add at least one [[validators]] table");
    }
    if (n > CONS_VALIDATORS_MAX) {
        return fail(err, err_size, DC_ERANGE, name, 0, "%u validators, at most %d supported",
                    n, CONS_VALIDATORS_MAX);
    }
    uint32_t quorum_min = cons_valset_quorum_min(n);
    uint32_t f = cons_valset_faulty_max(n);
    if (genesis->required_confirmations < quorum_min) {
        return fail(err, err_size, DC_EQUORUM, name, quorum_line,
                    "required_confirmations = %u is below the safe quorum %u for %u validators "
                    "(2f+1 with f = %u faulty tolerated; fewer lets two conflicting blocks commit)",
                    genesis->required_confirmations, quorum_min, n, f);
    }
    if (genesis->required_confirmations > n) {
        return fail(err, err_size, DC_EQUORUM, name, quorum_line,
                    "required_confirmations = %u exceeds the %u validators: nothing could commit",
                    genesis->required_confirmations, n);
    }
    return check_duplicates(genesis, lines, name, err, err_size);
}

int cons_genesis_validate(const struct cons_genesis *genesis, const char *name, char *err,
                          size_t err_size)
{
    return validate(genesis, NULL, name, err, err_size);
}

/* ---- Parsing ---- */

/* A string value into `out` (size cap+1), 1..cap bytes, every byte accepted by `ok`. */
static int get_text(const struct conf_toml_entry *e, char *out, size_t cap, bool (*ok)(char),
                    const char *what, const char *name, char *err, size_t err_size)
{
    const struct conf_toml_value *v = e->value;
    if (v->type != CONF_TOML_STRING) {
        return fail(err, err_size, DC_ETYPE, name, e->line, "%s must be a string, not %s", what,
                    conf_toml_type_name(v->type));
    }
    if (v->as.string.len == 0 || v->as.string.len > cap ||
        !all_chars(v->as.string.bytes, v->as.string.len, ok)) {
        return fail(err, err_size, DC_ERANGE, name, e->line,
                    "%s must be 1 to %zu characters without spaces or quotes%s", what, cap,
                    ok == is_name_char ? " (letters, digits, '.', '_', '-')" : "");
    }
    memcpy(out, v->as.string.bytes, v->as.string.len);
    out[v->as.string.len] = '\0';
    return 0;
}

static int parse_validator(const struct conf_toml_value *table, uint32_t index,
                           struct cons_genesis_validator *v, const char *name, char *err,
                           size_t err_size)
{
    bool have_name = false, have_key = false, have_address = false;
    for (size_t i = 0; i < conf_toml_table_count(table); i++) {
        const struct conf_toml_entry *e = conf_toml_table_at(table, i);
        int rc = 0;
        if (strcmp(e->key, "name") == 0) {
            rc = get_text(e, v->name, CONS_GENESIS_NAME_MAX, is_name_char, "name", name, err,
                          err_size);
            have_name = true;
        } else if (strcmp(e->key, "address") == 0) {
            rc = get_text(e, v->address, CONS_GENESIS_ADDRESS_MAX, is_address_char, "address",
                          name, err, err_size);
            have_address = true;
        } else if (strcmp(e->key, "public_key") == 0) {
            const struct conf_toml_value *k = e->value;
            if (k->type != CONF_TOML_STRING ||
                unhex(k->as.string.bytes, k->as.string.len, v->public_key, CONS_PK_BYTES) != 0) {
                return fail(err, err_size, DC_EMALFORMED, name, e->line,
                            "public_key of validator %u must be a string of 64 hex digits", index);
            }
            have_key = true;
        } else {
            return fail(err, err_size, DC_EUNKNOWNKEY, name, e->line,
                        "unknown key '%s' in [[validators]] (known: name, public_key, address)",
                        e->key);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (!have_name || !have_key || !have_address) {
        return fail(err, err_size, DC_ENOTFOUND, name, table->line,
                    "validator %u lacks '%s' (each needs name, public_key and address)", index,
                    !have_name ? "name" : !have_key ? "public_key" : "address");
    }
    return 0;
}

static int parse_validators(const struct conf_toml_entry *e, struct cons_genesis *genesis,
                            struct lines *lines, const char *name, char *err, size_t err_size)
{
    const struct conf_toml_value *array = e->value;
    if (array->type != CONF_TOML_ARRAY) {
        return fail(err, err_size, DC_ETYPE, name, e->line,
                    "validators must be an array of tables ([[validators]]), not %s",
                    conf_toml_type_name(array->type));
    }
    size_t count = conf_toml_array_count(array);
    if (count > CONS_VALIDATORS_MAX) {
        return fail(err, err_size, DC_ERANGE, name, e->line,
                    "%zu validators, at most %d supported", count, CONS_VALIDATORS_MAX);
    }
    for (size_t i = 0; i < count; i++) {
        const struct conf_toml_value *table = conf_toml_array_at(array, i);
        if (table->type != CONF_TOML_TABLE) {
            return fail(err, err_size, DC_ETYPE, name, table->line,
                        "validators[%zu] must be a table, not %s", i,
                        conf_toml_type_name(table->type));
        }
        lines->validator[i] = table->line;
        int rc = parse_validator(table, (uint32_t)i, &genesis->validators[i], name, err,
                                 err_size);
        if (rc != 0) {
            return rc;
        }
    }
    genesis->count = (uint32_t)count;
    return 0;
}

static int parse_quorum(const struct conf_toml_entry *e, struct cons_genesis *genesis,
                        const char *name, char *err, size_t err_size)
{
    if (e->value->type != CONF_TOML_INTEGER) {
        return fail(err, err_size, DC_ETYPE, name, e->line,
                    "required_confirmations must be an integer, not %s",
                    conf_toml_type_name(e->value->type));
    }
    int64_t q = e->value->as.integer;
    if (q < 1 || q > CONS_VALIDATORS_MAX) {
        return fail(err, err_size, DC_ERANGE, name, e->line,
                    "required_confirmations = %lld is out of range 1..%d", (long long)q,
                    CONS_VALIDATORS_MAX);
    }
    genesis->required_confirmations = (uint32_t)q;
    return 0;
}

static int parse_root(const struct conf_toml_value *root, struct cons_genesis *genesis,
                      struct lines *lines, const char *name, char *err, size_t err_size)
{
    bool have_chain = false, have_quorum = false;
    for (size_t i = 0; i < conf_toml_table_count(root); i++) {
        const struct conf_toml_entry *e = conf_toml_table_at(root, i);
        int rc;
        if (strcmp(e->key, "chain_id") == 0) {
            rc = get_text(e, genesis->chain_id, CONS_CHAIN_ID_MAX, is_name_char, "chain_id",
                          name, err, err_size);
            have_chain = true;
        } else if (strcmp(e->key, "required_confirmations") == 0) {
            rc = parse_quorum(e, genesis, name, err, err_size);
            lines->quorum = e->line;
            have_quorum = true;
        } else if (strcmp(e->key, "validators") == 0) {
            rc = parse_validators(e, genesis, lines, name, err, err_size);
        } else {
            rc = fail(err, err_size, DC_EUNKNOWNKEY, name, e->line,
                      "unknown key '%s' (known: chain_id, required_confirmations, validators)",
                      e->key);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (!have_chain || !have_quorum) {
        return fail(err, err_size, DC_ENOTFOUND, name, 0, "missing %s",
                    !have_chain ? "chain_id" : "required_confirmations");
    }
    return 0;
}

int cons_genesis_parse(struct cons_genesis *genesis, const char *text, size_t len,
                       const char *name, char *err, size_t err_size)
{
    memset(genesis, 0, sizeof(*genesis));
    struct conf_toml_doc doc;
    struct conf_toml_error terr;
    int rc = conf_toml_parse(&doc, text, len, name, &terr);
    if (rc != 0) {
        if (err != NULL && err_size > 0) {
            snprintf(err, err_size, "%s", terr.message);
        }
        conf_toml_fini(&doc);
        return rc;
    }
    struct lines lines;
    memset(&lines, 0, sizeof(lines));
    rc = parse_root(&doc.root, genesis, &lines, name, err, err_size);
    conf_toml_fini(&doc);
    if (rc == 0) {
        rc = validate(genesis, &lines, name, err, err_size);
    }
    return rc;
}

int cons_genesis_load(struct cons_genesis *genesis, const char *path, char *err, size_t err_size)
{
    memset(genesis, 0, sizeof(*genesis));
    FILE *in = fopen(path, "rb");
    if (in == NULL) {
        int rc = -errno;
        return fail(err, err_size, rc, path, 0, "cannot open: %s", strerror(-rc));
    }
    char *text = dc_alloc(GENESIS_BYTES_MAX + 1);
    if (text == NULL) {
        fclose(in);
        return fail(err, err_size, -ENOMEM, path, 0, "out of memory");
    }
    size_t len = fread(text, 1, GENESIS_BYTES_MAX + 1, in);
    int rc = 0;
    if (ferror(in)) {
        rc = fail(err, err_size, -EIO, path, 0, "cannot read");
    } else if (len > GENESIS_BYTES_MAX) {
        rc = fail(err, err_size, DC_ETOOBIG, path, 0, "larger than %u bytes", GENESIS_BYTES_MAX);
    } else {
        rc = cons_genesis_parse(genesis, text, len, path, err, err_size);
    }
    fclose(in);
    dc_free(text);
    return rc;
}

/* ---- Writing ---- */

static void write_body(FILE *out, const struct cons_genesis *genesis)
{
    fprintf(out,
            "# dchat genesis: the chain's identity and its validators.\n"
            "# Every validator must run with this same file (its hash starts the chain).\n"
            "chain_id = \"%s\"\n"
            "# commit quorum: at least floor(2n/3)+1, i.e. 2f+1 when n = 3f+1\n"
            "required_confirmations = %u\n",
            genesis->chain_id, genesis->required_confirmations);
    for (uint32_t i = 0; i < genesis->count; i++) {
        const struct cons_genesis_validator *v = &genesis->validators[i];
        char hex[2 * CONS_PK_BYTES + 1];
        sodium_bin2hex(hex, sizeof(hex), v->public_key, CONS_PK_BYTES);
        fprintf(out,
                "\n[[validators]]\n"
                "name = \"%s\"\n"
                "public_key = \"%s\"\n"
                "address = \"%s\"\n",
                v->name, hex, v->address);
    }
}

int cons_genesis_write(const struct cons_genesis *genesis, const char *path)
{
    if (validate(genesis, NULL, path, NULL, 0) != 0) {
        return DC_ECONFIG; /* never write a file that cons_genesis_load would refuse */
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    FILE *out = fdopen(fd, "w");
    if (out == NULL) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    write_body(out, genesis);
    int rc = 0;
    if (fflush(out) != 0 || fsync(fd) != 0) {
        rc = -errno;
    }
    if (fclose(out) != 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
}

/* ---- What consensus uses ---- */

int cons_genesis_valset(const struct cons_genesis *genesis, struct cons_valset *set)
{
    uint8_t keys[CONS_VALIDATORS_MAX][CONS_PK_BYTES];
    if (genesis->count > CONS_VALIDATORS_MAX) {
        return DC_ETOOBIG;
    }
    for (uint32_t i = 0; i < genesis->count; i++) {
        memcpy(keys[i], genesis->validators[i].public_key, CONS_PK_BYTES);
    }
    return cons_valset_init(set, (const uint8_t(*)[CONS_PK_BYTES])keys, genesis->count,
                            genesis->required_confirmations);
}

static void put_u32(uint8_t out[4], uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(v >> (8 * i));
    }
}

void cons_genesis_hash(const struct cons_genesis *genesis, uint8_t hash_out[CONS_HASH_BYTES])
{
    crypto_generichash_state st;
    uint8_t u32[4];
    size_t chain_len = strnlen(genesis->chain_id, CONS_CHAIN_ID_MAX);
    uint8_t len8 = (uint8_t)chain_len;
    crypto_generichash_init(&st, NULL, 0, CONS_HASH_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)HASH_DOMAIN, sizeof(HASH_DOMAIN));
    crypto_generichash_update(&st, &len8, 1);
    crypto_generichash_update(&st, (const uint8_t *)genesis->chain_id, chain_len);
    put_u32(u32, genesis->required_confirmations);
    crypto_generichash_update(&st, u32, sizeof(u32));
    put_u32(u32, genesis->count);
    crypto_generichash_update(&st, u32, sizeof(u32));
    for (uint32_t i = 0; i < genesis->count && i < CONS_VALIDATORS_MAX; i++) {
        crypto_generichash_update(&st, genesis->validators[i].public_key, CONS_PK_BYTES);
    }
    crypto_generichash_final(&st, hash_out, CONS_HASH_BYTES);
}
