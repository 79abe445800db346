/* cuda_kernels.h: host launchers of the CUDA kernels behind engine_cuda.cu (C++ API; include
 * cuda_common.h first). Every launcher enqueues on the given stream and checks the launch.
 *
 * Conventions
 * - Activations are NHWC: a tensor of n images, H x W pixels and C channels is a row-major
 *   [M = n*H*W][C] matrix ("rows" are pixels). Storage is T = bf16 (is_bf16 = 1) or float; `void *`
 *   arguments are T tensors, `float *` arguments are always float32. Arithmetic is float32.
 * - Batch norm in training mode works in two steps: a row reduction writing per-block partial sums
 *   parts[nparts][ns][C], then a finalize kernel that adds them in a fixed order (double) and writes
 *   per-channel coefficients. Everything is deterministic (no atomics): same inputs, same bits.
 *   Per-channel forward coefficients: y = x * scale + shift. Backward coefficients coef[3][C]:
 *   dx = coef[0] * dz + coef[1] * x + coef[2] (dz = upstream gradient after the ReLU mask).
 * - ReLU masks are taken from stored outputs (y > 0 selects the gradient, else 0).
 * - Gradient pairs: the gradient of a block output may arrive as the sum of two tensors (dyA +
 *   dyB; dyB may be NULL), so that convolution data gradients never need to accumulate in place.
 */
#ifndef TDANN_CUDA_KERNELS_H
#define TDANN_CUDA_KERNELS_H

#include "cuda_common.h"

/* ---- input ------------------------------------------------------------------------------------ */
/* out[pix][cpad] = (u / 255 - mean_c) / std_c for c < 3, 0 for 3 <= c < cpad (cpad 4 or 8);
 * img uint8 [npix][3]. */
void cuk_normalize_input(cudaStream_t s, void *out, int is_bf16, int cpad, const uint8_t *img, size_t npix);

/* ---- batch norm (batchnorm.cu) ------------------------------------------------------------------ */
/* Capacity (floats) the parts buffer needs for a reduction of ns sums over [M][C]. */
size_t cuk_bn_parts_floats(long M, int C, int is_bf16, int ns);

/* parts[nparts][2][C] = per-block (sum x, sum x^2); returns nparts. */
int cuk_bn_stats(cudaStream_t s, float *parts, const void *x, int is_bf16, long M, int C);

/* Training-mode finalize over parts[nparts][2][C] (Mtot = rows over all ranks): batch mean and
 * biased variance; writes mean, invstd, scale = gamma * invstd, shift = beta - mean * scale, and
 * updates running_mean/var (momentum mom, unbiased variance). With sums_out != NULL it only writes
 * the summed parts sums_out[2][C] (for an all-reduce before the real finalize, nparts = 1). */
void cuk_bn_fwd_finalize(cudaStream_t s, const float *parts, int nparts, int C, double Mtot, float eps, float mom,
                         const float *gamma, const float *beta, float *run_mean, float *run_var, float *mean,
                         float *invstd, float *scale, float *shift, float *sums_out);
/* Eval mode: scale = gamma / sqrt(run_var + eps), shift = beta - run_mean * scale. */
void cuk_bn_eval_coef(cudaStream_t s, int C, float eps, const float *gamma, const float *beta, const float *run_mean,
                      const float *run_var, float *scale, float *shift);

/* y = act(x * scale + shift + residual): res_mode 0 none, 1 r (T tensor), 2 r * rscale + rshift
 * (a second batch-normed tensor); relu 0/1. y may alias x. */
void cuk_bn_apply(cudaStream_t s, void *y, const void *x, int is_bf16, long M, int C, const float *scale,
                  const float *shift, int res_mode, const void *r, const float *rscale, const float *rshift, int relu);

/* Stem: out = maxpool3x3/2 pad 1 (relu(x * scale + shift)) for x [n][H][W][C]; out [n][Ho][Wo][C];
 * argmax [n][Ho][Wo][C] = kh * 3 + kw of the first maximum in scan order. */
void cuk_bn_relu_maxpool(cudaStream_t s, void *out, uint8_t *argmax, const void *x, int is_bf16, int n, int H, int W,
                         int C, int Ho, int Wo, const float *scale, const float *shift);

/* Backward reduction: dz = mask(y) * (dyA + dyB); parts[nparts][ns][C] with ns = 2 (sum dz,
 * sum dz * xhat) or 3 when xd != NULL (+ sum dz * xhat_d of the downsample BN). Returns nparts. */
int cuk_bn_bwd_reduce(cudaStream_t s, float *parts, int is_bf16, long M, int C, const void *dyA, const void *dyB,
                      const void *y, const void *x, const float *mean, const float *invstd, const void *xd,
                      const float *mean_d, const float *invstd_d);

