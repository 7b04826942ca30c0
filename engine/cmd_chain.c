/*
 * dchat genesis --validators N --out DIR   keys and genesis for a local network
 * dchat chain verify --data-dir DIR [--genesis FILE]   check every stored block and certificate
 *
 * Exit status: 0 done, 1 the work failed (files exist, damaged chain), 2 bad command line.
 */
#include "engine/cmd.h"
#include "engine/key.h"

#include "common/dc_err.h"
#include "consensus/genesis.h"
#include "consensus/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GENESIS_USAGE                                                          \
    "usage: dchat genesis --validators N --out DIR [--chain-id ID] [--host HOST] "     \
    "[--base-port PORT]"
#define CHAIN_USAGE "usage: dchat chain verify --data-dir DIR [--genesis FILE]"

struct genesis_args {
    long validators;
    const char *out;
    const char *chain_id;
    const char *host;
    long base_port;
};

/* A whole number in [min, max], or -1. */
static long parse_count(const char *text, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        return -1;
    }
    return value;
}

static void genesis_help(void)
{
    printf("%s\n"
           "Writes DIR/validator<i>.key (i = 1..N, fresh random Ed25519 keys, mode 0600) and\n"
           "DIR/genesis.toml naming them, for a local network. N is 1..%d; the genesis asks\n"
           "for the smallest safe quorum floor(2N/3)+1 confirmations, which is 2f+1 for\n"
           "N = 3f+1 (3 of 4). N < 4 tolerates no faulty validator. Validator i's address is\n"
           "HOST:(PORT+i-1), default 127.0.0.1:9000. Existing files are never overwritten.\n",
           GENESIS_USAGE, CONS_VALIDATORS_MAX);
}

/* 0 parsed, 1 --help printed, 2 usage error printed. */
static int genesis_parse(int argc, char **argv, struct genesis_args *args)
{
    *args = (struct genesis_args){ .validators = -1, .chain_id = "dchat-local",
                                   .host = "127.0.0.1", .base_port = 9000 };
    /* Every flag takes a value: step over both at once. */
    for (int i = 1; i < argc; i += 2) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            genesis_help();
            return 1;
        }
        if (value == NULL) {
            fprintf(stderr, "dchat genesis: unexpected argument '%s' (%s)\n", flag,
                    GENESIS_USAGE);
            return 2;
        }
        if (strcmp(flag, "--validators") == 0) {
            args->validators = parse_count(value, 1, CONS_VALIDATORS_MAX);
            if (args->validators < 0) {
                fprintf(stderr, "dchat genesis: --validators '%s' must be a whole number from 1 "
                                "to %d\n", value, CONS_VALIDATORS_MAX);
                return 2;
            }
        } else if (strcmp(flag, "--out") == 0) {
            args->out = value;
        } else if (strcmp(flag, "--chain-id") == 0) {
            args->chain_id = value;
        } else if (strcmp(flag, "--host") == 0) {
            args->host = value;
        } else if (strcmp(flag, "--base-port") == 0) {
            args->base_port = parse_count(value, 1, 65535);
            if (args->base_port < 0) {
                fprintf(stderr, "dchat genesis: --base-port '%s' must be a port 1..65535\n",
                        value);
                return 2;
            }
        } else {
            fprintf(stderr, "dchat genesis: unknown flag '%s' (%s)\n", flag, GENESIS_USAGE);
            return 2;
        }
    }
    if (args->validators < 0 || args->out == NULL) {
        fprintf(stderr, "dchat genesis: %s is required (%s)\n",
                args->validators < 0 ? "--validators N" : "--out DIR", GENESIS_USAGE);
        return 2;
    }
    if (args->host[0] == '\0' || strpbrk(args->host, " \t\"\\") != NULL) {
        fprintf(stderr, "dchat genesis: --host '%s' must be a host name or address without "
                        "spaces or quotes\n", args->host);
        return 2;
    }
    if (args->base_port + args->validators - 1 > 65535) {
        fprintf(stderr, "dchat genesis: ports %ld..%ld run past 65535\n", args->base_port,
                args->base_port + args->validators - 1);
        return 2;
    }
    return 0;
}

