/* spatial_loss.cu: the TDANN spatial loss (engine.h; official spacetorch/losses/losses_torch.py) for
 * up to 8 layers at once, forward and backward:
 *
 *   X[l] = block output of layer l at its k units (n rows x k)     gather, one kernel for all layers
 *   Z    = centred columns / ||centred column||                    (zero variance: divisor sqrt(n-1),
 *                                                                   i.e. torch's std := 1; Z = 0)
 *   R    = Z^T Z (k x k; Pearson correlations), clamped to [-1, 1] one batched GEMM (cuBLAS)
 *   D    = 1 / (1 + |p_a - p_b|)
 *   over the strict lower triangle (a > b):                           one pair-sum kernel + finalize
 *     SL_REL = (1 - pearson(R, D)) / 2      SL_ABS = mean |R - D|
 *     (pearson := 0 with no gradient when R or D is constant over the pairs, like the CPU engine)
 *   G    = dL/dR (symmetric, alpha included; 0 where the clamp was active)
 *   dZ   = Z G                                                       one batched GEMM
 *   dX   = backward of the column standardisation                   one kernel
 *   then, during the network's backward pass, dX is added into the gradient of each block output.
 *
 * Layers are packed to kmax columns; entries of columns j >= k[l] are zero and never counted.
 * Reductions are fixed-order (deterministic). Layout: Z, dZ [nl][n][kmax]; R, G [nl][kmax][kmax].
 */
#include "cuda_kernels.h"

#include <math.h>

namespace {

const int COLS = 32, RGROUPS = 8; /* column kernels: 32 columns x 8 row groups per block */

__device__ __forceinline__ long unit_offset(int u, int C, int HW) {
    int c = u / HW, hw = u - c * HW;
    return (long)hw * C + c;
}

template <typename T>
__global__ void gather_std_kernel(SpatialShape sh, const int32_t *units, float *Z, float *dinv) {
    __shared__ float red[RGROUPS][COLS];
    int l = blockIdx.y, n = sh.n, kmax = sh.kmax;
    int tx = threadIdx.x % COLS, rg = threadIdx.x / COLS;
    int j = blockIdx.x * COLS + tx;
    int k = sh.k[l];
    bool live = j < k;
    float *Zl = Z + (size_t)l * n * kmax;
    long off = 0, units_per_row = (long)sh.C[l] * sh.HW[l];
    const T *act = (const T *)sh.act[l];
    if (live) off = unit_offset(units[(size_t)l * kmax + j], sh.C[l], sh.HW[l]);
    /* pass 1: gather, sum */
    float s = 0.f;
    if (j < kmax)
#pragma unroll 4
        for (int i = rg; i < n; i += RGROUPS) {
            float x = live ? to_f(act[(size_t)i * units_per_row + off]) : 0.f;
            Zl[(size_t)i * kmax + j] = x;
            s += x;
        }
    red[rg][tx] = s;
    __syncthreads();
    float tot = 0.f;
    for (int q = 0; q < RGROUPS; q++) tot += red[q][tx];
    float mean = tot / (float)n;
    __syncthreads();
    /* pass 2: centred sum of squares */
    float s2 = 0.f;
    if (j < kmax)
#pragma unroll 4
        for (int i = rg; i < n; i += RGROUPS) {
            float x = Zl[(size_t)i * kmax + j] - mean;
            s2 = fmaf(x, x, s2);
        }
    red[rg][tx] = s2;
    __syncthreads();
    float ss = 0.f;
    for (int q = 0; q < RGROUPS; q++) ss += red[q][tx];
    int zero_var = !(ss > 0.f);
    float inv = zero_var ? 1.0f / sqrtf((float)(n - 1)) : 1.0f / sqrtf(ss);
    if (!live) inv = 0.f;
    /* pass 3: standardise */
    if (j < kmax) {
        for (int i = rg; i < n; i += RGROUPS) {
            size_t o = (size_t)i * kmax + j;
            Zl[o] = (Zl[o] - mean) * inv;
        }
        if (rg == 0) {
            dinv[((size_t)l * kmax + j) * 2] = inv;
            dinv[((size_t)l * kmax + j) * 2 + 1] = (float)(zero_var || !live);
        }
    }
}

__device__ __forceinline__ float dist_sim(const float *c, int a, int b) {
    float dx = c[2 * a] - c[2 * b], dy = c[2 * a + 1] - c[2 * b + 1];
    return 1.0f / (sqrtf(dx * dx + dy * dy) + 1.0f);
}

/* sums over the strict lower triangle: r, d, r^2, d^2, r d, |r - d| */
__global__ void pair_sums_kernel(SpatialShape sh, const float *R, const float *coords, double *part) {
    __shared__ double red[6][256];
    int l = blockIdx.y, kmax = sh.kmax, k = sh.k[l];
    const float *Rl = R + (size_t)l * kmax * kmax, *cl = coords + (size_t)l * kmax * 2;
    double acc[6] = {0, 0, 0, 0, 0, 0};
    long total = (long)k * k;
    for (long idx = (long)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (long)gridDim.x * blockDim.x) {
        int a = (int)(idx / k), b = (int)(idx - (long)a * k);
        if (b >= a) continue;
        float r = fminf(fmaxf(Rl[(size_t)a * kmax + b], -1.f), 1.f);
        float d = dist_sim(cl, a, b);
        acc[0] += r;
        acc[1] += d;
        acc[2] += (double)r * r;
        acc[3] += (double)d * d;
        acc[4] += (double)r * d;
        acc[5] += fabs((double)r - (double)d);
    }
    for (int q = 0; q < 6; q++) red[q][threadIdx.x] = acc[q];
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w)
            for (int q = 0; q < 6; q++) red[q][threadIdx.x] += red[q][threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x < 6) part[((size_t)l * gridDim.x + blockIdx.x) * 6 + threadIdx.x] = red[threadIdx.x][0];
}