/* Backward finalize over parts[nparts][ns][C]. Optional outputs (NULL = skip): dgamma/dbeta
 * (= sum dz xhat, sum dz) and coef[3][C]; for ns = 3 also the downsample's dgamma_d/dbeta_d/coef_d;
 * sums_out[ns][C] (for an all-reduce). */
void cuk_bn_bwd_finalize(cudaStream_t s, const float *parts, int nparts, int ns, int C, double Mtot,
                         const float *gamma, const float *mean, const float *invstd, const float *gamma_d,
                         const float *mean_d, const float *invstd_d, float *dgamma, float *dbeta, float *dgamma_d,
                         float *dbeta_d, float *coef, float *coef_d, float *sums_out);

/* Backward apply: dz = mask(y) * (dyA + dyB); dx = coef . (dz, x, 1); optional dz_out (the
 * identity shortcut's gradient) and dxd = coef_d . (dz, xd, 1). Outputs may alias dyA / dyB. */
void cuk_bn_bwd_apply(cudaStream_t s, int is_bf16, long M, int C, const void *dyA, const void *dyB, const void *y,
                      const void *x, const float *coef, void *dx, void *dz_out, const void *xd, const float *coef_d,
                      void *dxd);

/* Stem backward through max pool, ReLU and BN: the gradient at conv-output pixel (h, w) is the sum
 * of dpA + dpB over the pool windows whose argmax is that pixel, masked by relu(x*scale+shift) > 0.
 * reduce -> parts[nparts][2][C] (returns nparts); apply -> dx [n][H][W][C]. */
int cuk_stem_bwd_reduce(cudaStream_t s, float *parts, int is_bf16, int n, int H, int W, int C, int Ho, int Wo,
                        const void *dpA, const void *dpB, const uint8_t *argmax, const void *x, const float *scale,
                        const float *shift, const float *mean, const float *invstd);
void cuk_stem_bwd_apply(cudaStream_t s, void *dx, int is_bf16, int n, int H, int W, int C, int Ho, int Wo,
                        const void *dpA, const void *dpB, const uint8_t *argmax, const void *x, const float *scale,
                        const float *shift, const float *coef);

/* ---- elementwise and small ops (elementwise.cu) -------------------------------------------------- */
/* feat[n][C] = mean over HW of y [n][HW][C]. */
void cuk_avgpool_fwd(cudaStream_t s, float *feat, const void *y, int is_bf16, int n, int HW, int C);
/* dy[n][HW][C] = dfeat[n][C] / HW. */
void cuk_avgpool_bwd(cudaStream_t s, void *dy, const float *dfeat, int is_bf16, int n, int HW, int C);
void cuk_f32_to_bf16(cudaStream_t s, bf16 *out, const float *in, size_t n);
void cuk_bf16_to_f32(cudaStream_t s, float *out, const bf16 *in, size_t n);
/* out[r][c][hw] (float, rows r0..r0+nr-1 of the tensor, written from 0) = in[r][hw][c]. */
void cuk_nhwc_to_nchw(cudaStream_t s, float *out, const void *in, int is_bf16, int nr, int HW, int C);
/* y[r][c] = act(y[r][c] + b[c]) (rows x cols float). */
void cuk_bias_act(cudaStream_t s, float *y, const float *b, int rows, int cols, int relu);
/* dy = y > 0 ? dy : 0 (float). */
void cuk_relu_mask(cudaStream_t s, float *dy, const float *y, size_t n);
/* out[c] = sum over rows of x[r][c] (float; fixed order, double accumulation). */
void cuk_colsum(cudaStream_t s, float *out, const float *x, int rows, int cols);
/* y[i] += x[i] (float). */
void cuk_add_f32(cudaStream_t s, float *y, const float *x, size_t n);
/* Fills a T tensor with uniform values in [lo, hi) from Philox (seed, stream). */
void cuk_fill_uniform(cudaStream_t s, void *x, int is_bf16, size_t n, uint64_t seed, float lo, float hi);

/* Row-major GEMM through cuBLAS (float, no TF32): C[M][N] = alpha op(A) op(B) + beta C, where
 * op(A) is M x K and op(B) is K x N; trans = 1 means the stored matrix is the transpose. Strided
 * batched variant for `batch` independent products. */
void cuk_gemm(cublasHandle_t h, int transA, int transB, int M, int N, int K, float alpha, const float *A,
              const float *B, float beta, float *C);
void cuk_gemm_batched(cublasHandle_t h, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                      long long strideA, const float *B, long long strideB, float beta, float *C, long long strideC,
                      int batch);

