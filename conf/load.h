/*
 * conf_load: a node's effective configuration from flags, environment, file and defaults.
 *
 * Precedence, highest first (DESIGN.md section 6):
 *   1. command-line flags (--listen, --bootstrap-nodes, ... : conf_schema[].flag)
 *   2. environment: DCHAT_BOOTSTRAP_PEERS, DCHAT_VALIDATOR_KEY, DCHAT_PORT (conf_schema[].env),
 *      and DCHAT_CONFIG, the path of the config file (--config beats it)
 *   3. the TOML file
 *   4. the defaults in conf_schema[]
 * Every value records where it came from (conf_node.origin[]), which `dchat config show`
 * prints. Unknown keys, flags and bad values are errors naming the place (FILE:LINE:COL, the
 * flag, or the variable), the key, and the closest known key when there is one.
 *
 * Threads: main thread at start-up (reads files, allocates while parsing).
 */
#ifndef CONF_LOAD_H
#define CONF_LOAD_H

#include "conf/schema.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONF_ERRORS_MAX 20u     /* error lines collected by one load */
#define CONF_ERR_BYTES 4096u    /* a buffer that holds them all */

/*
 * Fill `out` from argv (argv[0] is the program or subcommand and is skipped), `envp` (NULL
 * terminated, as main()'s third argument or `environ`) and the config file named by --config
 * or DCHAT_CONFIG (none: defaults only). Flags are --name VALUE or --name=VALUE.
 * Returns 0, or the first error's code: DC_EUSAGE (bad flag), DC_EUNKNOWNKEY, DC_ETYPE,
 * DC_ERANGE, DC_EMALFORMED, DC_ETOOBIG, DC_EQUORUM or DC_ECONFIG (cross-checks), or a
 * negative errno (unreadable file). `err` then holds one line per error (at most
 * CONF_ERRORS_MAX), newline-separated, without a trailing newline. --help is a usage error
 * here: check conf_node_help_requested() first.
 */
int conf_node_load(struct conf_node *out, int argc, char **argv, char **envp, char *err,
                   size_t err_size);

/* Defaults plus one file, with the same checks: what `dchat config check FILE` runs. */
int conf_node_load_file(struct conf_node *out, const char *path, char *err, size_t err_size);

/* The same from text in memory; `name` labels errors and origins (tests, fuzzing, tools). */
int conf_node_load_text(struct conf_node *out, const char *text, size_t len, const char *name,
                        char *err, size_t err_size);

/* Whether argv holds --help or -h. */
bool conf_node_help_requested(int argc, char **argv);

/* Every flag with its value form and help line, generated from conf_schema[]. */
void conf_node_usage(FILE *out);

/* The effective configuration as TOML, each value commented with where it came from. */
void conf_node_print(const struct conf_node *node, FILE *out);

/* "default", "file", "env", "flag". */
const char *conf_source_name(enum conf_source source);

/* Votes needed to commit: required_confirmations, or 2f+1 when it is 0; 0 without validators. */
int64_t conf_node_quorum(const struct conf_node *node);

#endif
