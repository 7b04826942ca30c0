/*
 * dchat config: check a config file, or show the effective configuration.
 *
 *   dchat config check FILE...            validate; errors as FILE:LINE:COL: message; exit 0/1
 *   dchat config show [--config FILE] [node flags]
 *                                         the settings a node would run with, and their sources
 * Main thread only.
 */
#include "engine/cmd.h"

#include "common/dc_err.h"
#include "conf/load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dchat config check [FILE...]  (no FILE: $DCHAT_CONFIG)\n"
            "       dchat config show [--config FILE] [node flags]\n"
            "check validates each file (unknown keys, types, ranges, quorum) and prints\n"
            "FILE:LINE:COL: message per error. show prints the effective configuration as\n"
            "TOML, each value commented with its source (flag > environment > file > default).\n"
            "Node flags:\n");
    conf_node_usage(out);
}

/* Validates each FILE, or $DCHAT_CONFIG when none is named. */
static int check(int argc, char **argv)
{
    static struct conf_node node; /* large; one at a time */
    char *from_env[] = { getenv("DCHAT_CONFIG"), NULL };
    char **files = argv + 1;
    int count = argc - 1;
    if (count == 0 && from_env[0] != NULL) {
        files = from_env;
        count = 1;
    }
    if (count == 0) {
        fprintf(stderr, "dchat config check: missing FILE (dchat config check FILE..., or set "
                        "DCHAT_CONFIG)\n");
        return 2;
    }
    int status = 0;
    for (int i = 0; i < count; i++) {
        char err[CONF_ERR_BYTES];
        if (conf_node_load_file(&node, files[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            status = 1;
        } else {
            printf("%s: ok\n", files[i]);
        }
    }
    return status;
}

static int show(int argc, char **argv)
{
    static struct conf_node node;
    char err[CONF_ERR_BYTES];
    if (conf_node_help_requested(argc, argv)) {
        usage(stdout);
        return 0;
    }
    int rc = conf_node_load(&node, argc, argv, environ, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return rc == DC_EUSAGE ? 2 : 1;
    }
    conf_node_print(&node, stdout);
    return 0;
}

int eng_cmd_config(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "check") == 0) {
        return check(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "show") == 0) {
        return show(argc - 1, argv + 1);
    }
    fprintf(stderr, "dchat config: unknown subcommand '%s' (check or show)\n", argv[1]);
    return 2;
}
