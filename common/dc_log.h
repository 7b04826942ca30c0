/*
 * dc_log: one-line log records on stderr: "<time> <level> <module>: message".
 *
 * Any thread may log; each record is written with a single write(2) so lines from different
 * threads never interleave. Hot-path code must use DC_LOG_RATELIMIT so that a flood of bad
 * packets cannot turn into a flood of log lines.
 */
#ifndef DC_LOG_H
#define DC_LOG_H

#include <stdint.h>

enum dc_log_level { DC_LOG_DEBUG = 0, DC_LOG_INFO, DC_LOG_WARN, DC_LOG_ERROR };

void dc_log_set_level(enum dc_log_level level);
enum dc_log_level dc_log_get_level(void);
/* Parse "debug", "info", "warn", "error"; 0 or DC_ECONFIG. */
int dc_log_level_parse(const char *name, enum dc_log_level *level_out);

__attribute__((format(printf, 3, 4)))
void dc_log(enum dc_log_level level, const char *module, const char *fmt, ...);

#define DC_DEBUG(mod, ...) dc_log(DC_LOG_DEBUG, mod, __VA_ARGS__)
#define DC_INFO(mod, ...) dc_log(DC_LOG_INFO, mod, __VA_ARGS__)
#define DC_WARN(mod, ...) dc_log(DC_LOG_WARN, mod, __VA_ARGS__)
#define DC_ERROR(mod, ...) dc_log(DC_LOG_ERROR, mod, __VA_ARGS__)

/* Token bucket for rate-limited logging: at most `burst` lines, refilled one per second. */
struct dc_log_limit {
    uint64_t last_s;
    uint32_t tokens;
    uint32_t suppressed;
};

/* True when a line may be logged now; counts the suppressed ones otherwise. */
int dc_log_limit_allow(struct dc_log_limit *limit, uint32_t burst);

#define DC_LOG_RATELIMIT(limit, level, mod, ...)                               \
    do {                                                                       \
        if (dc_log_limit_allow((limit), 10)) {                                 \
            dc_log((level), mod, __VA_ARGS__);                                 \
        }                                                                      \
    } while (0)

#endif
