#include "common/dc_alloc.h"

#include "common/dc_assert.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local int sealed;

void *dc_alloc(size_t size)
{
    DC_ASSERT(!sealed);
    return calloc(1, size);
}

void *dc_alloc_aligned(size_t align, size_t size)
{
    DC_ASSERT(!sealed);
    DC_ASSERT(align != 0 && (align & (align - 1)) == 0);
    size_t rounded = (size + align - 1) & ~(align - 1);
    void *p = aligned_alloc(align, rounded);
    if (p != NULL) {
        memset(p, 0, rounded);
    }
    return p;
}

void dc_free(void *ptr)
{
    free(ptr);
}

void dc_alloc_seal(void)
{
    sealed = 1;
}

int dc_alloc_sealed(void)
{
    return sealed;
}
