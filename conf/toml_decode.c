/*
 * toml-decode: TOML on stdin, toml-test's tagged JSON on stdout (exit 0), or one error line
 * on stderr (exit 1). The conformance test (tests/unit/conf/toml_test.py) drives it.
 */
#include "conf/toml.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_json_string(const char *s, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20 || c == 0x7F) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void put_tagged(const char *type, const char *text)
{
    printf("{\"type\":\"%s\",\"value\":", type);
    put_json_string(text, strlen(text));
    putchar('}');
}

static void put_value(const struct conf_toml_value *v);

static void put_table(const struct conf_toml_value *v)
{
    putchar('{');
    for (size_t i = 0; i < conf_toml_table_count(v); i++) {
        const struct conf_toml_entry *e = conf_toml_table_at(v, i);
        if (i > 0) {
            putchar(',');
        }
        put_json_string(e->key, e->key_len);
        putchar(':');
        put_value(e->value);
    }
    putchar('}');
}

static void put_value(const struct conf_toml_value *v)
{
    char buf[64];
    switch (v->type) {
    case CONF_TOML_TABLE:
        put_table(v);
        return;
    case CONF_TOML_ARRAY:
        putchar('[');
        for (size_t i = 0; i < conf_toml_array_count(v); i++) {
            if (i > 0) {
                putchar(',');
            }
            put_value(conf_toml_array_at(v, i));
        }
        putchar(']');
        return;
    case CONF_TOML_STRING:
        printf("{\"type\":\"string\",\"value\":");
        put_json_string(v->as.string.bytes, v->as.string.len);
        putchar('}');
        return;
    case CONF_TOML_INTEGER:
        snprintf(buf, sizeof(buf), "%lld", (long long)v->as.integer);
        break;
    case CONF_TOML_FLOAT:
        if (isnan(v->as.number)) {
            snprintf(buf, sizeof(buf), "nan");
        } else if (isinf(v->as.number)) {
            snprintf(buf, sizeof(buf), "%sinf", v->as.number < 0 ? "-" : "");
        } else {
            snprintf(buf, sizeof(buf), "%.17g", v->as.number);
        }
        break;
    case CONF_TOML_BOOL:
        snprintf(buf, sizeof(buf), "%s", v->as.boolean ? "true" : "false");
        break;
    default:
        conf_toml_datetime_format(v, buf, sizeof(buf));
        break;
    }
    put_tagged(conf_toml_type_name(v->type), buf);
}

int main(void)
{
    size_t cap = 1 << 16;
    size_t len = 0;
    char *text = malloc(cap);
    size_t n;
    while (text != NULL && (n = fread(text + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            char *bigger = realloc(text, cap);
            if (bigger == NULL) {
                free(text);
            }
            text = bigger;
        }
    }
    if (text == NULL) {
        fprintf(stderr, "toml-decode: out of memory\n");
        return 1;
    }
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    int rc = conf_toml_parse(&doc, text, len, "-", &err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "toml-decode: %s\n", err.message);
        return 1;
    }
    put_value(&doc.root);
    putchar('\n');
    conf_toml_fini(&doc);
    return 0;
}
