#include "bench/load.h"

#include "common/dc_alloc.h"
#include "common/dc_assert.h"
#include "common/dc_err.h"
#include "dataplane/wire.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIGN_THREADS_MAX 16
#define ID_SLOTS_MIN 16

_Static_assert(DP_WIRE_ID_BYTES == sizeof(((struct bench_load *)0)->ids[0]),
               "the load keeps ids of the wire's size");

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static uint64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* splitmix64: garbage needs no secrecy, only variety that replays from the run id. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill_rand(uint64_t *state, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)next_rand(state);
    }
}

/* Same channel for every message: subscribers that ask for "everything" get them all. */
static void bench_channel(uint8_t out[DP_WIRE_KEY_BYTES])
{
    static const char name[] = "dchat-bench";
    crypto_generichash(out, DP_WIRE_KEY_BYTES, (const uint8_t *)name, sizeof(name) - 1, NULL,
                       0);
}

static void derive_user(uint8_t sk[64], uint32_t user)
{
    uint8_t seed_text[32] = "dchat-bench user ";
    uint8_t seed[crypto_sign_SEEDBYTES];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    put32(seed_text + 28, user);
    crypto_generichash(seed, sizeof(seed), seed_text, sizeof(seed_text), NULL, 0);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static void make_payload(uint8_t *payload, uint32_t len, uint8_t kind, uint64_t run_id,
                         uint64_t index)
{
    put32(payload, BENCH_PAYLOAD_MAGIC);
    payload[4] = kind;
    payload[5] = payload[6] = payload[7] = 0;
    put64(payload + 8, run_id);
    put64(payload + 16, index);
    for (uint32_t i = BENCH_PAYLOAD_HDR_BYTES; i < len; i++) {
        payload[i] = (uint8_t)(index + i);
    }
}

/* Signs one message body into out[load->msg_bytes]. */
static void sign_item(const struct bench_load *load, uint8_t *out, uint8_t kind,
                      uint32_t user, uint64_t seq, uint64_t index)
{
    uint8_t payload[DP_WIRE_PAYLOAD_BYTES_MAX];
    uint8_t channel[DP_WIRE_KEY_BYTES];
    bench_channel(channel);
    make_payload(payload, load->p.payload_bytes, kind, load->p.run_id, index);
    int n = dp_wire_msg_encode(out, load->msg_bytes, DP_WIRE_MSG_CHANNEL, channel,
                               load->user_sk[user], seq, realtime_us(), payload,
                               (uint16_t)load->p.payload_bytes);
    DC_ASSERT(n == (int)load->msg_bytes);
}

/* The id a relay will name the item by: of the signature as sent (broken ones included). */
static void item_id(const struct bench_load *load, const uint8_t *body,
                    uint8_t id[DP_WIRE_ID_BYTES])
{
    struct dp_wire_rec rec = { DP_WIRE_REC_MSG, (uint16_t)load->msg_bytes, body };
    struct dp_wire_msg msg;
    int rc = dp_wire_msg_parse(&rec, &msg);
    DC_ASSERT(rc == 0);
    dp_wire_msg_id(&msg, id);
}

struct sign_job {
    struct bench_load *load;
    uint64_t frame_first;
    uint64_t frame_end;
};

static void *sign_frames(void *arg)
{
    struct sign_job *job = arg;
    struct bench_load *load = job->load;
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    for (uint64_t f = job->frame_first; f < job->frame_end; f++) {
        struct dp_wire_builder b;
        dp_wire_builder_init(&b, load->frames + f * load->frame_stride, load->frame_stride);
        uint32_t items = bench_load_frame_items(load, f);
        for (uint32_t k = 0; k < items; k++) {
            uint64_t j = f * load->per_frame + k;
            int invalid = bench_load_item_invalid(load, j);
            sign_item(load, body, invalid ? BENCH_ITEM_INVALID : BENCH_ITEM_VALID,
                      (uint32_t)(j % load->p.users), j / load->p.users + 1, j);
            if (invalid) {
                body[DP_WIRE_MSG_FIXED_BYTES + load->p.payload_bytes] ^= 0x01; /* R of sig */
            }
            int rc = dp_wire_builder_add(&b, DP_WIRE_REC_MSG, body, (uint16_t)load->msg_bytes);
            DC_ASSERT(rc == 0);
            if (load->ids != NULL) {
                item_id(load, body, load->ids[j]);
            }
        }
        DC_ASSERT(dp_wire_builder_finish(&b) ==
                  DP_WIRE_FRAME_HDR_BYTES +
                      (size_t)items * (DP_WIRE_REC_HDR_BYTES + load->msg_bytes));
    }
    return NULL;
}

/* Signs every frame, spread over the machine's cores. */
static void sign_all(struct bench_load *load)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t threads = cores < 1 ? 1 : (cores > SIGN_THREADS_MAX ? SIGN_THREADS_MAX : cores);
    pthread_t tid[SIGN_THREADS_MAX];
    struct sign_job jobs[SIGN_THREADS_MAX];
    uint64_t started = 0;
    for (uint64_t t = 0; t < threads; t++) {
        jobs[t] = (struct sign_job){ load, load->frame_count * t / threads,
                                     load->frame_count * (t + 1) / threads };
        if (t + 1 == threads || pthread_create(&tid[t], NULL, sign_frames, &jobs[t]) != 0) {
            jobs[t].frame_end = load->frame_count; /* this thread does the rest */
            sign_frames(&jobs[t]);
            break;
        }
        started++;
    }
    for (uint64_t t = 0; t < started; t++) {
        pthread_join(tid[t], NULL);
    }
}

