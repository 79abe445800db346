/* batchnorm.cu: batch norm forward/backward on NHWC tensors, fused with ReLU, the residual add,
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
#include "cuda_kernels.h"

#include <math.h>

namespace {

const int ROW_THREADS = 256;
const int ROW_TARGET_BLOCKS = 1024; /* fixed (not per device), so reductions add in the same order everywhere */

struct RowGrid {
    int cgb, rpi, gy, nbx;
    long rpb; /* rows per block, a multiple of rpi */
};

RowGrid row_grid(long M, int C, int V) {
    RowGrid g;
    int CG = C / V;
    g.cgb = CG < ROW_THREADS ? CG : ROW_THREADS;
    g.rpi = ROW_THREADS / g.cgb;
    g.gy = (CG + g.cgb - 1) / g.cgb;
    long iters = (M + g.rpi - 1) / g.rpi;
    long want = (ROW_TARGET_BLOCKS + g.gy - 1) / g.gy;
    if (want > iters) want = iters;
    if (want < 1) want = 1;
    long ipb = (iters + want - 1) / want; /* iterations per block */
    g.rpb = ipb * g.rpi;
    g.nbx = (int)((M + g.rpb - 1) / g.rpb);
    if (g.nbx < 1) g.nbx = 1;
    return g;
}

template <typename F>
__global__ void __launch_bounds__(ROW_THREADS) row_apply_kernel(F f, long M, int C, int cgb, long rpb) {
    const int V = F::VW;
    int CG = C / V, rpi = blockDim.x / cgb;
    int t = threadIdx.x, rl = t / cgb, cg = blockIdx.y * cgb + t % cgb;
    if (rl >= rpi || cg >= CG) return;
    int c0 = cg * V;
    f.init(c0);
    long r0 = (long)blockIdx.x * rpb, r1 = r0 + rpb < M ? r0 + rpb : M;
    for (long r = r0 + rl; r < r1; r += rpi) f.row(r, c0);
}

template <typename F>
__global__ void __launch_bounds__(ROW_THREADS) row_reduce_kernel(F f, long M, int C, int cgb, long rpb, float *parts) {
    const int V = F::VW, NS = F::NS;
    extern __shared__ float sh[]; /* [NS][rpi][cgb*V] */
    int CG = C / V, rpi = blockDim.x / cgb;
    int t = threadIdx.x, rl = t / cgb, cgl = t % cgb, cg = blockIdx.y * cgb + cgl;
    float acc[NS][V];
#pragma unroll
    for (int s = 0; s < NS; s++)
#pragma unroll
        for (int i = 0; i < V; i++) acc[s][i] = 0.f;
    if (rl < rpi && cg < CG) {
        int c0 = cg * V;
        f.init(c0);
        long r0 = (long)blockIdx.x * rpb, r1 = r0 + rpb < M ? r0 + rpb : M;
#pragma unroll 2
        for (long r = r0 + rl; r < r1; r += rpi) f.row(r, c0, acc);
    }
    int width = cgb * V;
    if (rl < rpi)
#pragma unroll
        for (int s = 0; s < NS; s++)
#pragma unroll
            for (int i = 0; i < V; i++) sh[((size_t)s * rpi + rl) * width + cgl * V + i] = acc[s][i];
    __syncthreads();
    for (int j = t; j < width; j += blockDim.x) {
        int c = blockIdx.y * width + j;
        for (int s = 0; s < NS; s++) {
            float a = 0.f;
            for (int q = 0; q < rpi; q++) a += sh[((size_t)s * rpi + q) * width + j];
            if (c < C) parts[((size_t)blockIdx.x * NS + s) * C + c] = a;
        }
    }
}

template <typename F> void launch_apply(cudaStream_t s, const F &f, long M, int C) {
    RowGrid g = row_grid(M, C, F::VW);
    row_apply_kernel<F><<<dim3(g.nbx, g.gy), ROW_THREADS, 0, s>>>(f, M, C, g.cgb, g.rpb);
    KERNEL_CHECK();
}

template <typename F> int launch_reduce(cudaStream_t s, const F &f, long M, int C, float *parts) {
    RowGrid g = row_grid(M, C, F::VW);
    size_t smem = (size_t)F::NS * g.rpi * g.cgb * F::VW * sizeof(float);
    row_reduce_kernel<F><<<dim3(g.nbx, g.gy), ROW_THREADS, smem, s>>>(f, M, C, g.cgb, g.rpb, parts);
    KERNEL_CHECK();
    return g.nbx;
}

