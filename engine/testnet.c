/*
 * dchat testnet: the single-server network (seed Part 8): N validators and M relays on
 * loopback, as child processes of this one.
 *
 *   DIR/net/genesis.toml, DIR/net/validator<i>.key   made by `dchat genesis` when absent
 *   DIR/validator-<i>/   data directory (genesis.toml copied in, votes.wal, blocks-*.log)
 *   DIR/relay-<i>/       data directory and node.key
 *   DIR/logs/<name>.log  each node's stderr and stdout
 *   DIR/run/<name>.pid, DIR/run/<name>.args   the child's pid and its argv, one per line
 *                        (so an operator or a test can stop one node and start it again)
 *
 * Validator i listens on its genesis address and serves RPC on RPC_BASE+i-1; relay i listens
 * on RELAY_BASE+i-1 and serves RPC on RPC_BASE+10+i-1. Relays gossip to each other and to
 * every validator (--peers), and everyone bootstraps discovery from validator 1. The parent
 * waits until every node's /health answers 200, then prints the `dchat status` dashboard
 * every --status-interval seconds until SIGINT/SIGTERM or --duration, and then stops every
 * child (SIGTERM, SIGKILL after a grace period). A child that exits early is reported and
 * not restarted: the network runs on without it, as a real one would.
 *
 * Exit status: 0 after a clean stop, 1 when the network could not be set up or started, 2 on
 * a usage error. Main thread only.
 */
#include "engine/cmd.h"
#include "engine/key.h"
#include "engine/status.h"

#include "common/dc_err.h"
#include "consensus/genesis.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TESTNET_USAGE                                                                       \
    "usage: dchat testnet [--dir DIR] [--duration S] [--validators N] [--relays M]\n"      \
    "                     [--base-port P] [--relay-port P] [--rpc-port P] [--status-interval S]"
#define NODES_MAX 32
#define ARGS_MAX 32
#define ARG_BYTES 1200
#define HEALTH_WAIT_S 60
#define STOP_GRACE_S 10
#define DIR_BYTES 1024 /* --dir and the directories under it; file paths get PATH_MAX */

struct testnet_args {
    const char *dir;
    long duration_s;    /* 0: until a signal */
    long validators;
    long relays;
    long base_port;     /* validators' UDP ports, when the genesis is made here */
    long relay_port;
    long rpc_port;
    long status_s;
};

struct child {
    char name[32];
    char rpc[32];
    pid_t pid;          /* 0: not running */
    int argc;
    char argv[ARGS_MAX][ARG_BYTES];
};

static struct child children[NODES_MAX];
static int child_count;
static char self_exe[PATH_MAX];

/* ---- command line ---- */

static long number(const char *flag, const char *text, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "dchat testnet: %s '%s' must be a whole number from %ld to %ld\n",
                flag, text, min, max);
        return -1;
    }
    return v;
}

/* 0 parsed, 1 help printed, 2 usage error printed. */
static int parse_args(int argc, char **argv, struct testnet_args *a)
{
    *a = (struct testnet_args){ .dir = "testnet-data", .validators = 4, .relays = 4,
                                .base_port = 9000, .relay_port = 8000, .rpc_port = 7070,
                                .status_s = 10 };
    for (int i = 1; i < argc; i += 2) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            printf("%s\n", TESTNET_USAGE);
            return 1;
        }
        long *num = strcmp(flag, "--duration") == 0          ? &a->duration_s
                    : strcmp(flag, "--validators") == 0      ? &a->validators
                    : strcmp(flag, "--relays") == 0          ? &a->relays
                    : strcmp(flag, "--base-port") == 0       ? &a->base_port
                    : strcmp(flag, "--relay-port") == 0      ? &a->relay_port
                    : strcmp(flag, "--rpc-port") == 0        ? &a->rpc_port
                    : strcmp(flag, "--status-interval") == 0 ? &a->status_s
                                                             : NULL;
        if (value == NULL || (num == NULL && strcmp(flag, "--dir") != 0)) {
            fprintf(stderr, "dchat testnet: unknown or incomplete argument '%s'\n%s\n", flag,
                    TESTNET_USAGE);
            return 2;
        }
        if (num == NULL) {
            a->dir = value;
            if (strlen(value) > DIR_BYTES - 32) {
                fprintf(stderr, "dchat testnet: --dir is longer than %d bytes\n", DIR_BYTES - 32);
                return 2;
            }
            continue;
        }
        long max = num == &a->validators || num == &a->relays ? 16
                   : num == &a->duration_s || num == &a->status_s ? 86400 * 365
                                                                   : 65535 - 32;
        *num = number(flag, value, num == &a->duration_s ? 0 : 1, max);
        if (*num < 0) {
            return 2;
        }
    }
    return 0;
}

