/*
 * libFuzzer target for the TOML parser (conf/toml.c): any bytes either parse into a tree whose
 * invariants hold (strings terminated at their length, positions inside the text, arrays and
 * tables consistent), or fail with a one-line message that names the input and a position
 * inside it. Parsing twice gives the same verdict (no hidden state). The same text as a
 * node config then goes through the schema: any tree is either applied or refused with
 * error lines, never a crash.
 */
#include "conf/load.h"
#include "conf/toml.h"

#include "common/dc_assert.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t lines_in(const uint8_t *data, size_t size)
{
    uint32_t n = 1;
    for (size_t i = 0; i < size; i++) {
        n += data[i] == '\n';
    }
    return n;
}

static void check_value(const struct conf_toml_value *v, uint32_t lines, unsigned depth)
{
    DC_ASSERT(depth <= CONF_TOML_DEPTH_MAX + 2);
    DC_ASSERT(v->line >= 1 && v->line <= lines);
    DC_ASSERT(v->column >= 1);
    DC_ASSERT(strcmp(conf_toml_type_name(v->type), "unknown") != 0);
    if (v->type == CONF_TOML_STRING) {
        DC_ASSERT(v->as.string.bytes != NULL);
        DC_ASSERT(v->as.string.bytes[v->as.string.len] == '\0');
    } else if (v->type == CONF_TOML_ARRAY) {
        for (size_t i = 0; i < conf_toml_array_count(v); i++) {
            check_value(conf_toml_array_at(v, i), lines, depth + 1);
        }
    } else if (v->type == CONF_TOML_TABLE) {
        for (size_t i = 0; i < conf_toml_table_count(v); i++) {
            const struct conf_toml_entry *e = conf_toml_table_at(v, i);
            DC_ASSERT(e->key[e->key_len] == '\0');
            DC_ASSERT(e->line >= 1 && e->line <= lines);
            DC_ASSERT(conf_toml_table_find(v, e->key, e->key_len) == e->value);
            check_value(e->value, lines, depth + 1);
        }
    } else if (v->type >= CONF_TOML_DATETIME) {
        char buf[64];
        DC_ASSERT(conf_toml_datetime_format(v, buf, sizeof(buf)) < (int)sizeof(buf));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf_toml_doc doc;
    struct conf_toml_error err;
    uint32_t lines = lines_in(data, size);
    int rc = conf_toml_parse(&doc, (const char *)data, size, "fuzz", &err);
    if (rc == 0) {
        check_value(&doc.root, lines, 0);
        conf_toml_fini(&doc);
    } else {
        DC_ASSERT(strncmp(err.message, "fuzz:", 5) == 0);
        DC_ASSERT(strchr(err.message, '\n') == NULL);
        DC_ASSERT(err.line >= 1 && err.line <= lines);
    }
    struct conf_toml_doc again;
    DC_ASSERT(conf_toml_parse(&again, (const char *)data, size, "fuzz", NULL) == rc);
    conf_toml_fini(&again);
    static struct conf_node node;
    static char messages[CONF_ERR_BYTES];
    int load_rc = conf_node_load_text(&node, (const char *)data, size, "fuzz", messages,
                                      sizeof(messages));
    DC_ASSERT(rc == 0 || load_rc != 0);
    DC_ASSERT(load_rc == 0 || messages[0] != '\0');
    return 0;
}