/* mkdir -p: every missing parent, then the directory itself. 0 or -errno. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        return -ENAMETOOLONG;
    }
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            return -errno;
        }
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        return -errno;
    }
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int key_path(char *out, size_t size, const char *dir, long index)
{
    int n = snprintf(out, size, "%s/validator%ld.key", dir, index);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Refuse before writing anything when any target exists: no half-overwritten network. */
static int genesis_targets_free(const struct genesis_args *args, const char *genesis_path)
{
    char path[PATH_MAX];
    for (long i = 1; i <= args->validators + 1; i++) {
        const char *target = path;
        if (i > args->validators) {
            target = genesis_path;
        } else if (key_path(path, sizeof(path), args->out, i) != 0) {
            fprintf(stderr, "dchat genesis: --out '%s' is too long a path\n", args->out);
            return 1;
        }
        if (access(target, F_OK) == 0) {
            fprintf(stderr, "dchat genesis: '%s' already exists; refusing to overwrite it "
                            "(use an empty --out directory)\n", target);
            return 1;
        }
    }
    return 0;
}

/* Make the keys and fill the genesis with them. 0 or 1 (error printed). */
static int genesis_write_keys(const struct genesis_args *args, struct cons_genesis *genesis)
{
    for (long i = 1; i <= args->validators; i++) {
        struct cons_genesis_validator *v = &genesis->validators[i - 1];
        char path[PATH_MAX];
        struct eng_key key;
        int rc = key_path(path, sizeof(path), args->out, i);
        if (rc == 0) {
            rc = eng_key_generate(&key);
        }
        if (rc == 0) {
            rc = eng_key_save(&key, path);
        }
        if (rc != 0) {
            fprintf(stderr, "dchat genesis: cannot write '%s': %s\n", path,
                    rc == -EEXIST ? "file exists (refusing to overwrite a key)"
                                  : dc_strerror(rc));
            return 1;
        }
        memcpy(v->public_key, key.pk, CONS_PK_BYTES);
        snprintf(v->name, sizeof(v->name), "validator%ld", i);
        snprintf(v->address, sizeof(v->address), "%s:%ld", args->host, args->base_port + i - 1);
        char id_hex[2 * ENG_KEY_ID_BYTES + 1];
        eng_hex(key.id, ENG_KEY_ID_BYTES, id_hex);
        printf("wrote %s (node id %s)\n", path, id_hex);
        genesis->count++;
    }
    return 0;
}

