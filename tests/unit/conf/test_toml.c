/* conf/toml.c: the API on top of the toml-test conformance run (toml_test.py). */
#include "conf/toml.h"

#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(struct conf_toml_doc *doc, const char *text, struct conf_toml_error *err)
{
    return conf_toml_parse(doc, text, strlen(text), "t.toml", err);
}

Test(conf_toml, values_and_dotted_lookup)
{
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    const char *text = "title = \"dchat\"\n"
                       "[consensus]\n"
                       "required_confirmations = 3 # comment\n"
                       "ratio = 0.5\n"
                       "on = true\n"
                       "[a.b]\n"
                       "c.d = 1979-05-27T07:32:00.25-07:00\n";
    cr_assert_eq(parse(&doc, text, &err), 0, "%s", err.message);
    const char *s = NULL;
    int64_t i = 0;
    double f = 0;
    bool b = false;
    cr_assert_eq(conf_toml_get_string(&doc.root, "title", &s), 0);
    cr_assert_str_eq(s, "dchat");
    cr_assert_eq(conf_toml_get_int(&doc.root, "consensus.required_confirmations", &i), 0);
    cr_assert_eq(i, 3);
    cr_assert_eq(conf_toml_get_float(&doc.root, "consensus.ratio", &f), 0);
    cr_assert_float_eq(f, 0.5, 1e-12);
    cr_assert_eq(conf_toml_get_bool(&doc.root, "consensus.on", &b), 0);
    cr_assert(b);
    cr_assert_eq(conf_toml_get_int(&doc.root, "title", &i), DC_ETYPE);
    cr_assert_eq(conf_toml_get_int(&doc.root, "consensus.nope", &i), DC_ENOTFOUND);
    cr_assert_null(conf_toml_get(&doc.root, "title.x"));
    const struct conf_toml_value *dt = conf_toml_get(&doc.root, "a.b.c.d");
    cr_assert_not_null(dt);
    cr_assert_eq(dt->type, CONF_TOML_DATETIME);
    cr_assert_eq(dt->as.datetime.offset_minutes, -7 * 60);
    cr_assert_eq(dt->as.datetime.nanosecond, 250000000u);
    char buf[64];
    conf_toml_datetime_format(dt, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1979-05-27T07:32:00.25-07:00");
    conf_toml_fini(&doc);
    conf_toml_fini(&doc); /* idempotent */
}

Test(conf_toml, positions_and_iteration_order)
{
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    cr_assert_eq(parse(&doc, "\n[net]\n  zeta = 1\n  alpha = [1,\n    2]\n", &err), 0);
    const struct conf_toml_value *net = conf_toml_get(&doc.root, "net");
    cr_assert_eq(net->line, 2);
    cr_assert_eq(conf_toml_table_count(net), 2);
    const struct conf_toml_entry *e0 = conf_toml_table_at(net, 0);
    const struct conf_toml_entry *e1 = conf_toml_table_at(net, 1);
    cr_assert_str_eq(e0->key, "zeta"); /* document order, not sorted */
    cr_assert_eq(e0->line, 3);
    cr_assert_eq(e0->column, 3);
    cr_assert_str_eq(e1->key, "alpha");
    cr_assert_eq(e1->value->column, 11);
    cr_assert_eq(conf_toml_array_count(e1->value), 2);
    cr_assert_eq(conf_toml_array_at(e1->value, 1)->line, 5);
    conf_toml_fini(&doc);
}

Test(conf_toml, errors_name_file_line_and_column)
{
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    cr_assert_eq(parse(&doc, "a = 1\nb = 01\n", &err), DC_EMALFORMED);
    cr_assert_eq(err.line, 2);
    cr_assert_eq(err.column, 5);
    cr_assert(strstr(err.message, "t.toml:2:5: ") == err.message, "%s", err.message);
    cr_assert_eq(parse(&doc, "a = 1\na = 2\n", &err), DC_EMALFORMED);
    cr_assert(strstr(err.message, "duplicate key 'a'") != NULL, "%s", err.message);
    cr_assert_eq(parse(&doc, "[t]\n[t]\n", &err), DC_EMALFORMED);
    cr_assert(strstr(err.message, "t.toml:2:2: table 't' is defined twice") != NULL, "%s",
              err.message);
    cr_assert_eq(parse(&doc, "s = \"abc\n", &err), DC_EMALFORMED);
    cr_assert(strstr(err.message, "unterminated string") != NULL, "%s", err.message);
    cr_assert_eq(conf_toml_table_count(&doc.root), 0); /* nothing left after an error */
}

Test(conf_toml, limits_refuse_hostile_input)
{
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    char deep[2 * CONF_TOML_DEPTH_MAX + 64];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "a = ");
    for (unsigned i = 0; i < CONF_TOML_DEPTH_MAX + 5; i++) {
        deep[n++] = '[';
    }
    deep[n] = '\0';
    cr_assert_eq(parse(&doc, deep, &err), DC_EMALFORMED);
    cr_assert(strstr(err.message, "nested deeper") != NULL, "%s", err.message);
    cr_assert_eq(parse(&doc, "a = 9223372036854775808\n", &err), DC_EMALFORMED);
    cr_assert_eq(parse(&doc, "a = -9223372036854775808\n", &err), 0);
    cr_assert_eq(conf_toml_get(&doc.root, "a")->as.integer, INT64_MIN);
    conf_toml_fini(&doc);
    cr_assert_eq(parse(&doc, "a = 1e999\n", &err), DC_EMALFORMED);
    const char nul[] = "a = 1\0";
    cr_assert_eq(conf_toml_parse(&doc, nul, sizeof(nul) - 1, "t", &err), DC_EMALFORMED);
    cr_assert(strstr(err.message, "U+0000") != NULL, "%s", err.message);
}

