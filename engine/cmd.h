/*
 * cmd: the entry points of the `dchat` subcommands, one function each.
 *
 * engine/main.c dispatches argv to these through its command table. Each takes the arguments
 * after the subcommand name (argv[0] is the subcommand) and returns the process exit status:
 * 0 on success, 1 when the work failed, 2 on a usage error. Each prints its own errors as one
 * clear line on stderr. Called from the main thread only.
 */
#ifndef ENG_CMD_H
#define ENG_CMD_H

int eng_cmd_keygen(int argc, char **argv);   /* engine/keygen.c */
int eng_cmd_node(int argc, char **argv);     /* engine/node.c: dchat --role ... */
int eng_cmd_genesis(int argc, char **argv);  /* engine/cmd_chain.c */
int eng_cmd_chain(int argc, char **argv);    /* engine/cmd_chain.c */
int eng_cmd_config(int argc, char **argv);   /* engine/cmd_config.c */
int eng_cmd_status(int argc, char **argv);   /* engine/status.c */
int eng_cmd_testnet(int argc, char **argv);  /* engine/testnet.c */

#endif
