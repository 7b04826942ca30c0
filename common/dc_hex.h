/*
 * dc_hex: the value of one hexadecimal digit. Header-only; any thread.
 *
 * Key files, genesis public keys and TOML escapes all read hex digits, in libraries that may
 * not include one another (consensus/ builds without engine/ or conf/), so the one shared
 * digit decoder lives here beside the other dependency-free helpers.
 */
#ifndef DC_HEX_H
#define DC_HEX_H

/* 0..15 for [0-9a-fA-F], -1 for anything else. */
static inline int dc_hex_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

#endif