Test(conf_toml, strings_keep_embedded_nul_and_unicode)
{
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    cr_assert_eq(parse(&doc, "\"k\\u0000\" = \"a\\u0000b\\U0001F600\"\n", &err), 0,
                 "%s", err.message);
    const struct conf_toml_entry *e = conf_toml_table_at(&doc.root, 0);
    cr_assert_eq(e->key_len, 2);
    cr_assert_eq(e->value->as.string.len, 7);
    cr_assert_eq(memcmp(e->value->as.string.bytes, "a\0b\xF0\x9F\x98\x80", 7), 0);
    conf_toml_fini(&doc);
    cr_assert_eq(parse(&doc, "s = \"\\uD800\"\n", &err), DC_EMALFORMED);
}

Test(conf_toml, parse_file_reports_missing_file)
{
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    cr_assert_eq(conf_toml_parse_file(&doc, "/nonexistent/dchat.toml", &err), -ENOENT);
    cr_assert(strstr(err.message, "/nonexistent/dchat.toml: cannot read") != NULL);
    char path[64];
    snprintf(path, sizeof(path), "/tmp/dchat-test-toml-%d.toml", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("[x]\ny = 'lit'\n", f);
    fclose(f);
    cr_assert_eq(conf_toml_parse_file(&doc, path, &err), 0);
    const char *s;
    cr_assert_eq(conf_toml_get_string(&doc.root, "x.y", &s), 0);
    cr_assert_str_eq(s, "lit");
    conf_toml_fini(&doc);
    unlink(path);
}

/*
 * Big tables stay linear: 200,000 keys in one table parse in well under a second here; the
 * quadratic scan this guards against needs minutes (2e10 key comparisons), far past the
 * test timeout, so the check does not depend on the machine's speed.
 */
Test(conf_toml, big_tables_are_indexed, .timeout = 60)
{
    enum { KEYS = 200000 };
    size_t cap = (size_t)KEYS * 24 + 16;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t n = (size_t)snprintf(text, cap, "[t]\n");
    for (int i = 0; i < KEYS; i++) {
        n += (size_t)snprintf(text + n, cap - n, "key_%d = %d\n", i, i);
    }
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    cr_assert_eq(conf_toml_parse(&doc, text, n, "big", &err), 0, "%s", err.message);
    const struct conf_toml_value *t = conf_toml_get(&doc.root, "t");
    cr_assert_eq(conf_toml_table_count(t), KEYS);
    char key[32];
    for (int i = 0; i < KEYS; i += 997) {
        int len = snprintf(key, sizeof(key), "key_%d", i);
        const struct conf_toml_value *v = conf_toml_table_find(t, key, (size_t)len);
        cr_assert_not_null(v, "%s", key);
        cr_assert_eq(v->as.integer, i);
        cr_assert_eq(v->line, (uint32_t)i + 2);
    }
    cr_assert_null(conf_toml_table_find(t, "key_x", 5));
    conf_toml_fini(&doc);
    memcpy(text + n, "key_7 = 1\n", 10); /* a duplicate at the end is still found */
    cr_assert_eq(conf_toml_parse(&doc, text, n + 10, "big", &err), DC_EMALFORMED);
    cr_assert(strstr(err.message, "duplicate key 'key_7'") != NULL, "%s", err.message);
    free(text);
}
