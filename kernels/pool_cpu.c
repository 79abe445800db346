/* pool_cpu.c: CPU reference of pool.h (NCHW fp32), OpenMP over (image, channel) planes. */
#include "pool.h"

#include <math.h>
#include <string.h>

#include "cpu_util.h"
#include "error.h"

PoolShape pool_shape(int n, int c, int h, int w, int k, int stride, int pad) {
    PoolShape s = {n, c, h, w, k, stride, pad, 0, 0};
    if (k < 1 || stride < 1 || pad < 0 || 2 * pad > k || h + 2 * pad < k || w + 2 * pad < k)
        die(EXIT_RUNTIME, "internal: bad pool shape %dx%d k=%d stride=%d pad=%d", h, w, k, stride, pad);
    s.hout = (h + 2 * pad - k) / stride + 1;
    s.wout = (w + 2 * pad - k) / stride + 1;
    return s;
}

/* Max pool as two separable passes per plane: row maxima over the kw taps (hm/hi: value and input
 * index per input row and output column), then the maximum of k row maxima. Ties go to the
 * first maximum in row-major window order and a NaN always replaces (PyTorch's CPU rule
 * val > max || isnan(val), so the last NaN wins): both passes apply that rule in scan order, which
 * gives the same winner as one row-major scan. */
void maxpool_forward_cpu(const PoolShape *s, const float *x, float *y, int32_t *argmax) {
    const int planes = s->n * s->c, k = s->k, st = s->stride, pad = s->pad, W = s->w, wo = s->wout;
    const size_t in = (size_t)s->h * W, out = (size_t)s->hout * wo;
#pragma omp parallel
    {
        float *hm = kcpu_scratch(0, (size_t)s->h * wo);
        int32_t *hi = (int32_t *)kcpu_scratch(1, (size_t)s->h * wo);
#pragma omp for schedule(static)
        for (int pl = 0; pl < planes; pl++) {
            const float *xp = x + pl * in;
            for (int ih = 0; ih < s->h; ih++) {
                const float *xr = xp + (size_t)ih * W;
                float *m = hm + (size_t)ih * wo;
                int32_t *mi = hi + (size_t)ih * wo;
                for (int ow = 0; ow < wo; ow++) {
                    int w0 = ow * st - pad, kw0 = w0 < 0 ? -w0 : 0, kw1 = W - w0 < k ? W - w0 : k;
                    float best = xr[w0 + kw0];
                    int32_t bi = w0 + kw0;
                    for (int kw = kw0 + 1; kw < kw1; kw++) {
                        float v = xr[w0 + kw];
                        if (v > best || v != v) { best = v; bi = w0 + kw; }
                    }
                    m[ow] = best;
                    mi[ow] = ih * W + bi;
                }
            }
            float *yp = y + pl * out;
            int32_t *ap = argmax + pl * out;
            for (int oh = 0; oh < s->hout; oh++) {
                int h0 = oh * st - pad, kh0 = h0 < 0 ? -h0 : 0, kh1 = s->h - h0 < k ? s->h - h0 : k;
                float *yo = yp + (size_t)oh * wo;
                int32_t *ao = ap + (size_t)oh * wo;
                memcpy(yo, hm + (size_t)(h0 + kh0) * wo, sizeof(float) * (size_t)wo);
                memcpy(ao, hi + (size_t)(h0 + kh0) * wo, sizeof(int32_t) * (size_t)wo);
                for (int kh = kh0 + 1; kh < kh1; kh++) {
                    const float *m = hm + (size_t)(h0 + kh) * wo;
                    const int32_t *mi = hi + (size_t)(h0 + kh) * wo;
                    for (int ow = 0; ow < wo; ow++)
                        if (m[ow] > yo[ow] || m[ow] != m[ow]) { yo[ow] = m[ow]; ao[ow] = mi[ow]; }
                }
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