/* the one place where BN + ReLU is evaluated for the stem (forward and backward must agree bit for bit) */
__device__ __forceinline__ float bn_lin(float x, float sc, float sh) { return fmaf(x, sc, sh); }

/* ---- functors --------------------------------------------------------------------------------- */
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

template <typename T, int V, int NSP> struct BwdReduceF {
    static const int VW = V, NS = NSP;
    const T *dyA, *dyB, *y, *x, *xd;
    const float *mean, *invstd, *mean_d, *invstd_d;
    int C;
    float mu[V], is[V], mud[V], isd[V];
    __device__ void init(int c0) {
#pragma unroll
        for (int i = 0; i < V; i++) {
            mu[i] = mean[c0 + i];
            is[i] = invstd[c0 + i];
            if (NS == 3) { mud[i] = mean_d[c0 + i]; isd[i] = invstd_d[c0 + i]; }
        }
    }
    __device__ void row(long r, int c0, float (&acc)[NS][V]) const {
        size_t off = (size_t)r * C + c0;
        float g[V], g2[V], m[V], xv[V], xdv[V];
        load_vec<T, V>(dyA + off, g);
        if (dyB) {
            load_vec<T, V>(dyB + off, g2);
#pragma unroll
            for (int i = 0; i < V; i++) g[i] += g2[i];
        }
        load_vec<T, V>(y + off, m);
        load_vec<T, V>(x + off, xv);
        if (NS == 3) load_vec<T, V>(xd + off, xdv);
#pragma unroll
        for (int i = 0; i < V; i++) {
            float dz = m[i] > 0.f ? g[i] : 0.f;
            acc[0][i] += dz;
            acc[1][i] = fmaf(dz, (xv[i] - mu[i]) * is[i], acc[1][i]);
            if (NS == 3) acc[NS - 1][i] = fmaf(dz, (xdv[i] - mud[i]) * isd[i], acc[NS - 1][i]);
        }
    }
};

template <typename T, int V, int HASZ, int HASD> struct BwdApplyF {
    static const int VW = V;
    const T *dyA, *dyB, *y, *x, *xd;
    T *dx, *dz_out, *dxd;
    const float *coef, *coef_d;
    int C;
    float a[V], b[V], c[V], ad[V], bd[V], cd[V];
    __device__ void init(int c0) {
#pragma unroll
        for (int i = 0; i < V; i++) {
            a[i] = coef[c0 + i];
            b[i] = coef[C + c0 + i];
            c[i] = coef[2 * C + c0 + i];
            if (HASD) { ad[i] = coef_d[c0 + i]; bd[i] = coef_d[C + c0 + i]; cd[i] = coef_d[2 * C + c0 + i]; }
        }
    }
    __device__ void row(long r, int c0) const {
        size_t off = (size_t)r * C + c0;
        float g[V], g2[V], m[V], xv[V], xdv[V];
        load_vec<T, V>(dyA + off, g);
        if (dyB) {
            load_vec<T, V>(dyB + off, g2);
#pragma unroll
            for (int i = 0; i < V; i++) g[i] += g2[i];
        }
        load_vec<T, V>(y + off, m);
        load_vec<T, V>(x + off, xv);
        if (HASD) load_vec<T, V>(xd + off, xdv);
        /* all loads are done: the outputs may alias dyA / dyB */
        float o[V], od[V];
#pragma unroll
        for (int i = 0; i < V; i++) {
            float dz = m[i] > 0.f ? g[i] : 0.f;
            g[i] = dz;
            o[i] = fmaf(a[i], dz, fmaf(b[i], xv[i], c[i]));
            if (HASD) od[i] = fmaf(ad[i], dz, fmaf(bd[i], xdv[i], cd[i]));
        }
        store_vec<T, V>(dx + off, o);
        if (HASZ) store_vec<T, V>(dz_out + off, g);
        if (HASD) store_vec<T, V>(dxd + off, od);
    }
};

