/*
 * noderec: signed node records and discovery messages (engine/noderec.h).
 *
 * Record layout (big-endian), docs/PROTOCOL.md "Discovery":
 *   u8 version | u8 role | u8 addr_count | u8 reserved=0 | u64 seq | pk[32]
 *   addr_count x ( u8 family (4|6) | u16 port | ip[4|16] )
 *   sig[64] = Ed25519 over "dchat-noderec-v1" || every byte before the signature
 * The domain prefix keeps a record signature from ever being valid as any other signed object.
 */
#include "engine/noderec.h"

#include "common/dc_assert.h"
#include "common/dc_err.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char sign_domain[] = "dchat-noderec-v1";
#define SIGN_DOMAIN_BYTES (sizeof(sign_domain) - 1)

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    }
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static int role_valid(uint8_t role)
{
    return role == ENG_NODEREC_ROLE_RELAY || role == ENG_NODEREC_ROLE_VALIDATOR;
}

static size_t addr_bytes(const struct eng_noderec_addr *addr)
{
    return addr->family == 4 ? ENG_NODEREC_ADDR4_BYTES : ENG_NODEREC_ADDR6_BYTES;
}

size_t eng_noderec_size(const struct eng_noderec *rec)
{
    size_t size = ENG_NODEREC_HDR_BYTES + ENG_NODEREC_SIG_BYTES;
    for (uint8_t i = 0; i < rec->addr_count; i++) {
        size += addr_bytes(&rec->addrs[i]);
    }
    return size;
}

/* Writes everything but the signature; returns its length. `out` holds the whole record. */
static size_t encode_body(const struct eng_noderec *rec, uint8_t *out)
{
    out[0] = ENG_NODEREC_VERSION;
    out[1] = rec->role;
    out[2] = rec->addr_count;
    out[3] = 0;
    put_u64(out + 4, rec->seq);
    memcpy(out + 12, rec->pk, ENG_NODEREC_PK_BYTES);
    size_t off = ENG_NODEREC_HDR_BYTES;
    for (uint8_t i = 0; i < rec->addr_count; i++) {
        const struct eng_noderec_addr *a = &rec->addrs[i];
        out[off] = a->family;
        put_u16(out + off + 1, a->port);
        memcpy(out + off + 3, a->ip, a->family == 4 ? 4 : 16);
        off += addr_bytes(a);
    }
    return off;
}

/* The signed message: domain || body. */
static size_t signed_message(const struct eng_noderec *rec, uint8_t *msg)
{
    memcpy(msg, sign_domain, SIGN_DOMAIN_BYTES);
    return SIGN_DOMAIN_BYTES + encode_body(rec, msg + SIGN_DOMAIN_BYTES);
}

int eng_noderec_make(struct eng_noderec *rec, const uint8_t sk[64], uint8_t role, uint64_t seq,
                     const struct eng_noderec_addr *addrs, uint8_t addr_count)
{
    if (!role_valid(role) || addr_count == 0 || addr_count > ENG_NODEREC_ADDR_MAX) {
        return DC_ERANGE;
    }
    for (uint8_t i = 0; i < addr_count; i++) {
        if (addrs[i].family != 4 && addrs[i].family != 6) {
            return DC_ERANGE;
        }
    }
    memset(rec, 0, sizeof(*rec));
    rec->role = role;
    rec->seq = seq;
    rec->addr_count = addr_count;
    memcpy(rec->addrs, addrs, addr_count * sizeof(addrs[0]));
    memcpy(rec->pk, sk + 32, ENG_NODEREC_PK_BYTES);
    crypto_generichash(rec->id, ENG_NODEREC_ID_BYTES, rec->pk, ENG_NODEREC_PK_BYTES, NULL, 0);
    uint8_t msg[SIGN_DOMAIN_BYTES + ENG_NODEREC_BYTES_MAX];
    size_t msg_len = signed_message(rec, msg);
    crypto_sign_detached(rec->sig, NULL, msg, msg_len, sk);
    return 0;
}

int eng_noderec_encode(const struct eng_noderec *rec, uint8_t *out, size_t cap)
{
    size_t size = eng_noderec_size(rec);
    if (size > cap) {
        return DC_ETOOBIG;
    }
    size_t body = encode_body(rec, out);
    DC_ASSERT(body + ENG_NODEREC_SIG_BYTES == size);
    memcpy(out + body, rec->sig, ENG_NODEREC_SIG_BYTES);
    return (int)size;
}

int eng_noderec_verify(const struct eng_noderec *rec)
{
    uint8_t msg[SIGN_DOMAIN_BYTES + ENG_NODEREC_BYTES_MAX];
    size_t msg_len = signed_message(rec, msg);
    if (crypto_sign_verify_detached(rec->sig, msg, msg_len, rec->pk) != 0) {
        return DC_ESIGNATURE;
    }
    return 0;
}

