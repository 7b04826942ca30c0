#include "common/dc_assert.h"

#include <stdio.h>
#include <stdlib.h>

void dc_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "dchat: assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
    fflush(stderr);
    abort();
}