/* Stem: gradient at conv-output pixel row r (image, h, w) from the pooled gradient. */
template <typename T, int V> struct StemGrad {
    const T *dpA, *dpB, *x;
    const uint8_t *am;
    const float *scale, *shift;
    int H, W, C, Ho, Wo;
    float sc[V], sf[V];
    __device__ void init_sc(int c0) {
#pragma unroll
        for (int i = 0; i < V; i++) { sc[i] = scale[c0 + i]; sf[i] = shift[c0 + i]; }
    }
    /* returns dz (masked) and x values of row r */
    __device__ void grad(long r, int c0, float (&dz)[V], float (&xv)[V]) const {
        long img = r / ((long)H * W);
        int hw = (int)(r - img * (long)H * W), h = hw / W, w = hw - (hw / W) * W;
        load_vec<T, V>(x + (size_t)r * C + c0, xv);
        float g[V];
#pragma unroll
        for (int i = 0; i < V; i++) g[i] = 0.f;
        int ho0 = h / 2, ho1 = (h + 1) / 2, wo0 = w / 2, wo1 = (w + 1) / 2;
        if (ho1 > Ho - 1) ho1 = Ho - 1;
        if (wo1 > Wo - 1) wo1 = Wo - 1;
        for (int ho = ho0; ho <= ho1; ho++)
            for (int wo = wo0; wo <= wo1; wo++) {
                int idx = (h - (2 * ho - 1)) * 3 + (w - (2 * wo - 1));
                size_t po = ((size_t)(img * Ho + ho) * Wo + wo) * C + c0;
                Pack<uint8_t, V> a = *reinterpret_cast<const Pack<uint8_t, V> *>(am + po);
                float p[V], p2[V];
                load_vec<T, V>(dpA + po, p);
                if (dpB) load_vec<T, V>(dpB + po, p2);
#pragma unroll
                for (int i = 0; i < V; i++)
                    if (a.v[i] == idx) g[i] += dpB ? p[i] + p2[i] : p[i];
            }
#pragma unroll
        for (int i = 0; i < V; i++) dz[i] = bn_lin(xv[i], sc[i], sf[i]) > 0.f ? g[i] : 0.f;
    }
};

template <typename T, int V> struct StemReduceF {
    static const int VW = V, NS = 2;
    StemGrad<T, V> sg;
    const float *mean, *invstd;
    float mu[V], is[V];
    __device__ void init(int c0) {
        sg.init_sc(c0);
#pragma unroll
        for (int i = 0; i < V; i++) { mu[i] = mean[c0 + i]; is[i] = invstd[c0 + i]; }
    }
    __device__ void row(long r, int c0, float (&acc)[2][V]) const {
        float dz[V], xv[V];
        sg.grad(r, c0, dz, xv);
#pragma unroll
        for (int i = 0; i < V; i++) {
            acc[0][i] += dz[i];
            acc[1][i] = fmaf(dz[i], (xv[i] - mu[i]) * is[i], acc[1][i]);
        }
    }
};

template <typename T, int V> struct StemApplyF {
    static const int VW = V;
    StemGrad<T, V> sg;
    const float *coef;
    T *dx;
    float a[V], b[V], c[V];
    __device__ void init(int c0) {
        sg.init_sc(c0);
        int C = sg.C;
#pragma unroll
        for (int i = 0; i < V; i++) { a[i] = coef[c0 + i]; b[i] = coef[C + c0 + i]; c[i] = coef[2 * C + c0 + i]; }
    }
    __device__ void row(long r, int c0) const {
        float dz[V], xv[V], o[V];
        sg.grad(r, c0, dz, xv);
#pragma unroll
        for (int i = 0; i < V; i++) o[i] = fmaf(a[i], dz[i], fmaf(b[i], xv[i], c[i]));
        store_vec<T, V>(dx + (size_t)r * sg.C + c0, o);
    }
};

/* ---- finalize kernels: block (32, 32), 32 channels per block -------------------------------------- */
template <int NSMAX>
__device__ void sum_parts(const float *parts, int nparts, int ns, int C, int c, double (&out)[NSMAX]) {
    __shared__ double shd[NSMAX][32][33];
    double acc[NSMAX];
#pragma unroll
    for (int s = 0; s < NSMAX; s++) acc[s] = 0.0;
    if (c < C)
        for (int p = threadIdx.y; p < nparts; p += 32)
            for (int s = 0; s < ns; s++) acc[s] += (double)parts[((size_t)p * ns + s) * C + c];
#pragma unroll
    for (int s = 0; s < NSMAX; s++) shd[s][threadIdx.y][threadIdx.x] = acc[s];
    __syncthreads();
#pragma unroll
    for (int s = 0; s < NSMAX; s++) {
        double t = 0.0;
        for (int k = 0; k < 32; k++) t += shd[s][k][threadIdx.x];
        out[s] = t;
    }
}

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

