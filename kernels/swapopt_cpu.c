/* swapopt_cpu.c: SwapOpt on the CPU (the reference), plus the host pieces shared with the CUDA
 * path: config table, standardization, schedule, window unit lists, correlation blocks, loss.
 * See swapopt.h for the algorithm and its conventions.
 *
 * Threads: dependency levels with at least as many windows as threads run one window per thread;
 * smaller levels run window by window, with the correlation block split over the threads when
 * that is measured to be faster (see Tuner). The result never depends on the thread count.
 */
#include "swapopt.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "error.h"
#include "progress.h"
#include "sheet.h"
#include "util.h"

/* ---- config ------------------------------------------------------------------------------------ */
const Field SWAPOPT_FIELDS[] = {
    {"attempts", "attempts", 0, F_INT64, offsetof(SwapoptConfig, attempts), "50000000", 1, 1e15, NULL, "N",
     "swap attempts per layer (the paper: 5e7)", 0},
    {"attempts_per_window", NULL, 0, F_INT, offsetof(SwapoptConfig, attempts_per_window), "500", 1, 1e9, NULL, NULL,
     "attempts in each window", 0},
    {"max_units", NULL, 0, F_INT, offsetof(SwapoptConfig, max_units), "500", 2, 65536, NULL, NULL,
     "windows with this many units or more are subsampled to it", 0},
    {"min_units", NULL, 0, F_INT, offsetof(SwapoptConfig, min_units), "5", 2, 65536, NULL, NULL,
     "windows with fewer units are skipped", 0},
    {"pair_rng", "pair-rng", 0, F_ENUM, offsetof(SwapoptConfig, pair_rng), "per_window", 0, 0, "per_window|replay", NULL,
     "pair sequence: fresh per window, or the same for every window (the official re-seeding)", 0},
    {"eval_windows", NULL, 0, F_INT, offsetof(SwapoptConfig, eval_windows), "200", 1, 1e7, NULL, NULL,
     "windows that measure the reported spatial loss before and after", 0},
    {"layers", "layers", 0, F_STRING, offsetof(SwapoptConfig, layers), "all", 0, 0, NULL, "LIST",
     "layers to optimise (all, or e.g. layer2.0,layer4.1); the others are copied", 0},
    FIELD_END};

/* ---- standardization --------------------------------------------------------------------------- */
int64_t swapopt_standardize(float *a, int64_t U, int N, uint8_t *dead) {
    int64_t ndead = 0;
#pragma omp parallel for schedule(static) reduction(+ : ndead)
    for (int64_t u = 0; u < U; u++) {
        float *r = a + u * N;
        double s = 0;
        for (int n = 0; n < N; n++) s += r[n];
        double mean = s / N, ss = 0;
        for (int n = 0; n < N; n++) ss += (r[n] - mean) * (r[n] - mean);
        dead[u] = ss == 0;
        if (ss == 0) {
            memset(r, 0, sizeof(float) * (size_t)N);
            ndead++;
        } else {
            double inv = 1 / sqrt(ss);
            for (int n = 0; n < N; n++) r[n] = (float)((r[n] - mean) * inv);
        }
    }
    return ndead;
}

/* ---- schedule ---------------------------------------------------------------------------------- */
static void slot_extent(const SwapoptProblem *p, double lo[2], double hi[2]) {
    lo[0] = lo[1] = INFINITY;
    hi[0] = hi[1] = -INFINITY;
    for (int64_t i = 0; i < p->units; i++)
        for (int a = 0; a < 2; a++) {
            double v = p->slot_xy[2 * i + a];
            if (v < lo[a]) lo[a] = v;
            if (v > hi[a]) hi[a] = v;
        }
}

