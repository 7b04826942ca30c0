#include "consensus/genesis.h"

#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define K2 "2222222222222222222222222222222222222222222222222222222222222222"
#define K3 "3333333333333333333333333333333333333333333333333333333333333333"
#define K4 "44444444444444444444444444444444444444444444444444444444444444AA"

#define VAL(n, k, a)                                                           \
    "\n[[validators]]\nname = \"" n "\"\npublic_key = \"" k "\"\naddress = \"" a "\"\n"
#define FOUR VAL("v1", K1, "127.0.0.1:9001") VAL("v2", K2, "127.0.0.1:9002") \
             VAL("v3", K3, "/ip4/127.0.0.1/udp/9003") VAL("v4", K4, "[::1]:9004")

static struct cons_genesis genesis;
static char err[CONS_GENESIS_ERROR_BYTES];

static int parse(const char *text)
{
    err[0] = '\0';
    return cons_genesis_parse(&genesis, text, strlen(text), "g.toml", err, sizeof(err));
}

Test(cons_genesis, a_valid_genesis_loads)
{
    cr_assert_eq(parse("chain_id = \"dchat-test\"\nrequired_confirmations = 3\n" FOUR), 0, "%s",
                 err);
    cr_assert_str_eq(genesis.chain_id, "dchat-test");
    cr_assert_eq(genesis.required_confirmations, 3);
    cr_assert_eq(genesis.count, 4);
    cr_assert_str_eq(genesis.validators[2].name, "v3");
    cr_assert_str_eq(genesis.validators[2].address, "/ip4/127.0.0.1/udp/9003");
    cr_assert_eq(genesis.validators[3].public_key[31], 0xaa);
    struct cons_valset set;
    cr_assert_eq(cons_genesis_valset(&genesis, &set), 0);
    cr_assert_eq(set.count, 4);
    cr_assert_eq(set.quorum, 3);
}

Test(cons_genesis, unsafe_quorums_are_refused_with_the_numbers)
{
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 2\n" FOUR), DC_EQUORUM);
    cr_assert(strstr(err, "g.toml:2: required_confirmations = 2 is below the safe quorum 3 "
                          "for 4 validators") != NULL, "%s", err);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 5\n" FOUR), DC_EQUORUM);
    cr_assert(strstr(err, "exceeds the 4 validators") != NULL, "%s", err);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 4\n" FOUR), 0,
                 "more than 2f+1 is safe (and slower to commit)");
}

Test(cons_genesis, an_empty_set_is_refused)
{
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 1\n"), DC_ECONFIG);
    cr_assert(strstr(err, "validator set is empty") != NULL, "%s", err);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 1\nvalidators = []\n"),
                 DC_ECONFIG);
}

Test(cons_genesis, duplicate_keys_and_names_are_refused)
{
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 3\n" VAL("a", K1, "x:1")
                       VAL("b", K2, "x:2") VAL("c", K1, "x:3") VAL("d", K4, "x:4")),
                 DC_EDUPLICATE);
    cr_assert(strstr(err, "validator 'c' has the same public_key as validator 'a'") != NULL,
              "%s", err);
    cr_assert(strncmp(err, "g.toml:14:", 10) == 0, "points at the table: %s", err);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 2\n" VAL("a", K1, "x:1")
                       VAL("a", K2, "x:2")), DC_EDUPLICATE);
    cr_assert(strstr(err, "name 'a' is used twice") != NULL, "%s", err);
}

Test(cons_genesis, each_bad_field_gets_its_own_line)
{
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 1\nvalidatorz = 1\n"),
                 DC_EUNKNOWNKEY);
    cr_assert(strstr(err, "g.toml:3: unknown key 'validatorz'") != NULL, "%s", err);
    cr_assert_eq(parse("required_confirmations = 1\n" VAL("a", K1, "x:1")), DC_ENOTFOUND);
    cr_assert(strstr(err, "missing chain_id") != NULL, "%s", err);
    cr_assert_eq(parse("chain_id = \"has space\"\nrequired_confirmations = 1\n"), DC_ERANGE);
    cr_assert_eq(parse("chain_id = 7\nrequired_confirmations = 1\n"), DC_ETYPE);
    cr_assert(strstr(err, "chain_id must be a string, not integer") != NULL, "%s", err);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = \"3\"\n"), DC_ETYPE);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = -1\n"), DC_ERANGE);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 1\n" VAL("a", "abc", "x:1")),
                 DC_EMALFORMED);
    cr_assert(strstr(err, "64 hex digits") != NULL, "%s", err);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 1\n[[validators]]\n"
                       "name = \"a\"\npublic_key = \"" K1 "\"\n"), DC_ENOTFOUND);
    cr_assert(strstr(err, "lacks 'address'") != NULL, "%s", err);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 1\n" VAL("a", K1, "x:1")
                       "port = 5\n"), DC_EUNKNOWNKEY);
    cr_assert_eq(parse("chain_id = \"c\"\nrequired_confirmations = 1\nvalidators = 3\n"),
                 DC_ETYPE);
    cr_assert_eq(parse("chain_id = \"c\n"), DC_EMALFORMED, "TOML errors come through");
    cr_assert(strncmp(err, "g.toml:1:", 9) == 0, "%s", err);
}

Test(cons_genesis, write_then_load_round_trips_and_never_overwrites)
{
    cr_assert_eq(parse("chain_id = \"dchat-rt\"\nrequired_confirmations = 3\n" FOUR), 0);
    struct cons_genesis written = genesis;
    char path[128];
    snprintf(path, sizeof(path), "/tmp/dchat-test-genesis-%d.toml", (int)getpid());
    unlink(path);
    cr_assert_eq(cons_genesis_write(&written, path), 0);
    cr_assert_eq(cons_genesis_write(&written, path), -EEXIST);
    cr_assert_eq(cons_genesis_load(&genesis, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(memcmp(&genesis, &written, sizeof(genesis)), 0);
    unlink(path);
    cr_assert_eq(cons_genesis_load(&genesis, path, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
    written.required_confirmations = 1;
    cr_assert_eq(cons_genesis_write(&written, path), DC_ECONFIG, "never writes a bad genesis");
    cr_assert_eq(access(path, F_OK), -1);
}

Test(cons_genesis, the_hash_covers_chain_quorum_and_keys_but_not_addresses)
{
    cr_assert_eq(parse("chain_id = \"dchat-h\"\nrequired_confirmations = 3\n" FOUR), 0);
    uint8_t a[CONS_HASH_BYTES], b[CONS_HASH_BYTES];
    cons_genesis_hash(&genesis, a);
    struct cons_genesis copy = genesis;
    snprintf(copy.validators[0].address, sizeof(copy.validators[0].address), "10.0.0.1:1");
    cons_genesis_hash(&copy, b);
    cr_assert_eq(memcmp(a, b, sizeof(a)), 0);
    copy.validators[1].public_key[0] ^= 1;
    cons_genesis_hash(&copy, b);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    copy = genesis;
    copy.required_confirmations = 4;
    cons_genesis_hash(&copy, b);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    copy = genesis;
    copy.chain_id[0] = 'e';
    cons_genesis_hash(&copy, b);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
}
