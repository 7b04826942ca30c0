/*
 * dc_assert: assertions that stay on in release builds.
 *
 * DC_ASSERT() catches our own bugs (never bad input: that is an error to return and count).
 * DC_ASSERT_SLOW() is for O(n) checks; it is compiled in only when DC_DEBUG_SLOW is defined
 * (debug and simulator builds). Any thread may assert; a failure logs the expression, file and
 * line to stderr and aborts.
 */
#ifndef DC_ASSERT_H
#define DC_ASSERT_H

_Noreturn void dc_assert_fail(const char *expr, const char *file, int line, const char *func);

#define DC_LIKELY(x) __builtin_expect(!!(x), 1)
#define DC_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define DC_ASSERT(cond)                                                        \
    do {                                                                       \
        if (DC_UNLIKELY(!(cond))) {                                            \
            dc_assert_fail(#cond, __FILE__, __LINE__, __func__);               \
        }                                                                      \
    } while (0)

#ifdef DC_DEBUG_SLOW
#define DC_ASSERT_SLOW(cond) DC_ASSERT(cond)
#else
#define DC_ASSERT_SLOW(cond) ((void)0)
#endif

#define DC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