/* Parses the addresses after the header. Returns the offset after them or a DC_E* code. */
static int decode_addrs(struct eng_noderec *rec, const uint8_t *buf, size_t len)
{
    size_t off = ENG_NODEREC_HDR_BYTES;
    for (uint8_t i = 0; i < rec->addr_count; i++) {
        if (len - off < 1) {
            return DC_ETRUNCATED;
        }
        struct eng_noderec_addr *a = &rec->addrs[i];
        a->family = buf[off];
        if (a->family != 4 && a->family != 6) {
            return DC_EMALFORMED;
        }
        size_t need = addr_bytes(a);
        if (len - off < need) {
            return DC_ETRUNCATED;
        }
        a->port = get_u16(buf + off + 1);
        memcpy(a->ip, buf + off + 3, need - 3);
        off += need;
    }
    return (int)off;
}

/* Decodes one record; checks its signature unless `held` vouches for the exact same bytes. */
static int decode_record(struct eng_noderec *rec, const uint8_t *buf, size_t len,
                         const struct eng_disc_held *held)
{
    memset(rec, 0, sizeof(*rec));
    if (len < ENG_NODEREC_HDR_BYTES) {
        return DC_ETRUNCATED;
    }
    if (buf[0] != ENG_NODEREC_VERSION) {
        return DC_EVERSION;
    }
    if (!role_valid(buf[1]) || buf[2] == 0 || buf[2] > ENG_NODEREC_ADDR_MAX || buf[3] != 0) {
        return DC_EMALFORMED;
    }
    rec->role = buf[1];
    rec->addr_count = buf[2];
    rec->seq = get_u64(buf + 4);
    memcpy(rec->pk, buf + 12, ENG_NODEREC_PK_BYTES);
    int off = decode_addrs(rec, buf, len);
    if (off < 0) {
        return off;
    }
    if (len - (size_t)off < ENG_NODEREC_SIG_BYTES) {
        return DC_ETRUNCATED;
    }
    memcpy(rec->sig, buf + off, ENG_NODEREC_SIG_BYTES);
    crypto_generichash(rec->id, ENG_NODEREC_ID_BYTES, rec->pk, ENG_NODEREC_PK_BYTES, NULL, 0);
    int vouched = held != NULL && held->same(held->arg, rec);
    if (!vouched && eng_noderec_verify(rec) != 0) {
        memset(rec->id, 0, sizeof(rec->id));
        return DC_ESIGNATURE;
    }
    return off + ENG_NODEREC_SIG_BYTES;
}

int eng_noderec_decode(struct eng_noderec *rec, const uint8_t *buf, size_t len)
{
    return decode_record(rec, buf, len, NULL);
}

int eng_noderec_equal(const struct eng_noderec *a, const struct eng_noderec *b)
{
    uint8_t ea[ENG_NODEREC_BYTES_MAX], eb[ENG_NODEREC_BYTES_MAX];
    int la = eng_noderec_encode(a, ea, sizeof(ea));
    int lb = eng_noderec_encode(b, eb, sizeof(eb));
    return la == lb && memcmp(ea, eb, (size_t)la) == 0;
}

int eng_noderec_supersedes(const struct eng_noderec *held, const struct eng_noderec *incoming)
{
    if (memcmp(held->id, incoming->id, ENG_NODEREC_ID_BYTES) != 0) {
        return DC_EMEMBER;
    }
    if (incoming->seq < held->seq) {
        return DC_ESTALE;
    }
    if (incoming->seq == held->seq) {
        return eng_noderec_equal(held, incoming) ? DC_EDUPLICATE : DC_ECONFLICT;
    }
    return 0;
}

int eng_noderec_addr_from_sockaddr(struct eng_noderec_addr *out, const struct sockaddr *sa)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = 4;
        out->port = ntohs(in->sin_port);
        memcpy(out->ip, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->family = 6;
        out->port = ntohs(in6->sin6_port);
        memcpy(out->ip, &in6->sin6_addr, 16);
        return 0;
    }
    return DC_EMALFORMED;
}

void eng_noderec_addr_to_sockaddr(const struct eng_noderec_addr *addr,
                                  struct sockaddr_storage *out, socklen_t *len_out)
{
    memset(out, 0, sizeof(*out));
    if (addr->family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_port = htons(addr->port);
        memcpy(&in->sin_addr, addr->ip, 4);
        *len_out = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(addr->port);
        memcpy(&in6->sin6_addr, addr->ip, 16);
        *len_out = sizeof(*in6);
    }
}

