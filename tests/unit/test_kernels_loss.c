/* test_kernels_loss.c: loss kernels: NT-Xent (value against the formula written out, one and
 * several rank blocks, gradient by finite differences), cross-entropy (value, ignored labels,
 * gradient), spatial loss SL_REL and SL_ABS (value against a direct double computation of the
 * spacetorch definition, gradients by finite differences, zero-variance units). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cross_entropy.h"
#include "error.h"
#include "gradcheck.h"
#include "ntxent.h"
#include "spatial_loss.h"
#include "test.h"

/* ---- NT-Xent ---- */
typedef struct { int N, nr, D; float T; float *h; } NtCtx;
static double nt_obj(void *p) {
    NtCtx *c = p;
    return ntxent_cpu(c->h, c->N, c->nr, c->D, c->T, NULL);
}

static double ntxent_direct(const float *h, int N, int nr, int D, double T) {
    double *z = xmalloc(sizeof(double) * (size_t)N * D), loss = 0;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)h[i * D + d] * h[i * D + d];
        for (int d = 0; d < D; d++) z[i * D + d] = h[i * D + d] / sqrt(s);
    }
    for (int i = 0; i < N; i++) {
        int r = i / nr, li = i % nr, pos = r * nr + (li < nr / 2 ? li + nr / 2 : li - nr / 2);
        double den = 0, num = 0;
        for (int j = 0; j < N; j++) {
            if (j == i) continue;
            double dot = 0;
            for (int d = 0; d < D; d++) dot += z[i * D + d] * z[j * D + d];
            den += exp(dot / T);
            if (j == pos) num = exp(dot / T);
        }
        loss += -log(num / den);
    }
    free(z);
    return loss / N;
}

TEST(kernels_ntxent) {
    NtCtx c = {12, 12, 5, 0.5f, NULL};
    c.h = xmalloc(12 * 5 * 4);
    float dh[60];
    fill_normal(c.h, 60, 1, 30);
    double l = ntxent_cpu(c.h, 12, 12, 5, 0.5f, dh);
    CHECK_NEAR(l, ntxent_direct(c.h, 12, 12, 5, 0.5), 1e-9 * l);
    gradcheck("ntxent dh (1 block)", nt_obj, &c, c.h, 60, dh, 1e-3, 2e-3, 4, 4, 31);
    /* three rank blocks of 4 rows: positives stay inside each block */
    c.nr = 4;
    c.T = 0.1f;
    l = ntxent_cpu(c.h, 12, 4, 5, 0.1f, dh);
    CHECK_NEAR(l, ntxent_direct(c.h, 12, 4, 5, (double)0.1f), 1e-9 * l);
    CHECK(fabs(l - ntxent_direct(c.h, 12, 12, 5, (double)0.1f)) > 1e-3); /* the pairing matters */
    gradcheck("ntxent dh (3 blocks, T 0.1)", nt_obj, &c, c.h, 60, dh, 1e-3, 2e-3, 4, 4, 32);
    /* scale invariance: the loss depends on directions only */
    for (int i = 0; i < 5; i++) c.h[i] *= 3;
    CHECK_NEAR(ntxent_cpu(c.h, 12, 4, 5, 0.1f, NULL), l, 1e-6);
    free(c.h);
}

/* ---- cross-entropy ---- */
typedef struct { int n, k; float *lg; int32_t *lab; } CeCtx;
static double ce_obj(void *p) {
    CeCtx *c = p;
    return cross_entropy_cpu(c->lg, c->lab, c->n, c->k, NULL);
}