/* one block of SPATIAL_PAIR_BLOCKS threads per layer */
__global__ void pair_finalize_kernel(SpatialShape sh, const double *part, double *loss, float *coef) {
    __shared__ double red[6][SPATIAL_PAIR_BLOCKS];
    int l = blockIdx.x, t = threadIdx.x;
    for (int q = 0; q < 6; q++) red[q][t] = part[((size_t)l * SPATIAL_PAIR_BLOCKS + t) * 6 + q];
    __syncthreads();
    for (int w = SPATIAL_PAIR_BLOCKS / 2; w > 0; w >>= 1) {
        if (t < w)
            for (int q = 0; q < 6; q++) red[q][t] += red[q][t + w];
        __syncthreads();
    }
    if (t != 0) return;
    double k = sh.k[l], P = k * (k - 1) / 2, alpha = sh.alpha[l];
    double sr = red[0][0], sd = red[1][0], srr = red[2][0], sdd = red[3][0], srd = red[4][0], sabs = red[5][0];
    double c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    if (sh.kind[l] == 0) {
        double rm = sr / P, dm = sd / P;
        double saa = srr - P * rm * rm, sbb = sdd - P * dm * dm, sab = srd - P * rm * dm;
        if (saa > 1e-12 * srr && sbb > 1e-12 * sdd) {
            double den = sqrt(saa * sbb);
            double rho = sab / den;
            loss[l] = (1.0 - rho) / 2.0;
            /* dL/dr_p = -1/2 [ (d_p - dm) / den - rho (r_p - rm) / saa ] */
            c1 = -0.5 * alpha / den;
            c2 = 0.5 * alpha * rho / saa;
            c0 = 0.5 * alpha * dm / den - 0.5 * alpha * rho * rm / saa;
        } else {
            /* R or D constant over the pairs: correlation taken as 0, no gradient (as the CPU engine) */
            loss[l] = 0.5;
        }
    } else {
        loss[l] = sabs / P;
        c3 = alpha / P;
    }
    coef[l * 4 + 0] = (float)c0;
    coef[l * 4 + 1] = (float)c1;
    coef[l * 4 + 2] = (float)c2;
    coef[l * 4 + 3] = (float)c3;
}

