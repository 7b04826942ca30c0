/*
 * conf_load: flags, environment, file and defaults into a conf_node (see load.h).
 */
#include "conf/load.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "conf/toml.h"

#include <stdarg.h>
#include <string.h>

/* Collects error lines into the caller's buffer; remembers the first error code. */
struct diag {
    char *buf;
    size_t size;
    size_t used;
    unsigned count;
    int first_rc;
};

__attribute__((format(printf, 3, 4)))
static void diag_add(struct diag *d, int rc, const char *fmt, ...)
{
    if (d->first_rc == 0) {
        d->first_rc = rc;
    }
    d->count++;
    if (d->count > CONF_ERRORS_MAX || d->buf == NULL || d->size == 0 || d->used >= d->size) {
        return;
    }
    if (d->used > 0) {
        d->buf[d->used++] = '\n';
        d->buf[d->used] = '\0';
        if (d->used >= d->size) {
            return;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->buf + d->used, d->size - d->used, fmt, ap);
    va_end(ap);
    d->used += n > 0 ? (size_t)n : 0;
    if (d->used >= d->size) {
        d->used = d->size - 1;
    }
}

static void diag_init(struct diag *d, char *buf, size_t size)
{
    memset(d, 0, sizeof(*d));
    d->buf = buf;
    d->size = size;
    if (buf != NULL && size > 0) {
        buf[0] = '\0';
    }
}

const char *conf_source_name(enum conf_source source)
{
    switch (source) {
    case CONF_SOURCE_DEFAULT: return "default";
    case CONF_SOURCE_FILE: return "file";
    case CONF_SOURCE_ENV: return "env";
    case CONF_SOURCE_FLAG: return "flag";
    }
    return "?";
}

/* ---------------------------------------------------------------- the file */

static void file_key(struct conf_node *node, struct diag *d, const char *path,
                     const char *section, const struct conf_toml_entry *e)
{
    char suggestion[96];
    char why[CONF_REASON_BYTES];
    int id = conf_schema_find(section, e->key);
    if (id < 0 || strlen(e->key) != e->key_len) {
        const char *near = conf_schema_suggest(section, e->key, suggestion, sizeof(suggestion));
        diag_add(d, DC_EUNKNOWNKEY, "%s:%u:%u: unknown key '%s.%.64s'%s%s%s", path, e->line,
                 e->column, section, e->key, near ? " (did you mean '" : "", near ? near : "",
                 near ? "'?)" : "");
        return;
    }
    int rc = conf_schema_set_toml(node, id, e->value, why, sizeof(why));
    if (rc != 0) {
        diag_add(d, rc, "%s:%u:%u: %s.%s: %s", path, e->value->line, e->value->column, section,
                 e->key, why);
        return;
    }
    node->origin[id].source = CONF_SOURCE_FILE;
    node->origin[id].line = e->line;
    node->origin[id].column = e->column;
}

/* A top-level entry: must be one of the schema's tables. */
static void file_section(struct conf_node *node, struct diag *d, const char *path,
                         const struct conf_toml_entry *e)
{
    char suggestion[96];
    if (strlen(e->key) != e->key_len || !conf_schema_has_section(e->key)) {
        const char *near = conf_schema_suggest_section(e->key);
        if (e->value->type != CONF_TOML_TABLE) {
            near = conf_schema_suggest(NULL, e->key, suggestion, sizeof(suggestion));
        }
        diag_add(d, DC_EUNKNOWNKEY, "%s:%u:%u: unknown %s '%.64s'%s%s%s", path, e->line,
                 e->column, e->value->type == CONF_TOML_TABLE ? "table" : "key", e->key,
                 near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        return;
    }
    if (e->value->type != CONF_TOML_TABLE) {
        diag_add(d, DC_ETYPE, "%s:%u:%u: '%s' must be a table ([%s]), found %s", path, e->line,
                 e->column, e->key, e->key, conf_toml_type_name(e->value->type));
        return;
    }
    for (size_t i = 0; i < conf_toml_table_count(e->value); i++) {
        file_key(node, d, path, e->key, conf_toml_table_at(e->value, i));
    }
}

static void apply_doc(struct conf_node *node, struct diag *d, const char *name,
                      struct conf_toml_doc *doc)
{
    for (size_t i = 0; i < conf_toml_table_count(&doc->root); i++) {
        file_section(node, d, name, conf_toml_table_at(&doc->root, i));
    }
    conf_toml_fini(doc);
}

static void load_file(struct conf_node *node, struct diag *d, const char *path)
{
    struct conf_toml_doc doc;
    struct conf_toml_error terr;
    int rc = conf_toml_parse_file(&doc, path, &terr);
    if (rc != 0) {
        diag_add(d, rc, "%s", terr.message);
        return;
    }
    apply_doc(node, d, path, &doc);
}

/* ---------------------------------------------------------------- cross-checks */

int64_t conf_node_quorum(const struct conf_node *node)
{
    int64_t n = (int64_t)node->consensus.validators.count;
    if (n == 0) {
        return 0;
    }
    if (node->consensus.required_confirmations != 0) {
        return node->consensus.required_confirmations;
    }
    return 2 * ((n - 1) / 3) + 1;
}

/* "FILE:LINE:COL", "DCHAT_PORT", "--listen" or "default" for key `id`. */
static const char *origin_text(const struct conf_node *node, int id, char *buf, size_t size)
{
    const struct conf_origin *o = &node->origin[id];
    switch (o->source) {
    case CONF_SOURCE_FILE:
        snprintf(buf, size, "%s:%u:%u", node->config_path, o->line, o->column);
        break;
    case CONF_SOURCE_ENV:
        snprintf(buf, size, "%s", conf_schema[id].env);
        break;
    case CONF_SOURCE_FLAG:
        snprintf(buf, size, "--%s", conf_schema[id].flag);
        break;
    default:
        snprintf(buf, size, "default");
        break;
    }
    return buf;
}

static void check_quorum(const struct conf_node *node, struct diag *d)
{
    int64_t n = (int64_t)node->consensus.validators.count;
    int64_t q = node->consensus.required_confirmations;
    int id = CONF_KEY_CONSENSUS_REQUIRED_CONFIRMATIONS;
    char where[CONF_STRING_BYTES + 32];
    if (q == 0 || n == 0) {
        return;
    }
    int64_t need = 2 * ((n - 1) / 3) + 1;
    if (q < need) {
        diag_add(d, DC_EQUORUM,
                 "%s: consensus.required_confirmations = %lld is below 2f+1 = %lld for %lld "
                 "validators: refused, it would let two conflicting blocks commit",
                 origin_text(node, id, where, sizeof(where)), (long long)q, (long long)need,
                 (long long)n);
    } else if (q > n) {
        diag_add(d, DC_EQUORUM,
                 "%s: consensus.required_confirmations = %lld exceeds the %lld validators",
                 origin_text(node, id, where, sizeof(where)), (long long)q, (long long)n);
    }
}

static void finish(struct conf_node *node, struct diag *d)
{
    struct conf_addr_list *listen = &node->network.listen_addrs;
    const struct conf_origin *port = &node->origin[CONF_KEY_NETWORK_PORT];
    /* DCHAT_PORT / --port / port = N rewrite the listen port unless --listen is higher */
    if (node->network.port != 0 &&
        port->source >= node->origin[CONF_KEY_NETWORK_LISTEN_ADDRS].source) {
        for (size_t i = 0; i < listen->count; i++) {
            listen->items[i].port = (uint16_t)node->network.port;
        }
    }
    if (listen->count == 0) {
        char where[CONF_STRING_BYTES + 32];
        diag_add(d, DC_ECONFIG, "%s: network.listen_addrs is empty: a node needs an address",
                 origin_text(node, CONF_KEY_NETWORK_LISTEN_ADDRS, where, sizeof(where)));
    }
    check_quorum(node, d);
}

/* ---------------------------------------------------------------- flags and environment */

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            return *e + n + 1;
        }
    }
    return NULL;
}

