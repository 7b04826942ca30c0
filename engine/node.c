/*
 * node: `dchat --role relay|validator ...`: parse -> configure -> allocate -> launch -> wait.
 *
 * The main thread owns the lifecycle only: it loads the settings (one loader call, see
 * load_config()), opens the dataplane, starts the control plane, waits for SIGINT/SIGTERM
 * while logging a periodic stats line, and tears everything down in reverse.
 */
#include "engine/cmd.h"
#include "engine/node_config.h"

#include "common/dc_err.h"
#include "common/dc_log.h"

#include <stdio.h>

/*
 * The one place settings are loaded. Today: defaults + flags. The config loader (flag > env >
 * file > defaults) replaces this body. 0, 1 (help printed) or an error after one stderr line.
 */
static int load_config(struct eng_node_config *cfg, int argc, char **argv)
{
    char err[512] = "";
    eng_node_config_defaults(cfg);
    int rc = eng_node_config_parse_flags(cfg, argc, argv, err, sizeof(err));
    if (rc == 0) {
        rc = eng_node_config_check(cfg, err, sizeof(err));
    }
    if (rc < 0) {
        fprintf(stderr, "dchat: %s\n", err);
    }
    return rc;
}

int eng_cmd_node(int argc, char **argv)
{
    struct eng_node_config cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    fprintf(stderr, "dchat: the relay dataplane is not yet available in this build\n");
    return 1;
}
