/* swapopt.h: SwapOpt, the greedy pre-arrangement of unit positions (tdann-algorithm.md §3), on the
 * CPU (swapopt_cpu.c) and on CUDA (swapopt.cu). Both give bit-identical results.
 *
 * The algorithm per layer (as the official code, differences marked *):
 * - W = ceil(attempts / attempts_per_window) windows. Window w: a square of side `width` (the
 *   layer's neighbourhood width) with lower-left corner uniform in [min, max - width] per axis of
 *   the positions (* a window wider than the sheet, as in tiny models, covers all of it; the
 *   official code asserts); its units are those inside (bounds inclusive), in ascending unit index; windows
 *   with fewer than min_units units are skipped; with max_units or more units, max_units of them
 *   are drawn without replacement (in draw order, as numpy's choice).
 * - In a window of m units: C = the m x m Pearson correlations of the units' responses (NaN -> 0, so
 *   a dead unit's row is 0, its diagonal too); attempts_per_window times: draw two distinct local
 *   indices i, j; the loss of the two rows is (1 - r)/2 with r the Pearson correlation between
 *   [C[i,:], C[j,:]] and [1/(d(i,:)+1), 1/(d(j,:)+1)] over all m units, self-pairs included; swap
 *   the two units' positions and keep the swap only when the loss strictly decreases.
 * - After the swap the two rows' distances are the same multiset and the correlation sums do not
 *   change, so the loss decreases iff
 *       delta = sum_{k != i,j} (C[i,k] - C[j,k]) * (f(d_jk) - f(d_ik)) > 0,  f(d) = 1/(d+1),
 *   with distances before the swap. Each attempt is O(m) (no m x m recomputation).
 *   * delta is summed exactly: each term is computed in fp32 with a fixed sequence of IEEE
 *   operations, scaled by 2^40, truncated to int64 and added in integers, so the decision does not
 *   depend on summation order (threads, SIMD width, CPU vs GPU). Near-ties (|delta| ~ 1e-7) can
 *   decide differently from the official float64 loss comparison.
 *   * When both units are dead the official loss is NaN and `NaN >= NaN` is false, so the swap is
 *   kept: we do the same (counted in accepted_nan).
 * - Correlations: z_u = (a_u - mean) / ||a_u - mean|| over the images (fp32, computed in double),
 *   C[a,b] = sum_n z_a[n] z_b[n] accumulated in fp32 with fma in image order (bit-identical on the
 *   CPU and the GPU), diagonal set to exactly 1 (0 for dead units).
 * - Random numbers (Philox, seed = the run seed): corners from stream (SWAPOPT, layer, 0, 0) block w;
 *   the subsample of window w from (SWAPOPT, layer, w, 1); the pair of attempt t from block t of
 *   (SWAPOPT, layer, w, 2) with pair_rng = per_window, or of (SWAPOPT, layer, 0, 3) for every window
 *   with pair_rng = replay (* the official code re-seeds numpy with 424 in every window, so every
 *   window replays the same pair sequence; replay reproduces that structure, not numpy's numbers).
 *   Pair: i = floor(u0 * m / 2^32), j = floor(u1 * (m-1) / 2^32), j += (j >= i) (bias < m / 2^32).
 * - Parallelism without changing the result: windows whose squares do not intersect touch
 *   disjoint units and commute, so windows are grouped into dependency levels (a window's level is
 *   1 + the largest level of the earlier windows that intersect it) and each level runs in
 *   parallel. The result equals running the windows one after another.
 *
 * Positions are "slots": the layer's positions before SwapOpt, which only permutes them. unit_at[s]
 * is the unit in slot s, slot_of[u] the slot of unit u; new positions[u] = slot_xy[slot_of[u]].
 */
#ifndef TDANN_SWAPOPT_H
#define TDANN_SWAPOPT_H

#include <stdint.h>

#include "config.h"
#include "rng.h"

#ifdef __CUDACC__
#define SWAPOPT_HD __host__ __device__ __forceinline__
#else
#define SWAPOPT_HD static inline
#endif

