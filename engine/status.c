/*
 * status: `dchat status [--nodes URL,...] [--json]` (engine/status.h).
 *
 * For each node it reads /node/info, /network/peers and /chain/status, prints one line, and
 * then checks the nodes against each other: two nodes at the same height with different hashes
 * disagree. Exit status: 0 when every node answered and none disagrees, 1 otherwise, 2 on a
 * usage error.
 */
#include "engine/status.h"

#include "common/dc_err.h"
#include "engine/cmd.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STATUS_NODES_MAX 64
#define STATUS_TIMEOUT_MS_DEFAULT 2000
#define STATUS_DEFAULT_NODES                                                                    \
    "127.0.0.1:7070,127.0.0.1:7071,127.0.0.1:7072,127.0.0.1:7073,"                              \
    "127.0.0.1:7080,127.0.0.1:7081,127.0.0.1:7082,127.0.0.1:7083"

/* ---- HTTP client ------------------------------------------------------------------------- */

int eng_http_parse_response(const char *buf, size_t len, int *code, size_t *body_off)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL) {
        return DC_ETRUNCATED;
    }
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ') {
        return DC_EMALFORMED;
    }
    int c = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') {
            return DC_EMALFORMED;
        }
        c = c * 10 + (buf[i] - '0');
    }
    if (c < 100 || (len > 12 && buf[12] != ' ' && buf[12] != '\r')) {
        return DC_EMALFORMED;
    }
    *code = c;
    *body_off = (size_t)(end - buf) + 4;
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "http://host:port/..." -> host and port strings. 0 or DC_ECONFIG. */
static int split_hostport(const char *text, char *host, size_t host_size, char *port,
                          size_t port_size)
{
    if (strncmp(text, "http://", 7) == 0) {
        text += 7;
    }
    size_t len = strcspn(text, "/");
    const char *colon;
    const char *h = text;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (close == NULL || close[1] != ':') {
            return DC_ECONFIG;
        }
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = memrchr(text, ':', len);
        if (colon == NULL) {
            return DC_ECONFIG;
        }
        hlen = (size_t)(colon - text);
    }
    size_t plen = len - (size_t)(colon + 1 - text);
    if (hlen == 0 || hlen >= host_size || plen == 0 || plen >= port_size) {
        return DC_ECONFIG;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    return strspn(port, "0123456789") == plen ? 0 : DC_ECONFIG;
}

/* Non-blocking connect with a deadline. Returns the fd or -errno. */
static int connect_by(const char *host, const char *port, int64_t deadline)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        return DC_ECONFIG;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = fd < 0 ? -errno : 0;
    if (rc == 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        rc = errno == EINPROGRESS ? 0 : -errno;
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int64_t left = deadline - mono_ms();
        if (rc == 0 && poll(&pfd, 1, left > 0 ? (int)left : 0) <= 0) {
            rc = -ETIMEDOUT;
        }
        int err = 0;
        socklen_t elen = sizeof(err);
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err != 0) {
            rc = -err;
        }
    }
    freeaddrinfo(res);
    if (rc != 0 && fd >= 0) {
        close(fd);
    }
    return rc != 0 ? rc : fd;
}

/* Sends `req` and reads until the server closes, into a growing buffer. */
static int exchange(int fd, const char *req, int64_t deadline, char **out, size_t *out_len)
{
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        return -errno;
    }
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            return -ENOMEM;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            free(buf);
            return -ETIMEDOUT;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            free(buf);
            return -errno;
        }
        if (n == 0) {
            break;
        }
        len += n > 0 ? (size_t)n : 0;
        if (len + 1 == cap) {
            if (cap >= ENG_HTTP_RESPONSE_BYTES_MAX) {
                free(buf);
                return DC_ETOOBIG;
            }
            cap *= 2;
            char *bigger = realloc(buf, cap);
            if (bigger == NULL) {
                free(buf);
            }
            buf = bigger;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

int eng_http_get(const char *hostport, const char *path, int timeout_ms, int *code,
                 char **body)
{
    char host[256], port[16], req[600];
    *body = NULL;
    if (split_hostport(hostport, host, sizeof(host), port, sizeof(port)) != 0) {
        return DC_ECONFIG;
    }
    int64_t deadline = mono_ms() + timeout_ms;
    int fd = connect_by(host, port, deadline);
    if (fd < 0) {
        return fd;
    }
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
             path, host);
    char *buf = NULL;
    size_t len = 0;
    int rc = exchange(fd, req, deadline, &buf, &len);
    close(fd);
    if (rc != 0) {
        return rc;
    }
    size_t off;
    rc = eng_http_parse_response(buf, len, code, &off);
    if (rc != 0) {
        free(buf);
        return DC_EMALFORMED;
    }
    memmove(buf, buf + off, len - off + 1);
    *body = buf;
    return 0;
}