TEST(kernels_cross_entropy) {
    int32_t lab[5] = {2, 0, -1, 3, 1};
    CeCtx c = {5, 4, NULL, lab};
    c.lg = xmalloc(20 * 4);
    float d[20];
    fill_normal(c.lg, 20, 2, 40);
    double l = cross_entropy_cpu(c.lg, lab, 5, 4, d), want = 0;
    for (int i = 0; i < 5; i++) {
        if (lab[i] < 0) continue;
        double se = 0;
        for (int j = 0; j < 4; j++) se += exp(c.lg[i * 4 + j]);
        want += log(se) - c.lg[i * 4 + lab[i]];
    }
    CHECK_NEAR(l, want / 4, 1e-9);
    for (int j = 0; j < 4; j++) CHECK(d[2 * 4 + j] == 0);
    gradcheck("cross-entropy dlogits", ce_obj, &c, c.lg, 20, d, 1e-3, 2e-3, 3, 4, 41);
    int32_t bad[5] = {0, 4, 0, 0, 0};
    EXPECT_DIE(EXIT_RUNTIME, cross_entropy_cpu(c.lg, bad, 5, 4, NULL), "outside");
    free(c.lg);
}

/* ---- spatial loss ---- */
typedef struct { int kind, n, k; long stride; float *x, *coords; int32_t *units; } SlCtx;
static double sl_obj(void *p) {
    SlCtx *c = p;
    return spatial_loss_cpu(c->kind, c->x, c->n, c->stride, c->units, c->k, c->coords, NULL, 1);
}

/* spacetorch's definition, written out plainly in double */
static double sl_direct(int kind, const float *x, int n, long stride, const int32_t *u, int k, const float *xy) {
    double *R = xmalloc(sizeof(double) * k * k), *m = xmalloc(sizeof(double) * k), *sd = xmalloc(sizeof(double) * k);
    for (int a = 0; a < k; a++) {
        m[a] = 0;
        for (int i = 0; i < n; i++) m[a] += x[i * stride + u[a]];
        m[a] /= n;
        double v = 0;
        for (int i = 0; i < n; i++) v += pow(x[i * stride + u[a]] - m[a], 2);
        sd[a] = sqrt(v / (n - 1));
        if (sd[a] == 0) sd[a] = 1;
    }
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            double c = 0;
            for (int i = 0; i < n; i++) c += (x[i * stride + u[a]] - m[a]) * (x[i * stride + u[b]] - m[b]);
            c /= (n - 1);
            R[a * k + b] = fmin(1, fmax(-1, c / sd[a] / sd[b]));
        }
    int P = k * (k - 1) / 2, p = 0;
    double *rv = xmalloc(sizeof(double) * P), *dv = xmalloc(sizeof(double) * P);
    for (int a = 1; a < k; a++)
        for (int b = 0; b < a; b++, p++) {
            rv[p] = R[a * k + b];
            dv[p] = 1 / (1 + hypot((double)xy[2 * a] - xy[2 * b], (double)xy[2 * a + 1] - xy[2 * b + 1]));
        }
    double out = 0;
    if (kind == SPATIAL_ABS) {
        for (p = 0; p < P; p++) out += fabs(rv[p] - dv[p]);
        out /= P;
    } else {
        double mr = 0, md = 0, num = 0, sr = 0, sdd = 0;
        for (p = 0; p < P; p++) { mr += rv[p]; md += dv[p]; }
        mr /= P; md /= P;
        for (p = 0; p < P; p++) { num += (rv[p] - mr) * (dv[p] - md); sr += pow(rv[p] - mr, 2); sdd += pow(dv[p] - md, 2); }
        out = (1 - num / sqrt(sr * sdd)) / 2;
    }
    free(R); free(m); free(sd); free(rv); free(dv);
    return out;
}

/* one column of x as the free variable */
typedef struct { SlCtx *c; int col; float *vals; } ColCtx;
static double col_obj(void *p) {
    ColCtx *cc = p;
    for (int i = 0; i < cc->c->n; i++) cc->c->x[i * cc->c->stride + cc->col] = cc->vals[i];
    return sl_obj(cc->c);
}

