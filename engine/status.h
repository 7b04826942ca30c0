/*
 * status: `dchat status`, the health dashboard (one line per node from its RPC), and the small
 * HTTP/1.0 GET client it uses (also used by tests). Main thread only; no state.
 */
#ifndef ENG_STATUS_H
#define ENG_STATUS_H

#include <stddef.h>

#define ENG_HTTP_RESPONSE_BYTES_MAX (4u << 20)

/*
 * Splits an HTTP response in buf[len]: the status code into *code and the body's offset into
 * *body_off. 0, DC_ETRUNCATED (no end of headers yet) or DC_EMALFORMED.
 */
int eng_http_parse_response(const char *buf, size_t len, int *code, size_t *body_off);

/*
 * GET http://`hostport``path` ("HOST:PORT", "[V6]:PORT", or with an "http://" prefix) within
 * `timeout_ms` in all. On success returns 0 with the status code in *code and the body,
 * NUL-terminated, in a buffer the caller frees (*body). -ECONNREFUSED, -ETIMEDOUT, other
 * -errno, DC_ECONFIG (address), DC_EMALFORMED (not HTTP) or DC_ETOOBIG.
 */
int eng_http_get(const char *hostport, const char *path, int timeout_ms, int *code,
                 char **body);

#endif