static double u53(uint32_t hi, uint32_t lo) {
    return (double)((((uint64_t)hi << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

SwapoptPlan *swapopt_plan(const SwapoptProblem *p, const SwapoptConfig *c) {
    double lo[2], hi[2];
    slot_extent(p, lo, hi);
    const double w = p->width;
    /* a window wider than the sheet covers all of it: corner fixed at the minimum */
    const double span[2] = {hi[0] - lo[0] - w > 0 ? hi[0] - lo[0] - w : 0, hi[1] - lo[1] - w > 0 ? hi[1] - lo[1] - w : 0};
    SwapoptPlan *pl = xcalloc(1, sizeof *pl);
    pl->n = (c->attempts + c->attempts_per_window - 1) / c->attempts_per_window;
    if (pl->n > (1 << 24)) die(EXIT_USAGE, "too many windows (%lld; at most 2^24 per layer)", (long long)pl->n);
    pl->x0 = xmalloc(sizeof(double) * (size_t)pl->n);
    pl->y0 = xmalloc(sizeof(double) * (size_t)pl->n);
    const uint64_t st = rng_stream(RNG_PURPOSE_SWAPOPT, (uint32_t)p->layer, 0, 0);
    for (int64_t i = 0; i < pl->n; i++) {
        Philox4 b = philox_block(p->seed, st, (uint64_t)i);
        pl->x0[i] = lo[0] + span[0] * u53(b.v[0], b.v[1]);
        pl->y0[i] = lo[1] + span[1] * u53(b.v[2], b.v[3]);
    }
    /* Levels: a grid over the corners (cell = w/8) keeps the largest level seen per cell; a window
     * looks at every cell within w (+ one cell) of its corner, so every intersecting earlier window
     * is seen (a few non-intersecting ones too: that only costs parallelism). */
    const double cell = w / 8;
    const int nx = (int)floor(span[0] / cell) + 1, ny = (int)floor(span[1] / cell) + 1;
    int32_t *cellmax = xcalloc((size_t)nx * (size_t)ny, sizeof(int32_t));
    int32_t *level = xmalloc(sizeof(int32_t) * (size_t)pl->n);
    int32_t maxlevel = 0;
    for (int64_t i = 0; i < pl->n; i++) {
        int cx = (int)floor((pl->x0[i] - lo[0]) / cell), cy = (int)floor((pl->y0[i] - lo[1]) / cell);
        if (cx >= nx) cx = nx - 1;
        if (cy >= ny) cy = ny - 1;
        const int reach = 9; /* ceil(w / cell) + 1 */
        int32_t m = 0;
        for (int yy = cy - reach < 0 ? 0 : cy - reach; yy <= cy + reach && yy < ny; yy++)
            for (int xx = cx - reach < 0 ? 0 : cx - reach; xx <= cx + reach && xx < nx; xx++) {
                int32_t v = cellmax[(size_t)yy * nx + xx];
                if (v > m) m = v;
            }
        level[i] = m + 1;
        if (level[i] > cellmax[(size_t)cy * nx + cx]) cellmax[(size_t)cy * nx + cx] = level[i];
        if (level[i] > maxlevel) maxlevel = level[i];
    }
    pl->nlevels = maxlevel;
    pl->level_start = xcalloc((size_t)maxlevel + 1, sizeof(int64_t));
    for (int64_t i = 0; i < pl->n; i++) pl->level_start[level[i]]++; /* level L counted at L (1-based) */
    for (int64_t l = 0; l < maxlevel; l++) pl->level_start[l + 1] += pl->level_start[l];
    int64_t *fill = xmalloc(sizeof(int64_t) * (size_t)(maxlevel + 1));
    memcpy(fill, pl->level_start, sizeof(int64_t) * (size_t)(maxlevel + 1));
    pl->order = xmalloc(sizeof(int32_t) * (size_t)(pl->n ? pl->n : 1));
    for (int64_t i = 0; i < pl->n; i++) pl->order[fill[level[i] - 1]++] = (int32_t)i;
    free(fill);
    free(level);
    free(cellmax);
    return pl;
}

void swapopt_plan_free(SwapoptPlan *pl) {
    if (!pl) return;
    free(pl->x0);
    free(pl->y0);
    free(pl->level_start);
    free(pl->order);
    free(pl);
}

/* ---- window unit lists --------------------------------------------------------------------------- */
SwapoptWindowScratch *swapopt_scratch_new(const SwapoptProblem *p, SheetGrid *grid) {
    SwapoptWindowScratch *s = xcalloc(1, sizeof *s);
    s->grid = grid;
    s->bits_slots = xcalloc((size_t)(p->units + 63) / 64 + 1, sizeof(uint64_t));
    s->bits_units = xcalloc((size_t)(p->units + 63) / 64 + 1, sizeof(uint64_t));
    s->scratch = xmalloc(sizeof(int32_t) * (size_t)p->units);
    return s;
}

void swapopt_scratch_free(SwapoptWindowScratch *s) {
    if (!s) return;
    free(s->bits_slots);
    free(s->bits_units);
    free(s->scratch);
    free(s);
}

int swapopt_window_units(const SwapoptProblem *p, const SwapoptConfig *c, const SwapoptPlan *plan, int64_t w,
                         const int32_t *slot_of, const int32_t *unit_at, SwapoptWindowScratch *s, int32_t *units,
                         int32_t *slots) {
    const double x0 = plan->x0[w], y0 = plan->y0[w];
    int64_t n = sheet_grid_query_bits(s->grid, x0, x0 + p->width, y0, y0 + p->width, s->scratch, s->bits_slots);
    if (n < c->min_units) return 0;
    /* units in ascending index order (as numpy's where over the units) */
    int64_t umin = INT64_MAX, umax = -1;
    for (int64_t k = 0; k < n; k++) {
        int32_t u = unit_at[s->scratch[k]];
        s->bits_units[u >> 6] |= 1ull << (u & 63);
        if (u < umin) umin = u;
        if (u > umax) umax = u;
    }
    int64_t k = 0;
    for (int64_t wd = umin >> 6; wd <= umax >> 6; wd++) {
        uint64_t b = s->bits_units[wd];
        s->bits_units[wd] = 0;
        while (b) {
            units[k++] = (int32_t)(wd * 64 + __builtin_ctzll(b));
            b &= b - 1;
        }
    }
    if (n >= c->max_units) { /* draw max_units without replacement, in draw order */
        Rng r;
        rng_init(&r, p->seed, rng_stream(RNG_PURPOSE_SWAPOPT, (uint32_t)p->layer, (uint32_t)w, 1));
        rng_sample_i32(&r, units, n, c->max_units);
        n = c->max_units;
    }
    for (int64_t i = 0; i < n; i++) slots[i] = slot_of[units[i]];
    return (int)n;
}

/* ---- correlation blocks ------------------------------------------------------------------------ */
#define TR 8  /* rows per tile */
#define TC 32 /* columns per tile */

/* Tile update over images [n0, n0 + len): c[r][l] = (first ? 0 : c[r][l]) + sum_n a[n][r] * b[n][l],
 * accumulated one image at a time with fma (so chunking the images does not change the bits),
 * r < TR, l < TC. a and b point at image n0 of packed panels (row stride TC floats): the row
 * tile's 8 units are 8 consecutive lanes of a column panel. */
static void corr_tile(const float *a, const float *bp, int len, float *c, int ldc, int first) {
#if defined(__AVX512F__)
    /* 16 accumulators in named registers (an array with a conditional start would be spilled) */
#define LD(r, h) (first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + (size_t)(r) * ldc + 16 * (h)))
    __m512 a00 = LD(0, 0), a01 = LD(0, 1), a10 = LD(1, 0), a11 = LD(1, 1), a20 = LD(2, 0), a21 = LD(2, 1);
    __m512 a30 = LD(3, 0), a31 = LD(3, 1), a40 = LD(4, 0), a41 = LD(4, 1), a50 = LD(5, 0), a51 = LD(5, 1);
    __m512 a60 = LD(6, 0), a61 = LD(6, 1), a70 = LD(7, 0), a71 = LD(7, 1);
#undef LD
    for (int n = 0; n < len; n++) {
        const float *an = a + (size_t)n * TC;
        const __m512 b0 = _mm512_loadu_ps(bp + (size_t)n * TC), b1 = _mm512_loadu_ps(bp + (size_t)n * TC + 16);
        __m512 v;
#define ROW(r, x0, x1) v = _mm512_set1_ps(an[r]); x0 = _mm512_fmadd_ps(v, b0, x0); x1 = _mm512_fmadd_ps(v, b1, x1);
        ROW(0, a00, a01) ROW(1, a10, a11) ROW(2, a20, a21) ROW(3, a30, a31)
        ROW(4, a40, a41) ROW(5, a50, a51) ROW(6, a60, a61) ROW(7, a70, a71)
#undef ROW
    }
#define ST(r, x0, x1) _mm512_storeu_ps(c + (size_t)(r) * ldc, x0); _mm512_storeu_ps(c + (size_t)(r) * ldc + 16, x1);
    ST(0, a00, a01) ST(1, a10, a11) ST(2, a20, a21) ST(3, a30, a31)
    ST(4, a40, a41) ST(5, a50, a51) ST(6, a60, a61) ST(7, a70, a71)
#undef ST
#else
    float acc[TR][TC];
    for (int r = 0; r < TR; r++)
        for (int l = 0; l < TC; l++) acc[r][l] = first ? 0.0f : c[(size_t)r * ldc + l];
    for (int n = 0; n < len; n++)
        for (int r = 0; r < TR; r++) {
            float av = a[(size_t)n * TC + r];
            for (int l = 0; l < TC; l++) acc[r][l] = __builtin_fmaf(av, bp[(size_t)n * TC + l], acc[r][l]);
        }
    for (int r = 0; r < TR; r++) memcpy(c + (size_t)r * ldc, acc[r], sizeof(float) * TC);
#endif
}

static __thread float *tl_bp, *tl_zero;
static __thread size_t tl_bp_cap, tl_zero_cap;

static float *grow(float **p, size_t *cap, size_t n) {
    if (n > *cap) {
        free(*p);
        *p = xcalloc(n, sizeof(float));
        *cap = n;
    }
    return *p;
}

void swapopt_corr_block(const SwapoptProblem *p, const int32_t *units, int m, float *C, int ldc, int nthreads) {
    const int N = p->n_images;
    const int ncb = (m + TC - 1) / TC, nrb = (m + TR - 1) / TR;
    if (ldc < ncb * TC) die(EXIT_RUNTIME, "internal error: correlation block stride %d < %d", ldc, ncb * TC);
    float *bp = grow(&tl_bp, &tl_bp_cap, (size_t)ncb * TC * N);
    const float *zero = grow(&tl_zero, &tl_zero_cap, (size_t)N); /* stays all zero */
    for (int cb = 0; cb < ncb; cb++) { /* pack: bp[cb][n][l] = z[units[cb*TC + l]][n], in L1-sized blocks */
        float *dst = bp + (size_t)cb * TC * N;
        const float *src[TC];
        for (int l = 0; l < TC; l++) src[l] = cb * TC + l < m ? p->z + (size_t)units[cb * TC + l] * N : zero;
        const float *nxt[TC]; /* the next block's rows, fetched one stretch ahead (z rows are scattered in DRAM) */
        for (int l = 0; l < TC; l++) nxt[l] = (cb + 1) * TC + l < m ? p->z + (size_t)units[(cb + 1) * TC + l] * N : NULL;
        for (int n0 = 0; n0 < N; n0 += 64) { /* 32 row streams at a time */
            const int n1 = N - n0 < 64 ? N : n0 + 64;
            for (int l = 0; l < TC; l++) {
                if (nxt[l])
                    for (int n = n0; n < n1; n += 16) __builtin_prefetch(nxt[l] + n, 0, 3);
                for (int n = n0; n < n1; n++) dst[(size_t)n * TC + l] = src[l][n];
            }
        }
    }
    /* Tiles on or above the diagonal (the rest is mirrored: fma is symmetric in its factors). One
     * column block per task, largest first; inside, images in chunks of NCH so the block's panel
     * chunk stays in L1 while the row tiles stream past it. */
    enum { NCH = 128 };
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads) if (nthreads > 1)
    for (int q = 0; q < ncb; q++) {
        const int cb = ncb - 1 - q;
        const int rb_end = ((cb + 1) * TC + TR - 1) / TR < nrb ? ((cb + 1) * TC + TR - 1) / TR : nrb;
        for (int n0 = 0; n0 < N; n0 += NCH) {
            const int len = N - n0 < NCH ? N - n0 : NCH;
            for (int rb = 0; rb < rb_end; rb++) {
                const float *ap = bp + (size_t)(rb * TR / TC) * TC * N + (size_t)n0 * TC + (rb * TR) % TC;
                corr_tile(ap, bp + (size_t)cb * TC * N + (size_t)n0 * TC, len, C + (size_t)rb * TR * ldc + (size_t)cb * TC,
                          ldc, n0 == 0);
            }
        }
    }
    for (int a0 = 0; a0 < m; a0 += 32) /* mirror the upper triangle, 32 x 32 blocks */
        for (int b0 = 0; b0 <= a0; b0 += 32)
            for (int a = a0; a < a0 + 32 && a < m; a++)
                for (int b = b0; b < b0 + 32 && b < a; b++) C[(size_t)a * ldc + b] = C[(size_t)b * ldc + a];
    for (int a = 0; a < m; a++) C[(size_t)a * ldc + a] = p->dead[units[a]] ? 0.0f : 1.0f;
}

/* ---- attempts ---------------------------------------------------------------------------------- */
int64_t swapopt_delta(const float *ci, const float *cj, const float *x, const float *y, int m, int i, int j) {
    const float xi = x[i], yi = y[i], xj = x[j], yj = y[j];
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    /* swapopt_term on 16 lanes: the same IEEE operations in the same order, so the same bits */
    const __m512 vxi = _mm512_set1_ps(xi), vyi = _mm512_set1_ps(yi), vxj = _mm512_set1_ps(xj), vyj = _mm512_set1_ps(yj);
    const __m512 one = _mm512_set1_ps(1.0f), scale = _mm512_set1_ps(SWAPOPT_SCALE);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i vi = _mm512_set1_epi32(i), vj = _mm512_set1_epi32(j);
    __m512i acc = _mm512_setzero_si512();
    for (int k0 = 0; k0 < m; k0 += 16) {
        __m512i kk = _mm512_add_epi32(lane, _mm512_set1_epi32(k0));
        __mmask16 valid = _mm512_cmplt_epi32_mask(kk, _mm512_set1_epi32(m));
        __mmask16 use = valid & ~_mm512_cmpeq_epi32_mask(kk, vi) & ~_mm512_cmpeq_epi32_mask(kk, vj);
        __m512 c_i = _mm512_maskz_loadu_ps(valid, ci + k0), c_j = _mm512_maskz_loadu_ps(valid, cj + k0);
        __m512 xk = _mm512_maskz_loadu_ps(valid, x + k0), yk = _mm512_maskz_loadu_ps(valid, y + k0);
        __m512 dxi = _mm512_sub_ps(vxi, xk), dyi = _mm512_sub_ps(vyi, yk);
        __m512 dxj = _mm512_sub_ps(vxj, xk), dyj = _mm512_sub_ps(vyj, yk);
        __m512 di = _mm512_sqrt_ps(_mm512_fmadd_ps(dxi, dxi, _mm512_mul_ps(dyi, dyi)));
        __m512 dj = _mm512_sqrt_ps(_mm512_fmadd_ps(dxj, dxj, _mm512_mul_ps(dyj, dyj)));
        __m512 fi = _mm512_div_ps(one, _mm512_add_ps(di, one)), fj = _mm512_div_ps(one, _mm512_add_ps(dj, one));
        __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(c_i, c_j), _mm512_sub_ps(fj, fi)), scale);
        __m512i lo = _mm512_cvttps_epi64(_mm512_castps512_ps256(t));
        __m512i hi = _mm512_cvttps_epi64(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)));
        acc = _mm512_mask_add_epi64(acc, (__mmask8)(use & 0xFF), acc, lo);
        acc = _mm512_mask_add_epi64(acc, (__mmask8)(use >> 8), acc, hi);
    }
    return _mm512_reduce_add_epi64(acc);