/*
 * Garbage datagram g, in one of four shapes so the relay's parser sees more than noise:
 * random bytes; a good frame header over random records; a well-formed message whose sender
 * key was replaced (the signature cannot verify); the same cut short inside the record.
 */
static uint16_t make_garbage(const struct bench_load *load, uint64_t g, uint8_t *out,
                             uint64_t *rng)
{
    uint32_t mtu = load->p.mtu_bytes;
    uint32_t shape = (uint32_t)(g % 4);
    if (shape == 0) { /* random bytes */
        uint16_t len = (uint16_t)(1 + next_rand(rng) % mtu);
        fill_rand(rng, out, len);
        return len;
    }
    struct dp_wire_builder b;
    dp_wire_builder_init(&b, out, mtu);
    if (shape == 1) { /* a good frame header, then noise that claims to be records */
        out[4] = 0;
        out[5] = (uint8_t)(1 + next_rand(rng) % 4); /* record count */
        size_t len = DP_WIRE_FRAME_HDR_BYTES + next_rand(rng) % (mtu - DP_WIRE_FRAME_HDR_BYTES);
        fill_rand(rng, out + DP_WIRE_FRAME_HDR_BYTES, len - DP_WIRE_FRAME_HDR_BYTES);
        return (uint16_t)len;
    }
    /* A well-formed message whose sender key was swapped: the signature cannot verify. */
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    sign_item(load, body, BENCH_ITEM_GARBAGE, 0, 1, g);
    fill_rand(rng, body + 36, DP_WIRE_KEY_BYTES);
    int rc = dp_wire_builder_add(&b, DP_WIRE_REC_MSG, body, (uint16_t)load->msg_bytes);
    DC_ASSERT(rc == 0);
    size_t len = dp_wire_builder_finish(&b);
    if (shape == 3) { /* the same, cut short inside the record */
        len = DP_WIRE_FRAME_HDR_BYTES + 1 + next_rand(rng) % (len - DP_WIRE_FRAME_HDR_BYTES - 1);
    }
    return (uint16_t)len;
}

static void make_probes(struct bench_load *load)
{
    uint8_t body[DP_WIRE_MSG_BYTES_MAX];
    for (uint32_t i = 0; i < BENCH_PROBES_MAX; i++) {
        struct dp_wire_builder b;
        dp_wire_builder_init(&b, load->probes + i * load->probe_len, load->probe_len);
        sign_item(load, body, BENCH_ITEM_PROBE, load->p.users, i + 1, i);
        int rc = dp_wire_builder_add(&b, DP_WIRE_REC_MSG, body, (uint16_t)load->msg_bytes);
        DC_ASSERT(rc == 0);
        DC_ASSERT(dp_wire_builder_finish(&b) == load->probe_len);
    }
}

static int check_params(const struct bench_load_params *p)
{
    if (p->payload_bytes < BENCH_PAYLOAD_HDR_BYTES ||
        p->payload_bytes > DP_WIRE_PAYLOAD_BYTES_MAX || p->users == 0 ||
        p->mtu_bytes > DP_WIRE_FRAME_BYTES_MAX || p->valid_count + p->invalid_count == 0) {
        return DC_ERANGE;
    }
    size_t one = DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES +
                 DP_WIRE_MSG_BYTES(p->payload_bytes);
    if (p->mtu_bytes < one) {
        return DC_ERANGE;
    }
    return 0;
}

