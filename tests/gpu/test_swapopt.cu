/* test_swapopt.cu: the CUDA SwapOpt against the CPU reference. The two must agree bit for bit
 * (same schedule, same fp32 correlations with fma in image order, exact integer decision sums):
 * final slots, accepted counts (also of dead pairs) and skipped windows. Small windows (~40 units,
 * one correlation tile) and large ones (subsampled to 500 units: 16 x 16 tiles, two terms per
 * thread), both pair-sequence modes. SKIPs without a CUDA device. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
extern "C" {
#include "device.h"
#include "rng.h"
#include "sheet.h"
#include "swapopt.h"
}

struct GSynth {
    int64_t U;
    int N;
    float *z, *xy;
    uint8_t *dead;
    SwapoptProblem p;
};

/* Smooth responses over a shuffled copy of the sheet (see tests/unit/test_swapopt.c); units
 * 0..ndead-1 are dead. */
static GSynth *gsynth(int C, int n, int N, int ndead, uint64_t seed) {
    GSynth *s = (GSynth *)calloc(1, sizeof *s);
    s->U = (int64_t)C * n * n;
    s->N = N;
    s->xy = (float *)malloc(sizeof(float) * 2 * (size_t)s->U);
    sheet_positions_retinotopic(s->xy, C, n, n, 10.0, 0.4, 0.3, seed, 5);
    int32_t *hidden = (int32_t *)malloc(sizeof(int32_t) * (size_t)s->U);
    for (int64_t u = 0; u < s->U; u++) hidden[u] = (int32_t)u;
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 9, 0, 0));
    rng_shuffle_i32(&r, hidden, s->U);
    double kx[8], ky[8];
    for (int f = 0; f < 8; f++) {
        double ang = 6.283185307 * rng_uniform_double(&r), k = 0.1 + 0.1 * rng_uniform_double(&r);
        kx[f] = k * cos(ang);
        ky[f] = k * sin(ang);
    }
    s->z = (float *)malloc(sizeof(float) * (size_t)s->U * N);
    for (int64_t u = 0; u < s->U; u++) {
        double hx = s->xy[2 * (int64_t)hidden[u]], hy = s->xy[2 * (int64_t)hidden[u] + 1];
        for (int im = 0; im < N; im++) {
            double a = 0;
            for (int f = 0; f < 8; f++) a += cos(6.283185307 * (kx[f] * hx + ky[f] * hy) + 0.7 * im * (f + 1));
            a = a > 0 ? a : 0;
            s->z[u * N + im] = u < ndead ? 1.0f : (float)(a + 0.05 * rng_normal(&r));
        }
    }
    free(hidden);
    s->dead = (uint8_t *)malloc((size_t)s->U);
    swapopt_standardize(s->z, s->U, N, s->dead);
    s->p.layer = 5;
    s->p.units = s->U;
    s->p.n_images = N;
    s->p.z = s->z;
    s->p.dead = s->dead;
    s->p.slot_xy = s->xy;
    s->p.width = sheet_hypercolumn_mm(10.0, n, 0.4);
    s->p.seed = seed;
    s->p.progress = NULL;
    return s;
}

static void gsynth_free(GSynth *s) {
    free(s->z);
    free(s->xy);
    free(s->dead);
    free(s);
}

/* Runs both backends; returns 1 when they agree exactly. */
static int compare_backends(GSynth *s, int64_t attempts, int pair_rng, int64_t *accepted_out) {
    SwapoptConfig c;
    memset(&c, 0, sizeof c);
    c.attempts = attempts;
    c.attempts_per_window = 500;
    c.max_units = 500;
    c.min_units = 5;
    c.pair_rng = pair_rng;
    c.eval_windows = 10;
    SwapoptPlan *plan = swapopt_plan(&s->p, &c);
    size_t bytes = sizeof(int32_t) * (size_t)s->U;
    int32_t *sa = (int32_t *)malloc(bytes), *ua = (int32_t *)malloc(bytes), *sb = (int32_t *)malloc(bytes), *ub = (int32_t *)malloc(bytes);
    for (int64_t u = 0; u < s->U; u++) sa[u] = ua[u] = sb[u] = ub[u] = (int32_t)u;
    SwapoptStats ca, cb;
    swapopt_run_cpu(&s->p, &c, plan, sa, ua, &ca, NULL);
    swapopt_run_cuda(&s->p, &c, plan, sb, ub, &cb);
    int64_t diff = 0;
    for (int64_t u = 0; u < s->U; u++) diff += sa[u] != sb[u];
    printf("  %lld windows (%lld skipped), accepted cpu %lld gpu %lld (dead pairs %lld / %lld), %lld of %lld units differ; "
           "cpu %.2f s, gpu %.2f s\n", (long long)ca.windows, (long long)ca.windows_skipped, (long long)ca.accepted,
           (long long)cb.accepted, (long long)ca.accepted_nan, (long long)cb.accepted_nan, (long long)diff, (long long)s->U,
           ca.seconds, cb.seconds);
    int ok = diff == 0 && ca.accepted == cb.accepted && ca.accepted_nan == cb.accepted_nan &&
             ca.windows_skipped == cb.windows_skipped && ca.attempts == cb.attempts;
    *accepted_out = ca.accepted;
    free(sa);
    free(ua);
    free(sb);
    free(ub);
    swapopt_plan_free(plan);
    return ok;
}

TEST(cuda_swapopt_small_windows_match_cpu) {
    if (cuda_device_count() == 0) SKIP("no CUDA device");
    GSynth *s = gsynth(16, 8, 48, 30, 11); /* ~40 units per window, 30 dead units */
    int64_t acc;
    CHECK(compare_backends(s, 400 * 500, SWAPOPT_PAIRS_PER_WINDOW, &acc));
    CHECK(acc > 0);
    CHECK(compare_backends(s, 400 * 500, SWAPOPT_PAIRS_REPLAY, &acc));
    gsynth_free(s);
}

TEST(cuda_swapopt_large_windows_match_cpu) {
    if (cuda_device_count() == 0) SKIP("no CUDA device");
    GSynth *s = gsynth(256, 8, 96, 100, 12); /* ~600 units per window, subsampled to 500 */
    int64_t acc;
    CHECK(compare_backends(s, 120 * 500, SWAPOPT_PAIRS_PER_WINDOW, &acc));
    CHECK(acc > 0);
    gsynth_free(s);
}
