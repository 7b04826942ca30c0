#include "engine/key.h"

#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void temp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "/tmp/dchat-test-key-%d-%s", (int)getpid(), name);
    unlink(buf);
}

Test(eng_key, save_then_load_round_trips_with_mode_0600)
{
    char path[128];
    temp_path(path, sizeof(path), "a");
    struct eng_key a, b;
    cr_assert_eq(eng_key_generate(&a), 0);
    cr_assert_eq(eng_key_save(&a, path), 0);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(eng_key_load(&b, path, NULL, 0), 0);
    cr_assert_eq(memcmp(a.pk, b.pk, sizeof(a.pk)), 0);
    cr_assert_eq(memcmp(a.sk, b.sk, sizeof(a.sk)), 0);
    cr_assert_eq(memcmp(a.id, b.id, sizeof(a.id)), 0);
    cr_assert_eq(eng_key_save(&a, path), -EEXIST, "never overwrites a key");
    unlink(path);
}

Test(eng_key, rejects_garbage_and_mismatched_keys)
{
    char path[128];
    char why[128];
    struct eng_key k;
    temp_path(path, sizeof(path), "b");
    FILE *f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    cr_assert_eq(eng_key_load(&k, path, why, sizeof(why)), DC_EMALFORMED);
    unlink(path);

    struct eng_key a, b;
    eng_key_generate(&a);
    eng_key_generate(&b);
    char pk[65], seed[65];
    eng_hex(b.pk, 32, pk);
    eng_hex(a.sk, 32, seed);
    f = fopen(path, "w");
    fprintf(f, "public_key = \"%s\"\nsecret_seed = \"%s\"\n", pk, seed);
    fclose(f);
    cr_assert_eq(eng_key_load(&k, path, why, sizeof(why)), DC_ECONFLICT);
    unlink(path);
    cr_assert_eq(eng_key_load(&k, "/nonexistent/key", why, sizeof(why)), -ENOENT);
}

Test(eng_key, hex_round_trip_and_rejects_bad_digits)
{
    uint8_t in[4] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
    char hex[9];
    eng_hex(in, 4, hex);
    cr_assert_str_eq(hex, "00ab7fff");
    cr_assert_eq(eng_unhex(hex, out, 4), 0);
    cr_assert_eq(memcmp(in, out, 4), 0);
    cr_assert_eq(eng_unhex("00ab7ffg", out, 4), DC_EMALFORMED);
    cr_assert_eq(eng_unhex("00ab7f", out, 4), DC_EMALFORMED);
    cr_assert_eq(eng_unhex("00ab7fff00", out, 4), DC_EMALFORMED);
}