/* ---- files ---- */

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "dchat testnet: cannot create '%s': %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* Copy `from` to `to` unless `to` exists. 0 or 1 (error printed). */
static int copy_once(const char *from, const char *to)
{
    if (access(to, F_OK) == 0) {
        return 0;
    }
    FILE *in = fopen(from, "rb");
    FILE *out = in != NULL ? fopen(to, "wbx") : NULL;
    int ok = in != NULL && out != NULL;
    char buf[4096];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
        ok = fwrite(buf, 1, n, out) == n;
    }
    ok = ok && !ferror(in);
    if (out != NULL && fclose(out) != 0) {
        ok = 0;
    }
    if (in != NULL) {
        fclose(in);
    }
    if (!ok) {
        fprintf(stderr, "dchat testnet: cannot copy '%s' to '%s': %s\n", from, to,
                strerror(errno));
    }
    return ok ? 0 : 1;
}

static int relay_key(const char *path)
{
    if (access(path, F_OK) == 0) {
        return 0;
    }
    struct eng_key key;
    int rc = eng_key_generate(&key);
    if (rc == 0) {
        rc = eng_key_save(&key, path);
    }
    if (rc != 0) {
        fprintf(stderr, "dchat testnet: cannot write '%s': %s\n", path, dc_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- children ---- */

static void add_arg(struct child *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_arg(struct child *c, const char *fmt, ...)
{
    if (c->argc >= ARGS_MAX) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->argv[c->argc++], ARG_BYTES, fmt, ap);
    va_end(ap);
}

static void write_run_files(const char *dir, const struct child *c)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/run/%s.args", dir, c->name);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        for (int i = 1; i < c->argc; i++) {
            fprintf(f, "%s\n", c->argv[i]);
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/run/%s.pid", dir, c->name);
    f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%ld\n", (long)c->pid);
        fclose(f);
    }
}

/* Fork and exec this binary with the child's argv, output to DIR/logs/NAME.log. */
static int spawn(const char *dir, struct child *c)
{
    char log[PATH_MAX];
    snprintf(log, sizeof(log), "%s/logs/%s.log", dir, c->name);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "dchat testnet: cannot open '%s': %s\n", log, strerror(errno));
        return 1;
    }
    char *argv[ARGS_MAX + 1];
    for (int i = 0; i < c->argc; i++) {
        argv[i] = c->argv[i];
    }
    argv[c->argc] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(self_exe, argv);
        fprintf(stderr, "dchat testnet: cannot run '%s': %s\n", self_exe, strerror(errno));
        _exit(127);
    }
    close(fd);
    if (pid < 0) {
        fprintf(stderr, "dchat testnet: fork: %s\n", strerror(errno));
        return 1;
    }
    c->pid = pid;
    write_run_files(dir, c);
    return 0;
}

/* Run `dchat genesis` into DIR/net when there is no genesis yet. */
static int ensure_genesis(const struct testnet_args *a, const char *net)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", net, CONS_GENESIS_FILE_NAME);
    if (access(path, F_OK) == 0) {
        return 0;
    }
    struct child g = { .name = "genesis" };
    add_arg(&g, "dchat");
    add_arg(&g, "genesis");
    add_arg(&g, "--validators");
    add_arg(&g, "%ld", a->validators);
    add_arg(&g, "--out");
    add_arg(&g, "%s", net);
    add_arg(&g, "--base-port");
    add_arg(&g, "%ld", a->base_port);
    if (spawn(a->dir, &g) != 0) {
        return 1;
    }
    int status = 0;
    if (waitpid(g.pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "dchat testnet: dchat genesis failed (see %s/logs/genesis.log)\n",
                a->dir);
        return 1;
    }
    printf("testnet: made %ld validator keys and %s\n", a->validators, path);
    return 0;
}

static void common_args(struct child *c, const char *role, const char *listen, long rpc,
                        const char *data, const char *key, const char *bootstrap)
{
    add_arg(c, "dchat");
    add_arg(c, "--role");
    add_arg(c, "%s", role);
    add_arg(c, "--listen");
    add_arg(c, "%s", listen);
    add_arg(c, "--rpc");
    add_arg(c, "127.0.0.1:%ld", rpc);
    snprintf(c->rpc, sizeof(c->rpc), "127.0.0.1:%ld", rpc);
    add_arg(c, "--data-dir");
    add_arg(c, "%s", data);
    add_arg(c, "--key");
    add_arg(c, "%s", key);
    add_arg(c, "--bootstrap-nodes");
    add_arg(c, "%s", bootstrap);
    add_arg(c, "--peer-check-interval");
    add_arg(c, "2");
    /* A relay is where users' messages enter and are verified (peer links carry them on
     * unchecked but for a sample): two workers, which sleep when idle; a validator checks
     * only samples. */
    add_arg(c, "--verify-workers");
    add_arg(c, "%d", strcmp(role, "relay") == 0 ? 2 : 1);
}

