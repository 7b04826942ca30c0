#include "engine/key.h"
#include "engine/noderec.h"

#include "common/dc_err.h"

#include <criterion/criterion.h>
#include <string.h>

static struct eng_noderec_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    struct eng_noderec_addr addr = { .family = 4, .port = port, .ip = { a, b, c, d } };
    return addr;
}

static void make(struct eng_noderec *rec, const struct eng_key *key, uint64_t seq)
{
    struct eng_noderec_addr addrs[2] = { v4(127, 0, 0, 1, 9000), { .family = 6, .port = 9001 } };
    addrs[1].ip[15] = 1;
    cr_assert_eq(eng_noderec_make(rec, key->sk, ENG_NODEREC_ROLE_VALIDATOR, seq, addrs, 2), 0);
}

Test(eng_noderec, encode_decode_round_trip_and_id_is_hash_of_key)
{
    struct eng_key key;
    eng_key_generate(&key);
    struct eng_noderec rec, back;
    make(&rec, &key, 7);
    cr_assert_eq(memcmp(rec.id, key.id, 32), 0, "id = BLAKE2b-256(pk)");
    uint8_t buf[ENG_NODEREC_BYTES_MAX];
    int len = eng_noderec_encode(&rec, buf, sizeof(buf));
    cr_assert_eq((size_t)len, eng_noderec_size(&rec));
    cr_assert_eq((size_t)len, ENG_NODEREC_HDR_BYTES + 7 + 19 + 64);
    cr_assert_eq(eng_noderec_decode(&back, buf, (size_t)len), len);
    cr_assert(eng_noderec_equal(&rec, &back));
    cr_assert_eq(memcmp(back.id, key.id, 32), 0);
    cr_assert_eq(back.seq, 7);
    cr_assert_eq(back.addrs[0].port, 9000);
    cr_assert_eq(back.addrs[1].family, 6);
    cr_assert_eq(eng_noderec_encode(&rec, buf, (size_t)len - 1), DC_ETOOBIG);
}

Test(eng_noderec, forged_and_unsigned_records_are_rejected)
{
    struct eng_key key, other;
    eng_key_generate(&key);
    eng_key_generate(&other);
    struct eng_noderec rec, back;
    make(&rec, &key, 1);
    uint8_t buf[ENG_NODEREC_BYTES_MAX];
    int len = eng_noderec_encode(&rec, buf, sizeof(buf));

    /* Every single flipped bit, anywhere in the record, is caught. */
    for (int i = 0; i < len * 8; i++) {
        uint8_t copy[ENG_NODEREC_BYTES_MAX];
        memcpy(copy, buf, (size_t)len);
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
        cr_assert_lt(eng_noderec_decode(&back, copy, (size_t)len), 0, "bit %d", i);
    }
    /* A changed address, re-encoded with the old signature: forged. */
    struct eng_noderec forged = rec;
    forged.addrs[0].port = 6666;
    len = eng_noderec_encode(&forged, buf, sizeof(buf));
    cr_assert_eq(eng_noderec_decode(&back, buf, (size_t)len), DC_ESIGNATURE);
    /* Someone else's key claims our address book entry. */
    forged = rec;
    memcpy(forged.pk, other.pk, 32);
    len = eng_noderec_encode(&forged, buf, sizeof(buf));
    cr_assert_eq(eng_noderec_decode(&back, buf, (size_t)len), DC_ESIGNATURE);
    /* Unsigned: an all-zero signature. */
    forged = rec;
    memset(forged.sig, 0, sizeof(forged.sig));
    len = eng_noderec_encode(&forged, buf, sizeof(buf));
    cr_assert_eq(eng_noderec_decode(&back, buf, (size_t)len), DC_ESIGNATURE);
    /* Unsigned: the signature cut off. */
    cr_assert_eq(eng_noderec_decode(&back, buf, (size_t)len - 64), DC_ETRUNCATED);
}

Test(eng_noderec, replayed_older_and_conflicting_records_are_rejected)
{
    struct eng_key key, other;
    eng_key_generate(&key);
    eng_key_generate(&other);
    struct eng_noderec old_rec, new_rec, same_seq, stranger;
    make(&old_rec, &key, 10);
    make(&new_rec, &key, 11);
    struct eng_noderec_addr moved = v4(10, 0, 0, 2, 9000);
    cr_assert_eq(eng_noderec_make(&same_seq, key.sk, ENG_NODEREC_ROLE_RELAY, 11, &moved, 1), 0);
    make(&stranger, &other, 12);

    cr_assert_eq(eng_noderec_supersedes(&old_rec, &new_rec), 0, "newer wins");
    cr_assert_eq(eng_noderec_supersedes(&new_rec, &old_rec), DC_ESTALE, "replay is stale");
    cr_assert_eq(eng_noderec_supersedes(&new_rec, &new_rec), DC_EDUPLICATE);
    cr_assert_eq(eng_noderec_supersedes(&new_rec, &same_seq), DC_ECONFLICT);
    cr_assert_eq(eng_noderec_supersedes(&new_rec, &stranger), DC_EMEMBER);
}

