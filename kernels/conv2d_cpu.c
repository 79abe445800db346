/* conv2d_cpu.c: CPU reference of conv2d.h (NCHW fp32 in and out) by patch matrices + OpenBLAS
 * sgemm. Images are processed in chunks of nb (so that one GEMM stays wide even when the feature
 * maps are small), chunks in parallel over OpenMP threads with single-threaded BLAS (cpu_util.h).
 * P = nb * hout * wout output pixels per chunk, K = cin * k * k.
 *
 * Two ways to build the patch matrix, chosen by the number of input channels:
 * - channels-last (cin >= CL_MIN_CIN, every ResNet block conv): the chunk is transposed to NHWC,
 *   so each patch row is k*k contiguous runs of cin values; weights are permuted to
 *   [cout][kh][kw][cin] once per call:
 *     forward          outT[P][cout] = colT[P][K] x Wp^T              then transposed to NCHW
 *     backward data    colT[P][K]    = dyT[P][cout] x Wp              then added into NHWC dx
 *     backward filter  dWp[cout][K] += dyT^T[cout][P] x colT[P][K]    (per-thread partial sums)
 * - channels-first (few input channels: the RGB stem; also 1x1 stride-1 convolutions, where x
 *   itself is the patch matrix): classic im2col col[K][P] from NCHW,
 *     forward          out[cout][P] = W[cout][K] x col[K][P]
 *     backward data    col[K][P]    = W^T x dy[cout][P]               then col2im
 *     backward filter  dW          += dy[cout][P] x col^T
 * Results do not depend on timing: chunk-to-thread maps are static where sums are shared.
 */
#include "conv2d.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu_util.h"
#include "error.h"

#define TARGET_PIXELS 1024 /* GEMM width to aim for when batching small feature maps */
#define CL_MIN_CIN 16      /* channels-last patches from this many input channels on */

/* scratch slots (cpu_util.h): per thread, except S_WEIGHTS (the calling thread's) */
enum { S_COL = 0, S_OUT = 1, S_ACC = 2, S_NHWC = 3, S_WEIGHTS = 4 };

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
static int channels_last(const Conv2dShape *s) { return s->cin >= CL_MIN_CIN && !is_pointwise(s); }

/* Images per chunk: wide enough GEMMs, but at least one chunk per thread when n allows. */
static int chunk_images(const Conv2dShape *s) {
    int hw = s->hout * s->wout, t = kcpu_threads();
    int nb = (TARGET_PIXELS + hw - 1) / hw;
    int per_thread = (s->n + t - 1) / t;
    if (nb > per_thread) nb = per_thread;
    return nb < 1 ? 1 : nb;
}