#else
    int64_t s = 0;
    for (int k = 0; k < m; k++)
        if (k != i && k != j) s += swapopt_term(ci[k], cj[k], xi, yi, xj, yj, x[k], y[k]);
    return s;
#endif
}

double swapopt_rows_loss(const float *ci, const float *cj, const float *x, const float *y, int m, int i, int j) {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int r = 0; r < 2; r++) {
        const float *c = r ? cj : ci;
        int u = r ? j : i;
        for (int k = 0; k < m; k++) {
            double dx = (double)x[u] - x[k], dy = (double)y[u] - y[k];
            double f = 1 / (sqrt(dx * dx + dy * dy) + 1), v = c[k];
            sx += v;
            sy += f;
            sxx += v * v;
            syy += f * f;
            sxy += v * f;
        }
    }
    double n = 2.0 * m, vx = sxx - sx * sx / n, vy = syy - sy * sy / n;
    if (!(vx > 0) || !(vy > 0)) return NAN;
    return (1 - (sxy - sx * sy / n) / sqrt(vx * vy)) / 2;
}

/* ---- one window -------------------------------------------------------------------------------- */
typedef struct {
    int32_t *units, *slots, *lslot;
    float *C, *x, *y;
    SwapoptWindowScratch *ws;
} Worker;

