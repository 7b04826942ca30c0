/*
 * conf_maddr: multiaddr and host:port parsing, printing and resolution (see maddr.h).
 */
#include "conf/maddr.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int set_why(const char **why, const char *text)
{
    if (why != NULL) {
        *why = text;
    }
    return DC_EMALFORMED;
}

/* Decimal port 0-65535, no sign, at most 5 digits, whole string. */
static int parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > 5) {
        return -1;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535) {
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
static int valid_hostname(const char *s, size_t len)
{
    if (len == 0 || len > 253) {
        return 0;
    }
    size_t label = 0;
    int only_digits_and_dots = 1;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? s[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-') {
                return 0;
            }
            label = 0;
            continue;
        }
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && label > 0)) {
            return 0;
        }
        if (!(c >= '0' && c <= '9')) {
            only_digits_and_dots = 0;
        }
        label++;
    }
    return !only_digits_and_dots; /* "1.2.3" is a broken IPv4 address, not a name */
}

/* Fills kind/ip/host from a host text of the given kind (IP4, IP6, or a DNS kind). */
static int set_host(struct conf_maddr *out, enum conf_maddr_kind kind, const char *s,
                    size_t len, const char **why)
{
    char tmp[CONF_MADDR_HOST_BYTES];
    if (len == 0) {
        return set_why(why, "missing host");
    }
    if (len >= sizeof(tmp)) {
        return set_why(why, "host name too long");
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    out->kind = (uint8_t)kind;
    if (kind == CONF_MADDR_IP4 || kind == CONF_MADDR_IP6) {
        int af = kind == CONF_MADDR_IP4 ? AF_INET : AF_INET6;
        if (inet_pton(af, tmp, out->ip) != 1) {
            return set_why(why, kind == CONF_MADDR_IP4 ? "bad IPv4 address" : "bad IPv6 address");
        }
        DC_ASSERT(inet_ntop(af, out->ip, out->host, sizeof(out->host)) != NULL);
        return 0;
    }
    if (!valid_hostname(tmp, len)) {
        return set_why(why, "bad host name");
    }
    memcpy(out->host, tmp, len + 1);
    return 0;
}

/* One '/'-separated component starting at *s (after its slash). */
static size_t component(const char *s)
{
    const char *slash = strchr(s, '/');
    return slash != NULL ? (size_t)(slash - s) : strlen(s);
}

static int parse_multiaddr(struct conf_maddr *out, const char *text, const char **why)
{
    static const struct {
        const char *name;
        enum conf_maddr_kind kind;
    } protos[] = {
        { "ip4", CONF_MADDR_IP4 }, { "ip6", CONF_MADDR_IP6 }, { "dns4", CONF_MADDR_DNS4 },
        { "dns6", CONF_MADDR_DNS6 }, { "dns", CONF_MADDR_DNS },
    };
    const char *s = text + 1;
    size_t n = component(s);
    size_t i = 0;
    while (i < DC_ARRAY_LEN(protos) &&
           !(strlen(protos[i].name) == n && memcmp(protos[i].name, s, n) == 0)) {
        i++;
    }
    if (i == DC_ARRAY_LEN(protos)) {
        return set_why(why, "unknown protocol (want /ip4, /ip6, /dns4, /dns6 or /dns)");
    }
    s += n;
    if (*s++ != '/') {
        return set_why(why, "missing host after the protocol");
    }
    n = component(s);
    int rc = set_host(out, protos[i].kind, s, n, why);
    if (rc != 0) {
        return rc;
    }
    s += n;
    if (strncmp(s, "/udp/", 5) != 0 && strncmp(s, "/tcp/", 5) != 0) {
        return set_why(why, "missing /udp/PORT or /tcp/PORT");
    }
    out->tcp = s[1] == 't';
    s += 5;
    n = component(s);
    if (parse_port(s, n, &out->port) != 0) {
        return set_why(why, "bad port (want 0-65535)");
    }
    if (s[n] != '\0') {
        return set_why(why, "unexpected text after the port");
    }
    out->form = CONF_MADDR_FORM_MULTIADDR;
    return 0;
}

static int is_ip4_text(const char *s, size_t len)
{
    char tmp[INET_ADDRSTRLEN];
    struct in_addr probe;
    if (len >= sizeof(tmp)) {
        return 0;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    return inet_pton(AF_INET, tmp, &probe) == 1;
}

static int parse_hostport(struct conf_maddr *out, const char *text, const char **why)
{
    const char *colon;
    int rc;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL) {
            return set_why(why, "missing ']' after the IPv6 address");
        }
        rc = set_host(out, CONF_MADDR_IP6, text + 1, (size_t)(close - text - 1), why);
        colon = close + 1;
        if (rc == 0 && *colon != ':') {
            return set_why(why, "missing ':PORT' after the address");
        }
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL) {
            return set_why(why, "missing ':PORT' (want HOST:PORT or a multiaddr)");
        }
        if (memchr(text, ':', (size_t)(colon - text)) != NULL) {
            return set_why(why, "an IPv6 address needs brackets: [ADDR]:PORT");
        }
        size_t n = (size_t)(colon - text);
        rc = set_host(out, is_ip4_text(text, n) ? CONF_MADDR_IP4 : CONF_MADDR_DNS, text, n, why);
    }
    if (rc != 0) {
        return rc;
    }
    if (parse_port(colon + 1, strlen(colon + 1), &out->port) != 0) {
        return set_why(why, "bad port (want 0-65535)");
    }
    out->form = CONF_MADDR_FORM_HOSTPORT;
    return 0;
}