/* ---- the `swapopt:` config section ----------------------------------------------------------- */
enum { SWAPOPT_PAIRS_PER_WINDOW = 0, SWAPOPT_PAIRS_REPLAY = 1 };
typedef struct {
    int64_t attempts;         /* swap attempts per layer */
    int attempts_per_window;  /* 500 */
    int max_units;            /* at most this many units per window (500) */
    int min_units;            /* skip windows with fewer units (5) */
    int pair_rng;             /* SWAPOPT_PAIRS_* */
    int eval_windows;         /* windows for the reported loss before/after */
    char *layers;             /* "all" or a comma list */
} SwapoptConfig;
extern const Field SWAPOPT_FIELDS[];

/* ---- one layer's problem --------------------------------------------------------------------- */
typedef struct {
    int layer;                /* 0..7: keys the random streams */
    int64_t units;            /* U */
    int n_images;             /* N */
    const float *z;           /* [U][N] standardized responses (0 for dead units) */
    const uint8_t *dead;      /* [U] 1 when a unit's responses have zero variance */
    const float *slot_xy;     /* [U][2] slot coordinates, mm */
    double width;             /* window side, mm */
    uint64_t seed;
    struct Progress *progress;/* optional: updated with the windows done */
} SwapoptProblem;

typedef struct {
    int64_t windows, windows_skipped, attempts, accepted, accepted_nan;
    int64_t levels;           /* dependency levels of the schedule */
    double seconds;
} SwapoptStats;

/* One attempt, recorded when a trace is requested (tests). Losses are (1 - r)/2 of the two rows,
 * self-pairs included, computed in double from the fp32 correlations; NaN when r is undefined. */
typedef struct {
    int32_t unit_i, unit_j;
    int64_t delta;            /* the exact decision sum (units of 2^-40) */
    double loss_before, loss_after;
    uint8_t accepted, nan_case;
} SwapoptTraceEntry;

/* ---- schedule ---------------------------------------------------------------------------------- */
typedef struct {
    int64_t n;                /* windows */
    double *x0, *y0;          /* [n] lower-left corners */
    int64_t nlevels;
    int64_t *level_start;     /* [nlevels + 1] into order */
    int32_t *order;           /* [n] windows grouped by level, ascending index within a level */
} SwapoptPlan;

SwapoptPlan *swapopt_plan(const SwapoptProblem *p, const SwapoptConfig *c);
void swapopt_plan_free(SwapoptPlan *plan);

/* ---- window preparation (host; shared by both backends) -------------------------------------- */
struct SheetGrid;
typedef struct {
    struct SheetGrid *grid;   /* over slot_xy */
    uint64_t *bits_slots, *bits_units; /* scratch bitmaps, zero between calls */
    int32_t *scratch;         /* [U] */
} SwapoptWindowScratch;
SwapoptWindowScratch *swapopt_scratch_new(const SwapoptProblem *p, struct SheetGrid *grid);
void swapopt_scratch_free(SwapoptWindowScratch *s);
/* The units of window w given the current assignment: units O [m] in attempt-index order and
 * their slots O [m]; returns m, or 0 when the window is skipped (< min_units). units and slots
 * need room for max(max_units, U) entries. */
int swapopt_window_units(const SwapoptProblem *p, const SwapoptConfig *c, const SwapoptPlan *plan, int64_t w,
                         const int32_t *slot_of, const int32_t *unit_at, SwapoptWindowScratch *s,
                         int32_t *units, int32_t *slots);

/* ---- shared arithmetic (identical on host and device) ----------------------------------------- */
#define SWAPOPT_SCALE 1099511627776.0f /* 2^40 */

/* The pair of attempt t in a window of m units (m >= 2). */
SWAPOPT_HD void swapopt_pair(uint64_t seed, uint64_t stream, uint64_t t, uint32_t m, uint32_t *i, uint32_t *j) {
    Philox4 b = philox_block(seed, stream, t);
    uint32_t a = (uint32_t)(((uint64_t)b.v[0] * m) >> 32);
    uint32_t c = (uint32_t)(((uint64_t)b.v[1] * (m - 1)) >> 32);
    if (c >= a) c++;
    *i = a;
    *j = c;
}

/* One term of the decision sum, quantized: (ci - cj) * (f(|Pj - Pk|) - f(|Pi - Pk|)) * 2^40,
 * truncated. Every operation is spelled out (explicit fma, round-to-nearest intrinsics on the
 * device) so the host and the device compute the same bits. */