__global__ void grad_matrix_kernel(SpatialShape sh, const float *R, const float *coords, const float *coef, float *G) {
    int l = blockIdx.y, kmax = sh.kmax, k = sh.k[l];
    size_t total = (size_t)kmax * kmax;
    const float *Rl = R + (size_t)l * total, *cl = coords + (size_t)l * kmax * 2;
    float *Gl = G + (size_t)l * total;
    float c0 = coef[l * 4], c1 = coef[l * 4 + 1], c2 = coef[l * 4 + 2], c3 = coef[l * 4 + 3];
    int rel = sh.kind[l] == 0;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        int a = (int)(idx / kmax), b = (int)(idx - (size_t)a * kmax);
        float g = 0.f;
        if (a != b && a < k && b < k) {
            int p = a > b ? a : b, q = a > b ? b : a;
            float rraw = Rl[(size_t)p * kmax + q];
            if (rraw >= -1.f && rraw <= 1.f) {
                float d = dist_sim(cl, p, q);
                if (rel) g = c0 + c1 * d + c2 * rraw;
                else g = rraw > d ? c3 : (rraw < d ? -c3 : 0.f);
            }
        }
        Gl[idx] = g;
    }
}

__global__ void column_bwd_kernel(SpatialShape sh, const float *Z, const float *dinv, float *dZ) {
    __shared__ float red[RGROUPS][COLS];
    int l = blockIdx.y, n = sh.n, kmax = sh.kmax;
    int tx = threadIdx.x % COLS, rg = threadIdx.x / COLS;
    int j = blockIdx.x * COLS + tx;
    const float *Zl = Z + (size_t)l * n * kmax;
    float *dl = dZ + (size_t)l * n * kmax;
    float inv = 0.f, zv = 1.f;
    if (j < kmax) { inv = dinv[((size_t)l * kmax + j) * 2]; zv = dinv[((size_t)l * kmax + j) * 2 + 1]; }
    float t = 0.f;
    if (j < kmax)
#pragma unroll 4
        for (int i = rg; i < n; i += RGROUPS) t = fmaf(Zl[(size_t)i * kmax + j], dl[(size_t)i * kmax + j], t);
    red[rg][tx] = t;
    __syncthreads();
    float tt = 0.f;
    for (int q = 0; q < RGROUPS; q++) tt += red[q][tx];
    if (zv != 0.f) tt = 0.f; /* constant divisor: no normalisation term */
    __syncthreads();
    float s = 0.f;
    if (j < kmax)
        for (int i = rg; i < n; i += RGROUPS) {
            size_t o = (size_t)i * kmax + j;
            s += (dl[o] - Zl[o] * tt) * inv;
        }
    red[rg][tx] = s;
    __syncthreads();
    float m = 0.f;
    for (int q = 0; q < RGROUPS; q++) m += red[q][tx];
    m /= (float)n;
    if (j < kmax)
        for (int i = rg; i < n; i += RGROUPS) {
            size_t o = (size_t)i * kmax + j;
            dl[o] = (dl[o] - Zl[o] * tt) * inv - m;
        }
}

template <typename T>
__global__ void scatter_kernel(SpatialShape sh, int li, const int32_t *units, const float *dX, T *dy) {
    int n = sh.n, kmax = sh.kmax, k = sh.k[li], C = sh.C[li], HW = sh.HW[li];
    long upr = (long)C * HW;
    size_t total = (size_t)n * k;
    const int32_t *u = units + (size_t)li * kmax;
    const float *d = dX + (size_t)li * n * kmax;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(idx / k), j = (int)(idx - (size_t)i * k);
        T *p = dy + (size_t)i * upr + unit_offset(u[j], C, HW);
        *p = from_f<T>(to_f(*p) + d[(size_t)i * kmax + j]);
    }
}