/* ---- the dashboard ----------------------------------------------------------------------- */

struct node_status {
    char url[256];
    int reachable;
    char error[128];
    char role[16];
    char id[17];
    double connected, known, height, validators, online, msgs_per_s;
    char hash[65];
    int disagrees;
};

/* GET one path and parse it as a JSON object. NULL with `st->error` set on failure. */
static cJSON *fetch_json(struct node_status *st, const char *path, int timeout_ms)
{
    int code = 0;
    char *body = NULL;
    int rc = eng_http_get(st->url, path, timeout_ms, &code, &body);
    if (rc != 0) {
        snprintf(st->error, sizeof(st->error), "unreachable: %s", dc_strerror(rc));
        return NULL;
    }
    cJSON *obj = cJSON_Parse(body);
    free(body);
    if (code != 200 || !cJSON_IsObject(obj)) {
        snprintf(st->error, sizeof(st->error), "%s answered %d%s", path, code,
                 cJSON_IsObject(obj) ? "" : " (not JSON)");
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

static double num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static void str(const cJSON *obj, const char *key, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    snprintf(out, size, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static void probe(struct node_status *st, int timeout_ms)
{
    cJSON *info = fetch_json(st, "/node/info", timeout_ms);
    cJSON *peers = info ? fetch_json(st, "/network/peers", timeout_ms) : NULL;
    cJSON *chain = peers ? fetch_json(st, "/chain/status", timeout_ms) : NULL;
    if (chain != NULL) {
        st->reachable = 1;
        str(info, "role", st->role, sizeof(st->role));
        str(info, "id", st->id, sizeof(st->id));
        st->msgs_per_s = num(info, "messages_per_s");
        st->connected = num(peers, "connected_peers");
        st->known = num(peers, "known_peers");
        st->height = num(chain, "height");
        st->validators = num(chain, "validators");
        st->online = num(chain, "online_validators");
        str(chain, "hash", st->hash, sizeof(st->hash));
    }
    cJSON_Delete(info);
    cJSON_Delete(peers);
    cJSON_Delete(chain);
}

/* Marks every node whose hash differs from another's at the same height. Returns how many. */
static int find_disagreements(struct node_status *st, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            if (i != j && st[i].reachable && st[j].reachable && st[i].height == st[j].height &&
                strcmp(st[i].hash, st[j].hash) != 0) {
                st[i].disagrees = 1;
            }
        }
        bad += st[i].disagrees;
    }
    return bad;
}

static void print_line(const struct node_status *st, int colour)
{
    const char *red = colour ? "\033[31m" : "", *green = colour ? "\033[32m" : "";
    const char *yellow = colour ? "\033[33m" : "", *reset = colour ? "\033[0m" : "";
    if (!st->reachable) {
        printf("%-22s %s%s%s\n", st->url, red, st->error, reset);
        return;
    }
    int isolated = st->known > 1 && st->connected == 0;
    int partial = st->connected + 1 < st->known;
    printf("%-22s %-9s %speers %.0f/%.0f%s  height %-8.0f hash %-8.8s  %8.1f msg/s  %s%s%s\n",
           st->url, st->role, isolated ? red : (partial ? yellow : green), st->connected,
           st->known, reset, st->height, st->hash[0] ? st->hash : "-", st->msgs_per_s,
           st->disagrees ? red : green, st->disagrees ? "DISAGREES" : "ok", reset);
}

static void print_json(const struct node_status *st, int n, int ok)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "ok", ok);
    cJSON *arr = cJSON_AddArrayToObject(root, "nodes");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "url", st[i].url);
        cJSON_AddBoolToObject(o, "reachable", st[i].reachable);
        if (!st[i].reachable) {
            cJSON_AddStringToObject(o, "error", st[i].error);
        } else {
            cJSON_AddStringToObject(o, "role", st[i].role);
            cJSON_AddNumberToObject(o, "connected_peers", st[i].connected);
            cJSON_AddNumberToObject(o, "known_peers", st[i].known);
            cJSON_AddNumberToObject(o, "height", st[i].height);
            cJSON_AddStringToObject(o, "hash", st[i].hash);
            cJSON_AddNumberToObject(o, "validators", st[i].validators);
            cJSON_AddNumberToObject(o, "online_validators", st[i].online);
            cJSON_AddNumberToObject(o, "messages_per_s", st[i].msgs_per_s);
            cJSON_AddBoolToObject(o, "disagrees", st[i].disagrees);
        }
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(root);
    if (text != NULL) {
        printf("%s\n", text);
    }
    cJSON_free(text);
    cJSON_Delete(root);
}