/* ---- SGD (sgd.cu) -------------------------------------------------------------------------------- */
typedef struct { float lr, momentum, weight_decay; int nesterov; } CudaSgdParams; /* lives on the device */
/* Over the flat buffers p, mom, g [n]: decay applies to i < n_decay. When shadow != NULL,
 * shadow[i] = bf16(p[i]) for i < n_shadow (the bf16 copy of the convolution weights). */
void cuk_sgd(cudaStream_t s, float *p, float *mom, const float *g, size_t n, size_t n_decay,
             const CudaSgdParams *sp, bf16 *shadow, size_t n_shadow);

/* ---- NT-Xent (ntxent.cu) ------------------------------------------------------------------------- */
/* zn[r] = z[r] / max(||z[r]||, 1e-12), norms[r] = ||z[r]|| (rows x d). */
void cuk_l2_normalize(cudaStream_t s, float *zn, float *norms, const float *z, int rows, int d);
/* dz = (dzn - zn (zn . dzn)) / max(norm, 1e-12) (the backward of cuk_l2_normalize). */
void cuk_l2_normalize_bwd(cudaStream_t s, float *dz, const float *dzn, const float *zn, const float *norms, int rows,
                          int d);
/* Row-wise cross-entropy of the similarity rows S[n][ncols] (logits, already / T) of this rank's
 * rows, global row index row0 + i; the diagonal column row0 + i is excluded; the positive column of
 * row i is row0 + (i + n/2) % n. rowloss[i]; dS[i][j] = (softmax - onehot) * gscale (0 on the
 * diagonal). */
void cuk_ntxent_rows(cudaStream_t s, float *rowloss, float *dS, const float *S, int n, int ncols, int row0,
                     float gscale);
/* Supervised: rows of logits [n][ncls], labels (< 0 ignored); rowloss and dlogits scaled by
 * gscale (0 for ignored rows). */
void cuk_softmax_ce_rows(cudaStream_t s, float *rowloss, float *dlogits, const float *logits, const int32_t *labels,
                         int n, int ncls, const float *gscale_dev);
/* *out = scale * sum of x[0..n) (double, fixed order, one block). */
void cuk_sum_to_double(cudaStream_t s, double *out, const float *x, int n, double scale);

/* ---- spatial loss (spatial_loss.cu) --------------------------------------------------------------- */
#define SPATIAL_MAX_LAYERS 8
typedef struct {
    int nl;                            /* layers with a term, compacted */
    int n;                             /* rows */
    int kmax;                          /* padded neighbourhood size (columns of every layer's block) */
    int is_bf16;
    int k[SPATIAL_MAX_LAYERS];         /* units per layer */
    int kind[SPATIAL_MAX_LAYERS];      /* 0 SL_REL, 1 SL_ABS */
    float alpha[SPATIAL_MAX_LAYERS];   /* weight in the total loss (scales the gradient only) */
    const void *act[SPATIAL_MAX_LAYERS];  /* block output NHWC [n][HW][C] */
    int C[SPATIAL_MAX_LAYERS], HW[SPATIAL_MAX_LAYERS];
} SpatialShape;

typedef struct {
    float *Z;      /* [nl][n][kmax]  standardised columns; then reused */
    float *dinv;   /* [nl][kmax][2]  1/divisor of each column, zero-variance flag */
    float *R;      /* [nl][kmax][kmax] correlations */
    float *G;      /* [nl][kmax][kmax] dL/dR, symmetric */
    float *dZ;     /* [nl][n][kmax]  gradient wrt Z, then wrt X (in place) */
    double *part;  /* [nl][SPATIAL_PAIR_BLOCKS][6] pair sums */
    float *coef;   /* [nl][4] */
} SpatialBufs;
#define SPATIAL_PAIR_BLOCKS 128

/* Forward and gradient of all layers' terms: loss[l] (double, device) = SL of layer l; on return
 * dZ[l] holds dL_total/dX (alpha included) for the gathered units, ready for cuk_spatial_scatter.
 * units [nl][kmax] int32 (unit = c*HW + hw, entries j >= k[l] ignored), coords [nl][kmax][2]. */
void cuk_spatial_forward_backward(cudaStream_t s, cublasHandle_t h, const SpatialShape *sh, const int32_t *units,
                                  const float *coords, const SpatialBufs *b, double *loss);
/* dy_act (T, NHWC [n][HW][C] of layer li) += dX of layer li at its units. serial = 1 when the
 * units of that layer may repeat (one thread per row then, so repeated units add up safely). */
void cuk_spatial_scatter(cudaStream_t s, const SpatialShape *sh, int li, const int32_t *units, const float *dX,
                         void *dy_act, int serial);

#endif
