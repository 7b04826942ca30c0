/*
 * cmd_config: the bridge from the config loader (conf/load.h) to the node's settings
 * (engine/node_config.h), beside the `dchat config` command that shows the same settings.
 *
 * Main thread only, at start-up: it reads the config file and resolves host names.
 */
#ifndef ENG_CMD_CONFIG_H
#define ENG_CMD_CONFIG_H

#include <stddef.h>

struct eng_node_config;

/*
 * Fill `cfg` from flags > environment (DCHAT_CONFIG, DCHAT_BOOTSTRAP_PEERS,
 * DCHAT_VALIDATOR_KEY, DCHAT_PORT) > config file > defaults, exactly as `dchat config show`
 * reports them. argv[0] is the program; envp is main()'s environment (`environ`).
 * Returns 0; 1 when --help was printed (exit 0); or DC_EUSAGE (bad flag) / DC_EUNKNOWNKEY /
 * DC_ETYPE / DC_ERANGE / DC_EMALFORMED / DC_EQUORUM / DC_ECONFIG / a negative errno (file
 * unreadable, name does not resolve) with `err` holding one line per error. Bootstrap and
 * static peer names that do not resolve are skipped with a warning (one dead name must not
 * keep a node down); listen and RPC addresses must resolve.
 * The caller still runs eng_node_config_check() for the node's own cross-checks.
 */
int eng_node_config_load(struct eng_node_config *cfg, int argc, char **argv, char **envp,
                         char *err, size_t err_size);

#endif