int eng_cmd_genesis(int argc, char **argv)
{
    struct genesis_args args;
    int rc = genesis_parse(argc, argv, &args);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    static struct cons_genesis genesis;
    memset(&genesis, 0, sizeof(genesis));
    char err[CONS_GENESIS_ERROR_BYTES];
    if (strlen(args.chain_id) >= sizeof(genesis.chain_id)) {
        fprintf(stderr, "dchat genesis: --chain-id is longer than %d bytes\n",
                CONS_CHAIN_ID_MAX);
        return 2;
    }
    snprintf(genesis.chain_id, sizeof(genesis.chain_id), "%s", args.chain_id);
    genesis.required_confirmations = cons_valset_quorum_min((uint32_t)args.validators);
    /* Check the flags' share of the genesis before any file exists (fake keys, right count). */
    struct cons_genesis probe = genesis;
    probe.count = (uint32_t)args.validators;
    for (uint32_t i = 0; i < probe.count; i++) {
        probe.validators[i].public_key[0] = (uint8_t)i;
        snprintf(probe.validators[i].name, sizeof(probe.validators[i].name), "v%u", i);
        snprintf(probe.validators[i].address, sizeof(probe.validators[i].address), "%s:1",
                 args.host);
    }
    if (cons_genesis_validate(&probe, "dchat genesis", err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rc = make_dirs(args.out);
    if (rc != 0) {
        fprintf(stderr, "dchat genesis: cannot create directory '%s': %s\n", args.out,
                dc_strerror(rc));
        return 1;
    }
    char genesis_path[PATH_MAX];
    snprintf(genesis_path, sizeof(genesis_path), "%s/%s", args.out, CONS_GENESIS_FILE_NAME);
    if (genesis_targets_free(&args, genesis_path) != 0 ||
        genesis_write_keys(&args, &genesis) != 0) {
        return 1;
    }
    rc = cons_genesis_write(&genesis, genesis_path);
    if (rc != 0) {
        fprintf(stderr, "dchat genesis: cannot write '%s': %s\n", genesis_path, dc_strerror(rc));
        return 1;
    }
    printf("wrote %s (chain %s, %u validator%s, required_confirmations %u, tolerates %u "
           "faulty)\n", genesis_path, genesis.chain_id, genesis.count,
           genesis.count == 1 ? "" : "s", genesis.required_confirmations,
           cons_valset_faulty_max(genesis.count));
    return 0;
}

/* ---- dchat chain verify ---- */

static int chain_verify_parse(int argc, char **argv, const char **data_dir, const char **genesis)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\nChecks the block store in DIR (%s*%s segments, %s): every record's\n"
                   "checksum, contiguous heights, each block's link to the one before (block 1\n"
                   "to the genesis hash), and every commit certificate against the genesis\n"
                   "validators, pruned heights by their kept headers. The genesis is\n"
                   "DIR/%s unless --genesis names another file. Prints the height and head\n"
                   "hash; exits 1 naming the first bad height. Then checks DIR/%s, if any:\n"
                   "a torn last record is reported (the validator cuts it on start), damage\n"
                   "before its end fails.\n",
                   CHAIN_USAGE, CONS_STORE_SEGMENT_PREFIX, CONS_STORE_SEGMENT_SUFFIX,
                   CONS_STORE_PRUNED_FILE_NAME, CONS_GENESIS_FILE_NAME,
                   CONS_WAL_VOTES_FILE_NAME);
            return 1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "dchat chain verify: unexpected argument '%s' (%s)\n", argv[i],
                    CHAIN_USAGE);
            return 2;
        }
        if (strcmp(argv[i], "--data-dir") == 0) {
            *data_dir = argv[++i];
        } else if (strcmp(argv[i], "--genesis") == 0) {
            *genesis = argv[++i];
        } else {
            fprintf(stderr, "dchat chain verify: unknown flag '%s' (%s)\n", argv[i], CHAIN_USAGE);
            return 2;
        }
    }
    if (*data_dir == NULL) {
        fprintf(stderr, "dchat chain verify: --data-dir DIR is required (%s)\n", CHAIN_USAGE);
        return 2;
    }
    return 0;
}

/* Open the store in `data_dir` read-only and verify it against `genesis`. Exit status. */
static int chain_verify_store(const char *data_dir, const struct cons_genesis *genesis,
                              const struct cons_valset *set)
{
    static struct cons_dir_fs dir;
    int rc = cons_dir_fs_open(&dir, data_dir, CONS_DISK_READONLY);
    if (rc != 0) {
        fprintf(stderr, "dchat chain verify: cannot open the data directory '%s': %s\n",
                data_dir, dc_strerror(rc));
        return 1;
    }
    struct cons_store store;
    struct cons_store_problem problem = { 0 };
    struct cons_store_config config = { .flags = CONS_STORE_READONLY };
    uint8_t genesis_hash[CONS_HASH_BYTES];
    cons_genesis_hash(genesis, genesis_hash);
    rc = cons_store_open(&store, cons_dir_fs_dir(&dir), &config, &problem);
    int opened = rc == 0;
    if (rc == 0) {
        rc = cons_store_verify(&store, set, genesis->chain_id, genesis_hash, &problem);
    }
    if (rc != 0) {
        if (problem.why[0] == '\0') {
            snprintf(problem.why, sizeof(problem.why), "%s", dc_strerror(rc));
        }
        if (problem.height > 0) {
            fprintf(stderr, "dchat chain verify: %s/%s: height %llu: %s\n", data_dir,
                    problem.file, (unsigned long long)problem.height, problem.why);
        } else {
            fprintf(stderr, "dchat chain verify: %s/%s: %s\n", data_dir, problem.file,
                    problem.why);
        }
    } else {
        char hash_hex[2 * CONS_HASH_BYTES + 1];
        uint64_t height = cons_store_height(&store);
        uint64_t pruned = cons_store_oldest(&store) - 1;
        eng_hex(cons_store_head_hash(&store), CONS_HASH_BYTES, hash_hex);
        printf("chain %s: height %llu, head hash %s (%llu blocks and certificates verified "
               "against %u validators", genesis->chain_id, (unsigned long long)height,
               height > 0 ? hash_hex : "none", (unsigned long long)(height - pruned), set->count);
        if (pruned > 0) {
            printf("; heights 1..%llu pruned, their headers and certificates verified",
                   (unsigned long long)pruned);
        }
        printf("; %u segment%s, %llu bytes)\n", cons_store_segment_count(&store),
               cons_store_segment_count(&store) == 1 ? "" : "s",
               (unsigned long long)cons_store_bytes(&store));
    }
    if (opened) {
        cons_store_fini(&store);
    }
    cons_dir_fs_close(&dir);
    return rc == 0 ? 0 : 1;
}

