/*
 * dchat: the program. main() reads the first argument and hands the rest to one subcommand;
 * `dchat --role ...` (no subcommand) runs a node.
 */
#include "engine/cmd.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    { "keygen", eng_cmd_keygen,
      "keygen --out FILE        write an Ed25519 key, print the node id" },
    { "genesis", eng_cmd_genesis,
      "genesis --validators N --out DIR   keys and genesis for a local network" },
    { "chain", eng_cmd_chain, "chain verify --data-dir DIR   check the stored chain" },
    { "config", eng_cmd_config, "config check FILE | config show [--config FILE]" },
    { "status", eng_cmd_status, "status [--nodes URL,...] [--json]   health dashboard" },
    { "testnet", eng_cmd_testnet, "testnet [--dir DIR]     run the single-server testnet" },
};

static void usage(FILE *out)
{
    fprintf(out,
            "dchat %s: kernel-bypass relay and BFT consensus engine\n\n"
            "Run a node:\n"
            "  dchat --role relay|validator [--config FILE] [--listen HOST:PORT]\n"
            "        [--bootstrap-nodes LIST] [--peers LIST] [--key FILE] [--cores LIST]\n"
            "        [--verify-workers N] [--poll adaptive|busy] [--rpc HOST:PORT]\n"
            "        [--data-dir DIR]        (dchat --role relay --help for every flag)\n\n"
            "Commands:\n",
            DCHAT_VERSION);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  dchat %s\n", commands[i].help);
    }
    fprintf(out, "  dchat --help | --version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0 ||
        strcmp(first, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "version") == 0) {
        printf("dchat %s\n", DCHAT_VERSION);
        return 0;
    }
    if (first[0] == '-') {
        return eng_cmd_node(argc, argv);
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(first, commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "dchat: unknown command '%s' (try: dchat --help)\n", first);
    return 2;
}