static Worker *worker_new(const SwapoptProblem *p, const SwapoptConfig *c, SheetGrid *g) {
    Worker *k = xcalloc(1, sizeof *k);
    int64_t cap = p->units > c->max_units ? p->units : c->max_units;
    int mm = c->max_units, ld = (mm + TC - 1) / TC * TC;
    k->units = xmalloc(sizeof(int32_t) * (size_t)cap);
    k->slots = xmalloc(sizeof(int32_t) * (size_t)cap);
    k->lslot = xmalloc(sizeof(int32_t) * (size_t)mm);
    k->C = xmalloc(sizeof(float) * (size_t)((mm + TR - 1) / TR * TR) * (size_t)ld);
    k->x = xmalloc(sizeof(float) * (size_t)mm);
    k->y = xmalloc(sizeof(float) * (size_t)mm);
    k->ws = swapopt_scratch_new(p, g);
    return k;
}

static void worker_free(Worker *k) {
    free(k->units);
    free(k->slots);
    free(k->lslot);
    free(k->C);
    free(k->x);
    free(k->y);
    swapopt_scratch_free(k->ws);
    free(k);
}

typedef struct { int64_t accepted, accepted_nan, skipped; } WinStats;

static WinStats run_window(const SwapoptProblem *p, const SwapoptConfig *c, const SwapoptPlan *plan, int64_t w,
                           int32_t *slot_of, int32_t *unit_at, Worker *k, int nthreads, SwapoptTraceEntry *trace) {
    WinStats r = {0, 0, 0};
    int m = swapopt_window_units(p, c, plan, w, slot_of, unit_at, k->ws, k->units, k->slots);
    if (m == 0) { r.skipped = 1; return r; }
    const int ldc = (m + TC - 1) / TC * TC;
    swapopt_corr_block(p, k->units, m, k->C, ldc, nthreads);
    for (int i = 0; i < m; i++) {
        k->lslot[i] = k->slots[i];
        k->x[i] = p->slot_xy[2 * (int64_t)k->slots[i]];
        k->y[i] = p->slot_xy[2 * (int64_t)k->slots[i] + 1];
    }
    const uint64_t stream = swapopt_pair_stream(p->layer, w, c->pair_rng);
    for (int t = 0; t < c->attempts_per_window; t++) {
        uint32_t i, j;
        swapopt_pair(p->seed, stream, (uint64_t)t, (uint32_t)m, &i, &j);
        const float *ci = k->C + (size_t)i * ldc, *cj = k->C + (size_t)j * ldc;
        int nan_case = p->dead[k->units[i]] && p->dead[k->units[j]];
        int64_t delta = nan_case ? 0 : swapopt_delta(ci, cj, k->x, k->y, m, (int)i, (int)j);
        int acc = nan_case || delta > 0;
        SwapoptTraceEntry *te = trace ? trace + w * c->attempts_per_window + t : NULL;
        if (te) {
            te->unit_i = k->units[i];
            te->unit_j = k->units[j];
            te->delta = delta;
            te->nan_case = (uint8_t)nan_case;
            te->accepted = (uint8_t)acc;
            te->loss_before = swapopt_rows_loss(ci, cj, k->x, k->y, m, (int)i, (int)j);
        }
        float tx = k->x[i], ty = k->y[i];
        k->x[i] = k->x[j];
        k->y[i] = k->y[j];
        k->x[j] = tx;
        k->y[j] = ty;
        if (te) te->loss_after = swapopt_rows_loss(ci, cj, k->x, k->y, m, (int)i, (int)j);
        if (acc) {
            int32_t ts = k->lslot[i];
            k->lslot[i] = k->lslot[j];
            k->lslot[j] = ts;
            r.accepted++;
            r.accepted_nan += nan_case;
        } else { /* swap back */
            k->x[j] = k->x[i];
            k->y[j] = k->y[i];
            k->x[i] = tx;
            k->y[i] = ty;
        }
    }
    for (int i = 0; i < m; i++) {
        slot_of[k->units[i]] = k->lslot[i];
        unit_at[k->lslot[i]] = k->units[i];
    }
    return r;
}

