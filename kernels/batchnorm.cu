/* batchnorm.cu: batch norm forward on NHWC tensors (backward: batchnorm_bwd.cu), fused with ReLU, the residual add,
 * and (for the stem) the 3x3/2 max pool. See cuda_kernels.h for the API and conventions.
 *
 * Work layout ("row kernels"): a tensor is [M rows][C channels] with C = CG * V (V elements per
 * 16-byte vector). A block of 256 threads covers cgb channel groups x rpi = 256 / cgb rows per
 * iteration, so each thread keeps a fixed channel group (its per-channel constants stay in
 * registers) and walks the rows of its block's chunk: a warp reads whole contiguous rows. The grid
 * is (nbx row chunks) x (gy channel tiles). Reductions keep float accumulators per thread, add
 * them over the block in shared memory in a fixed order and write one partial per block; the
 * finalize kernels add the partials in double, again in a fixed order.
 */
#include "bn_rows.cuh"

namespace {

template <typename T, int V> struct StatsF {
    static const int VW = V, NS = 2;
    const T *x;
    int C;
    __device__ void init(int) {}
    __device__ void row(long r, int c0, float (&acc)[2][V]) const {
        float v[V];
        load_vec<T, V>(x + (size_t)r * C + c0, v);
#pragma unroll
        for (int i = 0; i < V; i++) { acc[0][i] += v[i]; acc[1][i] = fmaf(v[i], v[i], acc[1][i]); }
    }
};

template <typename T, int V, int RES, int RELU> struct ApplyF {
    static const int VW = V;
    T *y;
    const T *x, *r;
    const float *scale, *shift, *rscale, *rshift;
    int C;
    float sc[V], sf[V], rsc[V], rsf[V];
    __device__ void init(int c0) {
#pragma unroll
        for (int i = 0; i < V; i++) {
            sc[i] = scale[c0 + i];
            sf[i] = shift[c0 + i];
            if (RES == 2) { rsc[i] = rscale[c0 + i]; rsf[i] = rshift[c0 + i]; }
        }
    }
    __device__ void row(long rr, int c0) const {
        size_t off = (size_t)rr * C + c0;
        float v[V], w[V];
        load_vec<T, V>(x + off, v);
        if (RES) load_vec<T, V>(r + off, w);
#pragma unroll
        for (int i = 0; i < V; i++) {
            float a = fmaf(v[i], sc[i], sf[i]);
            if (RES == 1) a += w[i];
            if (RES == 2) a += fmaf(w[i], rsc[i], rsf[i]);
            if (RELU) a = a > 0.f ? a : 0.f;
            v[i] = a;
        }
        store_vec<T, V>(y + off, v);
    }
};

__global__ void __launch_bounds__(1024) bn_fwd_finalize_kernel(const float *parts, int nparts, int C, double Mtot, float eps, float mom,
                                       const float *gamma, const float *beta, float *rm, float *rv, float *mean,
                                       float *invstd, float *scale, float *shift, float *sums_out) {
    int c = blockIdx.x * 32 + threadIdx.x;
    double s[2];
    sum_parts<2>(parts, nparts, 2, C, c, s);
    if (threadIdx.y != 0 || c >= C) return;
    if (sums_out) {
        sums_out[c] = (float)s[0];
        sums_out[C + c] = (float)s[1];
        return;
    }
    double m = s[0] / Mtot;
    double var = s[1] / Mtot - m * m;
    if (var < 0) var = 0;
    double is = 1.0 / sqrt(var + (double)eps);
    double sc = (double)gamma[c] * is;
    mean[c] = (float)m;
    invstd[c] = (float)is;
    scale[c] = (float)sc;
    shift[c] = (float)((double)beta[c] - m * sc);
    double unb = Mtot > 1 ? var * Mtot / (Mtot - 1) : var;
    rm[c] = (float)((1.0 - mom) * (double)rm[c] + (double)mom * m);
    rv[c] = (float)((1.0 - mom) * (double)rv[c] + (double)mom * unb);
}

__global__ void bn_eval_coef_kernel(int C, float eps, const float *gamma, const float *beta, const float *rm,
                                    const float *rv, float *scale, float *shift) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double sc = (double)gamma[c] / sqrt((double)rv[c] + (double)eps);
    scale[c] = (float)sc;
    shift[c] = (float)((double)beta[c] - (double)rm[c] * sc);
}

