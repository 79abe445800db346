/* rng.h: counter-based random numbers (Philox-4x32-10, Salmon et al. 2011), identical on CPU and
 * CUDA: every draw is a pure function of (seed, stream, counter), so any thread on any device can
 * reproduce any number without shared state.
 *
 * Key = the 64-bit seed; counter = (c0, c1, stream_lo, stream_hi) where (c0, c1) is a 64-bit
 * position inside the stream. Streams separate independent uses; build them with rng_stream()
 * from small integers, e.g. rng_stream(RNG_PURPOSE_AUGMENT, epoch, image, view).
 *
 * Conversions: uniform float in [0,1) = (u32 >> 8) * 2^-24; uniform double from two words with 53
 * bits; normal by Box-Muller on doubles; rng_below(n) unbiased by rejection (Lemire).
 *
 * This header is usable from CUDA (.cu) code: the core functions are RNG_HD inline.
 */
#ifndef TDANN_RNG_H
#define TDANN_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define RNG_HD __host__ __device__ __forceinline__
#else
#define RNG_HD static inline
#endif

typedef struct { uint32_t v[4]; } Philox4;

RNG_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Ten rounds of Philox-4x32 on counter ctr with key (k0, k1). */
RNG_HD Philox4 philox4x32(Philox4 ctr, uint32_t k0, uint32_t k1) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = philox_mulhilo(M0, ctr.v[0], &hi0);
        uint32_t lo1 = philox_mulhilo(M1, ctr.v[2], &hi1);
        Philox4 n;
        n.v[0] = hi1 ^ ctr.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ ctr.v[3] ^ k1;
        n.v[3] = lo0;
        ctr = n;
        k0 += W0;
        k1 += W1;
    }
    return ctr;
}

/* The 4 words at block `block` of stream `stream` for seed `seed`. */
RNG_HD Philox4 philox_block(uint64_t seed, uint64_t stream, uint64_t block) {
    Philox4 c;
    c.v[0] = (uint32_t)block;
    c.v[1] = (uint32_t)(block >> 32);
    c.v[2] = (uint32_t)stream;
    c.v[3] = (uint32_t)(stream >> 32);
    return philox4x32(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* The i-th 32-bit word of a stream. */
RNG_HD uint32_t philox_u32_at(uint64_t seed, uint64_t stream, uint64_t i) {
    Philox4 b = philox_block(seed, stream, i >> 2);
    return b.v[i & 3];
}

RNG_HD float philox_uniform_at(uint64_t seed, uint64_t stream, uint64_t i) {
    return (float)(philox_u32_at(seed, stream, i) >> 8) * (1.0f / 16777216.0f);
}

/* Stream ids from up to four small integers (purpose, a, b, c); a bijective mix so distinct tuples
 * give distinct streams as long as each field fits its bits: purpose 8, a 16, b 24, c 16. */
RNG_HD uint64_t rng_stream(uint32_t purpose, uint32_t a, uint32_t b, uint32_t c) {
    return ((uint64_t)(purpose & 0xFF) << 56) | ((uint64_t)(a & 0xFFFF) << 40) |
           ((uint64_t)(b & 0xFFFFFF) << 16) | (uint64_t)(c & 0xFFFF);
}

/* Purposes used across the toolkit (first argument of rng_stream). */
enum {
    RNG_PURPOSE_GENERIC = 0, RNG_PURPOSE_INIT = 1, RNG_PURPOSE_AUGMENT = 2, RNG_PURPOSE_DATA_ORDER = 3,
    RNG_PURPOSE_PROCEDURAL = 4, RNG_PURPOSE_SHEET = 5, RNG_PURPOSE_SWAPOPT = 6, RNG_PURPOSE_NEIGHBORHOOD = 7,
    RNG_PURPOSE_MAPS = 8, RNG_PURPOSE_STIMULI = 9, RNG_PURPOSE_TEST = 250
};

/* A sequential reader over one stream (host code). */
typedef struct {
    uint64_t seed, stream, pos; /* pos counts 32-bit words drawn */
} Rng;

void rng_init(Rng *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(Rng *r);
uint64_t rng_u64(Rng *r);
float rng_uniform(Rng *r);            /* [0, 1) */
double rng_uniform_double(Rng *r);    /* [0, 1), 53 bits */
double rng_normal(Rng *r);            /* N(0, 1) */
uint32_t rng_below(Rng *r, uint32_t n); /* uniform in [0, n), n > 0 */
void rng_shuffle_i32(Rng *r, int32_t *a, int64_t n); /* Fisher-Yates */
/* Partial Fisher-Yates: k of a[0..n) without replacement, moved to a[0..k) in draw order (draw t
 * swaps a[t] with a[t + rng_below(n - t)]); a[k..n) keeps the rest. 0 <= k <= n < 2^32. */
void rng_sample_i32(Rng *r, int32_t *a, int64_t n, int64_t k);

#endif
