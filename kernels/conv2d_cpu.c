/* conv2d_cpu.c: CPU reference of conv2d.h (NCHW fp32) by im2col + OpenBLAS sgemm.
 *
 * A chunk of nb images is unfolded into col [K = cin*k*k][nb*HW] (HW = hout*wout; image i's
 * columns at i*HW), so one GEMM covers the chunk even when the feature maps are small:
 *   forward          out[cout][cols]  = W[cout][K]   x col[K][cols]      then scattered to NCHW
 *   backward data    col[K][cols]     = W^T[K][cout] x dy[cout][cols]    then col2im into dx
 *   backward filter  dW[cout][K]     += dy[cout][cols] x col^T[cols][K]  (per-thread partial sums)
 * Chunks run in parallel over OpenMP threads with single-threaded BLAS (cpu_util.h). With one
 * image per chunk the GEMM reads and writes the NCHW tensors directly; 1x1 stride-1 unpadded
 * convolutions use x itself as col.
 */
#include "conv2d.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu_util.h"
#include "error.h"

#define TARGET_COLS 1024 /* GEMM width to aim for when batching small feature maps */

Conv2dShape conv2d_shape(int n, int cin, int h, int w, int cout, int k, int stride, int pad) {
    Conv2dShape s = {n, cin, h, w, cout, k, stride, pad, 0, 0};
    if (n < 1 || cin < 1 || cout < 1 || k < 1 || stride < 1 || pad < 0)
        die(EXIT_RUNTIME, "internal: bad conv2d shape n=%d cin=%d cout=%d k=%d stride=%d pad=%d", n, cin, cout, k, stride, pad);
    s.hout = (h + 2 * pad - k) / stride + 1;
    s.wout = (w + 2 * pad - k) / stride + 1;
    if (h + 2 * pad < k || w + 2 * pad < k || s.hout < 1 || s.wout < 1)
        die(EXIT_RUNTIME, "internal: conv2d %dx%d input too small for kernel %d (pad %d)", h, w, k, pad);
    return s;
}

static int is_pointwise(const Conv2dShape *s) { return s->k == 1 && s->stride == 1 && s->pad == 0; }

/* Images per chunk: wide enough GEMMs, but at least one chunk per thread when n allows. */
static int chunk_images(const Conv2dShape *s) {
    int hw = s->hout * s->wout, t = kcpu_threads();
    int nb = (TARGET_COLS + hw - 1) / hw;
    int per_thread = (s->n + t - 1) / t;
    if (nb > per_thread) nb = per_thread;
    return nb < 1 ? 1 : nb;
}

/* Valid output range [*o0, *o1) along one axis for kernel offset kk: 0 <= o*stride - pad + kk < size. */
static void valid_range(int kk, int stride, int pad, int size, int nout, int *o0, int *o1) {
    int a = pad - kk; /* need o*stride >= a */
    *o0 = a > 0 ? (a + stride - 1) / stride : 0;
    int b = size - 1 + pad - kk; /* need o*stride <= b */
    *o1 = b < 0 ? 0 : b / stride + 1;
    if (*o1 > nout) *o1 = nout;
    if (*o0 > *o1) *o0 = *o1;
}

/* x [cin][h][w] -> col rows (c*k + kh)*k + kw, columns [0, HW) with leading dimension ldc. */
static void im2col(const Conv2dShape *s, const float *x, float *col, size_t ldc) {
    int k = s->k, st = s->stride, hw_in = s->h * s->w;
    for (int c = 0; c < s->cin; c++)
        for (int kh = 0; kh < k; kh++) {
            int oh0, oh1;
            valid_range(kh, st, s->pad, s->h, s->hout, &oh0, &oh1);
            for (int kw = 0; kw < k; kw++) {
                int ow0, ow1;
                valid_range(kw, st, s->pad, s->w, s->wout, &ow0, &ow1);
                float *row = col + (size_t)((c * k + kh) * k + kw) * ldc;
                const float *xc = x + (size_t)c * hw_in;
                for (int oh = 0; oh < s->hout; oh++) {
                    float *d = row + (size_t)oh * s->wout;
                    if (oh < oh0 || oh >= oh1) { memset(d, 0, sizeof(float) * (size_t)s->wout); continue; }
                    const float *xr = xc + (size_t)(oh * st - s->pad + kh) * s->w - s->pad + kw;
                    for (int ow = 0; ow < ow0; ow++) d[ow] = 0;
                    if (st == 1) memcpy(d + ow0, xr + ow0, sizeof(float) * (size_t)(ow1 - ow0));
                    else for (int ow = ow0; ow < ow1; ow++) d[ow] = xr[ow * st];
                    for (int ow = ow1; ow < s->wout; ow++) d[ow] = 0;
                }
            }
        }
}

