/*
 * conf_maddr: node addresses, as multiaddrs or as plain host:port.
 *
 * Accepted forms (the seed's config uses the first two):
 *   /ip4/203.0.113.7/tcp/9000      /ip6/2001:db8::1/udp/9000
 *   /dns4/validator1.example/tcp/9000   /dns6/name/udp/9000   /dns/name/udp/9000
 *   203.0.113.7:9000   [2001:db8::1]:9000   validator1.example:9000
 * dchat speaks one protocol, UDP datagrams (DESIGN.md section 3). A /tcp/ component is
 * accepted because operators copy libp2p-style addresses, and it means the same thing as
 * /udp/: the node's one UDP port. The address keeps which word was written so that printing
 * it gives back what the operator typed.
 *
 * Parsing and printing are pure and thread-safe. conf_maddr_resolve() calls getaddrinfo(),
 * which blocks: call it at start-up or from the control thread, never from the hot path.
 */
#ifndef CONF_MADDR_H
#define CONF_MADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONF_MADDR_HOST_BYTES 256u /* a DNS name is at most 253 characters */
#define CONF_MADDR_TEXT_BYTES 300u /* enough for any address conf_maddr_format() prints */

enum conf_maddr_kind {
    CONF_MADDR_IP4 = 1, /* numeric IPv4 */
    CONF_MADDR_IP6,     /* numeric IPv6 */
    CONF_MADDR_DNS4,    /* name resolved to IPv4 only */
    CONF_MADDR_DNS6,    /* name resolved to IPv6 only */
    CONF_MADDR_DNS,     /* name resolved to either family */
};

enum conf_maddr_form {
    CONF_MADDR_FORM_MULTIADDR = 1, /* written as /ip4/.../udp/PORT */
    CONF_MADDR_FORM_HOSTPORT,      /* written as host:port */
};

struct conf_maddr {
    uint8_t kind;      /* enum conf_maddr_kind */
    uint8_t form;      /* enum conf_maddr_form */
    uint8_t tcp;       /* 1 when written with /tcp/ (same meaning as /udp/, see above) */
    uint16_t port;     /* host byte order; 0 only where a caller allows "any port" */
    uint8_t ip[16];    /* network byte order: 4 bytes for IP4, 16 for IP6 */
    char host[CONF_MADDR_HOST_BYTES]; /* the name, or the IP in canonical text form */
};

/*
 * Parse `text`. Returns 0, or DC_EMALFORMED with *why set to a static phrase naming the
 * problem ("port out of range", "unknown protocol '/quic'", ...). `why` may be NULL.
 */
int conf_maddr_parse(struct conf_maddr *out, const char *text, const char **why);

/* Print as a multiaddr ("/ip4/127.0.0.1/udp/9000"); /tcp/ stays /tcp/. Like snprintf. */
int conf_maddr_format(const struct conf_maddr *addr, char *buf, size_t size);

/* Print as host:port ("127.0.0.1:9000", "[::1]:9000", "name:9000"). Like snprintf. */
int conf_maddr_format_hostport(const struct conf_maddr *addr, char *buf, size_t size);

/* Print in the form it was written (multiaddr or host:port). Like snprintf. */
int conf_maddr_format_as_written(const struct conf_maddr *addr, char *buf, size_t size);

/*
 * Resolve to UDP socket addresses (a numeric address needs no lookup). Fills up to `max`
 * entries of `out` and sets *count. Returns 0 (at least one address), DC_ENOTFOUND when the
 * name has no address of the wanted family, or -EAGAIN for a temporary DNS failure.
 * Blocks: start-up and control thread only.
 */
int conf_maddr_resolve(const struct conf_maddr *addr, struct sockaddr_storage *out, size_t max,
                       size_t *count);

/*
 * Parse any accepted form and resolve it: one call for code that holds an address as text
 * (a bootstrap node re-resolved when it stays silent). Fills the first address and its
 * length. Returns 0, DC_EMALFORMED (bad text), DC_ERANGE (port 0 without `port_zero_ok`),
 * DC_ENOTFOUND or -EAGAIN. Blocks like conf_maddr_resolve().
 */
int conf_maddr_resolve_text(const char *text, int port_zero_ok, struct sockaddr_storage *out,
                            socklen_t *len_out);

#endif
