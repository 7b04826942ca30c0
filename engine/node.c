/* Placeholder until its issue lands: answers with a clear error instead of pretending. */
#include "engine/cmd.h"

#include <stdio.h>

int eng_cmd_node(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dchat: running a node (dchat --role ...) is not yet available in this build\n");
    return 2;
}
