/*
 * conf_toml: TOML 1.0.0 parser (see toml.h). One pass over the text with a recursive descent
 * for values; the grammar is small enough that a separate lexer would only add state.
 *
 * Order of checks: a first pass validates the encoding (UTF-8, control characters, bare CR)
 * for the whole text, so the grammar code below may assume every byte is either printable
 * ASCII, tab, LF, CR before LF, or part of a valid multi-byte UTF-8 sequence.
 */
#include "conf/toml.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "common/dc_hex.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Table flags: how a table came to exist decides what may later extend it. */
enum {
    TBL_IMPLICIT = 1u << 0, /* created as the parent of a [a.b] header; [a] may define it once */
    TBL_DEFINED = 1u << 1,  /* defined by its own [header] */
    TBL_DOTTED = 1u << 2,   /* created by a dotted key: more dotted keys may extend it */
    TBL_INLINE = 1u << 3,   /* inline table: sealed once written */
    ARR_TABLES = 1u << 4,   /* array made by [[header]]: more [[header]] append to it */
};

struct parser {
    const char *src;
    size_t len;
    size_t pos;
    const char *name;
    struct conf_toml_error *err;
    struct conf_toml_value *root;
    struct conf_toml_value *current; /* table that key/value lines go into */
    /* line cache for locate(): positions are mostly asked for in increasing order */
    size_t cache_pos;
    size_t cache_line_start;
    uint32_t cache_line;
};

struct keypart {
    char *bytes;
    size_t len;
    size_t pos;
};

struct keypath {
    struct keypart parts[CONF_TOML_KEY_PARTS_MAX];
    size_t count;
};

/* Growable byte buffer for decoded strings. */
struct sbuf {
    char *data;
    size_t len;
    size_t cap;
};

static int parse_value(struct parser *p, unsigned depth, struct conf_toml_value **out);
static void value_destroy(struct conf_toml_value *v);

/* ---------------------------------------------------------------- errors and positions */

static void locate(struct parser *p, size_t pos, uint32_t *line, uint32_t *column)
{
    if (pos > p->len) {
        pos = p->len;
    }
    if (pos < p->cache_pos) {
        /* step back (a key's position is asked for after its value's): no rescan from 0 */
        uint32_t crossed = 0;
        for (size_t i = pos; i < p->cache_pos; i++) {
            crossed += p->src[i] == '\n';
        }
        if (crossed > 0) {
            size_t start = pos;
            while (start > 0 && p->src[start - 1] != '\n') {
                start--;
            }
            p->cache_line -= crossed;
            p->cache_line_start = start;
        }
        p->cache_pos = pos;
    }
    for (size_t i = p->cache_pos; i < pos; i++) {
        if (p->src[i] == '\n') {
            p->cache_line++;
            p->cache_line_start = i + 1;
        }
    }
    p->cache_pos = pos;
    *line = p->cache_line;
    *column = (uint32_t)(pos - p->cache_line_start + 1);
}

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->err == NULL) {
        return DC_EMALFORMED;
    }
    locate(p, pos, &p->err->line, &p->err->column);
    char *msg = p->err->message;
    int n = snprintf(msg, sizeof(p->err->message), "%s:%u:%u: ", p->name, p->err->line,
                     p->err->column);
    if (n >= 0 && (size_t)n < sizeof(p->err->message)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg + n, sizeof(p->err->message) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return DC_EMALFORMED;
}

static int fail_nomem(struct parser *p)
{
    if (p->err != NULL) {
        p->err->line = 0;
        p->err->column = 0;
        snprintf(p->err->message, sizeof(p->err->message), "%s: out of memory", p->name);
    }
    return -ENOMEM;
}

/* Copies at most 16 bytes of the text at `pos` for an error message, stopping at a newline. */
static const char *excerpt(const struct parser *p, size_t pos, char *buf, size_t size)
{
    size_t n = 0;
    while (pos + n < p->len && n + 1 < size && n < 16 && p->src[pos + n] != '\n' &&
           p->src[pos + n] != '\r') {
        buf[n] = p->src[pos + n];
        n++;
    }
    buf[n] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- encoding pre-pass */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0; /* overlong, out of range, or a surrogate */
    }
    return n;
}

static int check_encoding(struct parser *p)
{
    const unsigned char *s = (const unsigned char *)p->src;
    size_t i = 0;
    while (i < p->len) {
        unsigned char c = s[i];
        if (c == '\r') {
            if (i + 1 >= p->len || s[i + 1] != '\n') {
                return fail(p, i, "carriage return not followed by a line feed");
            }
            i++;
            continue;
        }
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
            return fail(p, i, "control character U+%04X is not allowed", c);
        }
        size_t n = utf8_len(s + i, p->len - i);
        if (n == 0) {
            return fail(p, i, "invalid UTF-8 byte 0x%02X", c);
        }
        i += n;
    }
    return 0;
}

/* ---------------------------------------------------------------- memory */

/* Makes room for `need` elements of `elem` bytes in *ptr (capacity *cap). */
static int grow(void **ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t next = *cap < 8 ? 8 : *cap * 2;
    while (next < need) {
        next *= 2;
    }
    void *fresh = dc_alloc(next * elem);
    if (fresh == NULL) {
        return -ENOMEM;
    }
    if (*ptr != NULL) {
        memcpy(fresh, *ptr, *cap * elem);
        dc_free(*ptr);
    }
    *ptr = fresh;
    *cap = next;
    return 0;
}

