/* test_kernels_bn.c: batch norm CPU kernels: training forward (statistics, running-stat update
 * with the unbiased variance, fused residual + ReLU) against a direct double computation; eval
 * mode; backward (dx, dres, dgamma, dbeta) by finite differences with and without the fusion. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchnorm.h"
#include "error.h"
#include "gradcheck.h"
#include "test.h"

typedef struct {
    BnShape s;
    int relu;
    float *x, *res, *gamma, *beta, *y, *r;
    float *mean, *invstd, *s1, *s2;
} BnCtx;

static size_t tn(const BnShape *s) { return (size_t)s->n * s->c * s->hw; }

static void bn_train_fwd(BnCtx *b, float *rm, float *rv) {
    double count = (double)b->s.n * b->s.hw;
    bn_sum_cpu(&b->s, b->x, b->s1);
    for (int c = 0; c < b->s.c; c++) b->mean[c] = (float)(b->s1[c] / count);
    bn_sqdev_cpu(&b->s, b->x, b->mean, b->s2);
    bn_train_stats_cpu(b->s.c, count, b->s1, b->s2, BN_EPS, BN_MOMENTUM, b->mean, b->invstd, rm, rv);
    bn_apply_cpu(&b->s, b->x, b->mean, b->invstd, b->gamma, b->beta, b->res, b->relu, b->y);
}

static double bn_obj(void *p) {
    BnCtx *b = p;
    bn_train_fwd(b, NULL, NULL);
    return dot_f64(b->y, b->r, tn(&b->s));
}

static BnCtx bn_make(int n, int c, int hw, int relu, int with_res, uint64_t seed) {
    BnCtx b;
    memset(&b, 0, sizeof b);
    b.s = (BnShape){n, c, hw};
    b.relu = relu;
    size_t t = tn(&b.s);
    b.x = xmalloc(t * 4); b.y = xmalloc(t * 4); b.r = xmalloc(t * 4);
    b.res = with_res ? xmalloc(t * 4) : NULL;
    b.gamma = xmalloc(c * 4); b.beta = xmalloc(c * 4);
    b.mean = xmalloc(c * 4); b.invstd = xmalloc(c * 4); b.s1 = xmalloc(c * 4); b.s2 = xmalloc(c * 4);
    fill_normal(b.x, t, 2, seed);
    for (size_t i = 0; i < t; i++) b.x[i] += 0.5f * (float)((i / (size_t)hw) % (size_t)c); /* channel offsets */
    if (b.res) fill_normal(b.res, t, 1, seed + 1);
    fill_normal(b.gamma, c, 0.5f, seed + 2);
    for (int i = 0; i < c; i++) b.gamma[i] += 1;
    fill_normal(b.beta, c, 0.3f, seed + 3);
    fill_normal(b.r, t, 1, seed + 4);
    return b;
}

static void bn_free(BnCtx *b) {
    free(b->x); free(b->y); free(b->r); free(b->res); free(b->gamma); free(b->beta);
    free(b->mean); free(b->invstd); free(b->s1); free(b->s2);
}