/* The id index's key: the id's first 8 bytes (uniform: ids are hashes). */
static uint64_t id_key(const uint8_t id[DP_WIRE_ID_BYTES])
{
    return get64(id);
}

/* Fills the id index from load->ids; single-threaded, after signing. */
static void index_ids(struct bench_load *load)
{
    DC_ASSERT(load->item_count < UINT32_MAX);
    for (uint64_t j = 0; j < load->item_count; j++) {
        uint64_t key = id_key(load->ids[j]);
        uint64_t slot = key & load->id_mask;
        while (load->id_slots[slot] != 0) {
            slot = (slot + 1) & load->id_mask;
        }
        load->id_slots[slot] = (key >> 32) << 32 | (j + 1);
    }
}

static int alloc_ids(struct bench_load *load)
{
    uint64_t slots = ID_SLOTS_MIN;
    while (slots < 2 * load->item_count) {
        slots *= 2;
    }
    load->id_mask = slots - 1;
    load->ids = dc_alloc(load->item_count * sizeof(*load->ids));
    load->id_slots = dc_alloc(slots * sizeof(*load->id_slots));
    return load->ids == NULL || load->id_slots == NULL ? -ENOMEM : 0;
}

static int alloc_all(struct bench_load *load)
{
    if (load->p.ids && alloc_ids(load) != 0) {
        return -ENOMEM;
    }
    load->frames = dc_alloc(load->frame_count * load->frame_stride);
    load->garbage = dc_alloc(load->p.garbage_count * load->p.mtu_bytes + 1);
    load->garbage_len = dc_alloc((load->p.garbage_count + 1) * sizeof(uint16_t));
    load->probes = dc_alloc(BENCH_PROBES_MAX * load->probe_len);
    load->user_sk = dc_alloc(((size_t)load->p.users + 1) * sizeof(*load->user_sk));
    if (load->frames == NULL || load->garbage == NULL || load->garbage_len == NULL ||
        load->probes == NULL || load->user_sk == NULL) {
        return -ENOMEM;
    }
    return 0;
}

int bench_load_init(struct bench_load *load, const struct bench_load_params *params)
{
    memset(load, 0, sizeof(*load));
    int rc = check_params(params);
    if (rc != 0) {
        return rc;
    }
    DC_ASSERT(sodium_init() >= 0);
    load->p = *params;
    load->msg_bytes = (uint32_t)DP_WIRE_MSG_BYTES(params->payload_bytes);
    load->per_frame = (params->mtu_bytes - DP_WIRE_FRAME_HDR_BYTES) /
                      (DP_WIRE_REC_HDR_BYTES + load->msg_bytes);
    load->item_count = params->valid_count + params->invalid_count;
    load->frame_count = (load->item_count + load->per_frame - 1) / load->per_frame;
    load->dgram_count = load->frame_count + params->garbage_count;
    load->frame_stride = DP_WIRE_FRAME_HDR_BYTES +
                         (size_t)load->per_frame * (DP_WIRE_REC_HDR_BYTES + load->msg_bytes);
    load->probe_len = DP_WIRE_FRAME_HDR_BYTES + DP_WIRE_REC_HDR_BYTES + load->msg_bytes;
    DC_ASSERT(load->per_frame >= 1);
    DC_ASSERT(load->frame_stride <= params->mtu_bytes);
    rc = alloc_all(load);
    if (rc != 0) {
        bench_load_fini(load);
        return rc;
    }
    for (uint32_t u = 0; u <= params->users; u++) { /* the last one sends the probes */
        derive_user(load->user_sk[u], u);
    }
    sign_all(load);
    if (load->ids != NULL) {
        index_ids(load);
    }
    uint64_t rng = params->run_id;
    for (uint64_t g = 0; g < params->garbage_count; g++) {
        load->garbage_len[g] = make_garbage(load, g, load->garbage + g * params->mtu_bytes, &rng);
    }
    make_probes(load);
    return 0;
}

void bench_load_fini(struct bench_load *load)
{
    dc_free(load->frames);
    dc_free(load->garbage);
    dc_free(load->garbage_len);
    dc_free(load->probes);
    dc_free(load->user_sk);
    dc_free(load->ids);
    dc_free(load->id_slots);
    memset(load, 0, sizeof(*load));
}