/* dst[c][r] = src[r][c] for a rows x cols matrix (blocked for the caches); accumulate adds. */
static void transpose(const float *src, int rows, int cols, float *dst, int accumulate) {
    enum { T = 32 };
    for (int r0 = 0; r0 < rows; r0 += T)
        for (int c0 = 0; c0 < cols; c0 += T) {
            int r1 = r0 + T < rows ? r0 + T : rows, c1 = c0 + T < cols ? c0 + T : cols;
            for (int c = c0; c < c1; c++) {
                float *d = dst + (size_t)c * rows;
                if (accumulate) for (int r = r0; r < r1; r++) d[r] += src[(size_t)r * cols + c];
                else for (int r = r0; r < r1; r++) d[r] = src[(size_t)r * cols + c];
            }
        }
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

/* ---- channels-first patches ------------------------------------------------------------------ */

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
                    for (int ow = ow0; ow < ow1; ow++) d[ow] = xr[ow * st];
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
                    for (int ow = ow0; ow < ow1; ow++) dr[ow * st] += src[ow];
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

/* ---- channels-last patches ------------------------------------------------------------------- */

/* One image in NHWC, xt [h][w][cin] -> colT rows (one per output pixel) of K = k*k*cin values
 * ordered (kh, kw, c); padding positions are zero. */
static void patches_nhwc(const Conv2dShape *s, const float *xt, float *colT) {
    const int k = s->k, cin = s->cin;
    const size_t K = (size_t)k * k * cin;
    for (int oh = 0; oh < s->hout; oh++)
        for (int ow = 0; ow < s->wout; ow++) {
            float *row = colT + ((size_t)oh * s->wout + ow) * K;
            for (int kh = 0; kh < k; kh++) {
                int ih = oh * s->stride - s->pad + kh;
                float *d = row + (size_t)kh * k * cin;
                if (ih < 0 || ih >= s->h) { memset(d, 0, sizeof(float) * (size_t)k * cin); continue; }
                for (int kw = 0; kw < k; kw++) {
                    int iw = ow * s->stride - s->pad + kw;
                    if (iw < 0 || iw >= s->w) memset(d + (size_t)kw * cin, 0, sizeof(float) * (size_t)cin);
                    else memcpy(d + (size_t)kw * cin, xt + ((size_t)ih * s->w + iw) * cin, sizeof(float) * (size_t)cin);
                }
            }
        }
}

/* Adjoint of patches_nhwc: dxt [h][w][cin] += colT (dxt zeroed by the caller). */
static void unpatch_nhwc(const Conv2dShape *s, const float *colT, float *dxt) {
    const int k = s->k, cin = s->cin;
    const size_t K = (size_t)k * k * cin;
    for (int oh = 0; oh < s->hout; oh++)
        for (int ow = 0; ow < s->wout; ow++) {
            const float *row = colT + ((size_t)oh * s->wout + ow) * K;
            for (int kh = 0; kh < k; kh++) {
                int ih = oh * s->stride - s->pad + kh;
                if (ih < 0 || ih >= s->h) continue;
                for (int kw = 0; kw < k; kw++) {
                    int iw = ow * s->stride - s->pad + kw;
                    if (iw < 0 || iw >= s->w) continue;
                    const float *src = row + (size_t)(kh * k + kw) * cin;
                    float *d = dxt + ((size_t)ih * s->w + iw) * cin;
                    for (int c = 0; c < cin; c++) d[c] += src[c];
                }
            }
        }
}

/* colT [m*HWo][K] of images [i0, i0+m) of x (NCHW). */
static void chunk_patches(const Conv2dShape *s, const float *x, int i0, int m, float *colT) {
    const size_t hw_in = (size_t)s->h * s->w, hwo = (size_t)s->hout * s->wout, K = (size_t)s->k * s->k * s->cin;
    float *xt = kcpu_scratch(S_NHWC, hw_in * s->cin);
    for (int i = 0; i < m; i++) {
        transpose(x + (size_t)(i0 + i) * s->cin * hw_in, s->cin, (int)hw_in, xt, 0);
        patches_nhwc(s, xt, colT + (size_t)i * hwo * K);
    }
}

/* dyT [m*HWo][cout] of images [i0, i0+m) of dy (NCHW). */
static void chunk_dy_nhwc(const Conv2dShape *s, const float *dy, int i0, int m, float *dyT) {
    const size_t hwo = (size_t)s->hout * s->wout;
    for (int i = 0; i < m; i++)
        transpose(dy + (size_t)(i0 + i) * s->cout * hwo, s->cout, (int)hwo, dyT + (size_t)i * hwo * s->cout, 0);
}

/* Wp[o][(kh*k + kw)*cin + c] = w[o][c][kh][kw], in the calling thread's scratch. */
static const float *permuted_weights(const Conv2dShape *s, const float *w) {
    const int kk = s->k * s->k, cin = s->cin;
    float *wp = kcpu_scratch(S_WEIGHTS, (size_t)s->cout * kk * cin);
#pragma omp parallel for schedule(static) if ((size_t)s->cout * kk * cin > 65536)
    for (int o = 0; o < s->cout; o++)
        for (int c = 0; c < cin; c++)
            for (int j = 0; j < kk; j++) wp[((size_t)o * kk + j) * cin + c] = w[((size_t)o * cin + c) * kk + j];
    return wp;
}

/* ---- the three passes ------------------------------------------------------------------------ */

void conv2d_forward_cpu(const Conv2dShape *s, const float *x, const float *w, float *y) {
    kcpu_init();
    const int K = s->cin * s->k * s->k, hw = s->hout * s->wout, hw_in = s->h * s->w;
    const int nb = is_pointwise(s) ? 1 : chunk_images(s), nchunks = (s->n + nb - 1) / nb;
    const int cl = channels_last(s);
    const float *wp = cl ? permuted_weights(s, w) : NULL;
#pragma omp parallel for schedule(dynamic)
    for (int ch = 0; ch < nchunks; ch++) {
        int i0 = ch * nb, m = s->n - i0 < nb ? s->n - i0 : nb;
        int P = m * hw;
        float *yi = y + (size_t)i0 * s->cout * hw;
        if (is_pointwise(s)) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, hw, K, 1.0f, w, K,
                        x + (size_t)i0 * s->cin * hw_in, hw, 0.0f, yi, hw);
        } else if (cl) {
            float *colT = kcpu_scratch(S_COL, (size_t)P * K), *outT = kcpu_scratch(S_OUT, (size_t)P * s->cout);
            chunk_patches(s, x, i0, m, colT);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, s->cout, K, 1.0f, colT, K, wp, K, 0.0f, outT, s->cout);
            for (int i = 0; i < m; i++)
                transpose(outT + (size_t)i * hw * s->cout, hw, s->cout, yi + (size_t)i * s->cout * hw, 0);
        } else {
            float *col = kcpu_scratch(S_COL, (size_t)K * P);
            for (int i = 0; i < m; i++) im2col(s, x + (size_t)(i0 + i) * s->cin * hw_in, col + (size_t)i * hw, (size_t)P);
            float *out = m == 1 ? yi : kcpu_scratch(S_OUT, (size_t)s->cout * P);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->cout, P, K, 1.0f, w, K, col, P, 0.0f, out, P);
            if (m > 1) scatter_chunk(out, s->cout, hw, i0, m, y);
        }
    }
}

