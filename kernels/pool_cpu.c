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
        for (int oh = 0; oh < s->hout; oh++)
            for (int ow = 0; ow < s->wout; ow++) {
                int h0 = oh * s->stride - s->pad, w0 = ow * s->stride - s->pad;
                float best = -INFINITY;
                int32_t bi = -1;
                for (int kh = 0; kh < s->k; kh++) {
                    int ih = h0 + kh;
                    if (ih < 0 || ih >= s->h) continue;
                    for (int kw = 0; kw < s->k; kw++) {
                        int iw = w0 + kw;
                        if (iw < 0 || iw >= s->w) continue;
                        float v = xp[ih * s->w + iw];
                        if (bi < 0 || v > best || isnan(v)) {
                            best = v;
                            bi = ih * s->w + iw;
                            if (isnan(v)) goto done;
                        }
                    }
                }
            done:
                yp[oh * s->wout + ow] = best;
                ap[oh * s->wout + ow] = bi;
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