/* The validators from the genesis (their addresses), then the relays. 0 or 1. */
static int plan(const struct testnet_args *a, const char *net)
{
    static struct cons_genesis g;
    char path[PATH_MAX], err[CONS_GENESIS_ERROR_BYTES];
    snprintf(path, sizeof(path), "%s/%s", net, CONS_GENESIS_FILE_NAME);
    if (cons_genesis_load(&g, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "dchat testnet: %s\n", err);
        return 1;
    }
    if (g.count + (uint32_t)a->relays > NODES_MAX) {
        fprintf(stderr, "dchat testnet: %s names %u validators; at most %d nodes in all\n",
                path, g.count, NODES_MAX);
        return 1;
    }
    static char peers[ARG_BYTES];
    int n = 0;
    for (uint32_t i = 0; i < g.count; i++) {
        n += snprintf(peers + n, sizeof(peers) - (size_t)n, "%s%s", i ? "," : "",
                      g.validators[i].address);
    }
    for (long r = 0; r < a->relays; r++) {
        n += snprintf(peers + n, sizeof(peers) - (size_t)n, ",127.0.0.1:%ld", a->relay_port + r);
    }
    for (uint32_t i = 0; i < g.count; i++) {
        struct child *c = &children[child_count++];
        char data[DIR_BYTES], key[PATH_MAX];
        snprintf(c->name, sizeof(c->name), "validator-%u", i + 1);
        snprintf(data, sizeof(data), "%s/%s", a->dir, c->name);
        snprintf(key, sizeof(key), "%s/validator%u.key", net, i + 1);
        snprintf(path, sizeof(path), "%s/%s", data, CONS_GENESIS_FILE_NAME);
        char from[PATH_MAX];
        snprintf(from, sizeof(from), "%s/%s", net, CONS_GENESIS_FILE_NAME);
        if (make_dir(data) != 0 || copy_once(from, path) != 0) {
            return 1;
        }
        common_args(c, "validator", g.validators[i].address, a->rpc_port + (long)i, data, key,
                    i == 0 ? "" : g.validators[0].address);
    }
    for (long r = 0; r < a->relays; r++) {
        struct child *c = &children[child_count++];
        char data[DIR_BYTES], key[PATH_MAX], listen[32];
        snprintf(c->name, sizeof(c->name), "relay-%ld", r + 1);
        snprintf(data, sizeof(data), "%s/%s", a->dir, c->name);
        snprintf(key, sizeof(key), "%s/node.key", data);
        snprintf(listen, sizeof(listen), "127.0.0.1:%ld", a->relay_port + r);
        if (make_dir(data) != 0 || relay_key(key) != 0) {
            return 1;
        }
        common_args(c, "relay", listen, a->rpc_port + 10 + r, data, key, g.validators[0].address);
        add_arg(c, "--peers");
        add_arg(c, "%s", peers);
        /* relays follow the chain: FINAL records to their subscribers, GET /messages/{id} */
        add_arg(c, "--genesis");
        add_arg(c, "%s/%s", net, CONS_GENESIS_FILE_NAME);
    }
    return 0;
}

/* Reap children that exited; report each once. */
static void reap(int quiet)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < child_count; i++) {
            if (children[i].pid != pid) {
                continue;
            }
            children[i].pid = 0;
            if (!quiet) {
                fprintf(stderr, "testnet: %s (pid %ld) exited (%s %d): see its log\n",
                        children[i].name, (long)pid,
                        WIFEXITED(status) ? "status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            }
        }
    }
}

static int healthy(const struct child *c)
{
    int code = 0;
    char *body = NULL;
    int rc = eng_http_get(c->rpc, "/health", 1000, &code, &body);
    free(body);
    return rc == 0 && code == 200;
}

/* Sleep up to `s` seconds unless SIGINT/SIGTERM arrives: 1 when one did. */
static int wait_signal(const sigset_t *set, long s)
{
    struct timespec t = { s, 0 };
    int sig = sigtimedwait(set, NULL, &t);
    return sig == SIGINT || sig == SIGTERM;
}