static void sl_case(int kind, int zero_unit, uint64_t seed) {
    enum { N = 10, UNITS = 30, K = 7 };
    SlCtx c = {kind, N, K, UNITS, NULL, NULL, NULL};
    c.x = xmalloc(N * UNITS * 4);
    c.coords = xmalloc(K * 2 * 4);
    int32_t units[K] = {3, 17, 0, 25, 9, 11, 29};
    c.units = units;
    fill_normal(c.x, N * UNITS, 1, seed);
    /* correlated structure so that R is not just noise */
    for (int i = 0; i < N; i++) { c.x[i * UNITS + 17] += c.x[i * UNITS + 3]; c.x[i * UNITS + 0] -= 0.5f * c.x[i * UNITS + 3]; }
    if (zero_unit) for (int i = 0; i < N; i++) c.x[i * UNITS + 25] = 0.0f;
    fill_normal(c.coords, K * 2, 1, seed + 1);
    float *dx = xmalloc(N * UNITS * 4);
    fill_normal(dx, N * UNITS, 1, seed + 2);
    float *dx0 = xmalloc(N * UNITS * 4);
    memcpy(dx0, dx, N * UNITS * 4);
    double l = spatial_loss_cpu(kind, c.x, N, UNITS, units, K, c.coords, dx, 0.75f);
    char w[96];
    snprintf(w, sizeof w, "spatial %s%s", kind == SPATIAL_REL ? "SL_REL" : "SL_ABS", zero_unit ? " zero-variance unit" : "");
    CHECK_MSG(fabs(l - sl_direct(kind, c.x, N, UNITS, units, K, c.coords)) < 1e-10, "%s value %.12g vs direct %.12g", w, l,
              sl_direct(kind, c.x, N, UNITS, units, K, c.coords));
    /* gradient: dx accumulated 0.75 * dSL/dx onto what was there; untouched columns keep it */
    float *g = xmalloc(N * UNITS * 4);
    int untouched_ok = 1;
    for (int i = 0; i < N * UNITS; i++) {
        g[i] = (dx[i] - dx0[i]) / 0.75f;
        int col = i % UNITS, in = 0;
        for (int a = 0; a < K; a++) in |= units[a] == col;
        if (!in && dx[i] != dx0[i]) untouched_ok = 0;
        if (!isfinite(dx[i])) untouched_ok = 0;
    }
    CHECK_MSG(untouched_ok, "%s: gradient outside the neighbourhood or not finite", w);
    if (zero_unit) {
        /* no finite difference through the constant column (the loss jumps as soon as it
         * varies): check the gradient of the other columns one at a time */
        for (int j = 0; j < 2; j++) {
            int colno = j ? 17 : 3;
            ColCtx cc = {&c, colno, xmalloc(N * 4)};
            float gc[N];
            for (int i = 0; i < N; i++) { cc.vals[i] = c.x[i * UNITS + colno]; gc[i] = g[i * UNITS + colno]; }
            char w2[128];
            snprintf(w2, sizeof w2, "%s column %d", w, colno);
            gradcheck(w2, col_obj, &cc, cc.vals, N, gc, 1e-3, 5e-3, 3, 3, seed + 4 + (uint64_t)j);
            free(cc.vals);
        }
    } else {
        gradcheck(w, sl_obj, &c, c.x, N * UNITS, g, 1e-3, 5e-3, 4, 4, seed + 3);
    }
    free(c.x); free(c.coords); free(dx); free(dx0); free(g);
}

TEST(kernels_spatial_loss) {
    sl_case(SPATIAL_REL, 0, 50);
    sl_case(SPATIAL_ABS, 0, 60);
    sl_case(SPATIAL_REL, 1, 70);
    sl_case(SPATIAL_ABS, 1, 80);
}

TEST(kernels_spatial_loss_aligned_units) {
    /* 3 units where the closest pair is by far the most correlated: R_lt and D_lt nearly
     * proportional, so SL_REL is close to 0 */
    float x[4 * 3] = {1, 1.1f, -2, 2, 2.1f, 1, -1, -0.8f, 0.5f, 0, 0.2f, 0.4f};
    float xy[6] = {0, 0, 0.1f, 0, 5, 0};
    int32_t u[3] = {0, 1, 2};
    double l = spatial_loss_cpu(SPATIAL_REL, x, 4, 3, u, 3, xy, NULL, 1);
    CHECK_NEAR(l, sl_direct(SPATIAL_REL, x, 4, 3, u, 3, xy), 1e-12);
    CHECK(l < 1e-3);
}
