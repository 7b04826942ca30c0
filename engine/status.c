/* Placeholder until its issue lands: answers with a clear error instead of pretending. */
#include "engine/cmd.h"

#include <stdio.h>

int eng_cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dchat: dchat status is not yet available in this build\n");
    return 2;
}