Test(eng_noderec, make_refuses_bad_role_and_address_counts)
{
    struct eng_key key;
    eng_key_generate(&key);
    struct eng_noderec rec;
    struct eng_noderec_addr addrs[5] = { v4(1, 2, 3, 4, 1) };
    cr_assert_eq(eng_noderec_make(&rec, key.sk, 0, 1, addrs, 1), DC_ERANGE);
    cr_assert_eq(eng_noderec_make(&rec, key.sk, ENG_NODEREC_ROLE_RELAY, 1, addrs, 0), DC_ERANGE);
    cr_assert_eq(eng_noderec_make(&rec, key.sk, ENG_NODEREC_ROLE_RELAY, 1, addrs, 5), DC_ERANGE);
    addrs[0].family = 5;
    cr_assert_eq(eng_noderec_make(&rec, key.sk, ENG_NODEREC_ROLE_RELAY, 1, addrs, 1), DC_ERANGE);
}

Test(eng_disc, messages_round_trip_and_reject_trailing_and_forged_bytes)
{
    struct eng_key key, peer;
    eng_key_generate(&key);
    eng_key_generate(&peer);
    struct eng_noderec self, nodes[3];
    make(&self, &key, 1);
    for (int i = 0; i < 3; i++) {
        make(&nodes[i], &peer, (uint64_t)i + 5);
    }
    uint8_t rec[ENG_NODEREC_BYTES_MAX];
    int rec_len = eng_noderec_encode(&self, rec, sizeof(rec));
    uint8_t buf[1472], target[32];
    memset(target, 0xab, sizeof(target));
    static struct eng_disc_msg msg;

    int len = eng_disc_encode(buf, sizeof(buf), ENG_DISC_FIND, 42, rec, (size_t)rec_len, target,
                              NULL, 0);
    cr_assert_gt(len, 0);
    cr_assert_eq(eng_disc_decode(&msg, buf, (size_t)len), 0);
    cr_assert_eq(msg.type, ENG_DISC_FIND);
    cr_assert_eq(msg.nonce, 42);
    cr_assert_eq(memcmp(msg.target, target, 32), 0);
    cr_assert(eng_noderec_equal(&msg.sender, &self));
    cr_assert_eq(eng_disc_decode(&msg, buf, (size_t)len + 1), DC_EMALFORMED, "trailing byte");
    cr_assert_eq(eng_disc_decode(&msg, buf, (size_t)len - 1), DC_ETRUNCATED);

    len = eng_disc_encode(buf, sizeof(buf), ENG_DISC_NODES, 43, rec, (size_t)rec_len, NULL,
                          nodes, 3);
    cr_assert_eq(eng_disc_decode(&msg, buf, (size_t)len), 0);
    cr_assert_eq(msg.node_count, 3);
    cr_assert(eng_noderec_equal(&msg.nodes[2], &nodes[2]));
    buf[len - 1] ^= 1; /* last byte of the last record's signature */
    cr_assert_eq(eng_disc_decode(&msg, buf, (size_t)len), DC_ESIGNATURE);

    len = eng_disc_encode(buf, sizeof(buf), ENG_DISC_PING, 44, rec, (size_t)rec_len, NULL, NULL, 0);
    cr_assert_eq(eng_disc_decode(&msg, buf, (size_t)len), 0);
    buf[0] = 2;
    cr_assert_eq(eng_disc_decode(&msg, buf, (size_t)len), DC_EVERSION);
    buf[0] = 1;
    buf[1] = 9;
    cr_assert_eq(eng_disc_decode(&msg, buf, (size_t)len), DC_EMALFORMED);
}

static struct eng_noderec held_rec;
static int held_calls;

static int same_as_held(void *arg, const struct eng_noderec *rec)
{
    (void)arg;
    held_calls++;
    return eng_noderec_equal(&held_rec, rec);
}

Test(eng_disc, held_records_skip_only_their_own_exact_bytes)
{
    struct eng_key key;
    eng_key_generate(&key);
    make(&held_rec, &key, 3);
    uint8_t rec[ENG_NODEREC_BYTES_MAX], buf[1472];
    int rec_len = eng_noderec_encode(&held_rec, rec, sizeof(rec));
    const struct eng_disc_held held = { .same = same_as_held, .arg = NULL };
    static struct eng_disc_msg msg;

    int len = eng_disc_encode(buf, sizeof(buf), ENG_DISC_PING, 1, rec, (size_t)rec_len, NULL,
                              NULL, 0);
    cr_assert_eq(eng_disc_decode_held(&msg, buf, (size_t)len, &held), 0);
    cr_assert_eq(held_calls, 1);
    cr_assert_eq(memcmp(msg.sender.id, key.id, 32), 0, "id derived before the callback");
    /* One flipped signature bit: not the held bytes, so it is verified, and fails. */
    buf[len - 1] ^= 1;
    cr_assert_eq(eng_disc_decode_held(&msg, buf, (size_t)len, &held), DC_ESIGNATURE);
    /* A newer record of the same node is not vouched for either, but verifies. */
    struct eng_noderec newer;
    make(&newer, &key, 4);
    rec_len = eng_noderec_encode(&newer, rec, sizeof(rec));
    len = eng_disc_encode(buf, sizeof(buf), ENG_DISC_PONG, 2, rec, (size_t)rec_len, NULL, NULL, 0);
    cr_assert_eq(eng_disc_decode_held(&msg, buf, (size_t)len, &held), 0);
    cr_assert_eq(msg.sender.seq, 4);
}