/* 0 every node answers /health 200; 1 a node died or time ran out; 2 interrupted. */
static int wait_healthy(const sigset_t *set)
{
    time_t deadline = time(NULL) + HEALTH_WAIT_S;
    for (;;) {
        reap(0);
        int up = 0;
        for (int i = 0; i < child_count; i++) {
            if (children[i].pid == 0) {
                fprintf(stderr, "dchat testnet: %s stopped during start-up\n",
                        children[i].name);
                return 1;
            }
            up += healthy(&children[i]);
        }
        if (up == child_count) {
            return 0;
        }
        if (time(NULL) > deadline) {
            fprintf(stderr, "dchat testnet: only %d of %d nodes healthy after %d s\n", up,
                    child_count, HEALTH_WAIT_S);
            return 1;
        }
        if (wait_signal(set, 1)) {
            return 2;
        }
    }
}

static void stop_all(void)
{
    for (int i = 0; i < child_count; i++) {
        if (children[i].pid > 0) {
            kill(children[i].pid, SIGTERM);
        }
    }
    time_t deadline = time(NULL) + STOP_GRACE_S;
    for (;;) {
        reap(1);
        int left = 0;
        for (int i = 0; i < child_count; i++) {
            left += children[i].pid > 0;
        }
        if (left == 0) {
            return;
        }
        if (time(NULL) > deadline) {
            for (int i = 0; i < child_count; i++) {
                if (children[i].pid > 0) {
                    fprintf(stderr, "testnet: %s did not stop: SIGKILL\n", children[i].name);
                    kill(children[i].pid, SIGKILL);
                    waitpid(children[i].pid, NULL, 0);
                    children[i].pid = 0;
                }
            }
            return;
        }
        struct timespec t = { 0, 50 * 1000 * 1000 };
        nanosleep(&t, NULL);
    }
}

static void dashboard(void)
{
    static char nodes[NODES_MAX * 32];
    int n = 0;
    for (int i = 0; i < child_count; i++) {
        n += snprintf(nodes + n, sizeof(nodes) - (size_t)n, "%s%s", i ? "," : "",
                      children[i].rpc);
    }
    char *argv[] = { "status", "--nodes", nodes, NULL };
    printf("---- testnet %s ----\n", "status");
    fflush(stdout);
    (void)eng_cmd_status(3, argv);
    fflush(stdout);
}

/* Dashboard every status_s until a signal or the duration ends. */
static void serve(const struct testnet_args *a, const sigset_t *set)
{
    time_t end = a->duration_s > 0 ? time(NULL) + a->duration_s : 0;
    time_t next = 0;
    for (;;) {
        reap(0);
        time_t now = time(NULL);
        if (end != 0 && now >= end) {
            printf("testnet: --duration %ld s is over\n", a->duration_s);
            return;
        }
        if (now >= next) {
            dashboard();
            next = now + a->status_s;
        }
        if (wait_signal(set, 1)) {
            printf("testnet: signal received\n");
            return;
        }
    }
}

static int set_up(const struct testnet_args *a)
{
    char net[DIR_BYTES], path[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (len <= 0) {
        fprintf(stderr, "dchat testnet: cannot find this program: %s\n", strerror(errno));
        return 1;
    }
    self_exe[len] = '\0';
    snprintf(net, sizeof(net), "%s/net", a->dir);
    if (make_dir(a->dir) != 0) {
        return 1;
    }
    snprintf(path, sizeof(path), "%s/logs", a->dir);
    if (make_dir(path) != 0) {
        return 1;
    }
    snprintf(path, sizeof(path), "%s/run", a->dir);
    if (make_dir(path) != 0 || ensure_genesis(a, net) != 0) {
        return 1;
    }
    return plan(a, net);
}

int eng_cmd_testnet(int argc, char **argv)
{
    /* Line by line even into a file or pipe: scripts wait for these lines. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct testnet_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }
    /* Blocked before any child exists: signals are taken with sigtimedwait, and children
     * unblock them before exec. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (set_up(&a) != 0) {
        return 1;
    }
    for (int i = 0; i < child_count; i++) {
        if (spawn(a.dir, &children[i]) != 0) {
            stop_all();
            return 1;
        }
    }
    printf("testnet: started %d nodes (logs in %s/logs); waiting until healthy\n",
           child_count, a.dir);
    fflush(stdout);
    rc = wait_healthy(&set);
    if (rc == 0) {
        printf("testnet: all %d nodes healthy\n", child_count);
        serve(&a, &set);
        dashboard();
    }
    stop_all();
    printf("testnet: stopped\n");
    return rc == 1 ? 1 : 0;
}
