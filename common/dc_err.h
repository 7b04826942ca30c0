/*
 * dc_err: error codes shared by every module.
 *
 * Functions return 0 or a negative errno; the domain codes below extend the negative range
 * past errno's. dc_strerror() names both kinds. Thread-safe.
 */
#ifndef DC_ERR_H
#define DC_ERR_H

enum dc_err {
    DC_ERR_BASE = 4096,
    DC_EMALFORMED = -(DC_ERR_BASE + 1),  /* bytes that do not parse */
    DC_ETOOBIG = -(DC_ERR_BASE + 2),     /* a length over its limit */
    DC_EVERSION = -(DC_ERR_BASE + 3),    /* a version we do not speak */
    DC_ESIGNATURE = -(DC_ERR_BASE + 4),  /* signature does not verify */
    DC_EDUPLICATE = -(DC_ERR_BASE + 5),  /* seen before */
    DC_EQUORUM = -(DC_ERR_BASE + 6),     /* not enough votes / bad quorum config */
    DC_ECONFIG = -(DC_ERR_BASE + 7),     /* invalid configuration */
    DC_ECORRUPT = -(DC_ERR_BASE + 8),    /* checksum mismatch in stored data */
    DC_ETRUNCATED = -(DC_ERR_BASE + 9),  /* input ends early */
    DC_EFULL = -(DC_ERR_BASE + 10),      /* bounded queue or table is full */
    DC_EEMPTY = -(DC_ERR_BASE + 11),     /* nothing to take */
    DC_ENOTFOUND = -(DC_ERR_BASE + 12),  /* no such item */
    DC_ESTALE = -(DC_ERR_BASE + 13),     /* older than what we hold */
    DC_EUNSUPPORTED = -(DC_ERR_BASE + 14), /* feature not available here */
    DC_EMEMBER = -(DC_ERR_BASE + 15),    /* signer is not a member of the set */
    DC_EUNKNOWNKEY = -(DC_ERR_BASE + 16), /* config key not in the schema */
    DC_ETYPE = -(DC_ERR_BASE + 17),      /* value of the wrong type */
    DC_ERANGE = -(DC_ERR_BASE + 18),     /* value out of range */
    DC_EUSAGE = -(DC_ERR_BASE + 19),     /* bad command line */
    DC_ECONFLICT = -(DC_ERR_BASE + 20),  /* would contradict something already signed */
    DC_EAUTH = -(DC_ERR_BASE + 21),      /* AEAD authentication failed (link packets) */
    DC_EWINDOW = -(DC_ERR_BASE + 22),    /* counter behind the anti-replay window */
    DC_EEXPIRED = -(DC_ERR_BASE + 23),   /* session or key past its lifetime */
    DC_EMAC = -(DC_ERR_BASE + 24),       /* handshake mac1 does not match */
    DC_ECOOKIE = -(DC_ERR_BASE + 25),    /* under load: a valid cookie (mac2) is required */
    DC_EPRUNED = -(DC_ERR_BASE + 26),    /* existed, but pruned: only its header is kept */
    DC_ERR_LAST = -(DC_ERR_BASE + 27),
};

/* Human-readable name of a 0 / negative errno / DC_E* code. Never returns NULL. */
const char *dc_strerror(int err);

#endif
