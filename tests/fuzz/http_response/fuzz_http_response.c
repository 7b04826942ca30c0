/*
 * libFuzzer target for the HTTP response parser of `dchat status` (engine/status.c): any bytes
 * a server sends must give an error or a status code 100..999 with the body inside the input.
 */
#include "engine/status.h"

#include "common/dc_assert.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    DC_ASSERT(buf != NULL);
    memcpy(buf, data, size);
    int code = 0;
    size_t off = 0;
    if (eng_http_parse_response(buf, size, &code, &off) == 0) {
        DC_ASSERT(code >= 100 && code <= 999);
        DC_ASSERT(off >= 4 && off <= size);
        DC_ASSERT(memcmp(buf + off - 4, "\r\n\r\n", 4) == 0);
    }
    free(buf);
    return 0;
}
