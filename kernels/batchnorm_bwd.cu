/* batchnorm_bwd.cu: batch norm backward on NHWC tensors (reduce, finalize, apply), fused with the
 * ReLU mask, the residual/downsample branch, and (for the stem) the max-pool backward. See
 * batchnorm.cu for the work layout and cuda_kernels.h for the API. */
#include "bn_rows.cuh"

namespace {

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

/* ---- public API (backward) ---------------------------------------------------------------------------- */
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

