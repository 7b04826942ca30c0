#include "dataplane/idring.h"

#include "common/dc_alloc.h"

#include <errno.h>

int dp_idring_init(struct dp_idring *ring, uint32_t size)
{
    return dp_idring_init_items(ring, size, DP_IDRING_ID_BYTES);
}

int dp_idring_init_items(struct dp_idring *ring, uint32_t size, uint32_t item_bytes)
{
    if (size < 2 || size > DP_IDRING_SIZE_MAX || (size & (size - 1)) != 0 || item_bytes == 0 ||
        item_bytes > 256) {
        return -EINVAL;
    }
    memset(ring, 0, sizeof(*ring));
    ring->item_bytes = item_bytes;
    ring->slots = dc_alloc_aligned(DP_CACHE_LINE, (size_t)size * item_bytes);
    if (ring->slots == NULL) {
        return -ENOMEM;
    }
    ring->size = size;
    ring->mask = size - 1;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    return 0;
}

void dp_idring_fini(struct dp_idring *ring)
{
    dc_free(ring->slots);
    ring->slots = NULL;
    ring->size = 0;
}
