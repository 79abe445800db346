/* pool_cpu.c: CPU reference of pool.h (NCHW fp32), OpenMP over (image, channel) planes. */
#include "pool.h"

#include <math.h>
#include <string.h>

#include "error.h"

PoolShape pool_shape(int n, int c, int h, int w, int k, int stride, int pad) {
    PoolShape s = {n, c, h, w, k, stride, pad, 0, 0};
    if (k < 1 || stride < 1 || pad < 0 || 2 * pad > k || h + 2 * pad < k || w + 2 * pad < k)
        die(EXIT_RUNTIME, "internal: bad pool shape %dx%d k=%d stride=%d pad=%d", h, w, k, stride, pad);
    s.hout = (h + 2 * pad - k) / stride + 1;
    s.wout = (w + 2 * pad - k) / stride + 1;
    return s;
}

void maxpool_forward_cpu(const PoolShape *s, const float *x, float *y, int32_t *argmax) {
    const int planes = s->n * s->c;
    const size_t in = (size_t)s->h * s->w, out = (size_t)s->hout * s->wout;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in;
        float *yp = y + pl * out;
        int32_t *ap = argmax + pl * out;
        for (int oh = 0; oh < s->hout; oh++) {
            int h0 = oh * s->stride - s->pad, kh0 = h0 < 0 ? -h0 : 0, kh1 = s->h - h0 < s->k ? s->h - h0 : s->k;
            for (int ow = 0; ow < s->wout; ow++) {
                int w0 = ow * s->stride - s->pad, kw0 = w0 < 0 ? -w0 : 0, kw1 = s->w - w0 < s->k ? s->w - w0 : s->k;
                /* the window's in-image part, scanned in row-major order; the first maximum wins
                 * and a NaN always replaces (PyTorch's CPU rule: val > max || isnan(val)) */
                int32_t bi = (h0 + kh0) * s->w + w0 + kw0;
                float best = xp[bi];
                for (int kh = kh0; kh < kh1; kh++) {
                    const int32_t row = (h0 + kh) * s->w + w0;
                    for (int kw = kw0; kw < kw1; kw++) {
                        float v = xp[row + kw];
                        if (v > best || v != v) { best = v; bi = row + kw; }
                    }
                }
                yp[oh * s->wout + ow] = best;
                ap[oh * s->wout + ow] = bi;
            }
        }
    }
}

void maxpool_backward_cpu(const PoolShape *s, const float *dy, const int32_t *argmax, float *dx) {
    const int planes = s->n * s->c;
    const size_t in = (size_t)s->h * s->w, out = (size_t)s->hout * s->wout;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        float *dp = dx + pl * in;
        memset(dp, 0, sizeof(float) * in);
        const float *g = dy + pl * out;
        const int32_t *ap = argmax + pl * out;
        for (size_t j = 0; j < out; j++) dp[ap[j]] += g[j];
    }
}

void avgpool_global_forward_cpu(int n, int c, int hw, const float *x, float *y) {
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < n * c; pl++) {
        const float *p = x + (size_t)pl * hw;
        double a = 0;
        for (int j = 0; j < hw; j++) a += p[j];
        y[pl] = (float)(a / hw);
    }
}

void avgpool_global_backward_cpu(int n, int c, int hw, const float *dy, float *dx) {
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < n * c; pl++) {
        float g = dy[pl] / (float)hw;
        float *p = dx + (size_t)pl * hw;
        for (int j = 0; j < hw; j++) p[j] = g;
    }
}