__global__ void __launch_bounds__(1024) bn_bwd_finalize_kernel(const float *parts, int nparts, int ns, int C, double Mtot, const float *gamma,
                                       const float *mean, const float *invstd, const float *gamma_d,
                                       const float *mean_d, const float *invstd_d, float *dgamma, float *dbeta,
                                       float *dgamma_d, float *dbeta_d, float *coef, float *coef_d, float *sums_out) {
    int c = blockIdx.x * 32 + threadIdx.x;
    double s[3];
    sum_parts<3>(parts, nparts, ns, C, c, s);
    if (threadIdx.y != 0 || c >= C) return;
    if (sums_out)
        for (int k = 0; k < ns; k++) sums_out[(size_t)k * C + c] = (float)s[k];
    if (dgamma) { dgamma[c] = (float)s[1]; dbeta[c] = (float)s[0]; }
    if (ns == 3 && dgamma_d) { dgamma_d[c] = (float)s[2]; dbeta_d[c] = (float)s[0]; }
    if (coef) {
        double is = invstd[c], A = (double)gamma[c] * is;
        double B = -A * is * s[1] / Mtot;
        double Cc = -A * s[0] / Mtot - B * (double)mean[c];
        coef[c] = (float)A;
        coef[C + c] = (float)B;
        coef[2 * C + c] = (float)Cc;
    }
    if (ns == 3 && coef_d) {
        double is = invstd_d[c], A = (double)gamma_d[c] * is;
        double B = -A * is * s[2] / Mtot;
        double Cc = -A * s[0] / Mtot - B * (double)mean_d[c];
        coef_d[c] = (float)A;
        coef_d[C + c] = (float)B;
        coef_d[2 * C + c] = (float)Cc;
    }
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

/* ---- typed launchers ------------------------------------------------------------------------------- */
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
void bwd_reduce_l(cudaStream_t s, float *parts, long M, int C, const void *dyA, const void *dyB, const void *y,
                  const void *x, const float *mean, const float *invstd, const void *xd, const float *mean_d,
                  const float *invstd_d, int *np) {
    if (xd) {
        BwdReduceF<T, V, 3> f;
        f.dyA = (const T *)dyA; f.dyB = (const T *)dyB; f.y = (const T *)y; f.x = (const T *)x; f.xd = (const T *)xd;
        f.mean = mean; f.invstd = invstd; f.mean_d = mean_d; f.invstd_d = invstd_d; f.C = C;
        *np = launch_reduce(s, f, M, C, parts);
    } else {
        BwdReduceF<T, V, 2> f;
        f.dyA = (const T *)dyA; f.dyB = (const T *)dyB; f.y = (const T *)y; f.x = (const T *)x; f.xd = NULL;
        f.mean = mean; f.invstd = invstd; f.mean_d = NULL; f.invstd_d = NULL; f.C = C;
        *np = launch_reduce(s, f, M, C, parts);
    }
}

template <typename T, int V>
void bwd_apply_l(cudaStream_t s, long M, int C, const void *dyA, const void *dyB, const void *y, const void *x,
                 const float *coef, void *dx, void *dz_out, const void *xd, const float *coef_d, void *dxd) {
#define BWD_CASE(Z, D) do { BwdApplyF<T, V, Z, D> f; f.dyA = (const T *)dyA; f.dyB = (const T *)dyB; f.y = (const T *)y; \
        f.x = (const T *)x; f.xd = (const T *)xd; f.dx = (T *)dx; f.dz_out = (T *)dz_out; f.dxd = (T *)dxd; \
        f.coef = coef; f.coef_d = coef_d; f.C = C; launch_apply(s, f, M, C); } while (0)
    if (xd) { if (dz_out) BWD_CASE(1, 1); else BWD_CASE(0, 1); }
    else { if (dz_out) BWD_CASE(1, 0); else BWD_CASE(0, 0); }
#undef BWD_CASE
}

template <typename T, int V>
void maxpool_l(cudaStream_t s, void *out, uint8_t *am, const void *x, int n, int H, int W, int C, int Ho, int Wo,
               const float *scale, const float *shift) {
    size_t total = (size_t)n * Ho * Wo * (C / V);
    bn_relu_maxpool_kernel<T, V><<<cu_blocks(total, 256, 65535u * 16), 256, 0, s>>>((T *)out, am, (const T *)x, scale,
                                                                                     shift, n, H, W, C, Ho, Wo);
    KERNEL_CHECK();
}