static int parse_nodes(const char *list, struct node_status *st, int max)
{
    int n = 0;
    const char *p = list;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof(st[0].url) || n == max) {
            return -1;
        }
        memset(&st[n], 0, sizeof(st[n]));
        memcpy(st[n].url, p, len);
        n++;
        p += len;
        p += *p == ',';
    }
    return n;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "dchat status: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (usage: dchat status [--nodes URL,...] [--json] [--timeout-ms N])\n");
    return 2;
}

static void summary(const struct node_status *st, int n, int disagree, int colour)
{
    int up = 0;
    double best = 0, vals = 0, online = 0;
    for (int i = 0; i < n; i++) {
        up += st[i].reachable;
        if (st[i].reachable && st[i].height >= best) {
            best = st[i].height;
            vals = st[i].validators;
            online = st[i].online;
        }
    }
    int ok = up == n && disagree == 0;
    printf("%s%d/%d nodes reachable, consensus %.0f/%.0f, height %.0f, %s%s\n",
           colour ? (ok ? "\033[32m" : "\033[31m") : "", up, n, online, vals, best,
           disagree ? "chain DISAGREES" : (up > 0 ? "chain agrees" : "no chain data"),
           colour ? "\033[0m" : "");
}

int eng_cmd_status(int argc, char **argv)
{
    const char *nodes = STATUS_DEFAULT_NODES;
    int json = 0, timeout_ms = STATUS_TIMEOUT_MS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
            nodes = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 60000) {
                return usage_error("--timeout-ms '%s' is not 1..60000", argv[i]);
            }
            timeout_ms = (int)v;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: dchat status [--nodes URL,...] [--json] [--timeout-ms N]\n");
            return 0;
        } else {
            return usage_error("unknown or incomplete argument '%s'", argv[i]);
        }
    }
    static struct node_status st[STATUS_NODES_MAX];
    int n = parse_nodes(nodes, st, STATUS_NODES_MAX);
    if (n <= 0) {
        return usage_error("--nodes '%s' is not a comma-separated list of HOST:PORT", nodes);
    }
    for (int i = 0; i < n; i++) {
        probe(&st[i], timeout_ms);
    }
    int disagree = find_disagreements(st, n);
    int ok = disagree == 0;
    for (int i = 0; i < n; i++) {
        ok &= st[i].reachable;
    }
    if (json) {
        print_json(st, n, ok);
    } else {
        int colour = isatty(STDOUT_FILENO);
        for (int i = 0; i < n; i++) {
            print_line(&st[i], colour);
        }
        summary(st, n, disagree, colour);
    }
    return ok ? 0 : 1;
}
