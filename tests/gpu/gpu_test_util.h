/* gpu_test_util.h: helpers for the GPU tests (tests/gpu, C++): device buffers poisoned with NaN
 * (0xFF bytes are NaN in float32 and bf16, so an unwritten output element fails the comparison),
 * upload/download with bf16 conversion, bf16 rounding on the host (so CPU references see exactly
 * the values the kernel saw), fresh random data (the seed changes every run and is printed;
 * TDANN_TEST_SEED=N repeats a run).
 */
#ifndef TDANN_GPU_TEST_UTIL_H
#define TDANN_GPU_TEST_UTIL_H

#include "cuda_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
extern "C" {
#include "device.h"
#include "rng.h"
}

#define NEED_GPU() do { if (cuda_device_count() == 0) SKIP("no CUDA device"); CUDA_CHECK(cudaSetDevice(0)); } while (0)

static inline uint64_t gt_seed(const char *test) {
    const char *s = getenv("TDANN_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 10) : ((uint64_t)time(NULL) * 1000003u) ^ ((uint64_t)getpid() << 16);
    fprintf(stderr, "%s: seed %llu (TDANN_TEST_SEED=%llu repeats it)\n", test, (unsigned long long)seed,
            (unsigned long long)seed);
    return seed;
}

static inline float *gt_rand(Rng *r, size_t n, float lo, float hi) {
    float *h = (float *)xmalloc(n * sizeof(float) + 4);
    for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * rng_uniform(r);
    return h;
}

static inline float gt_round(float x, int bf) { return bf ? __bfloat162float(__float2bfloat16_rn(x)) : x; }
static inline void gt_round_all(float *h, size_t n, int bf) {
    if (bf)
        for (size_t i = 0; i < n; i++) h[i] = gt_round(h[i], 1);
}

/* device buffer of n elements of T (bf16 when bf), filled with NaN */
static inline void *gt_poisoned(size_t n, int bf) {
    void *d = NULL;
    size_t bytes = n * (bf ? 2 : 4) + 16;
    CUDA_CHECK(cudaMalloc(&d, bytes));
    CUDA_CHECK(cudaMemset(d, 0xFF, bytes));
    return d;
}

static inline void *gt_upload(const float *h, size_t n, int bf) {
    void *d = gt_poisoned(n, bf);
    if (bf) {
        bf16 *t = (bf16 *)xmalloc(n * sizeof(bf16) + 2);
        for (size_t i = 0; i < n; i++) t[i] = __float2bfloat16_rn(h[i]);
        CUDA_CHECK(cudaMemcpy(d, t, n * sizeof(bf16), cudaMemcpyHostToDevice));
        free(t);
    } else {
        CUDA_CHECK(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
    }
    return d;
}

static inline float *gt_download(const void *d, size_t n, int bf) {
    CUDA_CHECK(cudaDeviceSynchronize());
    float *h = (float *)xmalloc(n * sizeof(float) + 4);
    if (bf) {
        bf16 *t = (bf16 *)xmalloc(n * sizeof(bf16) + 2);
        CUDA_CHECK(cudaMemcpy(t, d, n * sizeof(bf16), cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < n; i++) h[i] = __bfloat162float(t[i]);
        free(t);
    } else {
        CUDA_CHECK(cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost));
    }
    return h;
}

/* compare a device tensor with a double reference (rel L2 per tensor) */
static inline int gt_check(const char *what, const void *d, const double *ref, size_t n, int bf, double tol) {
    float *g = gt_download(d, n, bf);
    float *r = (float *)xmalloc(n * sizeof(float) + 4);
    for (size_t i = 0; i < n; i++) r[i] = (float)ref[i];
    int ok = t_check_rel(what, g, r, n, tol);
    free(g);
    free(r);
    return ok;
}

static inline double *gt_dvec(size_t n) { return (double *)xcalloc(n + 1, sizeof(double)); }

#endif