/* Adjoint of im2col: dx [cin][h][w] += col. */
static void col2im(const Conv2dShape *s, const float *col, size_t ldc, float *dx) {
    int k = s->k, st = s->stride, hw_in = s->h * s->w;
    for (int c = 0; c < s->cin; c++)
        for (int kh = 0; kh < k; kh++) {
            int oh0, oh1;
            valid_range(kh, st, s->pad, s->h, s->hout, &oh0, &oh1);
            for (int kw = 0; kw < k; kw++) {
                int ow0, ow1;
                valid_range(kw, st, s->pad, s->w, s->wout, &ow0, &ow1);
                const float *row = col + (size_t)((c * k + kh) * k + kw) * ldc;
                float *dc = dx + (size_t)c * hw_in;
                for (int oh = oh0; oh < oh1; oh++) {
                    const float *src = row + (size_t)oh * s->wout;
                    float *dr = dc + (size_t)(oh * st - s->pad + kh) * s->w - s->pad + kw;
                    if (st == 1) for (int ow = ow0; ow < ow1; ow++) dr[ow] += src[ow];
                    else for (int ow = ow0; ow < ow1; ow++) dr[ow * st] += src[ow];
                }
            }
        }
}

/* Copies images [i0, i0+nb) of t [n][c][hw] into m [c][nb*hw] (gather) or back (scatter). */
static void gather_chunk(const float *t, int c, int hw, int i0, int nb, float *m) {
    size_t ld = (size_t)nb * hw;
    for (int i = 0; i < nb; i++)
        for (int ch = 0; ch < c; ch++)
            memcpy(m + ch * ld + (size_t)i * hw, t + ((size_t)(i0 + i) * c + ch) * hw, sizeof(float) * (size_t)hw);
}
static void scatter_chunk(const float *m, int c, int hw, int i0, int nb, float *t) {
    size_t ld = (size_t)nb * hw;
    for (int i = 0; i < nb; i++)
        for (int ch = 0; ch < c; ch++)
            memcpy(t + ((size_t)(i0 + i) * c + ch) * hw, m + ch * ld + (size_t)i * hw, sizeof(float) * (size_t)hw);
}

void conv2d_forward_cpu(const Conv2dShape *s, const float *x, const float *w, float *y) {
    kcpu_init();
    const int K = s->cin * s->k * s->k, hw = s->hout * s->wout, hw_in = s->h * s->w;
    const int nb = is_pointwise(s) ? 1 : chunk_images(s);
    const int nchunks = (s->n + nb - 1) / nb;
#pragma omp parallel for schedule(dynamic)
    for (int ch = 0; ch < nchunks; ch++) {
        int i0 = ch * nb, m = s->n - i0 < nb ? s->n - i0 : nb;
        size_t cols = (size_t)m * hw;
        float *yi = y + (size_t)i0 * s->cout * hw;
        if (is_pointwise(s)) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, hw, K, 1.0f, w, K,
                        x + (size_t)i0 * s->cin * hw_in, hw, 0.0f, yi, hw);
            continue;
        }
        float *col = kcpu_scratch(0, (size_t)K * cols);
        for (int i = 0; i < m; i++) im2col(s, x + (size_t)(i0 + i) * s->cin * hw_in, col + (size_t)i * hw, cols);
        float *out = m == 1 ? yi : kcpu_scratch(1, (size_t)s->cout * cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, (int)cols, K, 1.0f, w, K, col, (int)cols, 0.0f, out, (int)cols);
        if (m > 1) scatter_chunk(out, s->cout, hw, i0, m, y);
    }
}

