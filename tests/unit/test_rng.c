/* test_rng.c: Philox-4x32-10 known-answer vectors (Random123's kat_vectors) and stream
 * properties. */
#include <math.h>
#include <stdlib.h>

#include "rng.h"
#include "test.h"

TEST(rng_philox_known_answers) {
    struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}, {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int k = 0; k < 3; k++) {
        Philox4 c = {{kat[k].ctr[0], kat[k].ctr[1], kat[k].ctr[2], kat[k].ctr[3]}};
        Philox4 o = philox4x32(c, kat[k].key[0], kat[k].key[1]);
        for (int i = 0; i < 4; i++) CHECK_MSG(o.v[i] == kat[k].out[i], "kat %d word %d: %08x != %08x", k, i, o.v[i], kat[k].out[i]);
    }
}

TEST(rng_streams_reproducible_and_distinct) {
    Rng a, b, c;
    rng_init(&a, 42, rng_stream(RNG_PURPOSE_AUGMENT, 1, 2, 3));
    rng_init(&b, 42, rng_stream(RNG_PURPOSE_AUGMENT, 1, 2, 3));
    rng_init(&c, 42, rng_stream(RNG_PURPOSE_AUGMENT, 1, 2, 4));
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = rng_u32(&a), y = rng_u32(&b), z = rng_u32(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same);
    CHECK(diff > 95);
    /* random access equals sequential reading */
    rng_init(&a, 5, 9);
    for (int i = 0; i < 10; i++) CHECK(rng_u32(&a) == philox_u32_at(5, 9, (uint64_t)i));
}

TEST(rng_distributions) {
    Rng r;
    rng_init(&r, 1, 0);
    double s = 0, s2 = 0, u = 0;
    int n = 200000, counts[7] = {0};
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r);
        s += x; s2 += x * x;
        float f = rng_uniform(&r);
        CHECK(f >= 0 && f < 1);
        u += f;
        counts[rng_below(&r, 7)]++;
    }
    CHECK_NEAR(s / n, 0, 0.01);
    CHECK_NEAR(s2 / n, 1, 0.02);
    CHECK_NEAR(u / n, 0.5, 0.005);
    for (int k = 0; k < 7; k++) CHECK_NEAR(counts[k] / (double)n, 1.0 / 7, 0.005);
}

/* rng_sample_i32: a[0..k) is a sample without replacement, the whole array stays a permutation,
 * the draws are the documented ones, and each element is equally likely to be drawn. */
TEST(rng_sample_partial_fisher_yates) {
    enum { N = 10, K = 4, TRIALS = 50000 };
    int hits[N] = {0};
    for (int trial = 0; trial < TRIALS; trial++) {
        int32_t a[N], b[N];
        for (int i = 0; i < N; i++) a[i] = b[i] = 100 + i;
        Rng r, q;
        rng_init(&r, 3, (uint64_t)trial);
        rng_init(&q, 3, (uint64_t)trial);
        rng_sample_i32(&r, a, N, K);
        for (int t = 0; t < K; t++) { /* the documented draw order */
            int j = t + (int)rng_below(&q, (uint32_t)(N - t));
            int32_t x = b[t]; b[t] = b[j]; b[j] = x;
        }
        REQUIRE(memcmp(a, b, sizeof a) == 0);
        int seen[N] = {0};
        for (int i = 0; i < N; i++) seen[a[i] - 100]++;
        for (int i = 0; i < N; i++) REQUIRE(seen[i] == 1);
        for (int t = 0; t < K; t++) hits[a[t] - 100]++;
    }
    for (int i = 0; i < N; i++) CHECK_NEAR(hits[i] / (double)TRIALS, (double)K / N, 0.01);
}
