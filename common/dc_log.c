#include "common/dc_log.h"

#include "common/dc_err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = DC_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void dc_log_set_level(enum dc_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum dc_log_level dc_log_get_level(void)
{
    return (enum dc_log_level)atomic_load(&log_level);
}

int dc_log_level_parse(const char *name, enum dc_log_level *level_out)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level_out = (enum dc_log_level)i;
            return 0;
        }
    }
    return DC_ECONFIG;
}

void dc_log(enum dc_log_level level, const char *module, const char *fmt, ...)
{
    if ((int)level < atomic_load(&log_level)) {
        return;
    }
    char line[1024];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %-5s %s: ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000L, level_names[level], module);
    if (n < 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    /* One write per record: lines from different threads never interleave. */
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc;
}

int dc_log_limit_allow(struct dc_log_limit *limit, uint32_t burst)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    uint64_t s = (uint64_t)now.tv_sec;
    if (s != limit->last_s) {
        if (limit->suppressed > 0) {
            dc_log(DC_LOG_WARN, "log", "%u similar lines suppressed", limit->suppressed);
            limit->suppressed = 0;
        }
        limit->last_s = s;
        limit->tokens = burst;
    }
    if (limit->tokens == 0) {
        limit->suppressed++;
        return 0;
    }
    limit->tokens--;
    return 1;
}