/* Windows that run alone (a chain of intersecting windows, e.g. layer4's) split their correlation
 * block over the threads, which pays off on an idle machine and loses badly on a busy one (every
 * window ends with a join). The tuner times windows with 1 and with all threads, alternately for
 * a few windows every 1000, and uses the faster. The choice never changes the result. */
typedef struct {
    int nth, phase;  /* phase counts windows since the last probe started */
    double t[2];     /* probe time sums: [0] one thread, [1] all threads */
    int n[2], best;
} Tuner;

static int tuner_pick(Tuner *t) {
    if (t->nth < 2) return 1;
    if (t->phase < 16) return (t->phase & 1) ? t->nth : 1; /* probing */
    return t->best ? t->nth : 1;
}

static void tuner_record(Tuner *t, int inner, double sec) {
    if (t->nth < 2) return;
    if (t->phase < 16) {
        int k = inner > 1;
        t->t[k] += sec;
        t->n[k]++;
        if (t->phase == 15) t->best = t->t[1] / t->n[1] < t->t[0] / t->n[0];
    }
    if (++t->phase >= 1000) t->phase = t->t[0] = t->t[1] = t->n[0] = t->n[1] = 0;
}

void swapopt_run_cpu(const SwapoptProblem *p, const SwapoptConfig *c, const SwapoptPlan *plan, int32_t *slot_of,
                     int32_t *unit_at, SwapoptStats *st, SwapoptTraceEntry *trace) {
    double t0 = now_seconds();
    const int nth = omp_get_max_threads();
    SheetGrid *g = sheet_grid_build(p->slot_xy, p->units, p->width / 4);
    Worker **wk = xmalloc(sizeof(Worker *) * (size_t)nth);
    for (int i = 0; i < nth; i++) wk[i] = worker_new(p, c, g);
    WinStats *ws = xcalloc((size_t)(plan->n ? plan->n : 1), sizeof(WinStats));
    Tuner tu = {.nth = nth};
    for (int64_t L = 0; L < plan->nlevels; L++) {
        int64_t a = plan->level_start[L], b = plan->level_start[L + 1];
        if (b - a >= nth && nth > 1) {
#pragma omp parallel for schedule(dynamic, 1)
            for (int64_t q = a; q < b; q++) {
                int64_t w = plan->order[q];
                ws[w] = run_window(p, c, plan, w, slot_of, unit_at, wk[omp_get_thread_num()], 1, trace);
            }
        } else {
            for (int64_t q = a; q < b; q++) {
                int64_t w = plan->order[q];
                int inner = tuner_pick(&tu);
                double tw = now_seconds();
                ws[w] = run_window(p, c, plan, w, slot_of, unit_at, wk[0], inner, trace);
                tuner_record(&tu, inner, now_seconds() - tw);
            }
        }
        if (p->progress) progress_update(p->progress, b, NULL);
    }
    memset(st, 0, sizeof *st);
    st->windows = plan->n;
    st->levels = plan->nlevels;
    for (int64_t w = 0; w < plan->n; w++) {
        st->windows_skipped += ws[w].skipped;
        st->accepted += ws[w].accepted;
        st->accepted_nan += ws[w].accepted_nan;
    }
    st->attempts = (plan->n - st->windows_skipped) * (int64_t)c->attempts_per_window;
    free(ws);
    for (int i = 0; i < nth; i++) worker_free(wk[i]);
    free(wk);
    sheet_grid_free(g);
    st->seconds = now_seconds() - t0;
}

