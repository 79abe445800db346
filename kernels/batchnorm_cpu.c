/* batchnorm_cpu.c: CPU reference of batchnorm.h (NCHW fp32). Sums run in double per channel,
 * OpenMP over channels; apply passes run OpenMP over (image, channel) planes. */
#include "batchnorm.h"

#include <math.h>
#include <string.h>

#define PLANE(s, x, i, ch) ((x) + ((size_t)(i) * (s)->c + (ch)) * (size_t)(s)->hw)

void bn_sum_cpu(const BnShape *s, const float *x, float *sum) {
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < s->c; ch++) {
        double a = 0;
        for (int i = 0; i < s->n; i++) {
            const float *p = PLANE(s, x, i, ch);
            float part = 0; /* short float runs (<= one plane), then double */
            for (int j = 0; j < s->hw; j++) part += p[j];
            a += part;
        }
        sum[ch] = (float)a;
    }
}

void bn_sqdev_cpu(const BnShape *s, const float *x, const float *mean, float *sq) {
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < s->c; ch++) {
        double a = 0;
        float m = mean[ch];
        for (int i = 0; i < s->n; i++) {
            const float *p = PLANE(s, x, i, ch);
            float part = 0;
            for (int j = 0; j < s->hw; j++) { float d = p[j] - m; part += d * d; }
            a += part;
        }
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
        float m = mean[ch];
        for (int i = 0; i < s->n; i++) {
            const float *g = PLANE(s, dy, i, ch), *xp = PLANE(s, x, i, ch);
            const float *yp = relu ? PLANE(s, y, i, ch) : NULL;
            float pd = 0, pdx = 0;
            for (int j = 0; j < s->hw; j++) {
                float dz = (!relu || yp[j] > 0) ? g[j] : 0.0f;
                pd += dz;
                pdx += dz * (xp[j] - m);
            }
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
        for (int j = 0; j < s->hw; j++) {
            float dz = (!relu || y[o + j] > 0) ? dy[o + j] : 0.0f;
            float xh = (x[o + j] - m) * is;
            float d = k * (dz - mdz - xh * mdzx);
            if (dres) { if (accumulate) dres[o + j] += dz; else dres[o + j] = dz; }
            if (accumulate) dx[o + j] += d; else dx[o + j] = d;
        }
    }
}