/* one thread per row: repeated units within a row add up in order */
template <typename T>
__global__ void scatter_serial_kernel(SpatialShape sh, int li, const int32_t *units, const float *dX, T *dy) {
    int n = sh.n, kmax = sh.kmax, k = sh.k[li], C = sh.C[li], HW = sh.HW[li];
    long upr = (long)C * HW;
    const int32_t *u = units + (size_t)li * kmax;
    const float *d = dX + (size_t)li * n * kmax;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        for (int j = 0; j < k; j++) {
            T *p = dy + (size_t)i * upr + unit_offset(u[j], C, HW);
            *p = from_f<T>(to_f(*p) + d[(size_t)i * kmax + j]);
        }
}

} /* namespace */

void cuk_spatial_forward_backward(cudaStream_t s, cublasHandle_t h, const SpatialShape *sh, const int32_t *units,
                                  const float *coords, const SpatialBufs *b, double *loss) {
    int nl = sh->nl, n = sh->n, kmax = sh->kmax;
    if (nl <= 0) return;
    dim3 cg((kmax + COLS - 1) / COLS, nl);
    if (sh->is_bf16) gather_std_kernel<bf16><<<cg, COLS * RGROUPS, 0, s>>>(*sh, units, b->Z, b->dinv);
    else gather_std_kernel<float><<<cg, COLS * RGROUPS, 0, s>>>(*sh, units, b->Z, b->dinv);
    KERNEL_CHECK();
    /* R = Z^T Z per layer */
    cuk_gemm_batched(h, 1, 0, kmax, kmax, n, 1.0f, b->Z, (long long)n * kmax, b->Z, (long long)n * kmax, 0.0f, b->R,
                     (long long)kmax * kmax, nl);
    pair_sums_kernel<<<dim3(SPATIAL_PAIR_BLOCKS, nl), 256, 0, s>>>(*sh, b->R, coords, b->part);
    KERNEL_CHECK();
    pair_finalize_kernel<<<nl, SPATIAL_PAIR_BLOCKS, 0, s>>>(*sh, b->part, loss, b->coef);
    KERNEL_CHECK();
    unsigned gb = cu_blocks((size_t)kmax * kmax, 256, 2048);
    grad_matrix_kernel<<<dim3(gb, nl), 256, 0, s>>>(*sh, b->R, coords, b->coef, b->G);
    KERNEL_CHECK();
    /* dZ = Z G (G symmetric) */
    cuk_gemm_batched(h, 0, 0, n, kmax, kmax, 1.0f, b->Z, (long long)n * kmax, b->G, (long long)kmax * kmax, 0.0f, b->dZ,
                     (long long)n * kmax, nl);
    column_bwd_kernel<<<cg, COLS * RGROUPS, 0, s>>>(*sh, b->Z, b->dinv, b->dZ);
    KERNEL_CHECK();
}

void cuk_spatial_scatter(cudaStream_t s, const SpatialShape *sh, int li, const int32_t *units, const float *dX,
                         void *dy_act, int serial) {
    if (serial) {
        unsigned g = cu_blocks((size_t)sh->n, 128, 1024);
        if (sh->is_bf16) scatter_serial_kernel<bf16><<<g, 128, 0, s>>>(*sh, li, units, dX, (bf16 *)dy_act);
        else scatter_serial_kernel<float><<<g, 128, 0, s>>>(*sh, li, units, dX, (float *)dy_act);
    } else {
        unsigned g = cu_blocks((size_t)sh->n * sh->k[li], 256, 4096);
        if (sh->is_bf16) scatter_kernel<bf16><<<g, 256, 0, s>>>(*sh, li, units, dX, (bf16 *)dy_act);
        else scatter_kernel<float><<<g, 256, 0, s>>>(*sh, li, units, dX, (float *)dy_act);
    }
    KERNEL_CHECK();
}