void conv2d_backward_data_cpu(const Conv2dShape *s, const float *dy, const float *w, float *dx, int accumulate) {
    kcpu_init();
    const int K = s->cin * s->k * s->k, hw = s->hout * s->wout, hw_in = s->h * s->w;
    const int nb = is_pointwise(s) ? 1 : chunk_images(s), nchunks = (s->n + nb - 1) / nb;
    const int cl = channels_last(s);
    const float *wp = cl ? permuted_weights(s, w) : NULL;
#pragma omp parallel for schedule(dynamic)
    for (int ch = 0; ch < nchunks; ch++) {
        int i0 = ch * nb, m = s->n - i0 < nb ? s->n - i0 : nb;
        int P = m * hw;
        const float *dyi = dy + (size_t)i0 * s->cout * hw;
        float *dxi = dx + (size_t)i0 * s->cin * hw_in;
        if (is_pointwise(s)) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, hw, s->cout, 1.0f, w, K, dyi, hw,
                        accumulate ? 1.0f : 0.0f, dxi, hw);
        } else if (cl) {
            float *dyT = kcpu_scratch(S_OUT, (size_t)P * s->cout), *colT = kcpu_scratch(S_COL, (size_t)P * K);
            chunk_dy_nhwc(s, dy, i0, m, dyT);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, P, K, s->cout, 1.0f, dyT, s->cout, wp, K, 0.0f, colT, K);
            float *dxt = kcpu_scratch(S_NHWC, (size_t)hw_in * s->cin);
            for (int i = 0; i < m; i++) {
                memset(dxt, 0, sizeof(float) * (size_t)hw_in * s->cin);
                unpatch_nhwc(s, colT + (size_t)i * hw * K, dxt);
                transpose(dxt, hw_in, s->cin, dxi + (size_t)i * s->cin * hw_in, accumulate);
            }
        } else {
            const float *dym = dyi;
            if (m > 1) {
                float *g = kcpu_scratch(S_OUT, (size_t)s->cout * P);
                gather_chunk(dy, s->cout, hw, i0, m, g);
                dym = g;
            }
            float *col = kcpu_scratch(S_COL, (size_t)K * P);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, s->cout, 1.0f, w, K, dym, P, 0.0f, col, P);
            if (!accumulate) memset(dxi, 0, sizeof(float) * (size_t)m * s->cin * hw_in);
            for (int i = 0; i < m; i++) col2im(s, col + (size_t)i * hw, (size_t)P, dxi + (size_t)i * s->cin * hw_in);
        }
    }
}

