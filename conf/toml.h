/*
 * conf_toml: a TOML 1.0.0 parser that builds a document tree.
 *
 * Debian ships no TOML library for C, so dchat carries its own, checked against the public
 * toml-test suite (tests/unit/conf/toml_test.py). The parser reads the whole text at once and
 * builds a tree of values: tables (keys in document order), arrays, strings, 64-bit integers,
 * doubles, booleans and the four date-time kinds. Every value and every key remembers the line
 * and column where it starts, so that the config schema can point at the offending line.
 *
 * Errors are one line, "FILE:LINE:COL: message", in struct conf_toml_error; the parser stops
 * at the first error and frees what it built.
 *
 * Threads: a document is plain memory owned by the caller. Parsing allocates (dc_alloc), so it
 * is for start-up and control threads; reading a finished document is safe from any thread.
 */
#ifndef CONF_TOML_H
#define CONF_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits that keep hostile input from exhausting stack or memory. */
#define CONF_TOML_TEXT_BYTES_MAX (16u * 1024 * 1024) /* whole document */
#define CONF_TOML_DEPTH_MAX 128u                    /* nested arrays / inline tables */
#define CONF_TOML_KEY_PARTS_MAX 64u                 /* parts in one dotted key */
#define CONF_TOML_ERROR_BYTES 256u

enum conf_toml_type {
    CONF_TOML_TABLE = 1,
    CONF_TOML_ARRAY,
    CONF_TOML_STRING,
    CONF_TOML_INTEGER,
    CONF_TOML_FLOAT,
    CONF_TOML_BOOL,
    CONF_TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    CONF_TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    CONF_TOML_DATE_LOCAL,     /* 1979-05-27 */
    CONF_TOML_TIME_LOCAL,     /* 07:32:00 */
};

/* A date-time as written; fields that the kind lacks are zero. */
struct conf_toml_datetime {
    int32_t year;
    uint8_t month;
    uint8_t day;
    uint8_t hour;
    uint8_t minute;
    uint8_t second;
    uint8_t frac_digits;    /* digits after the decimal point as written, at most 9 kept */
    uint32_t nanosecond;
    int16_t offset_minutes; /* east of UTC, offset date-time only; Z is 0 */
};

struct conf_toml_value;

/* One key of a table: the last part of its (dotted) key, with where it was written. */
struct conf_toml_entry {
    char *key;       /* NUL-terminated; key_len counts bytes (a key may hold "\u0000") */
    size_t key_len;
    uint32_t line;   /* 1-based line of the key */
    uint32_t column; /* 1-based byte column of the key */
    struct conf_toml_value *value;
};

struct conf_toml_value {
    enum conf_toml_type type;
    uint32_t line;   /* 1-based: where the value (or the table's header) starts */
    uint32_t column; /* 1-based byte column */
    uint32_t flags;  /* parser bookkeeping (how a table was made); not for callers */
    union {
        struct {
            struct conf_toml_entry *entries; /* in document order */
            size_t count;
            size_t capacity;
            uint32_t *index;       /* hash index into entries (big tables only); internal */
            size_t index_slots;
        } table;
        struct {
            struct conf_toml_value **items;
            size_t count;
            size_t capacity;
        } array;
        struct {
            char *bytes; /* NUL-terminated UTF-8; len excludes the terminator */
            size_t len;
        } string;
        int64_t integer;
        double number;
        bool boolean;
        struct conf_toml_datetime datetime;
    } as;
};

/* A parsed document: the root table. Init by conf_toml_parse*(), release by conf_toml_fini(). */
struct conf_toml_doc {
    struct conf_toml_value root;
};

struct conf_toml_error {
    uint32_t line;   /* 0 when the error is not about a place in the text (I/O, memory) */
    uint32_t column;
    char message[CONF_TOML_ERROR_BYTES]; /* "FILE:LINE:COL: what is wrong", one line */
};

/*
 * Parse `len` bytes of TOML. `name` labels errors (a file name, or "-" for stdin).
 * Returns 0 and fills `doc`, or DC_EMALFORMED / DC_ETOOBIG / -ENOMEM with `err` filled and
 * `doc` left empty (conf_toml_fini() on it is still allowed). `err` may be NULL.
 */
int conf_toml_parse(struct conf_toml_doc *doc, const char *text, size_t len, const char *name,
                    struct conf_toml_error *err);

/* Read and parse a file. Also returns the negative errno of open/read failures. */
int conf_toml_parse_file(struct conf_toml_doc *doc, const char *path,
                         struct conf_toml_error *err);

/* Free everything the document holds. Idempotent. */
void conf_toml_fini(struct conf_toml_doc *doc);

/* "table", "array", "string", "integer", "float", "bool", "datetime", ... (toml-test names). */
const char *conf_toml_type_name(enum conf_toml_type type);

/* The value of one key (not dotted) in `table`, or NULL. `table` must be a table. */
const struct conf_toml_value *conf_toml_table_find(const struct conf_toml_value *table,
                                                   const char *key, size_t key_len);

/*
 * Lookup by dotted path, "consensus.required_confirmations", each part a bare key. Returns
 * NULL when a part is missing or a step is not a table.
 */
const struct conf_toml_value *conf_toml_get(const struct conf_toml_value *table,
                                            const char *path);

/* Iteration: entry `index` (< conf_toml_table_count) of a table, in document order. */
size_t conf_toml_table_count(const struct conf_toml_value *table);
const struct conf_toml_entry *conf_toml_table_at(const struct conf_toml_value *table,
                                                 size_t index);
size_t conf_toml_array_count(const struct conf_toml_value *array);
const struct conf_toml_value *conf_toml_array_at(const struct conf_toml_value *array,
                                                 size_t index);

/*
 * Typed getters by dotted path: 0, DC_ENOTFOUND (no such key) or DC_ETYPE (another type).
 * The string stays owned by the document.
 */
int conf_toml_get_string(const struct conf_toml_value *table, const char *path,
                         const char **out);
int conf_toml_get_int(const struct conf_toml_value *table, const char *path, int64_t *out);
int conf_toml_get_float(const struct conf_toml_value *table, const char *path, double *out);
int conf_toml_get_bool(const struct conf_toml_value *table, const char *path, bool *out);

/*
 * Write a date-time in RFC 3339 form ("1979-05-27T07:32:00.5-07:00", "07:32:00") into `buf`.
 * Returns the length written (excluding NUL), truncating like snprintf.
 */
int conf_toml_datetime_format(const struct conf_toml_value *value, char *buf, size_t size);

#endif