/* k of n spread evenly: position j is marked when floor((j+1)k/n) steps past floor(jk/n). */
static int spread_hit(uint64_t j, uint64_t k, uint64_t n)
{
    return (unsigned __int128)(j + 1) * k / n != (unsigned __int128)j * k / n;
}

int bench_load_item_invalid(const struct bench_load *load, uint64_t item)
{
    return spread_hit(item, load->p.invalid_count, load->item_count);
}

const uint8_t *bench_load_item_body(const struct bench_load *load, uint64_t item)
{
    DC_ASSERT(item < load->item_count);
    uint64_t f = item / load->per_frame;
    uint64_t k = item % load->per_frame;
    return load->frames + f * load->frame_stride + DP_WIRE_FRAME_HDR_BYTES +
           k * (DP_WIRE_REC_HDR_BYTES + load->msg_bytes) + DP_WIRE_REC_HDR_BYTES;
}

const uint8_t *bench_load_item_id(const struct bench_load *load, uint64_t item)
{
    DC_ASSERT(load->ids != NULL);
    DC_ASSERT(item < load->item_count);
    return load->ids[item];
}

uint64_t bench_load_find_id(const struct bench_load *load, const uint8_t id[DP_WIRE_ID_BYTES])
{
    DC_ASSERT(load->ids != NULL);
    uint64_t key = id_key(id);
    uint64_t tag = key >> 32;
    /* At most half the slots are taken, so an empty one ends every probe sequence. */
    for (uint64_t slot = key & load->id_mask;; slot = (slot + 1) & load->id_mask) {
        uint64_t v = load->id_slots[slot];
        if (v == 0) {
            return UINT64_MAX;
        }
        uint64_t item = (v & UINT32_MAX) - 1;
        if (v >> 32 == tag && memcmp(load->ids[item], id, DP_WIRE_ID_BYTES) == 0) {
            return item;
        }
    }
}

uint32_t bench_load_frame_items(const struct bench_load *load, uint64_t frame)
{
    DC_ASSERT(frame < load->frame_count);
    uint64_t first = frame * load->per_frame;
    uint64_t left = load->item_count - first;
    return left < load->per_frame ? (uint32_t)left : load->per_frame;
}

uint32_t bench_load_frame_invalid(const struct bench_load *load, uint64_t frame)
{
    uint64_t first = frame * load->per_frame;
    uint64_t end = first + bench_load_frame_items(load, frame);
    uint64_t k = load->p.invalid_count;
    uint64_t n = load->item_count;
    /* Items before `x` that are invalid: floor(x * k / n), by the spread's construction. */
    return (uint32_t)((unsigned __int128)end * k / n - (unsigned __int128)first * k / n);
}

const uint8_t *bench_load_dgram(const struct bench_load *load, uint64_t d, size_t *len,
                                uint64_t *frame)
{
    DC_ASSERT(d < load->dgram_count);
    uint64_t g_before = (uint64_t)((unsigned __int128)d * load->p.garbage_count /
                                   load->dgram_count);
    if (spread_hit(d, load->p.garbage_count, load->dgram_count)) {
        *frame = UINT64_MAX;
        *len = load->garbage_len[g_before];
        return load->garbage + g_before * load->p.mtu_bytes;
    }
    uint64_t f = d - g_before;
    *frame = f;
    *len = DP_WIRE_FRAME_HDR_BYTES +
           (size_t)bench_load_frame_items(load, f) * (DP_WIRE_REC_HDR_BYTES + load->msg_bytes);
    return load->frames + f * load->frame_stride;
}

const uint8_t *bench_load_probe(const struct bench_load *load, uint32_t i, size_t *len)
{
    DC_ASSERT(i < BENCH_PROBES_MAX);
    *len = load->probe_len;
    return load->probes + (size_t)i * load->probe_len;
}

int bench_payload_read(const uint8_t *payload, size_t len, uint8_t *kind, uint64_t *run_id,
                       uint64_t *index)
{
    if (len < BENCH_PAYLOAD_HDR_BYTES || get32(payload) != BENCH_PAYLOAD_MAGIC) {
        return DC_EMALFORMED;
    }
    *kind = payload[4];
    *run_id = get64(payload + 8);
    *index = get64(payload + 16);
    return 0;
}