TEST(kernels_bn_train_forward_matches_direct) {
    BnCtx b = bn_make(3, 4, 10, 1, 1, 10);
    float rm[4] = {0.1f, 0.2f, -0.3f, 0}, rv[4] = {1, 2, 0.5f, 1}, rm0[4], rv0[4];
    memcpy(rm0, rm, sizeof rm);
    memcpy(rv0, rv, sizeof rv);
    bn_train_fwd(&b, rm, rv);
    size_t t = tn(&b.s);
    float *ref = xmalloc(t * 4);
    int M = 3 * 10;
    for (int c = 0; c < 4; c++) {
        double m = 0, v = 0;
        for (int i = 0; i < 3; i++) for (int j = 0; j < 10; j++) m += b.x[(i * 4 + c) * 10 + j];
        m /= M;
        for (int i = 0; i < 3; i++) for (int j = 0; j < 10; j++) { double d = b.x[(i * 4 + c) * 10 + j] - m; v += d * d; }
        v /= M;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 10; j++) {
                size_t o = (size_t)(i * 4 + c) * 10 + j;
                double y = b.gamma[c] * (b.x[o] - m) / sqrt(v + 1e-5) + b.beta[c] + b.res[o];
                ref[o] = (float)(y > 0 ? y : 0);
            }
        CHECK_NEAR(rm[c], 0.9 * rm0[c] + 0.1 * m, 1e-6);
        CHECK_NEAR(rv[c], 0.9 * rv0[c] + 0.1 * v * M / (M - 1), 1e-5);
    }
    t_check_close("bn train forward (res + relu)", b.y, ref, t, 1e-6, 1e-5);
    /* eval mode uses the running statistics */
    bn_eval_stats_cpu(4, rm, rv, BN_EPS, b.mean, b.invstd);
    bn_apply_cpu(&b.s, b.x, b.mean, b.invstd, b.gamma, b.beta, NULL, 0, b.y);
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 10; j++) {
                size_t o = (size_t)(i * 4 + c) * 10 + j;
                ref[o] = (float)(b.gamma[c] * (b.x[o] - rm[c]) / sqrt(rv[c] + 1e-5) + b.beta[c]);
            }
    t_check_close("bn eval forward", b.y, ref, t, 1e-6, 1e-5);
    free(ref);
    bn_free(&b);
}

/* Moves every pre-activation at least 0.15 away from the ReLU kink, so that finite differences
 * with steps of 0.02 never cross it (through res when there is one, else through x). */
static void bn_away_from_kink(BnCtx *b) {
    int relu = b->relu;
    b->relu = 0;
    size_t t = tn(&b->s);
    for (int it = 0; it < 20; it++) {
        bn_train_fwd(b, NULL, NULL);
        int moved = 0;
        for (size_t i = 0; i < t; i++) {
            if (fabsf(b->y[i]) >= 0.15f) continue;
            int c = (int)(i / (size_t)b->s.hw % (size_t)b->s.c);
            float push = b->y[i] >= 0 ? 0.3f : -0.3f;
            if (b->res) b->res[i] += push;
            else b->x[i] += push / (b->gamma[c] * b->invstd[c]);
            moved = 1;
        }
        if (!moved) break;
    }
    b->relu = relu;
}

static void bn_gradcheck(int relu, int with_res, uint64_t seed) {
    BnCtx b = bn_make(4, 3, 9, relu, with_res, seed);
    size_t t = tn(&b.s);
    if (relu) bn_away_from_kink(&b);
    bn_train_fwd(&b, NULL, NULL);
    float *sums = xmalloc(2 * 3 * 4), *dx = xmalloc(t * 4), *dres = xmalloc(t * 4);
    bn_backward_sums_cpu(&b.s, b.r, b.y, relu, b.x, b.mean, b.invstd, sums);
    bn_backward_apply_cpu(&b.s, b.r, b.y, relu, b.x, b.mean, b.invstd, b.gamma, sums, 4.0 * 9, dx, with_res ? dres : NULL, 0);
    char w[96];
    snprintf(w, sizeof w, "bn backward%s%s dx", with_res ? " +res" : "", relu ? " +relu" : "");
    gradcheck(w, bn_obj, &b, b.x, t, dx, 2e-2, 1e-2, 4, 4, seed + 10);
    snprintf(w, sizeof w, "bn backward%s%s dgamma", with_res ? " +res" : "", relu ? " +relu" : "");
    gradcheck(w, bn_obj, &b, b.gamma, 3, sums + 3, 2e-2, 1e-2, 2, 3, seed + 11);
    snprintf(w, sizeof w, "bn backward%s%s dbeta", with_res ? " +res" : "", relu ? " +relu" : "");
    gradcheck(w, bn_obj, &b, b.beta, 3, sums, 2e-2, 1e-2, 2, 3, seed + 12);
    if (with_res) {
        snprintf(w, sizeof w, "bn backward +res%s dres", relu ? " +relu" : "");
        gradcheck(w, bn_obj, &b, b.res, t, dres, 2e-2, 1e-2, 3, 3, seed + 13);
    }
    free(sums); free(dx); free(dres);
    bn_free(&b);
}

TEST(kernels_bn_backward_gradcheck) {
    bn_gradcheck(0, 0, 20);
    bn_gradcheck(1, 0, 30);
    bn_gradcheck(1, 1, 40);
}