template <typename T, int V>
StemGrad<T, V> stem_grad(int H, int W, int C, int Ho, int Wo, const void *dpA, const void *dpB, const uint8_t *am,
                         const void *x, const float *scale, const float *shift) {
    StemGrad<T, V> g;
    g.dpA = (const T *)dpA; g.dpB = (const T *)dpB; g.x = (const T *)x; g.am = am;
    g.scale = scale; g.shift = shift; g.H = H; g.W = W; g.C = C; g.Ho = Ho; g.Wo = Wo;
    return g;
}

template <typename T, int V>
void stem_reduce_l(cudaStream_t s, float *parts, int n, int H, int W, int C, int Ho, int Wo, const void *dpA,
                   const void *dpB, const uint8_t *am, const void *x, const float *scale, const float *shift,
                   const float *mean, const float *invstd, int *np) {
    StemReduceF<T, V> f;
    f.sg = stem_grad<T, V>(H, W, C, Ho, Wo, dpA, dpB, am, x, scale, shift);
    f.mean = mean;
    f.invstd = invstd;
    *np = launch_reduce(s, f, (long)n * H * W, C, parts);
}

template <typename T, int V>
void stem_apply_l(cudaStream_t s, void *dx, int n, int H, int W, int C, int Ho, int Wo, const void *dpA,
                  const void *dpB, const uint8_t *am, const void *x, const float *scale, const float *shift,
                  const float *coef) {
    StemApplyF<T, V> f;
    f.sg = stem_grad<T, V>(H, W, C, Ho, Wo, dpA, dpB, am, x, scale, shift);
    f.coef = coef;
    f.dx = (T *)dx;
    launch_apply(s, f, (long)n * H * W, C);
}

} /* namespace */

/* ---- public API -------------------------------------------------------------------------------------- */
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

int cuk_bn_bwd_reduce(cudaStream_t s, float *parts, int is_bf16, long M, int C, const void *dyA, const void *dyB,
                      const void *y, const void *x, const float *mean, const float *invstd, const void *xd,
                      const float *mean_d, const float *invstd_d) {
    int np = 0;
    CU_DISPATCH_TV(is_bf16, cu_vec_width(C, is_bf16), bwd_reduce_l, s, parts, M, C, dyA, dyB, y, x, mean, invstd, xd,
                   mean_d, invstd_d, &np);
    return np;
}

void cuk_bn_bwd_finalize(cudaStream_t s, const float *parts, int nparts, int ns, int C, double Mtot,
                         const float *gamma, const float *mean, const float *invstd, const float *gamma_d,
                         const float *mean_d, const float *invstd_d, float *dgamma, float *dbeta, float *dgamma_d,
                         float *dbeta_d, float *coef, float *coef_d, float *sums_out) {
    bn_bwd_finalize_kernel<<<(C + 31) / 32, dim3(32, 32), 0, s>>>(parts, nparts, ns, C, Mtot, gamma, mean, invstd,
                                                                  gamma_d, mean_d, invstd_d, dgamma, dbeta, dgamma_d,
                                                                  dbeta_d, coef, coef_d, sums_out);
    KERNEL_CHECK();
}

void cuk_bn_bwd_apply(cudaStream_t s, int is_bf16, long M, int C, const void *dyA, const void *dyB, const void *y,
                      const void *x, const float *coef, void *dx, void *dz_out, const void *xd, const float *coef_d,
                      void *dxd) {
    CU_DISPATCH_TV(is_bf16, cu_vec_width(C, is_bf16), bwd_apply_l, s, M, C, dyA, dyB, y, x, coef, dx, dz_out, xd, coef_d,
                   dxd);
}

int cuk_stem_bwd_reduce(cudaStream_t s, float *parts, int is_bf16, int n, int H, int W, int C, int Ho, int Wo,
                        const void *dpA, const void *dpB, const uint8_t *argmax, const void *x, const float *scale,
                        const float *shift, const float *mean, const float *invstd) {
    int np = 0;
    CU_DISPATCH_TV(is_bf16, cu_vec_width(C, is_bf16), stem_reduce_l, s, parts, n, H, W, C, Ho, Wo, dpA, dpB, argmax, x,
                   scale, shift, mean, invstd, &np);
    return np;
}

void cuk_stem_bwd_apply(cudaStream_t s, void *dx, int is_bf16, int n, int H, int W, int C, int Ho, int Wo,
                        const void *dpA, const void *dpB, const uint8_t *argmax, const void *x, const float *scale,
                        const float *shift, const float *coef) {
    CU_DISPATCH_TV(is_bf16, cu_vec_width(C, is_bf16), stem_apply_l, s, dx, n, H, W, C, Ho, Wo, dpA, dpB, argmax, x,
                   scale, shift, coef);
}