int eng_noderec_addr_unspecified(const struct eng_noderec_addr *addr)
{
    static const uint8_t zero[16];
    return memcmp(addr->ip, zero, addr->family == 4 ? 4 : 16) == 0;
}

void eng_sockaddr_str(const struct sockaddr *sa, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(out, size, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(out, size, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, size, "?");
    }
}

int eng_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    struct eng_noderec_addr x, y;
    if (eng_noderec_addr_from_sockaddr(&x, a) != 0 || eng_noderec_addr_from_sockaddr(&y, b) != 0) {
        return 0;
    }
    return x.family == y.family && x.port == y.port && memcmp(x.ip, y.ip, 16) == 0;
}

/* ---- discovery messages ------------------------------------------------------------------ */

int eng_disc_encode(uint8_t *out, size_t cap, uint8_t type, uint64_t nonce,
                    const uint8_t *sender_rec, size_t sender_rec_len,
                    const uint8_t target[ENG_NODEREC_ID_BYTES],
                    const struct eng_noderec *nodes, uint8_t node_count)
{
    DC_ASSERT(type >= ENG_DISC_PING && type <= ENG_DISC_NODES);
    DC_ASSERT(node_count <= ENG_DISC_NODES_MAX);
    if (cap < ENG_DISC_HDR_BYTES + sender_rec_len) {
        return DC_ETOOBIG;
    }
    out[0] = ENG_DISC_VERSION;
    out[1] = type;
    out[2] = 0;
    out[3] = 0;
    put_u64(out + 4, nonce);
    memcpy(out + ENG_DISC_HDR_BYTES, sender_rec, sender_rec_len);
    size_t off = ENG_DISC_HDR_BYTES + sender_rec_len;
    if (type == ENG_DISC_FIND) {
        if (cap - off < ENG_NODEREC_ID_BYTES) {
            return DC_ETOOBIG;
        }
        memcpy(out + off, target, ENG_NODEREC_ID_BYTES);
        off += ENG_NODEREC_ID_BYTES;
    } else if (type == ENG_DISC_NODES) {
        if (cap - off < 1) {
            return DC_ETOOBIG;
        }
        out[off++] = node_count;
        for (uint8_t i = 0; i < node_count; i++) {
            int n = eng_noderec_encode(&nodes[i], out + off, cap - off);
            if (n < 0) {
                return n;
            }
            off += (size_t)n;
        }
    }
    return (int)off;
}

static int decode_nodes(struct eng_disc_msg *msg, const uint8_t *buf, size_t len, size_t off,
                        const struct eng_disc_held *held)
{
    if (len - off < 1) {
        return DC_ETRUNCATED;
    }
    msg->node_count = buf[off++];
    if (msg->node_count > ENG_DISC_NODES_MAX) {
        return DC_ETOOBIG;
    }
    for (uint8_t i = 0; i < msg->node_count; i++) {
        int n = decode_record(&msg->nodes[i], buf + off, len - off, held);
        if (n < 0) {
            return n;
        }
        off += (size_t)n;
    }
    return (int)off;
}

int eng_disc_decode(struct eng_disc_msg *msg, const uint8_t *buf, size_t len)
{
    return eng_disc_decode_held(msg, buf, len, NULL);
}

int eng_disc_decode_held(struct eng_disc_msg *msg, const uint8_t *buf, size_t len,
                         const struct eng_disc_held *held)
{
    msg->node_count = 0;
    if (len < ENG_DISC_HDR_BYTES) {
        return DC_ETRUNCATED;
    }
    if (buf[0] != ENG_DISC_VERSION) {
        return DC_EVERSION;
    }
    msg->type = buf[1];
    if (msg->type < ENG_DISC_PING || msg->type > ENG_DISC_NODES || buf[2] != 0 || buf[3] != 0) {
        return DC_EMALFORMED;
    }
    msg->nonce = get_u64(buf + 4);
    int n = decode_record(&msg->sender, buf + ENG_DISC_HDR_BYTES, len - ENG_DISC_HDR_BYTES, held);
    if (n < 0) {
        return n;
    }
    size_t off = ENG_DISC_HDR_BYTES + (size_t)n;
    if (msg->type == ENG_DISC_FIND) {
        if (len - off < ENG_NODEREC_ID_BYTES) {
            return DC_ETRUNCATED;
        }
        memcpy(msg->target, buf + off, ENG_NODEREC_ID_BYTES);
        off += ENG_NODEREC_ID_BYTES;
    } else if (msg->type == ENG_DISC_NODES) {
        n = decode_nodes(msg, buf, len, off, held);
        if (n < 0) {
            return n;
        }
        off = (size_t)n;
    }
    return off == len ? 0 : DC_EMALFORMED;
}