static void set_from(struct conf_node *node, struct diag *d, int id, const char *text,
                     enum conf_source source)
{
    char why[CONF_REASON_BYTES];
    int rc = conf_schema_set_text(node, id, text, why, sizeof(why));
    if (rc != 0) {
        diag_add(d, source == CONF_SOURCE_FLAG ? DC_EUSAGE : rc, "%s%s: %s",
                 source == CONF_SOURCE_FLAG ? "--" : "",
                 source == CONF_SOURCE_FLAG ? conf_schema[id].flag : conf_schema[id].env, why);
        return;
    }
    memset(&node->origin[id], 0, sizeof(node->origin[id]));
    node->origin[id].source = source;
}

static void apply_env(struct conf_node *node, struct diag *d, char **envp)
{
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        const char *text = conf_schema[i].env ? env_get(envp, conf_schema[i].env) : NULL;
        if (text != NULL) {
            set_from(node, d, i, text, CONF_SOURCE_ENV);
        }
    }
}

/*
 * Splits argv[i] into flag name and value (from "=" or the next argument). Returns the
 * number of arguments used, or 0 after reporting a usage error.
 */
static int split_flag(int argc, char **argv, int i, struct diag *d, char *name, size_t size,
                      const char **value)
{
    int id;
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        diag_add(d, DC_EUSAGE, "unexpected argument '%.64s' (flags are --name VALUE)", arg);
        return 0;
    }
    const char *eq = strchr(arg, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (n >= size) {
        diag_add(d, DC_EUSAGE, "unknown flag '%.64s'", arg);
        return 0;
    }
    memcpy(name, arg + 2, n);
    name[n] = '\0';
    id = conf_schema_find_flag(name);
    if (id < 0 && strcmp(name, "config") != 0) {
        const char *near = conf_schema_suggest_flag(name);
        diag_add(d, DC_EUSAGE, "unknown flag '--%s'%s%s%s", name,
                 near ? " (did you mean '--" : "", near ? near : "", near ? "'?)" : "");
        return 0;
    }
    if (eq != NULL) {
        *value = eq + 1;
        return 1;
    }
    if (id >= 0 && conf_schema[id].kind == CONF_KIND_BOOL) {
        *value = "true"; /* --bench-skip-verify alone switches it on */
        return 1;
    }
    if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
        diag_add(d, DC_EUSAGE, "--%s needs a value (--%s VALUE)", name, name);
        return 0;
    }
    *value = argv[i + 1];
    return 2;
}