void conv2d_backward_filter_cpu(const Conv2dShape *s, const float *x, const float *dy, float *dw, int accumulate) {
    kcpu_init();
    const int K = s->cin * s->k * s->k, hw = s->hout * s->wout, hw_in = s->h * s->w, kk = s->k * s->k;
    const size_t wn = (size_t)s->cout * K;
    const int nb = is_pointwise(s) ? 1 : chunk_images(s), nchunks = (s->n + nb - 1) / nb;
    const int cl = channels_last(s);
    int nt = kcpu_threads();
    if (nt > nchunks) nt = nchunks;
    float *part[nt];
    int used = 1;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
#pragma omp single
        used = omp_get_num_threads();
        float *acc = kcpu_scratch(S_ACC, wn); /* layout [cout][K] as the patch matrix orders K */
        memset(acc, 0, sizeof(float) * wn);
        part[t] = acc;
        /* static: a fixed chunk-to-thread map keeps the sums bit-reproducible */
#pragma omp for schedule(static)
        for (int ch = 0; ch < nchunks; ch++) {
            int i0 = ch * nb, m = s->n - i0 < nb ? s->n - i0 : nb;
            int P = m * hw;
            if (is_pointwise(s)) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, K, hw, 1.0f, dy + (size_t)i0 * s->cout * hw, hw,
                            x + (size_t)i0 * s->cin * hw_in, hw, 1.0f, acc, K);
            } else if (cl) {
                float *colT = kcpu_scratch(S_COL, (size_t)P * K), *dyT = kcpu_scratch(S_OUT, (size_t)P * s->cout);
                chunk_patches(s, x, i0, m, colT);
                chunk_dy_nhwc(s, dy, i0, m, dyT);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->cout, K, P, 1.0f, dyT, s->cout, colT, K, 1.0f, acc, K);
            } else {
                float *col = kcpu_scratch(S_COL, (size_t)K * P);
                for (int i = 0; i < m; i++) im2col(s, x + (size_t)(i0 + i) * s->cin * hw_in, col + (size_t)i * hw, (size_t)P);
                const float *dym = dy + (size_t)i0 * s->cout * hw;
                if (m > 1) {
                    float *g = kcpu_scratch(S_OUT, (size_t)s->cout * P);
                    gather_chunk(dy, s->cout, hw, i0, m, g);
                    dym = g;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->cout, K, P, 1.0f, dym, P, col, P, 1.0f, acc, K);
            }
        }
        /* implicit barrier: every partial is complete. Sum them (and undo the channels-last
         * permutation of K) into dw. */
#pragma omp for schedule(static)
        for (int o = 0; o < s->cout; o++) {
            float *row = part[0] + (size_t)o * K; /* thread 0's partial receives the sum */
            for (int u = 1; u < used; u++) {
                const float *pu = part[u] + (size_t)o * K;
                for (int j = 0; j < K; j++) row[j] += pu[j];
            }
            float *d = dw + (size_t)o * K;
            if (!cl) {
                for (int j = 0; j < K; j++) d[j] = accumulate ? d[j] + row[j] : row[j];
                continue;
            }
            /* channels-last K index tap * cin + c  ->  OIHW index c * kk + tap */
            for (int c = 0; c < s->cin; c++)
                for (int tap = 0; tap < kk; tap++) {
                    float v = row[(size_t)tap * s->cin + c];
                    d[(size_t)c * kk + tap] = accumulate ? d[(size_t)c * kk + tap] + v : v;
                }
        }
    }
}
