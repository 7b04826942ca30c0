/* Placeholder until its issue lands: answers with a clear error instead of pretending. */
#include "engine/cmd.h"

#include <stdio.h>

int eng_cmd_genesis(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dchat: dchat genesis is not yet available in this build\n");
    return 2;
}

int eng_cmd_chain(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dchat: dchat chain is not yet available in this build\n");
    return 2;
}