static int sbuf_put(struct sbuf *b, const char *bytes, size_t n)
{
    void *data = b->data;
    int rc = grow(&data, &b->cap, b->len + n + 1, 1);
    b->data = data;
    if (rc != 0) {
        return rc;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int sbuf_put_utf8(struct sbuf *b, uint32_t cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sbuf_put(b, out, n);
}

static struct conf_toml_value *value_new(struct parser *p, enum conf_toml_type type, size_t pos)
{
    struct conf_toml_value *v = dc_alloc(sizeof(*v));
    if (v != NULL) {
        v->type = type;
        locate(p, pos, &v->line, &v->column);
    }
    return v;
}

static void value_clear(struct conf_toml_value *v)
{
    if (v->type == CONF_TOML_TABLE) {
        for (size_t i = 0; i < v->as.table.count; i++) {
            dc_free(v->as.table.entries[i].key);
            value_destroy(v->as.table.entries[i].value);
        }
        dc_free(v->as.table.entries);
        dc_free(v->as.table.index);
    } else if (v->type == CONF_TOML_ARRAY) {
        for (size_t i = 0; i < v->as.array.count; i++) {
            value_destroy(v->as.array.items[i]);
        }
        dc_free(v->as.array.items);
    } else if (v->type == CONF_TOML_STRING) {
        dc_free(v->as.string.bytes);
    }
    memset(&v->as, 0, sizeof(v->as));
}

static void value_destroy(struct conf_toml_value *v)
{
    if (v != NULL) {
        value_clear(v);
        dc_free(v);
    }
}

/*
 * Key index of big tables. Lookups by linear scan would make a table of n keys cost O(n^2)
 * to parse; past INDEX_MIN_KEYS a table gets an open-addressing hash index. The hash is keyed
 * SipHash with a per-process random key, so a hostile file cannot pick colliding keys.
 */
#define INDEX_MIN_KEYS 16u

static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
    if (getrandom(hash_key, sizeof(hash_key), 0) != (ssize_t)sizeof(hash_key)) {
        /* no entropy: still correct, only predictable (a weaker DoS guard) */
        memset(hash_key, 0x5a, sizeof(hash_key));
    }
}

static size_t key_hash(const char *key, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    pthread_once(&hash_key_once, hash_key_init);
    crypto_shorthash(out, (const unsigned char *)key, len, hash_key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return (size_t)h;
}

static void index_insert(uint32_t *index, size_t slots, const struct conf_toml_entry *entries,
                         uint32_t entry)
{
    size_t mask = slots - 1;
    size_t i = key_hash(entries[entry].key, entries[entry].key_len) & mask;
    while (index[i] != 0) {
        i = (i + 1) & mask;
    }
    index[i] = entry + 1; /* 0 marks an empty slot */
}

/* Keeps the index at most half full; builds it once the table is big enough. */
static int index_update(struct conf_toml_value *table)
{
    size_t count = table->as.table.count;
    if (count < INDEX_MIN_KEYS) {
        return 0;
    }
    if (table->as.table.index != NULL && count * 2 <= table->as.table.index_slots) {
        index_insert(table->as.table.index, table->as.table.index_slots,
                     table->as.table.entries, (uint32_t)(count - 1));
        return 0;
    }
    size_t slots = 64;
    while (slots < count * 4) {
        slots *= 2;
    }
    uint32_t *index = dc_alloc(slots * sizeof(uint32_t));
    if (index == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        index_insert(index, slots, table->as.table.entries, (uint32_t)i);
    }
    dc_free(table->as.table.index);
    table->as.table.index = index;
    table->as.table.index_slots = slots;
    return 0;
}

/* Adds key -> value to a table, taking ownership of both (freed here on failure). */
static int table_add(struct parser *p, struct conf_toml_value *table, struct keypart *key,
                     struct conf_toml_value *value)
{
    DC_ASSERT(table->type == CONF_TOML_TABLE);
    void *entries = table->as.table.entries;
    int rc = grow(&entries, &table->as.table.capacity, table->as.table.count + 1,
                  sizeof(struct conf_toml_entry));
    table->as.table.entries = entries;
    if (rc != 0) {
        dc_free(key->bytes);
        key->bytes = NULL;
        value_destroy(value);
        return fail_nomem(p);
    }
    struct conf_toml_entry *e = &table->as.table.entries[table->as.table.count++];
    e->key = key->bytes;
    e->key_len = key->len;
    locate(p, key->pos, &e->line, &e->column);
    e->value = value;
    key->bytes = NULL; /* the table owns it now */
    return index_update(table) == 0 ? 0 : fail_nomem(p);
}

static int array_push(struct parser *p, struct conf_toml_value *array,
                      struct conf_toml_value *item)
{
    DC_ASSERT(array->type == CONF_TOML_ARRAY);
    void *items = array->as.array.items;
    int rc = grow(&items, &array->as.array.capacity, array->as.array.count + 1,
                  sizeof(struct conf_toml_value *));
    array->as.array.items = items;
    if (rc != 0) {
        value_destroy(item);
        return fail_nomem(p);
    }
    array->as.array.items[array->as.array.count++] = item;
    return 0;
}

static void keypath_clear(struct keypath *k)
{
    for (size_t i = 0; i < k->count; i++) {
        dc_free(k->parts[i].bytes);
        k->parts[i].bytes = NULL;
    }
    k->count = 0;
}

/* ---------------------------------------------------------------- lexing helpers */

static int peek(const struct parser *p, size_t ahead)
{
    return p->pos + ahead < p->len ? (unsigned char)p->src[p->pos + ahead] : -1;
}

static int is_bare_key_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static void skip_ws(struct parser *p)
{
    while (peek(p, 0) == ' ' || peek(p, 0) == '\t') {
        p->pos++;
    }
}

static int at_newline(const struct parser *p)
{
    return peek(p, 0) == '\n' || (peek(p, 0) == '\r' && peek(p, 1) == '\n');
}

static void skip_newline(struct parser *p)
{
    p->pos += peek(p, 0) == '\r' ? 2 : 1;
}

static void skip_comment(struct parser *p)
{
    if (peek(p, 0) == '#') {
        while (p->pos < p->len && !at_newline(p)) {
            p->pos++;
        }
    }
}

/* Whitespace, comments and newlines (inside arrays). */
static void skip_ws_nl(struct parser *p)
{
    for (;;) {
        skip_ws(p);
        skip_comment(p);
        if (!at_newline(p)) {
            return;
        }
        skip_newline(p);
    }
}

/* After a key/value or a header: optional whitespace and comment, then newline or the end. */
static int expect_eol(struct parser *p)
{
    skip_ws(p);
    skip_comment(p);
    if (p->pos >= p->len) {
        return 0;
    }
    if (!at_newline(p)) {
        char buf[24];
        return fail(p, p->pos, "expected the end of the line, found '%s'",
                    excerpt(p, p->pos, buf, sizeof(buf)));
    }
    skip_newline(p);
    return 0;
}

/* ---------------------------------------------------------------- strings */

/* One escape after a backslash at p->pos - 1 (line-ending backslashes handled by caller). */
static int parse_escape(struct parser *p, struct sbuf *b)
{
    size_t at = p->pos - 1;
    int c = peek(p, 0);
    static const char from[] = "btnfr\"\\";
    static const char to[] = "\b\t\n\f\r\"\\";
    const char *hit = c > 0 ? strchr(from, c) : NULL;
    if (hit != NULL) {
        p->pos++;
        return sbuf_put(b, &to[hit - from], 1) == 0 ? 0 : fail_nomem(p);
    }
    if (c != 'u' && c != 'U') {
        char buf[24];
        return fail(p, at, "invalid escape sequence '%s'", excerpt(p, at, buf, 3));
    }
    size_t digits = c == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (size_t i = 1; i <= digits; i++) {
        int h = dc_hex_digit(peek(p, i));
        if (h < 0) {
            return fail(p, at, "escape \\%c needs %zu hex digits", c, digits);
        }
        cp = cp * 16 + (uint32_t)h;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return fail(p, at, "escape is not a Unicode scalar value (U+%X)", (unsigned)cp);
    }
    p->pos += 1 + digits;
    return sbuf_put_utf8(b, cp) == 0 ? 0 : fail_nomem(p);
}

/* Single-line basic or literal string; p->pos at the opening quote. */
static int parse_line_string(struct parser *p, struct sbuf *b)
{
    size_t start = p->pos;
    char quote = p->src[p->pos++];
    for (;;) {
        if (p->pos >= p->len || at_newline(p)) {
            return fail(p, start, "unterminated string");
        }
        char c = p->src[p->pos];
        if (c == quote) {
            p->pos++;
            return sbuf_put(b, "", 0) == 0 ? 0 : fail_nomem(p);
        }
        p->pos++;
        if (c == '\\' && quote == '"') {
            int rc = parse_escape(p, b);
            if (rc != 0) {
                return rc;
            }
        } else if (sbuf_put(b, &c, 1) != 0) {
            return fail_nomem(p);
        }
    }
}

/* Backslash at the end of a line in a multi-line basic string: trim through the next text. */
static int line_ending_backslash(struct parser *p)
{
    size_t save = p->pos;
    skip_ws(p);
    if (!at_newline(p)) {
        p->pos = save;
        return 1; /* not line-ending: an ordinary escape */
    }
    while (peek(p, 0) == ' ' || peek(p, 0) == '\t' || at_newline(p)) {
        if (at_newline(p)) {
            skip_newline(p);
        } else {
            p->pos++;
        }
    }
    return 0;
}

/* Multi-line string; p->pos at the first of three quotes. */
static int parse_ml_string(struct parser *p, struct sbuf *b)
{
    size_t start = p->pos;
    char quote = p->src[p->pos];
    p->pos += 3;
    if (at_newline(p)) {
        skip_newline(p); /* a newline right after the opening delimiter is trimmed */
    }
    for (;;) {
        if (p->pos >= p->len) {
            return fail(p, start, "unterminated multi-line string");
        }
        char c = p->src[p->pos];
        if (c == quote && peek(p, 1) == quote && peek(p, 2) == quote) {
            size_t run = 3;
            while (peek(p, run) == quote) {
                run++;
            }
            if (run > 5) {
                return fail(p, p->pos, "too many quotes at the end of a multi-line string");
            }
            p->pos += run;
            /* up to two quotes just before the delimiter belong to the string */
            return sbuf_put(b, p->src + p->pos - run, run - 3) == 0 ? 0 : fail_nomem(p);
        }
        p->pos++;
        if (c == '\\' && quote == '"') {
            if (line_ending_backslash(p) == 0) {
                continue;
            }
            int rc = parse_escape(p, b);
            if (rc != 0) {
                return rc;
            }
        } else if (sbuf_put(b, &c, 1) != 0) {
            return fail_nomem(p);
        }
    }
}

static int is_ml_start(const struct parser *p)
{
    int q = peek(p, 0);
    return (q == '"' || q == '\'') && peek(p, 1) == q && peek(p, 2) == q;
}

/* ---------------------------------------------------------------- keys */

static int parse_key_part(struct parser *p, struct keypart *part)
{
    struct sbuf b = { 0 };
    int c = peek(p, 0);
    part->pos = p->pos;
    if (c == '"' || c == '\'') {
        if (is_ml_start(p)) {
            return fail(p, p->pos, "a key cannot be a multi-line string");
        }
        int rc = parse_line_string(p, &b);
        if (rc != 0) {
            dc_free(b.data);
            return rc;
        }
    } else {
        size_t start = p->pos;
        while (is_bare_key_char(peek(p, 0))) {
            p->pos++;
        }
        if (p->pos == start) {
            char buf[24];
            return c < 0 || c == '\n' || c == '\r'
                       ? fail(p, start, "expected a key")
                       : fail(p, start, "expected a key, found '%s'",
                              excerpt(p, start, buf, sizeof(buf)));
        }
        if (sbuf_put(&b, p->src + start, p->pos - start) != 0) {
            return fail_nomem(p);
        }
    }
    part->bytes = b.data;
    part->len = b.len;
    return 0;
}

/* key = part ( ws '.' ws part )*; leaves p->pos after the last part. */
static int parse_key(struct parser *p, struct keypath *key)
{
    key->count = 0;
    for (;;) {
        if (key->count == CONF_TOML_KEY_PARTS_MAX) {
            keypath_clear(key);
            return fail(p, p->pos, "dotted key has more than %u parts",
                        CONF_TOML_KEY_PARTS_MAX);
        }
        int rc = parse_key_part(p, &key->parts[key->count]);
        if (rc != 0) {
            keypath_clear(key);
            return rc;
        }
        key->count++;
        size_t save = p->pos;
        skip_ws(p);
        if (peek(p, 0) != '.') {
            p->pos = save;
            return 0;
        }
        p->pos++;
        skip_ws(p);
    }
}

/* ---------------------------------------------------------------- numbers */

/*
 * A run of digits for which `ok` holds, single underscores allowed between digits.
 * Returns the number of digits, or -1 when an underscore is misplaced.
 */
static int digit_run(const char *s, const char *end, int (*ok)(int), const char **stop)
{
    int n = 0;
    while (s < end) {
        if (ok((unsigned char)*s)) {
            n++;
            s++;
        } else if (*s == '_') {
            if (n == 0 || s + 1 >= end || !ok((unsigned char)s[1])) {
                return -1;
            }
            s++;
        } else {
            break;
        }
    }
    *stop = s;
    return n;
}

static int is_hex(int c)
{
    return dc_hex_digit(c) >= 0;
}

static int is_oct(int c)
{
    return c >= '0' && c <= '7';
}

static int is_bin(int c)
{
    return c == '0' || c == '1';
}

/* 0x / 0o / 0b integer without sign. */
static int parse_radix_int(struct parser *p, size_t pos, const char *s, const char *end,
                           int64_t *out)
{
    int radix = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
    int (*ok)(int) = radix == 16 ? is_hex : radix == 8 ? is_oct : is_bin;
    const char *stop;
    int n = digit_run(s + 2, end, ok, &stop);
    if (n <= 0 || stop != end) {
        return fail(p, pos, "invalid base-%d integer", radix);
    }
    uint64_t v = 0;
    for (const char *q = s + 2; q < end; q++) {
        if (*q == '_') {
            continue;
        }
        uint64_t d = (uint64_t)dc_hex_digit((unsigned char)*q);
        if (v > ((uint64_t)INT64_MAX - d) / (uint64_t)radix) {
            return fail(p, pos, "integer does not fit in 64 bits");
        }
        v = v * (uint64_t)radix + d;
    }
    *out = (int64_t)v;
    return 0;
}

static int parse_dec_int(struct parser *p, size_t pos, const char *s, const char *end, int neg,
                         int64_t *out)
{
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (const char *q = s; q < end; q++) {
        if (*q == '_') {
            continue;
        }
        uint64_t d = (uint64_t)(*q - '0');
        if (v > (limit - d) / 10) {
            return fail(p, pos, "integer does not fit in 64 bits");
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Float from validated text: copy without underscores, then strtod. */
static int parse_float_text(struct parser *p, size_t pos, const char *s, const char *end,
                            double *out)
{
    char buf[128];
    size_t n = 0;
    for (const char *q = s; q < end; q++) {
        if (*q != '_') {
            if (n + 1 >= sizeof(buf)) {
                return fail(p, pos, "float literal is too long");
            }
            buf[n++] = *q;
        }
    }
    buf[n] = '\0';
    errno = 0;
    double d = strtod(buf, NULL);
    if (isinf(d)) {
        return fail(p, pos, "float is out of range");
    }
    *out = d;
    return 0;
}

/* Integer or float from the token [s, end) starting at text position pos. */
static int parse_number(struct parser *p, size_t pos, const char *s, const char *end,
                        struct conf_toml_value *v)
{
    const char *t = s;
    int neg = 0;
    if (*t == '+' || *t == '-') {
        neg = *t == '-';
        t++;
    }
    size_t rest = (size_t)(end - t);
    if (rest == 3 && (memcmp(t, "inf", 3) == 0 || memcmp(t, "nan", 3) == 0)) {
        v->type = CONF_TOML_FLOAT;
        v->as.number = t[0] == 'i' ? INFINITY : NAN;
        v->as.number = neg ? -v->as.number : v->as.number;
        return 0;
    }
    if (rest > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
        if (t != s) {
            return fail(p, pos, "a base-prefixed integer cannot have a sign");
        }
        v->type = CONF_TOML_INTEGER;
        return parse_radix_int(p, pos, t, end, &v->as.integer);
    }
    const char *stop;
    int n = digit_run(t, end, is_digit, &stop);
    if (n <= 0) {
        return fail(p, pos, "invalid number");
    }
    if (n > 1 && t[0] == '0') {
        return fail(p, pos, "leading zeros are not allowed");
    }
    int is_float = 0;
    if (stop < end && *stop == '.') {
        is_float = 1;
        if (digit_run(stop + 1, end, is_digit, &stop) <= 0) {
            return fail(p, pos, "a decimal point needs digits on both sides");
        }
    }
    if (stop < end && (*stop == 'e' || *stop == 'E')) {
        is_float = 1;
        const char *e = stop + 1;
        if (e < end && (*e == '+' || *e == '-')) {
            e++;
        }
        if (digit_run(e, end, is_digit, &stop) <= 0) {
            return fail(p, pos, "an exponent needs digits");
        }
    }
    if (stop != end) {
        return fail(p, pos, "invalid number");
    }
    if (is_float) {
        v->type = CONF_TOML_FLOAT;
        return parse_float_text(p, pos, s, end, &v->as.number);
    }
    v->type = CONF_TOML_INTEGER;
    return parse_dec_int(p, pos, t, end, neg, &v->as.integer);
}

/* ---------------------------------------------------------------- date-times */

/* n decimal digits at s (exactly), or -1. */
static int fixed_digits(const char *s, const char *end, int n)
{
    if (end - s < n) {
        return -1;
    }
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* YYYY-MM-DD at s; returns the end or NULL. */
static const char *parse_date(const char *s, const char *end, struct conf_toml_datetime *dt)
{
    int y = fixed_digits(s, end, 4);
    if (y < 0 || end - s < 10 || s[4] != '-' || s[7] != '-') {
        return NULL;
    }
    int m = fixed_digits(s + 5, end, 2);
    int d = fixed_digits(s + 8, end, 2);
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) {
        return NULL;
    }
    dt->year = y;
    dt->month = (uint8_t)m;
    dt->day = (uint8_t)d;
    return s + 10;
}

/* HH:MM:SS[.frac] at s; returns the end or NULL. */
static const char *parse_time(const char *s, const char *end, struct conf_toml_datetime *dt)
{
    int h = fixed_digits(s, end, 2);
    if (h < 0 || end - s < 8 || s[2] != ':' || s[5] != ':') {
        return NULL;
    }
    int mi = fixed_digits(s + 3, end, 2);
    int se = fixed_digits(s + 6, end, 2);
    if (h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60) {
        return NULL;
    }
    dt->hour = (uint8_t)h;
    dt->minute = (uint8_t)mi;
    dt->second = (uint8_t)se;
    s += 8;
    if (s < end && *s == '.') {
        s++;
        int n = 0;
        uint32_t ns = 0;
        while (s < end && is_digit((unsigned char)*s)) {
            if (n < 9) {
                ns = ns * 10 + (uint32_t)(*s - '0');
                n++;
            }
            s++;
        }
        if (n == 0) {
            return NULL;
        }
        dt->frac_digits = (uint8_t)n;
        for (int i = n; i < 9; i++) {
            ns *= 10;
        }
        dt->nanosecond = ns;
    }
    return s;
}

/* Z, z or +HH:MM / -HH:MM at s; returns the end or NULL. */
static const char *parse_offset(const char *s, const char *end, struct conf_toml_datetime *dt)
{
    if (*s == 'Z' || *s == 'z') {
        dt->offset_minutes = 0;
        return s + 1;
    }
    if ((*s != '+' && *s != '-') || end - s < 6 || s[3] != ':') {
        return NULL;
    }
    int h = fixed_digits(s + 1, end, 2);
    int m = fixed_digits(s + 4, end, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59) {
        return NULL;
    }
    dt->offset_minutes = (int16_t)((*s == '-' ? -1 : 1) * (h * 60 + m));
    return s + 6;
}

static int parse_datetime(struct parser *p, size_t pos, const char *s, const char *end,
                          struct conf_toml_value *v)
{
    struct conf_toml_datetime *dt = &v->as.datetime;
    const char *q;
    if (s[2] == ':') {
        v->type = CONF_TOML_TIME_LOCAL;
        q = parse_time(s, end, dt);
    } else {
        v->type = CONF_TOML_DATE_LOCAL;
        q = parse_date(s, end, dt);
        if (q != NULL && q < end) {
            v->type = CONF_TOML_DATETIME_LOCAL;
            q = (*q == 'T' || *q == 't' || *q == ' ') ? parse_time(q + 1, end, dt) : NULL;
            if (q != NULL && q < end) {
                v->type = CONF_TOML_DATETIME;
                q = parse_offset(q, end, dt);
            }
        }
    }
    if (q == NULL || q != end) {
        char buf[40];
        return fail(p, pos, "invalid date or time '%s'", excerpt(p, pos, buf, sizeof(buf)));
    }
    return 0;
}

/* ---------------------------------------------------------------- scalar values */

static int is_token_char(int c)
{
    return is_bare_key_char(c) || c == '+' || c == '.' || c == ':';
}

/* End of the scalar token at p->pos; joins "1979-05-27 07:32:00" across its one space. */
static size_t token_end(const struct parser *p)
{
    size_t e = p->pos;
    while (e < p->len && is_token_char((unsigned char)p->src[e])) {
        e++;
    }
    const char *s = p->src + p->pos;
    if (e - p->pos == 10 && s[4] == '-' && s[7] == '-' && e + 3 < p->len &&
        p->src[e] == ' ' && is_digit((unsigned char)p->src[e + 1]) &&
        is_digit((unsigned char)p->src[e + 2]) && p->src[e + 3] == ':') {
        e++;
        while (e < p->len && is_token_char((unsigned char)p->src[e])) {
            e++;
        }
    }
    return e;
}

static int parse_scalar(struct parser *p, struct conf_toml_value *v)
{
    size_t pos = p->pos;
    size_t end = token_end(p);
    const char *s = p->src + pos;
    size_t n = end - pos;
    char buf[24];
    if (n == 0) {
        int c = peek(p, 0);
        return c < 0 || c == '\n' || c == '\r'
                   ? fail(p, pos, "expected a value")
                   : fail(p, pos, "invalid value '%s'", excerpt(p, pos, buf, sizeof(buf)));
    }
    p->pos = end;
    if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0)) {
        v->type = CONF_TOML_BOOL;
        v->as.boolean = n == 4;
        return 0;
    }
    if (n >= 8 && is_digit((unsigned char)s[0]) && is_digit((unsigned char)s[1]) &&
        (s[2] == ':' || (is_digit((unsigned char)s[2]) && is_digit((unsigned char)s[3]) &&
                         s[4] == '-'))) {
        return parse_datetime(p, pos, s, s + n, v);
    }
    if (is_digit((unsigned char)s[0]) || s[0] == '+' || s[0] == '-' || s[0] == 'i' ||
        s[0] == 'n') {
        return parse_number(p, pos, s, s + n, v);
    }
    return fail(p, pos, "invalid value '%s'", excerpt(p, pos, buf, sizeof(buf)));
}

static int parse_string_value(struct parser *p, struct conf_toml_value *v)
{
    struct sbuf b = { 0 };
    int rc = is_ml_start(p) ? parse_ml_string(p, &b) : parse_line_string(p, &b);
    if (rc != 0) {
        dc_free(b.data);
        return rc;
    }
    v->type = CONF_TOML_STRING;
    v->as.string.bytes = b.data;
    v->as.string.len = b.len;
    return 0;
}

/* ---------------------------------------------------------------- arrays and inline tables */

static int parse_array(struct parser *p, unsigned depth, struct conf_toml_value *v)
{
    size_t start = p->pos;
    v->type = CONF_TOML_ARRAY;
    p->pos++; /* '[' */
    for (;;) {
        skip_ws_nl(p);
        if (p->pos >= p->len) {
            return fail(p, start, "unterminated array");
        }
        if (peek(p, 0) == ']') {
            p->pos++;
            return 0;
        }
        struct conf_toml_value *item;
        int rc = parse_value(p, depth + 1, &item);
        if (rc == 0) {
            rc = array_push(p, v, item);
        }
        if (rc != 0) {
            return rc;
        }
        skip_ws_nl(p);
        if (peek(p, 0) == ',') {
            p->pos++;
        } else if (peek(p, 0) != ']') {
            return p->pos >= p->len ? fail(p, start, "unterminated array")
                                    : fail(p, p->pos, "expected ',' or ']' in array");
        }
    }
}

static int parse_keyval(struct parser *p, unsigned depth, struct conf_toml_value *table);

static int parse_inline_table(struct parser *p, unsigned depth, struct conf_toml_value *v)
{
    v->type = CONF_TOML_TABLE;
    v->flags = TBL_INLINE;
    p->pos++; /* '{' */
    skip_ws(p);
    if (peek(p, 0) == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        int rc = parse_keyval(p, depth + 1, v);
        if (rc != 0) {
            return rc;
        }
        skip_ws(p);
        if (peek(p, 0) == '}') {
            p->pos++;
            return 0;
        }
        if (peek(p, 0) != ',') {
            return at_newline(p) ? fail(p, p->pos, "newline inside an inline table")
                                 : fail(p, p->pos, "expected ',' or '}' in inline table");
        }
        p->pos++;
        skip_ws(p);
        if (peek(p, 0) == '}') {
            return fail(p, p->pos, "trailing comma in an inline table");
        }
    }
}

static int parse_value(struct parser *p, unsigned depth, struct conf_toml_value **out)
{
    *out = NULL;
    if (depth > CONF_TOML_DEPTH_MAX) {
        return fail(p, p->pos, "values nested deeper than %u levels", CONF_TOML_DEPTH_MAX);
    }
    struct conf_toml_value *v = value_new(p, CONF_TOML_BOOL, p->pos);
    if (v == NULL) {
        return fail_nomem(p);
    }
    int c = peek(p, 0);
    int rc;
    if (c == '"' || c == '\'') {
        rc = parse_string_value(p, v);
    } else if (c == '[') {
        rc = parse_array(p, depth, v);
    } else if (c == '{') {
        rc = parse_inline_table(p, depth, v);
    } else {
        rc = parse_scalar(p, v);
    }
    if (rc != 0) {
        value_destroy(v);
        return rc;
    }
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- key/value and headers */

static struct conf_toml_value *find_part(struct conf_toml_value *table,
                                         const struct keypart *part)
{
    return (struct conf_toml_value *)conf_toml_table_find(table, part->bytes, part->len);
}

/* Quoted key for messages; non-printable bytes become '?'. */
static const char *key_text(const struct keypart *part, char *buf, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < part->len && n + 1 < size; i++) {
        unsigned char c = (unsigned char)part->bytes[i];
        buf[n++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    buf[n] = '\0';
    return buf;
}

/* Walks the dotted prefix of a key/value inside `table`, creating dotted tables. */
static int walk_dotted(struct parser *p, struct conf_toml_value *table, struct keypath *key,
                       struct conf_toml_value **out)
{
    for (size_t i = 0; i + 1 < key->count; i++) {
        struct keypart *part = &key->parts[i];
        struct conf_toml_value *next = find_part(table, part);
        char buf[64];
        if (next == NULL) {
            next = value_new(p, CONF_TOML_TABLE, part->pos);
            if (next == NULL) {
                return fail_nomem(p);
            }
            next->flags = TBL_DOTTED;
            int rc = table_add(p, table, part, next);
            if (rc != 0) {
                return rc;
            }
        } else if (next->type != CONF_TOML_TABLE || !(next->flags & TBL_DOTTED) ||
                   (next->flags & TBL_INLINE)) {
            return fail(p, part->pos, "key '%s' is already defined and cannot be extended",
                        key_text(part, buf, sizeof(buf)));
        }
        table = next;
    }
    *out = table;
    return 0;
}

/* key = value, into `table` (the current [table] or an inline table being built). */
static int parse_keyval(struct parser *p, unsigned depth, struct conf_toml_value *table)
{
    struct keypath key;
    int rc = parse_key(p, &key);
    if (rc != 0) {
        return rc;
    }
    struct conf_toml_value *target = NULL;
    rc = walk_dotted(p, table, &key, &target);
    struct keypart *last = &key.parts[key.count - 1];
    char buf[64];
    if (rc == 0 && find_part(target, last) != NULL) {
        rc = fail(p, last->pos, "duplicate key '%s'", key_text(last, buf, sizeof(buf)));
    }
    if (rc == 0) {
        skip_ws(p);
        if (peek(p, 0) != '=') {
            rc = fail(p, p->pos, "expected '=' after key '%s'", key_text(last, buf, sizeof(buf)));
        }
    }
    struct conf_toml_value *value = NULL;
    if (rc == 0) {
        p->pos++;
        skip_ws(p);
        rc = parse_value(p, depth, &value);
    }
    if (rc == 0) {
        rc = table_add(p, target, last, value);
    }
    keypath_clear(&key);
    return rc;
}

/* Walks a header's prefix: into tables and into the last table of arrays of tables. */
static int walk_header(struct parser *p, struct keypath *key, struct conf_toml_value **out)
{
    struct conf_toml_value *table = p->root;
    for (size_t i = 0; i + 1 < key->count; i++) {
        struct keypart *part = &key->parts[i];
        struct conf_toml_value *next = find_part(table, part);
        char buf[64];
        if (next == NULL) {
            next = value_new(p, CONF_TOML_TABLE, part->pos);
            if (next == NULL) {
                return fail_nomem(p);
            }
            next->flags = TBL_IMPLICIT;
            int rc = table_add(p, table, part, next);
            if (rc != 0) {
                return rc;
            }
        } else if (next->type == CONF_TOML_ARRAY && (next->flags & ARR_TABLES)) {
            next = next->as.array.items[next->as.array.count - 1];
        } else if (next->type != CONF_TOML_TABLE || (next->flags & TBL_INLINE)) {
            return fail(p, part->pos, "key '%s' is not a table that can be extended",
                        key_text(part, buf, sizeof(buf)));
        }
        table = next;
    }
    *out = table;
    return 0;
}

/* [a.b] : define (or finish defining) a table and make it current. */
static int define_table(struct parser *p, size_t pos, struct conf_toml_value *parent,
                        struct keypart *last)
{
    struct conf_toml_value *t = find_part(parent, last);
    char buf[64];
    if (t == NULL) {
        t = value_new(p, CONF_TOML_TABLE, pos);
        if (t == NULL) {
            return fail_nomem(p);
        }
        t->flags = TBL_DEFINED;
        int rc = table_add(p, parent, last, t);
        if (rc != 0) {
            return rc;
        }
    } else if (t->type != CONF_TOML_TABLE || t->flags != TBL_IMPLICIT) {
        return fail(p, last->pos, "table '%s' is defined twice",
                    key_text(last, buf, sizeof(buf)));
    } else {
        t->flags = TBL_DEFINED;
        locate(p, pos, &t->line, &t->column);
    }
    p->current = t;
    return 0;
}

/* [[a.b]] : append a table to an array of tables and make it current. */
static int append_table(struct parser *p, size_t pos, struct conf_toml_value *parent,
                        struct keypart *last)
{
    struct conf_toml_value *arr = find_part(parent, last);
    char buf[64];
    if (arr == NULL) {
        arr = value_new(p, CONF_TOML_ARRAY, pos);
        if (arr == NULL) {
            return fail_nomem(p);
        }
        arr->flags = ARR_TABLES;
        int rc = table_add(p, parent, last, arr);
        if (rc != 0) {
            return rc;
        }
    } else if (arr->type != CONF_TOML_ARRAY || !(arr->flags & ARR_TABLES)) {
        return fail(p, last->pos, "'%s' is already defined and is not an array of tables",
                    key_text(last, buf, sizeof(buf)));
    }
    struct conf_toml_value *t = value_new(p, CONF_TOML_TABLE, pos);
    if (t == NULL) {
        return fail_nomem(p);
    }
    t->flags = TBL_DEFINED;
    int rc = array_push(p, arr, t);
    if (rc != 0) {
        return rc;
    }
    p->current = t;
    return 0;
}

static int parse_header(struct parser *p)
{
    size_t pos = p->pos;
    int aot = peek(p, 1) == '[';
    p->pos += aot ? 2 : 1;
    skip_ws(p);
    struct keypath key;
    int rc = parse_key(p, &key);
    if (rc != 0) {
        return rc;
    }
    skip_ws(p);
    if (peek(p, 0) != ']' || (aot && peek(p, 1) != ']')) {
        rc = fail(p, p->pos, aot ? "expected ']]' to close the header"
                                 : "expected ']' to close the header");
    }
    struct conf_toml_value *parent = NULL;
    if (rc == 0) {
        p->pos += aot ? 2 : 1;
        rc = walk_header(p, &key, &parent);
    }
    if (rc == 0) {
        struct keypart *last = &key.parts[key.count - 1];
        rc = aot ? append_table(p, pos, parent, last) : define_table(p, pos, parent, last);
    }
    keypath_clear(&key);
    return rc;
}

static int parse_document(struct parser *p)
{
    int rc = check_encoding(p);
    if (rc != 0) {
        return rc;
    }
    if (p->len >= 3 && memcmp(p->src, "\xEF\xBB\xBF", 3) == 0) {
        p->pos = 3; /* a byte-order mark is allowed before the first line */
    }
    while (rc == 0) {
        skip_ws(p);
        skip_comment(p);
        if (p->pos >= p->len) {
            return 0;
        }
        if (at_newline(p)) {
            skip_newline(p);
            continue;
        }
        rc = peek(p, 0) == '[' ? parse_header(p) : parse_keyval(p, 0, p->current);
        if (rc == 0) {
            rc = expect_eol(p);
        }
    }
    return rc;
}

/* ---------------------------------------------------------------- public API */

int conf_toml_parse(struct conf_toml_doc *doc, const char *text, size_t len, const char *name,
                    struct conf_toml_error *err)
{
    DC_ASSERT(doc != NULL);
    DC_ASSERT(text != NULL || len == 0);
    memset(doc, 0, sizeof(*doc));
    doc->root.type = CONF_TOML_TABLE;
    doc->root.line = 1;
    doc->root.column = 1;
    doc->root.flags = TBL_DEFINED;
    struct parser p = {
        .src = text, .len = len, .name = name != NULL ? name : "-", .err = err,
        .root = &doc->root, .current = &doc->root, .cache_line = 1,
    };
    if (err != NULL) {
        memset(err, 0, sizeof(*err));
    }
    if (len > CONF_TOML_TEXT_BYTES_MAX) {
        fail(&p, 0, "document is larger than %u bytes", CONF_TOML_TEXT_BYTES_MAX);
        return DC_ETOOBIG;
    }
    int rc = parse_document(&p);
    if (rc != 0) {
        conf_toml_fini(doc);
    }
    return rc;
}

static int read_all(int fd, char **out, size_t *out_len)
{
    size_t cap = 0;
    size_t len = 0;
    void *buf = NULL;
    for (;;) {
        if (grow(&buf, &cap, len + 4096, 1) != 0) {
            dc_free(buf);
            return -ENOMEM;
        }
        ssize_t n = read(fd, (char *)buf + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int rc = -errno;
            dc_free(buf);
            return rc;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len > CONF_TOML_TEXT_BYTES_MAX) {
            dc_free(buf);
            return DC_ETOOBIG;
        }
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int conf_toml_parse_file(struct conf_toml_doc *doc, const char *path,
                         struct conf_toml_error *err)
{
    memset(doc, 0, sizeof(*doc));
    doc->root.type = CONF_TOML_TABLE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : 0;
    char *text = NULL;
    size_t len = 0;
    if (rc == 0) {
        rc = read_all(fd, &text, &len);
        close(fd);
    }
    if (rc != 0) {
        if (err != NULL) {
            memset(err, 0, sizeof(*err));
            snprintf(err->message, sizeof(err->message), "%s: cannot read: %s", path,
                     dc_strerror(rc));
        }
        return rc;
    }
    rc = conf_toml_parse(doc, text, len, path, err);
    dc_free(text);
    return rc;
}

void conf_toml_fini(struct conf_toml_doc *doc)
{
    value_clear(&doc->root);
    doc->root.type = CONF_TOML_TABLE;
}

const char *conf_toml_type_name(enum conf_toml_type type)
{
    switch (type) {
    case CONF_TOML_TABLE: return "table";
    case CONF_TOML_ARRAY: return "array";
    case CONF_TOML_STRING: return "string";
    case CONF_TOML_INTEGER: return "integer";
    case CONF_TOML_FLOAT: return "float";
    case CONF_TOML_BOOL: return "bool";
    case CONF_TOML_DATETIME: return "datetime";
    case CONF_TOML_DATETIME_LOCAL: return "datetime-local";
    case CONF_TOML_DATE_LOCAL: return "date-local";
    case CONF_TOML_TIME_LOCAL: return "time-local";
    }
    return "unknown";
}

const struct conf_toml_value *conf_toml_table_find(const struct conf_toml_value *table,
                                                   const char *key, size_t key_len)
{
    DC_ASSERT(table->type == CONF_TOML_TABLE);
    const struct conf_toml_entry *entries = table->as.table.entries;
    if (table->as.table.index != NULL) {
        size_t mask = table->as.table.index_slots - 1;
        for (size_t i = key_hash(key, key_len) & mask; table->as.table.index[i] != 0;
             i = (i + 1) & mask) {
            const struct conf_toml_entry *e = &entries[table->as.table.index[i] - 1];
            if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
                return e->value;
            }
        }
        return NULL;
    }
    for (size_t i = 0; i < table->as.table.count; i++) {
        const struct conf_toml_entry *e = &entries[i];
        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            return e->value;
        }
    }
    return NULL;
}

const struct conf_toml_value *conf_toml_get(const struct conf_toml_value *table,
                                            const char *path)
{
    const char *part = path;
    for (;;) {
        if (table == NULL || table->type != CONF_TOML_TABLE) {
            return NULL;
        }
        const char *dot = strchr(part, '.');
        size_t n = dot != NULL ? (size_t)(dot - part) : strlen(part);
        table = conf_toml_table_find(table, part, n);
        if (dot == NULL) {
            return table;
        }
        part = dot + 1;
    }
}

size_t conf_toml_table_count(const struct conf_toml_value *table)
{
    DC_ASSERT(table->type == CONF_TOML_TABLE);
    return table->as.table.count;
}

const struct conf_toml_entry *conf_toml_table_at(const struct conf_toml_value *table,
                                                 size_t index)
{
    DC_ASSERT(table->type == CONF_TOML_TABLE);
    DC_ASSERT(index < table->as.table.count);
    return &table->as.table.entries[index];
}

size_t conf_toml_array_count(const struct conf_toml_value *array)
{
    DC_ASSERT(array->type == CONF_TOML_ARRAY);
    return array->as.array.count;
}

const struct conf_toml_value *conf_toml_array_at(const struct conf_toml_value *array,
                                                 size_t index)
{
    DC_ASSERT(array->type == CONF_TOML_ARRAY);
    DC_ASSERT(index < array->as.array.count);
    return array->as.array.items[index];
}

static int get_typed(const struct conf_toml_value *table, const char *path,
                     enum conf_toml_type type, const struct conf_toml_value **out)
{
    *out = conf_toml_get(table, path);
    if (*out == NULL) {
        return DC_ENOTFOUND;
    }
    return (*out)->type == type ? 0 : DC_ETYPE;
}

int conf_toml_get_string(const struct conf_toml_value *table, const char *path,
                         const char **out)
{
    const struct conf_toml_value *v;
    int rc = get_typed(table, path, CONF_TOML_STRING, &v);
    if (rc == 0) {
        *out = v->as.string.bytes;
    }
    return rc;
}

int conf_toml_get_int(const struct conf_toml_value *table, const char *path, int64_t *out)
{
    const struct conf_toml_value *v;
    int rc = get_typed(table, path, CONF_TOML_INTEGER, &v);
    if (rc == 0) {
        *out = v->as.integer;
    }
    return rc;
}

int conf_toml_get_float(const struct conf_toml_value *table, const char *path, double *out)
{
    const struct conf_toml_value *v;
    int rc = get_typed(table, path, CONF_TOML_FLOAT, &v);
    if (rc == 0) {
        *out = v->as.number;
    }
    return rc;
}

int conf_toml_get_bool(const struct conf_toml_value *table, const char *path, bool *out)
{
    const struct conf_toml_value *v;
    int rc = get_typed(table, path, CONF_TOML_BOOL, &v);
    if (rc == 0) {
        *out = v->as.boolean;
    }
    return rc;
}

int conf_toml_datetime_format(const struct conf_toml_value *value, char *buf, size_t size)
{
    const struct conf_toml_datetime *dt = &value->as.datetime;
    char date[16] = "";
    char time[32] = "";
    char offset[8] = "";
    enum conf_toml_type t = value->type;
    if (t == CONF_TOML_DATETIME || t == CONF_TOML_DATETIME_LOCAL || t == CONF_TOML_DATE_LOCAL) {
        snprintf(date, sizeof(date), "%04d-%02u-%02u", (int)dt->year, dt->month, dt->day);
    }
    if (t == CONF_TOML_DATETIME || t == CONF_TOML_DATETIME_LOCAL || t == CONF_TOML_TIME_LOCAL) {
        int n = snprintf(time, sizeof(time), "%s%02u:%02u:%02u", date[0] != '\0' ? "T" : "",
                         dt->hour, dt->minute, dt->second);
        if (dt->frac_digits > 0) {
            char frac[16];
            snprintf(frac, sizeof(frac), "%09u", (unsigned)dt->nanosecond);
            snprintf(time + n, sizeof(time) - (size_t)n, ".%.*s", (int)dt->frac_digits, frac);
        }
    }
    if (t == CONF_TOML_DATETIME) {
        int off = dt->offset_minutes;
        if (off == 0) {
            snprintf(offset, sizeof(offset), "Z");
        } else {
            int a = off < 0 ? -off : off;
            snprintf(offset, sizeof(offset), "%c%02d:%02d", off < 0 ? '-' : '+', a / 60,
                     a % 60);
        }
    }
    return snprintf(buf, size, "%s%s%s", date, time, offset);
}