#ifdef __CUDA_ARCH__
#define SW_ADD(a, b) __fadd_rn(a, b)
#define SW_SUB(a, b) __fsub_rn(a, b)
#define SW_MUL(a, b) __fmul_rn(a, b)
#define SW_DIV(a, b) __fdiv_rn(a, b)
#define SW_FMA(a, b, c) __fmaf_rn(a, b, c)
#define SW_SQRT(a) __fsqrt_rn(a)
#define SW_F2LL(a) __float2ll_rz(a)
#else
#define SW_ADD(a, b) ((a) + (b))
#define SW_SUB(a, b) ((a) - (b))
#define SW_MUL(a, b) ((a) * (b))
#define SW_DIV(a, b) ((a) / (b))
#define SW_FMA(a, b, c) __builtin_fmaf(a, b, c)
#define SW_SQRT(a) __builtin_sqrtf(a)
#define SW_F2LL(a) ((int64_t)(a))
#endif
SWAPOPT_HD int64_t swapopt_term(float ci, float cj, float xi, float yi, float xj, float yj, float xk, float yk) {
    float dxi = SW_SUB(xi, xk), dyi = SW_SUB(yi, yk), dxj = SW_SUB(xj, xk), dyj = SW_SUB(yj, yk);
    float di = SW_SQRT(SW_FMA(dxi, dxi, SW_MUL(dyi, dyi))), dj = SW_SQRT(SW_FMA(dxj, dxj, SW_MUL(dyj, dyj)));
    float fi = SW_DIV(1.0f, SW_ADD(di, 1.0f)), fj = SW_DIV(1.0f, SW_ADD(dj, 1.0f));
    float t = SW_MUL(SW_SUB(ci, cj), SW_SUB(fj, fi));
    return SW_F2LL(SW_MUL(t, SWAPOPT_SCALE));
}

SWAPOPT_HD uint64_t swapopt_pair_stream(int layer, int64_t w, int pair_rng) {
    return pair_rng == SWAPOPT_PAIRS_REPLAY ? rng_stream(RNG_PURPOSE_SWAPOPT, (uint32_t)layer, 0, 3)
                                            : rng_stream(RNG_PURPOSE_SWAPOPT, (uint32_t)layer, (uint32_t)w, 2);
}

/* ---- backends ---------------------------------------------------------------------------------- */
/* Optimises one layer in place: slot_of [U] and unit_at [U] (I/O; identity at the start of a run).
 * trace: NULL, or [plan->n * attempts_per_window] entries (entry w*A + t; skipped windows untouched). */
void swapopt_run_cpu(const SwapoptProblem *p, const SwapoptConfig *c, const SwapoptPlan *plan, int32_t *slot_of,
                     int32_t *unit_at, SwapoptStats *st, SwapoptTraceEntry *trace);
#if TDANN_CUDA
void swapopt_run_cuda(const SwapoptProblem *p, const SwapoptConfig *c, const SwapoptPlan *plan, int32_t *slot_of,
                      int32_t *unit_at, SwapoptStats *st);
#endif

/* ---- pieces, exposed for tests and the CUDA path ------------------------------------------------ */
/* C O [m][ldc] = correlations of z rows units[0..m) (diagonal 1, 0 for dead units). nthreads > 1
 * splits the work with OpenMP (call from outside a parallel region). */
void swapopt_corr_block(const SwapoptProblem *p, const int32_t *units, int m, float *C, int ldc, int nthreads);
/* The decision sum for local units i, j given correlation rows ci, cj [m] and positions x, y [m]. */
int64_t swapopt_delta(const float *ci, const float *cj, const float *x, const float *y, int m, int i, int j);
/* (1 - r)/2 of rows i, j with the positions as given (self-pairs included); NaN when undefined. */
double swapopt_rows_loss(const float *ci, const float *cj, const float *x, const float *y, int m, int i, int j);

/* Mean spatial loss (1 - r)/2 over the lower-triangle pairs of eval windows (square, side width,
 * centres uniform in [min + w/2, max - w/2], at most max_units slots each, fixed by the slots so
 * the same windows serve before and after) for the assignment slot_of. */
double swapopt_eval_loss(const SwapoptProblem *p, const SwapoptConfig *c, const int32_t *slot_of);

/* Standardizes responses in place: a [U][N] (I) -> z (O); dead O [U]. Returns the number of dead units. */
int64_t swapopt_standardize(float *a, int64_t U, int N, uint8_t *dead);

#endif