/* ---- reported loss ------------------------------------------------------------------------------- */
double swapopt_eval_loss(const SwapoptProblem *p, const SwapoptConfig *c, const int32_t *slot_of) {
    const int E = c->eval_windows;
    double lo[2], hi[2];
    slot_extent(p, lo, hi);
    const double w = p->width, r = w / 2;
    double *cx = xmalloc(sizeof(double) * (size_t)E), *cy = xmalloc(sizeof(double) * (size_t)E);
    Rng rc;
    rng_init(&rc, p->seed, rng_stream(RNG_PURPOSE_SWAPOPT, (uint32_t)p->layer, 0, 4));
    const double span[2] = {hi[0] - lo[0] - w > 0 ? hi[0] - lo[0] - w : 0, hi[1] - lo[1] - w > 0 ? hi[1] - lo[1] - w : 0};
    for (int a = 0; a < 2; a++)
        if (hi[a] - lo[a] - w < 0) lo[a] = (lo[a] + hi[a]) / 2 - r;
    for (int e = 0; e < E; e++) {
        cx[e] = lo[0] + r + span[0] * rng_uniform_double(&rc);
        cy[e] = lo[1] + r + span[1] * rng_uniform_double(&rc);
    }
    int32_t *unit_at = xmalloc(sizeof(int32_t) * (size_t)p->units);
    for (int64_t u = 0; u < p->units; u++) unit_at[slot_of[u]] = (int32_t)u;
    SheetGrid *g = sheet_grid_build(p->slot_xy, p->units, w / 4);
    double *loss = xmalloc(sizeof(double) * (size_t)E);
#pragma omp parallel
    {
        int32_t *slots = xmalloc(sizeof(int32_t) * (size_t)p->units), *units = xmalloc(sizeof(int32_t) * (size_t)c->max_units);
        uint64_t *bits = xcalloc((size_t)(p->units + 63) / 64 + 1, sizeof(uint64_t));
        const int mm = c->max_units, ld = (mm + TC - 1) / TC * TC;
        float *C = xmalloc(sizeof(float) * (size_t)((mm + TR - 1) / TR * TR) * (size_t)ld);
#pragma omp for schedule(dynamic, 1)
        for (int e = 0; e < E; e++) {
            int64_t n = sheet_grid_query_bits(g, cx[e] - r, cx[e] + r, cy[e] - r, cy[e] + r, slots, bits);
            loss[e] = NAN;
            if (n < c->min_units) continue;
            if (n > c->max_units) {
                Rng rs;
                rng_init(&rs, p->seed, rng_stream(RNG_PURPOSE_SWAPOPT, (uint32_t)p->layer, (uint32_t)e, 5));
                rng_sample_i32(&rs, slots, n, c->max_units);
                n = c->max_units;
            }
            for (int64_t i = 0; i < n; i++) units[i] = unit_at[slots[i]];
            const int m = (int)n, ldc = (m + TC - 1) / TC * TC;
            swapopt_corr_block(p, units, m, C, ldc, 1);
            double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
            for (int a = 1; a < m; a++)
                for (int b = 0; b < a; b++) {
                    double dx = (double)p->slot_xy[2 * (int64_t)slots[a]] - p->slot_xy[2 * (int64_t)slots[b]];
                    double dy = (double)p->slot_xy[2 * (int64_t)slots[a] + 1] - p->slot_xy[2 * (int64_t)slots[b] + 1];
                    double f = 1 / (sqrt(dx * dx + dy * dy) + 1), v = C[(size_t)a * ldc + b];
                    sx += v;
                    sy += f;
                    sxx += v * v;
                    syy += f * f;
                    sxy += v * f;
                }
            double np_ = (double)m * (m - 1) / 2, vx = sxx - sx * sx / np_, vy = syy - sy * sy / np_;
            if (vx > 0 && vy > 0) loss[e] = (1 - (sxy - sx * sy / np_) / sqrt(vx * vy)) / 2;
        }
        free(slots);
        free(units);
        free(bits);
        free(C);
    }
    double s = 0;
    int cnt = 0;
    for (int e = 0; e < E; e++)
        if (!isnan(loss[e])) { s += loss[e]; cnt++; }
    free(loss);
    free(unit_at);
    free(cx);
    free(cy);
    sheet_grid_free(g);
    return cnt ? s / cnt : NAN;
}