/* Pass 1 (apply == 0) only finds --config and reports bad flags; pass 2 applies them. */
static void scan_flags(struct conf_node *node, struct diag *d, int argc, char **argv, int apply,
                       const char **config)
{
    for (int i = 1; i < argc;) {
        char name[64];
        const char *value = NULL;
        int used = split_flag(argc, argv, i, d, name, sizeof(name), &value);
        if (used == 0) {
            return; /* cannot tell values from flags after a malformed one */
        }
        i += used;
        if (strcmp(name, "config") == 0) {
            *config = value;
            continue;
        }
        int id = conf_schema_find_flag(name);
        DC_ASSERT(id >= 0); /* split_flag() reported unknown flags */
        if (apply) {
            set_from(node, d, id, value, CONF_SOURCE_FLAG);
        }
    }
}

static void set_config_path(struct conf_node *node, struct diag *d, const char *path,
                            enum conf_source source)
{
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(node->config_path)) {
        diag_add(d, DC_EUSAGE, "%s: config path is %s", source == CONF_SOURCE_FLAG
                 ? "--config" : "DCHAT_CONFIG", n == 0 ? "empty" : "too long");
        return;
    }
    memcpy(node->config_path, path, n + 1);
    node->config_source = source;
}

int conf_node_load(struct conf_node *out, int argc, char **argv, char **envp, char *err,
                   size_t err_size)
{
    struct diag d;
    diag_init(&d, err, err_size);
    conf_schema_defaults(out);
    const char *config = NULL;
    scan_flags(out, &d, argc, argv, 0, &config);
    if (d.count > 0) {
        return d.first_rc;
    }
    const char *env_config = env_get(envp, "DCHAT_CONFIG");
    if (config != NULL) {
        set_config_path(out, &d, config, CONF_SOURCE_FLAG);
    } else if (env_config != NULL && env_config[0] != '\0') { /* DCHAT_CONFIG= : no file */
        set_config_path(out, &d, env_config, CONF_SOURCE_ENV);
    }
    if (d.count == 0 && out->config_path[0] != '\0') {
        load_file(out, &d, out->config_path);
    }
    apply_env(out, &d, envp);
    scan_flags(out, &d, argc, argv, 1, &config);
    if (d.count == 0) {
        finish(out, &d);
    }
    return d.first_rc;
}

int conf_node_load_file(struct conf_node *out, const char *path, char *err, size_t err_size)
{
    struct diag d;
    diag_init(&d, err, err_size);
    conf_schema_defaults(out);
    set_config_path(out, &d, path, CONF_SOURCE_FLAG);
    if (d.count == 0) {
        load_file(out, &d, out->config_path);
    }
    if (d.count == 0) {
        finish(out, &d);
    }
    return d.first_rc;
}

