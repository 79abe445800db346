/* batchnorm_cpu.c: CPU reference of batchnorm.h (NCHW fp32). Per-channel sums: float partial sums
 * over each (image, channel) plane in LANES interleaved accumulators (so the compiler can vectorize
 * without reassociating), planes added in double; OpenMP over channels. Apply passes run OpenMP
 * over (image, channel) planes. */
#include "batchnorm.h"

#include <math.h>
#include <string.h>

#define PLANE(s, x, i, ch) ((x) + ((size_t)(i) * (s)->c + (ch)) * (size_t)(s)->hw)
#define LANES 32

/* sum p[j] */
static float plane_sum(const float *p, int n) {
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int q = 0; q < LANES; q++) acc[q] += p[j + q];
    float t = 0;
    for (; j < n; j++) t += p[j];
    for (int q = 0; q < LANES; q++) t += acc[q];
    return t;
}

/* sum (p[j] - m)^2 */
static float plane_sqdev(const float *p, float m, int n) {
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int q = 0; q < LANES; q++) { float d = p[j + q] - m; acc[q] += d * d; }
    float t = 0;
    for (; j < n; j++) { float d = p[j] - m; t += d * d; }
    for (int q = 0; q < LANES; q++) t += acc[q];
    return t;
}

/* dz = relu ? (y > 0 ? g : 0) : g;  *sd += sum dz, *sdx += sum dz (x - m) */
static void plane_dsums(const float *g, const float *y, const float *x, float m, int n, int relu, float *sd, float *sdx) {
    float a[LANES] = {0}, b[LANES] = {0};
    int j = 0;
    if (relu)
        for (; j + LANES <= n; j += LANES)
            for (int q = 0; q < LANES; q++) { float dz = y[j + q] > 0 ? g[j + q] : 0.0f; a[q] += dz; b[q] += dz * (x[j + q] - m); }
    else
        for (; j + LANES <= n; j += LANES)
            for (int q = 0; q < LANES; q++) { float dz = g[j + q]; a[q] += dz; b[q] += dz * (x[j + q] - m); }
    float ta = 0, tb = 0;
    for (; j < n; j++) { float dz = (!relu || y[j] > 0) ? g[j] : 0.0f; ta += dz; tb += dz * (x[j] - m); }
    for (int q = 0; q < LANES; q++) { ta += a[q]; tb += b[q]; }
    *sd = ta;
    *sdx = tb;
}

void bn_sum_cpu(const BnShape *s, const float *x, float *sum) {
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < s->c; ch++) {
        double a = 0;
        for (int i = 0; i < s->n; i++) a += plane_sum(PLANE(s, x, i, ch), s->hw);
        sum[ch] = (float)a;
    }
}

void bn_sqdev_cpu(const BnShape *s, const float *x, const float *mean, float *sq) {
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < s->c; ch++) {
        double a = 0;
        for (int i = 0; i < s->n; i++) a += plane_sqdev(PLANE(s, x, i, ch), mean[ch], s->hw);
        sq[ch] = (float)a;
    }
}

void bn_train_stats_cpu(int c, double count, const float *s1, const float *s2, float eps, float momentum,
                        float *mean, float *invstd, float *running_mean, float *running_var) {
    for (int ch = 0; ch < c; ch++) {
        double m = s1[ch] / count;
        double var = s2[ch] / count;
        mean[ch] = (float)m;
        invstd[ch] = (float)(1.0 / sqrt(var + eps));
        if (running_mean && running_var) {
            double unbiased = count > 1 ? var * count / (count - 1) : var;
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * m);
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
        }
    }
}

void bn_eval_stats_cpu(int c, const float *running_mean, const float *running_var, float eps, float *mean, float *invstd) {
    for (int ch = 0; ch < c; ch++) {
        mean[ch] = running_mean[ch];
        invstd[ch] = (float)(1.0 / sqrt((double)running_var[ch] + eps));
    }
}

void bn_apply_cpu(const BnShape *s, const float *x, const float *mean, const float *invstd,
                  const float *gamma, const float *beta, const float *res, int relu, float *y) {
    const int planes = s->n * s->c;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        int ch = pl % s->c;
        float a = gamma[ch] * invstd[ch], b = beta[ch] - mean[ch] * a;
        const float *xp = x + (size_t)pl * s->hw;
        const float *rp = res ? res + (size_t)pl * s->hw : NULL;
        float *yp = y + (size_t)pl * s->hw;
        if (rp) {
            if (relu) for (int j = 0; j < s->hw; j++) { float v = a * xp[j] + b + rp[j]; yp[j] = v > 0 ? v : 0; }
            else for (int j = 0; j < s->hw; j++) yp[j] = a * xp[j] + b + rp[j];
        } else {
            if (relu) for (int j = 0; j < s->hw; j++) { float v = a * xp[j] + b; yp[j] = v > 0 ? v : 0; }
            else for (int j = 0; j < s->hw; j++) yp[j] = a * xp[j] + b;
        }
    }
}

void bn_backward_sums_cpu(const BnShape *s, const float *dy, const float *y, int relu, const float *x,
                          const float *mean, const float *invstd, float *sums) {
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < s->c; ch++) {
        double sd = 0, sdx = 0;
        for (int i = 0; i < s->n; i++) {
            float pd, pdx;
            plane_dsums(PLANE(s, dy, i, ch), relu ? PLANE(s, y, i, ch) : NULL, PLANE(s, x, i, ch), mean[ch], s->hw, relu, &pd, &pdx);
            sd += pd;
            sdx += pdx;
        }
        sums[ch] = (float)sd;
        sums[s->c + ch] = (float)(sdx * invstd[ch]);
    }
}

void bn_backward_apply_cpu(const BnShape *s, const float *dy, const float *y, int relu, const float *x,
                           const float *mean, const float *invstd, const float *gamma,
                           const float *sums, double count, float *dx, float *dres, int accumulate) {
    const int planes = s->n * s->c;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        int ch = pl % s->c;
        float is = invstd[ch], m = mean[ch];
        float k = gamma[ch] * is;
        float mdz = (float)(sums[ch] / count), mdzx = (float)(sums[s->c + ch] / count);
        size_t o = (size_t)pl * s->hw;
        const float *g = dy + o, *yp = y + o, *xp = x + o;
        float *dxp = dx + o, *drp = dres ? dres + o : NULL;
        /* dx = k (dz - mdz - (x - m) is mdzx) = k dz + c0 + c1 (x - m) */
        float c1 = -k * is * mdzx, c0 = -k * mdz;
        if (drp) {
            if (accumulate)
                for (int j = 0; j < s->hw; j++) drp[j] += (!relu || yp[j] > 0) ? g[j] : 0.0f;
            else
                for (int j = 0; j < s->hw; j++) drp[j] = (!relu || yp[j] > 0) ? g[j] : 0.0f;
        }
        if (relu) {
            if (accumulate) for (int j = 0; j < s->hw; j++) dxp[j] += k * (yp[j] > 0 ? g[j] : 0.0f) + c0 + c1 * (xp[j] - m);
            else for (int j = 0; j < s->hw; j++) dxp[j] = k * (yp[j] > 0 ? g[j] : 0.0f) + c0 + c1 * (xp[j] - m);
        } else {
            if (accumulate) for (int j = 0; j < s->hw; j++) dxp[j] += k * g[j] + c0 + c1 * (xp[j] - m);
            else for (int j = 0; j < s->hw; j++) dxp[j] = k * g[j] + c0 + c1 * (xp[j] - m);
        }
    }
}
