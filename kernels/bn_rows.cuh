/* bn_rows.cuh: the "row kernel" framework shared by batchnorm.cu and batchnorm_bwd.cu (internal to
 * those two files; see batchnorm.cu for the layout). A tensor is [M rows][C channels] with
 * C = CG * V; a block of 256 threads covers cgb channel groups x rpi = 256 / cgb rows per iteration;
 * each thread keeps a fixed channel group and walks the rows of its block's chunk. Reductions
 * write one partial per block; sum_parts adds partials in a fixed order (double).
 */
#ifndef TDANN_BN_ROWS_CUH
#define TDANN_BN_ROWS_CUH

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

} /* namespace */

#endif
