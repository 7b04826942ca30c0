/* conf/maddr.c: multiaddr and host:port parsing, printing and resolution. */
#include "conf/maddr.h"

#include "common/dc_err.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static void round_trip(const char *text, const char *multiaddr, const char *hostport)
{
    struct conf_maddr a;
    const char *why = NULL;
    char buf[CONF_MADDR_TEXT_BYTES];
    cr_assert_eq(conf_maddr_parse(&a, text, &why), 0, "%s: %s", text, why);
    conf_maddr_format(&a, buf, sizeof(buf));
    cr_assert_str_eq(buf, multiaddr);
    conf_maddr_format_hostport(&a, buf, sizeof(buf));
    cr_assert_str_eq(buf, hostport);
    conf_maddr_format_as_written(&a, buf, sizeof(buf));
    cr_assert_str_eq(buf, text[0] == '/' ? multiaddr : hostport);
}

Test(conf_maddr, accepted_forms_round_trip)
{
    round_trip("/ip4/0.0.0.0/tcp/9000", "/ip4/0.0.0.0/tcp/9000", "0.0.0.0:9000");
    round_trip("/ip4/127.0.0.1/udp/65535", "/ip4/127.0.0.1/udp/65535", "127.0.0.1:65535");
    round_trip("/ip6/2001:db8:0:0::1/udp/7", "/ip6/2001:db8::1/udp/7", "[2001:db8::1]:7");
    round_trip("/dns4/validator1.dchat.local/tcp/9000", "/dns4/validator1.dchat.local/tcp/9000",
               "validator1.dchat.local:9000");
    round_trip("/dns6/a-b.example/udp/1", "/dns6/a-b.example/udp/1", "a-b.example:1");
    round_trip("/dns/x/udp/2", "/dns/x/udp/2", "x:2");
    round_trip("validator1.dchat.local:9000", "/dns/validator1.dchat.local/udp/9000",
               "validator1.dchat.local:9000");
    round_trip("10.1.2.3:80", "/ip4/10.1.2.3/udp/80", "10.1.2.3:80");
    round_trip("[::1]:9000", "/ip6/::1/udp/9000", "[::1]:9000");
}

Test(conf_maddr, tcp_is_remembered_but_means_the_udp_port)
{
    struct conf_maddr a;
    cr_assert_eq(conf_maddr_parse(&a, "/ip4/1.2.3.4/tcp/9000", NULL), 0);
    cr_assert_eq(a.tcp, 1);
    cr_assert_eq(a.port, 9000);
    cr_assert_eq(a.kind, CONF_MADDR_IP4);
    cr_assert_eq(memcmp(a.ip, "\x01\x02\x03\x04", 4), 0);
}

static void rejected(const char *text, const char *reason_part)
{
    struct conf_maddr a;
    const char *why = NULL;
    cr_assert_eq(conf_maddr_parse(&a, text, &why), DC_EMALFORMED, "%s accepted", text);
    cr_assert_not_null(why);
    cr_assert(strstr(why, reason_part) != NULL, "%s: '%s' lacks '%s'", text, why, reason_part);
}

Test(conf_maddr, bad_input_gets_a_reason)
{
    rejected("", "empty");
    rejected("/ip4/1.2.3/tcp/9000", "IPv4");
    rejected("/ip4/1.2.3.4/tcp/65536", "port");
    rejected("/ip4/1.2.3.4/tcp/", "port");
    rejected("/ip4/1.2.3.4/tcp/-1", "port");
    rejected("/ip4/1.2.3.4", "/udp/PORT");
    rejected("/ip4/1.2.3.4/sctp/9", "/udp/PORT");
    rejected("/ip4/1.2.3.4/udp/9/p2p/x", "after the port");
    rejected("/quic/1.2.3.4/udp/9", "unknown protocol");
    rejected("/ip6/1.2.3.4/udp/9", "IPv6");
    rejected("/dns4/-bad.example/tcp/1", "host name");
    rejected("/dns4/a..b/tcp/1", "host name");
    rejected("/dns4//tcp/1", "missing host");
    rejected("1.2.3:9000", "host name");
    rejected("::1:9000", "brackets");
    rejected("[::1:9000", "]");
    rejected("[::1]9000", ":PORT");
    rejected("host", ":PORT");
    rejected("host:", "port");
    rejected("host:99999", "port");
    rejected(":80", "missing host");
}

Test(conf_maddr, numeric_addresses_resolve_without_dns)
{
    struct conf_maddr a;
    struct sockaddr_storage out[4];
    size_t count = 0;
    cr_assert_eq(conf_maddr_parse(&a, "/ip4/127.0.0.1/udp/9001", NULL), 0);
    cr_assert_eq(conf_maddr_resolve(&a, out, 4, &count), 0);
    cr_assert_eq(count, 1);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&out[0];
    cr_assert_eq(sin->sin_family, AF_INET);
    cr_assert_eq(ntohs(sin->sin_port), 9001);
    cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    cr_assert_eq(conf_maddr_parse(&a, "[::1]:7", NULL), 0);
    cr_assert_eq(conf_maddr_resolve(&a, out, 4, &count), 0);
    cr_assert_eq(((const struct sockaddr_in6 *)&out[0])->sin6_port, htons(7));
}

Test(conf_maddr, localhost_resolves_and_unknown_names_do_not)
{
    struct conf_maddr a;
    struct sockaddr_storage out[8];
    size_t count = 0;
    cr_assert_eq(conf_maddr_parse(&a, "/dns4/localhost/udp/5", NULL), 0);
    cr_assert_eq(conf_maddr_resolve(&a, out, 8, &count), 0); /* from /etc/hosts */
    cr_assert_geq(count, 1);
    cr_assert_eq(out[0].ss_family, AF_INET);
    cr_assert_eq(conf_maddr_parse(&a, "/dns4/no-such-host.invalid/udp/5", NULL), 0);
    int rc = conf_maddr_resolve(&a, out, 8, &count);
    cr_assert(rc == DC_ENOTFOUND || rc == -EAGAIN, "rc %d", rc);
    cr_assert_eq(count, 0);
}

Test(conf_maddr, resolve_text_takes_every_form)
{
    struct sockaddr_storage sa;
    socklen_t len = 0;
    cr_assert_eq(conf_maddr_resolve_text("/ip4/127.0.0.1/tcp/9000", 0, &sa, &len), 0);
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    cr_assert_eq(ntohs(((struct sockaddr_in *)&sa)->sin_port), 9000);
    cr_assert_eq(conf_maddr_resolve_text("/dns4/localhost/udp/9001", 0, &sa, &len), 0);
    cr_assert_eq(sa.ss_family, AF_INET);
    cr_assert_eq(conf_maddr_resolve_text("[::1]:9002", 0, &sa, &len), 0);
    cr_assert_eq(len, sizeof(struct sockaddr_in6));
    cr_assert_eq(conf_maddr_resolve_text("localhost:0", 0, &sa, &len), DC_ERANGE);
    cr_assert_eq(conf_maddr_resolve_text("127.0.0.1:0", 1, &sa, &len), 0);
    cr_assert_eq(conf_maddr_resolve_text("nonsense", 0, &sa, &len), DC_EMALFORMED);
}
