/*
 * dc_alloc: the one allocator entry point (jemalloc underneath).
 *
 * Everything is allocated at start-up. A hot-path thread calls dc_alloc_seal() once its pools
 * are built; from then on any dc_alloc() on that thread aborts, so a stray allocation on the
 * data path is a crash in tests rather than a latency spike in production. Control threads
 * never seal and may allocate within configured bounds.
 */
#ifndef DC_ALLOC_H
#define DC_ALLOC_H

#include <stddef.h>

/* Zeroed memory, or NULL when out of memory. Aborts on a sealed thread. */
void *dc_alloc(size_t size);
/* Zeroed, `align` a power of two (cache-line alignment for per-core state). */
void *dc_alloc_aligned(size_t align, size_t size);
void dc_free(void *ptr);
/* Forbid allocation on the calling thread from now on. */
void dc_alloc_seal(void);
/* Whether the calling thread is sealed. */
int dc_alloc_sealed(void);

#endif