void conv2d_backward_data_cpu(const Conv2dShape *s, const float *dy, const float *w, float *dx, int accumulate) {
    kcpu_init();
    const int K = s->cin * s->k * s->k, hw = s->hout * s->wout, hw_in = s->h * s->w;
    const int nb = is_pointwise(s) ? 1 : chunk_images(s);
    const int nchunks = (s->n + nb - 1) / nb;
#pragma omp parallel for schedule(dynamic)
    for (int ch = 0; ch < nchunks; ch++) {
        int i0 = ch * nb, m = s->n - i0 < nb ? s->n - i0 : nb;
        size_t cols = (size_t)m * hw;
        const float *dyi = dy + (size_t)i0 * s->cout * hw;
        float *dxi = dx + (size_t)i0 * s->cin * hw_in;
        if (is_pointwise(s)) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, hw, s->cout, 1.0f, w, K, dyi, hw,
                        accumulate ? 1.0f : 0.0f, dxi, hw);
            continue;
        }
        const float *dym = dyi;
        if (m > 1) {
            float *g = kcpu_scratch(1, (size_t)s->cout * cols);
            gather_chunk(dy, s->cout, hw, i0, m, g);
            dym = g;
        }
        float *col = kcpu_scratch(0, (size_t)K * cols);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)cols, s->cout, 1.0f, w, K, dym, (int)cols, 0.0f, col, (int)cols);
        if (!accumulate) memset(dxi, 0, sizeof(float) * (size_t)m * s->cin * hw_in);
        for (int i = 0; i < m; i++) col2im(s, col + (size_t)i * hw, cols, dxi + (size_t)i * s->cin * hw_in);
    }
}

void conv2d_backward_filter_cpu(const Conv2dShape *s, const float *x, const float *dy, float *dw, int accumulate) {
    kcpu_init();
    const int K = s->cin * s->k * s->k, hw = s->hout * s->wout, hw_in = s->h * s->w;
    const size_t wn = (size_t)s->cout * K;
    const int nb = is_pointwise(s) ? 1 : chunk_images(s);
    const int nchunks = (s->n + nb - 1) / nb;
    int nt = kcpu_threads();
    if (nt > nchunks) nt = nchunks;
    float *part[nt];
    int used = 1;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
#pragma omp single
        used = omp_get_num_threads();
        float *acc = kcpu_scratch(2, wn);
        memset(acc, 0, sizeof(float) * wn);
        part[t] = acc;
        /* static: a fixed chunk-to-thread map keeps the sums bit-reproducible */
#pragma omp for schedule(static)
        for (int ch = 0; ch < nchunks; ch++) {
            int i0 = ch * nb, m = s->n - i0 < nb ? s->n - i0 : nb;
            size_t cols = (size_t)m * hw;
            if (is_pointwise(s)) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, K, hw, 1.0f, dy + (size_t)i0 * s->cout * hw, hw,
                            x + (size_t)i0 * s->cin * hw_in, hw, 1.0f, acc, K);
                continue;
            }
            float *col = kcpu_scratch(0, (size_t)K * cols);
            for (int i = 0; i < m; i++) im2col(s, x + (size_t)(i0 + i) * s->cin * hw_in, col + (size_t)i * hw, cols);
            const float *dym = dy + (size_t)i0 * s->cout * hw;
            if (m > 1) {
                float *g = kcpu_scratch(1, (size_t)s->cout * cols);
                gather_chunk(dy, s->cout, hw, i0, m, g);
                dym = g;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, K, (int)cols, 1.0f, dym, (int)cols, col, (int)cols, 1.0f, acc, K);
        }
        /* implicit barrier: every partial is complete */
#pragma omp for schedule(static)
        for (size_t j = 0; j < wn; j++) {
            float v = accumulate ? dw[j] : 0.0f;
            for (int u = 0; u < used; u++) v += part[u][j];
            dw[j] = v;
        }
    }
}