int conf_node_load_text(struct conf_node *out, const char *text, size_t len, const char *name,
                        char *err, size_t err_size)
{
    struct diag d;
    struct conf_toml_doc doc;
    struct conf_toml_error terr;
    diag_init(&d, err, err_size);
    conf_schema_defaults(out);
    set_config_path(out, &d, name, CONF_SOURCE_FLAG);
    int rc = d.count == 0 ? conf_toml_parse(&doc, text, len, name, &terr) : 0;
    if (rc != 0) {
        diag_add(&d, rc, "%s", terr.message);
    } else if (d.count == 0) {
        apply_doc(out, &d, name, &doc);
    }
    if (d.count == 0) {
        finish(out, &d);
    }
    return d.first_rc;
}

bool conf_node_help_requested(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- printing */

static const char *value_form(const struct conf_key *k, char *buf, size_t size)
{
    switch (k->kind) {
    case CONF_KIND_INT: return "N";
    case CONF_KIND_STRING: return "PATH";
    case CONF_KIND_ADDR: return "HOST:PORT";
    case CONF_KIND_ADDRS: return "ADDR,...";
    case CONF_KIND_CORES: return "auto|LIST";
    case CONF_KIND_BOOL: return "";
    case CONF_KIND_ENUM: break;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; k->choices[i] != NULL && used < size; i++) {
        if (k->choices[i][0] == '\0') {
            continue;
        }
        int n = snprintf(buf + used, size - used, "%s%s", used > 0 ? "|" : "", k->choices[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

void conf_node_usage(FILE *out)
{
    fprintf(out, "  %-34s %s\n", "--config FILE", "TOML config file (env DCHAT_CONFIG)");
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        const struct conf_key *k = &conf_schema[i];
        if (k->flag == NULL) {
            continue;
        }
        char form[64];
        char left[96];
        snprintf(left, sizeof(left), "--%s %s", k->flag, value_form(k, form, sizeof(form)));
        fprintf(out, "  %-34s %s [%s.%s%s%s]\n", left, k->help, k->section, k->name,
                k->env ? ", env " : "", k->env ? k->env : "");
    }
}

static const char *origin_long(const struct conf_node *node, int id, char *buf, size_t size)
{
    const struct conf_origin *o = &node->origin[id];
    switch (o->source) {
    case CONF_SOURCE_FILE:
        snprintf(buf, size, "file %s:%u", node->config_path, o->line);
        break;
    case CONF_SOURCE_ENV:
        snprintf(buf, size, "env %s", conf_schema[id].env);
        break;
    case CONF_SOURCE_FLAG:
        snprintf(buf, size, "flag --%s", conf_schema[id].flag);
        break;
    default:
        snprintf(buf, size, "default");
        break;
    }
    return buf;
}

void conf_node_print(const struct conf_node *node, FILE *out)
{
    enum { COMMENT_COLUMN = 48 };
    fprintf(out, "# dchat effective configuration; each value says where it came from\n");
    if (node->config_path[0] != '\0') {
        fprintf(out, "# config file: %s (from %s)\n", node->config_path,
                node->config_source == CONF_SOURCE_FLAG ? "--config" : "DCHAT_CONFIG");
    } else {
        fprintf(out, "# config file: none (defaults, environment and flags only)\n");
    }
    const char *section = "";
    for (int i = 0; i < CONF_KEY_COUNT; i++) {
        const struct conf_key *k = &conf_schema[i];
        char value[CONF_ADDRS_MAX * (CONF_MADDR_TEXT_BYTES + 4) + 8];
        char where[CONF_STRING_BYTES + 32];
        if (strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(out, "\n[%s]\n", section);
        }
        conf_schema_format(node, i, value, sizeof(value));
        int n = fprintf(out, "%s = %s", k->name, value);
        fprintf(out, "%*s# %s", n < COMMENT_COLUMN ? COMMENT_COLUMN - n : 1, "",
                origin_long(node, i, where, sizeof(where)));
        if (i == CONF_KEY_CONSENSUS_REQUIRED_CONFIRMATIONS && conf_node_quorum(node) > 0) {
            fprintf(out, "; commits with %lld of %zu validators",
                    (long long)conf_node_quorum(node), node->consensus.validators.count);
        }
        fputc('\n', out);
    }
}