int conf_maddr_parse(struct conf_maddr *out, const char *text, const char **why)
{
    DC_ASSERT(out != NULL);
    DC_ASSERT(text != NULL);
    memset(out, 0, sizeof(*out));
    if (text[0] == '\0') {
        return set_why(why, "empty address");
    }
    int rc = text[0] == '/' ? parse_multiaddr(out, text, why) : parse_hostport(out, text, why);
    if (rc != 0) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

int conf_maddr_format(const struct conf_maddr *addr, char *buf, size_t size)
{
    static const char *const names[] = { "?", "ip4", "ip6", "dns4", "dns6", "dns" };
    DC_ASSERT(addr->kind >= CONF_MADDR_IP4 && addr->kind <= CONF_MADDR_DNS);
    return snprintf(buf, size, "/%s/%s/%s/%u", names[addr->kind], addr->host,
                    addr->tcp ? "tcp" : "udp", addr->port);
}

int conf_maddr_format_hostport(const struct conf_maddr *addr, char *buf, size_t size)
{
    DC_ASSERT(addr->kind >= CONF_MADDR_IP4 && addr->kind <= CONF_MADDR_DNS);
    if (addr->kind == CONF_MADDR_IP6) {
        return snprintf(buf, size, "[%s]:%u", addr->host, addr->port);
    }
    return snprintf(buf, size, "%s:%u", addr->host, addr->port);
}

int conf_maddr_format_as_written(const struct conf_maddr *addr, char *buf, size_t size)
{
    return addr->form == CONF_MADDR_FORM_HOSTPORT ? conf_maddr_format_hostport(addr, buf, size)
                                                  : conf_maddr_format(addr, buf, size);
}

static int resolve_numeric(const struct conf_maddr *addr, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (addr->kind == CONF_MADDR_IP4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(addr->port);
        memcpy(&sin->sin_addr, addr->ip, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(addr->port);
        memcpy(&sin6->sin6_addr, addr->ip, 16);
    }
    return 0;
}

static int gai_to_err(int gai)
{
    switch (gai) {
    case EAI_AGAIN: return -EAGAIN;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_SYSTEM: return errno != 0 ? -errno : -EIO;
    default: return DC_ENOTFOUND;
    }
}

int conf_maddr_resolve(const struct conf_maddr *addr, struct sockaddr_storage *out, size_t max,
                       size_t *count)
{
    DC_ASSERT(max > 0);
    *count = 0;
    if (addr->kind == CONF_MADDR_IP4 || addr->kind == CONF_MADDR_IP6) {
        *count = 1;
        return resolve_numeric(addr, out);
    }
    struct addrinfo hints = { 0 };
    hints.ai_family = addr->kind == CONF_MADDR_DNS4   ? AF_INET
                      : addr->kind == CONF_MADDR_DNS6 ? AF_INET6
                                                      : AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof(port), "%u", addr->port);
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(addr->host, port, &hints, &res);
    if (gai != 0) {
        return gai_to_err(gai);
    }
    for (struct addrinfo *ai = res; ai != NULL && *count < max; ai = ai->ai_next) {
        if (ai->ai_addrlen <= sizeof(out[0])) {
            memset(&out[*count], 0, sizeof(out[0]));
            memcpy(&out[*count], ai->ai_addr, ai->ai_addrlen);
            (*count)++;
        }
    }
    freeaddrinfo(res);
    return *count > 0 ? 0 : DC_ENOTFOUND;
}

int conf_maddr_resolve_text(const char *text, int port_zero_ok, struct sockaddr_storage *out,
                            socklen_t *len_out)
{
    struct conf_maddr addr;
    size_t count = 0;
    int rc = conf_maddr_parse(&addr, text, NULL);
    if (rc != 0) {
        return rc;
    }
    if (addr.port == 0 && !port_zero_ok) {
        return DC_ERANGE;
    }
    rc = conf_maddr_resolve(&addr, out, 1, &count);
    if (rc != 0) {
        return rc;
    }
    *len_out = out->ss_family == AF_INET ? (socklen_t)sizeof(struct sockaddr_in)
                                         : (socklen_t)sizeof(struct sockaddr_in6);
    return 0;
}
