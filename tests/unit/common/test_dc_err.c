#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

Test(dc_err, names_every_domain_code)
{
    for (int code = -(DC_ERR_BASE + 1); code > DC_ERR_LAST; code--) {
        const char *name = dc_strerror(code);
        cr_assert_not_null(name);
        cr_assert_str_neq(name, "unknown dchat error", "code %d has no name", code);
    }
}

Test(dc_err, names_errno_and_success)
{
    cr_assert_str_eq(dc_strerror(0), "success");
    cr_assert_str_eq(dc_strerror(-ENOENT), strerror(ENOENT));
    cr_assert_str_eq(dc_strerror(DC_ERR_LAST), "unknown dchat error");
}
