/* rng.c: sequential host-side reader over a Philox stream. See rng.h. */
#include "rng.h"

#include <math.h>

void rng_init(Rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed;
    r->stream = stream;
    r->pos = 0;
}

uint32_t rng_u32(Rng *r) { return philox_u32_at(r->seed, r->stream, r->pos++); }

uint64_t rng_u64(Rng *r) {
    uint64_t hi = rng_u32(r);
    return (hi << 32) | rng_u32(r);
}

float rng_uniform(Rng *r) { return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

double rng_uniform_double(Rng *r) { return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

double rng_normal(Rng *r) {
    double u1 = rng_uniform_double(r), u2 = rng_uniform_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint32_t rng_below(Rng *r, uint32_t n) {
    uint64_t m = (uint64_t)rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (low < t) {
            m = (uint64_t)rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void rng_sample_i32(Rng *r, int32_t *a, int64_t n, int64_t k) {
    for (int64_t t = 0; t < k; t++) {
        int64_t j = t + (int64_t)rng_below(r, (uint32_t)(n - t));
        int32_t tmp = a[t];
        a[t] = a[j];
        a[j] = tmp;
    }
}

void rng_shuffle_i32(Rng *r, int32_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = rng_below(r, (uint32_t)(i + 1));
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