/* ---- stem forward: BN + ReLU + max pool ------------------------------------------------------------ */
template <typename T, int V>
__global__ void bn_relu_maxpool_kernel(T *out, uint8_t *am, const T *x, const float *scale, const float *shift, int n,
                                       int H, int W, int C, int Ho, int Wo) {
    int CG = C / V;
    size_t total = (size_t)n * Ho * Wo * CG;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        int cg = (int)(idx % CG);
        size_t pos = idx / CG;
        int wo = (int)(pos % Wo);
        size_t t2 = pos / Wo;
        int ho = (int)(t2 % Ho);
        size_t img = t2 / Ho;
        int c0 = cg * V;
        float sc[V], sf[V], best[V];
        Pack<uint8_t, V> bi;
#pragma unroll
        for (int i = 0; i < V; i++) {
            sc[i] = scale[c0 + i];
            sf[i] = shift[c0 + i];
            best[i] = -INFINITY;
            bi.v[i] = 0;
        }
        for (int kh = 0; kh < 3; kh++) {
            int h = 2 * ho - 1 + kh;
            if (h < 0 || h >= H) continue;
            for (int kw = 0; kw < 3; kw++) {
                int w = 2 * wo - 1 + kw;
                if (w < 0 || w >= W) continue;
                float v[V];
                load_vec<T, V>(x + ((img * H + h) * W + w) * C + c0, v);
#pragma unroll
                for (int i = 0; i < V; i++) {
                    float a = bn_lin(v[i], sc[i], sf[i]);
                    a = a > 0.f ? a : 0.f;
                    if (a > best[i]) { best[i] = a; bi.v[i] = (uint8_t)(kh * 3 + kw); }
                }
            }
        }
        size_t o = pos * C + c0;
        store_vec<T, V>(out + o, best);
        *reinterpret_cast<Pack<uint8_t, V> *>(am + o) = bi;
    }
}

template <typename T, int V> void stats_l(cudaStream_t s, float *parts, const void *x, long M, int C, int *np) {
    StatsF<T, V> f;
    f.x = (const T *)x;
    f.C = C;
    *np = launch_reduce(s, f, M, C, parts);
}

template <typename T, int V>
void apply_l(cudaStream_t s, void *y, const void *x, long M, int C, const float *scale, const float *shift, int res_mode,
             const void *r, const float *rscale, const float *rshift, int relu) {
#define APPLY_CASE(RES, RELU) do { ApplyF<T, V, RES, RELU> f; f.y = (T *)y; f.x = (const T *)x; f.r = (const T *)r; \
        f.scale = scale; f.shift = shift; f.rscale = rscale; f.rshift = rshift; f.C = C; launch_apply(s, f, M, C); } while (0)
    if (res_mode == 0) { if (relu) APPLY_CASE(0, 1); else APPLY_CASE(0, 0); }
    else if (res_mode == 1) { if (relu) APPLY_CASE(1, 1); else APPLY_CASE(1, 0); }
    else { if (relu) APPLY_CASE(2, 1); else APPLY_CASE(2, 0); }
#undef APPLY_CASE
}

template <typename T, int V>
void maxpool_l(cudaStream_t s, void *out, uint8_t *am, const void *x, int n, int H, int W, int C, int Ho, int Wo,
               const float *scale, const float *shift) {
    size_t total = (size_t)n * Ho * Wo * (C / V);
    bn_relu_maxpool_kernel<T, V><<<cu_blocks(total, 256, 65535u * 16), 256, 0, s>>>((T *)out, am, (const T *)x, scale,
                                                                                     shift, n, H, W, C, Ho, Wo);
    KERNEL_CHECK();
}

} /* namespace */

/* ---- public API (forward) ---------------------------------------------------------------------------- */
size_t cuk_bn_parts_floats(long M, int C, int is_bf16, int ns) {
    RowGrid g = row_grid(M, C, cu_vec_width(C, is_bf16));
    return (size_t)g.nbx * (size_t)ns * (size_t)C;
}

int cuk_bn_stats(cudaStream_t s, float *parts, const void *x, int is_bf16, long M, int C) {
    int np = 0;
    CU_DISPATCH_TV(is_bf16, cu_vec_width(C, is_bf16), stats_l, s, parts, x, M, C, &np);
    return np;
}

void cuk_bn_fwd_finalize(cudaStream_t s, const float *parts, int nparts, int C, double Mtot, float eps, float mom,
                         const float *gamma, const float *beta, float *run_mean, float *run_var, float *mean,
                         float *invstd, float *scale, float *shift, float *sums_out) {
    bn_fwd_finalize_kernel<<<(C + 31) / 32, dim3(32, 32), 0, s>>>(parts, nparts, C, Mtot, eps, mom, gamma, beta, run_mean,
                                                                  run_var, mean, invstd, scale, shift, sums_out);
    KERNEL_CHECK();
}

void cuk_bn_eval_coef(cudaStream_t s, int C, float eps, const float *gamma, const float *beta, const float *run_mean,
                      const float *run_var, float *scale, float *shift) {
    bn_eval_coef_kernel<<<(C + 127) / 128, 128, 0, s>>>(C, eps, gamma, beta, run_mean, run_var, scale, shift);
    KERNEL_CHECK();
}

void cuk_bn_apply(cudaStream_t s, void *y, const void *x, int is_bf16, long M, int C, const float *scale,
                  const float *shift, int res_mode, const void *r, const float *rscale, const float *rshift, int relu) {
    CU_DISPATCH_TV(is_bf16, cu_vec_width(C, is_bf16), apply_l, s, y, x, M, C, scale, shift, res_mode, r, rscale, rshift,
                   relu);
}

void cuk_bn_relu_maxpool(cudaStream_t s, void *out, uint8_t *argmax, const void *x, int is_bf16, int n, int H, int W,
                         int C, int Ho, int Wo, const float *scale, const float *shift) {
    CU_DISPATCH_TV(is_bf16, cu_vec_width(C, is_bf16), maxpool_l, s, out, argmax, x, n, H, W, C, Ho, Wo, scale, shift);
}

