/*
 * libFuzzer target for address parsing (conf/maddr.c) and the config value setters that use
 * it (conf/schema.c): any string either is rejected with a reason, or parses into an address
 * that prints and re-parses to the same address, in both printed forms.
 */
#include "conf/maddr.h"
#include "conf/schema.h"

#include "common/dc_assert.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct conf_maddr *a, const struct conf_maddr *b)
{
    DC_ASSERT(a->port == b->port);
    DC_ASSERT(strcmp(a->host, b->host) == 0);
    DC_ASSERT(memcmp(a->ip, b->ip, sizeof(a->ip)) == 0);
}

static void round_trip(const struct conf_maddr *a)
{
    char text[CONF_MADDR_TEXT_BYTES];
    struct conf_maddr b;
    DC_ASSERT(conf_maddr_format_as_written(a, text, sizeof(text)) < (int)sizeof(text));
    DC_ASSERT(conf_maddr_parse(&b, text, NULL) == 0);
    same(a, &b);
    DC_ASSERT(a->kind == b.kind && a->form == b.form && a->tcp == b.tcp);
    DC_ASSERT(conf_maddr_format(a, text, sizeof(text)) < (int)sizeof(text));
    DC_ASSERT(conf_maddr_parse(&b, text, NULL) == 0);
    same(a, &b);
    DC_ASSERT(conf_maddr_format_hostport(a, text, sizeof(text)) < (int)sizeof(text));
    DC_ASSERT(conf_maddr_parse(&b, text, NULL) == 0);
    same(a, &b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct conf_node node;
    char text[1024];
    if (size >= sizeof(text)) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    struct conf_maddr a;
    const char *why = NULL;
    if (conf_maddr_parse(&a, text, &why) == 0) {
        round_trip(&a);
    } else {
        DC_ASSERT(why != NULL && why[0] != '\0');
    }
    /* the same text as a flag value for each kind of key: never crashes, always explains */
    static const int keys[] = { CONF_KEY_NETWORK_BOOTSTRAP_NODES, CONF_KEY_RPC_LISTEN,
                                CONF_KEY_DATAPLANE_CORES, CONF_KEY_DATAPLANE_MTU,
                                CONF_KEY_NODE_ROLE, CONF_KEY_DATAPLANE_BENCH_SKIP_VERIFY };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char why_buf[CONF_REASON_BYTES] = "";
        if (conf_schema_set_text(&node, keys[i], text, why_buf, sizeof(why_buf)) != 0) {
            DC_ASSERT(why_buf[0] != '\0');
        }
    }
    return 0;
}