/*
 * The vote WAL beside the store, when there is one: intact, a torn tail (normal after a
 * crash: the validator cuts it on start) or damage before its end (the validator will refuse
 * to start). Exit status.
 */
static int chain_verify_wal(const char *data_dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", data_dir, CONS_WAL_VOTES_FILE_NAME);
    struct cons_disk_file file;
    int rc = cons_disk_file_open(&file, path, CONS_DISK_READONLY);
    if (rc == -ENOENT) {
        return 0; /* a relay, or a validator that never voted */
    }
    if (rc != 0) {
        fprintf(stderr, "dchat chain verify: cannot open '%s': %s\n", path, dc_strerror(rc));
        return 1;
    }
    static uint8_t buffer[CONS_WAL_RECORD_OVERHEAD_BYTES];
    struct cons_wal_config config = { .kind = CONS_WAL_KIND_VOTES,
                                      .payload_bytes_max = CONS_STORE_PAYLOAD_BYTES_MAX,
                                      .buffer = buffer, .buffer_bytes = sizeof(buffer),
                                      .flags = CONS_WAL_STRICT, .first_seq = 1 };
    struct cons_wal wal;
    struct cons_wal_report report;
    rc = cons_wal_open(&wal, cons_disk_file_disk(&file), &config, &report);
    cons_disk_file_close(&file);
    if (rc == 0) {
        printf("%s: %llu vote records, intact\n", path, (unsigned long long)report.records);
        return 0;
    }
    if (rc == DC_ECORRUPT && report.torn_tail) {
        printf("%s: %llu whole vote records, then a torn last record (%s at byte offset %llu; "
               "the validator cuts it when it starts)\n", path,
               (unsigned long long)report.records, report.why,
               (unsigned long long)report.bad_offset);
        return 0;
    }
    fprintf(stderr, "dchat chain verify: %s: damaged before its end (record seq %llu: %s at "
            "byte offset %llu); the validator will refuse to start (docs/OPERATIONS.md)\n",
            path, (unsigned long long)report.bad_seq,
            report.why != NULL ? report.why : dc_strerror(rc),
            (unsigned long long)report.bad_offset);
    return 1;
}

int eng_cmd_chain(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            printf("%s\n", CHAIN_USAGE);
            return 0;
        }
        if (argc < 2) {
            fprintf(stderr, "dchat chain: missing subcommand (%s)\n", CHAIN_USAGE);
        } else {
            fprintf(stderr, "dchat chain: unknown subcommand '%s' (%s)\n", argv[1], CHAIN_USAGE);
        }
        return 2;
    }
    const char *data_dir = NULL;
    const char *genesis_path = NULL;
    int rc = chain_verify_parse(argc, argv, &data_dir, &genesis_path);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    char default_genesis[PATH_MAX];
    snprintf(default_genesis, sizeof(default_genesis), "%s/%s", data_dir, CONS_GENESIS_FILE_NAME);
    if (genesis_path == NULL) {
        genesis_path = default_genesis;
    }
    static struct cons_genesis genesis;
    static struct cons_valset set;
    char err[CONS_GENESIS_ERROR_BYTES];
    rc = cons_genesis_load(&genesis, genesis_path, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "dchat chain verify: %s\n", err);
        return 1;
    }
    rc = cons_genesis_valset(&genesis, &set);
    if (rc != 0) {
        fprintf(stderr, "dchat chain verify: %s: %s\n", genesis_path, dc_strerror(rc));
        return 1;
    }
    rc = chain_verify_store(data_dir, &genesis, &set);
    return rc != 0 ? rc : chain_verify_wal(data_dir);
}
