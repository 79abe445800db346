/* ntxent.cu: the SimCLR NT-Xent pieces (L2 normalisation and its backward, row-wise softmax
 * cross-entropy over similarity rows with the diagonal excluded), the supervised cross-entropy rows,
 * and a deterministic sum. The similarity GEMMs are cuBLAS calls in the engine. See cuda_kernels.h.
 * All reductions use a fixed thread-to-element mapping and fixed-order trees: deterministic. */
#include "cuda_kernels.h"

#include <math.h>

namespace {

const float NORM_EPS = 1e-12f; /* torch.nn.functional.normalize */

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* block of 256 threads; result broadcast to all threads */
__device__ float block_sum(float v, float *sh) {
    v = warp_sum(v);
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    __syncthreads();
    if (l == 0) sh[w] = v;
    __syncthreads();
    float t = 0.f;
    for (int k = 0; k < (int)(blockDim.x / 32); k++) t += sh[k];
    return t;
}
__device__ float block_max(float v, float *sh) {
    v = warp_max(v);
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    __syncthreads();
    if (l == 0) sh[w] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int k = 0; k < (int)(blockDim.x / 32); k++) t = fmaxf(t, sh[k]);
    return t;
}

/* one warp per row */
__global__ void l2n_kernel(float *zn, float *norms, const float *z, int rows, int d) {
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, l = threadIdx.x % 32;
    if (r >= rows) return;
    const float *x = z + (size_t)r * d;
    float s = 0.f;
    for (int j = l; j < d; j += 32) s = fmaf(x[j], x[j], s);
    s = warp_sum(s);
    float nrm = sqrtf(s);
    float inv = 1.0f / fmaxf(nrm, NORM_EPS);
    for (int j = l; j < d; j += 32) zn[(size_t)r * d + j] = x[j] * inv;
    if (l == 0) norms[r] = nrm;
}

__global__ void l2n_bwd_kernel(float *dz, const float *dzn, const float *zn, const float *norms, int rows, int d) {
    int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, l = threadIdx.x % 32;
    if (r >= rows) return;
    const float *g = dzn + (size_t)r * d, *u = zn + (size_t)r * d;
    float nrm = norms[r];
    if (nrm > NORM_EPS) {
        float t = 0.f;
        for (int j = l; j < d; j += 32) t = fmaf(u[j], g[j], t);
        t = warp_sum(t);
        float inv = 1.0f / nrm;
        for (int j = l; j < d; j += 32) dz[(size_t)r * d + j] = (g[j] - u[j] * t) * inv;
    } else {
        for (int j = l; j < d; j += 32) dz[(size_t)r * d + j] = g[j] / NORM_EPS;
    }
}

/* one block (256 threads) per row */
__global__ void ntxent_rows_kernel(float *rowloss, float *dS, const float *S, int n, int ncols, int row0, float gscale) {
    __shared__ float sh[32];
    int i = blockIdx.x;
    const float *s = S + (size_t)i * ncols;
    int self = row0 + i, pos = row0 + (i + n / 2) % n;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < ncols; j += blockDim.x)
        if (j != self) mx = fmaxf(mx, s[j]);
    mx = block_max(mx, sh);
    float sum = 0.f;
    for (int j = threadIdx.x; j < ncols; j += blockDim.x)
        if (j != self) sum += expf(s[j] - mx);
    sum = block_sum(sum, sh);
    float inv = 1.0f / sum;
    if (threadIdx.x == 0) rowloss[i] = mx + logf(sum) - s[pos];
    for (int j = threadIdx.x; j < ncols; j += blockDim.x) {
        float g = 0.f;
        if (j != self) g = (expf(s[j] - mx) * inv - (j == pos ? 1.f : 0.f)) * gscale;
        dS[(size_t)i * ncols + j] = g;
    }
}

__global__ void softmax_ce_rows_kernel(float *rowloss, float *dl, const float *logits, const int32_t *labels, int n,
                                       int ncls, const float *gscale_dev) {
    __shared__ float sh[32];
    int i = blockIdx.x;
    const float *s = logits + (size_t)i * ncls;
    int lab = labels[i];
    float gscale = *gscale_dev;
    if (lab < 0 || lab >= ncls) {
        for (int j = threadIdx.x; j < ncls; j += blockDim.x) dl[(size_t)i * ncls + j] = 0.f;
        if (threadIdx.x == 0) rowloss[i] = 0.f;
        return;
    }
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < ncls; j += blockDim.x) mx = fmaxf(mx, s[j]);
    mx = block_max(mx, sh);
    float sum = 0.f;
    for (int j = threadIdx.x; j < ncls; j += blockDim.x) sum += expf(s[j] - mx);
    sum = block_sum(sum, sh);
    float inv = 1.0f / sum;
    if (threadIdx.x == 0) rowloss[i] = mx + logf(sum) - s[lab];
    for (int j = threadIdx.x; j < ncls; j += blockDim.x)
        dl[(size_t)i * ncls + j] = (expf(s[j] - mx) * inv - (j == lab ? 1.f : 0.f)) * gscale;
}

__global__ void sum_double_kernel(double *out, const float *x, int n, double scale) {
    __shared__ double sh[256];
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += (double)x[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) *out = sh[0] * scale;
}

} /* namespace */

void cuk_l2_normalize(cudaStream_t s, float *zn, float *norms, const float *z, int rows, int d) {
    l2n_kernel<<<(rows + 7) / 8, 256, 0, s>>>(zn, norms, z, rows, d);
    KERNEL_CHECK();
}

void cuk_l2_normalize_bwd(cudaStream_t s, float *dz, const float *dzn, const float *zn, const float *norms, int rows,
                          int d) {
    l2n_bwd_kernel<<<(rows + 7) / 8, 256, 0, s>>>(dz, dzn, zn, norms, rows, d);
    KERNEL_CHECK();
}

void cuk_ntxent_rows(cudaStream_t s, float *rowloss, float *dS, const float *S, int n, int ncols, int row0,
                     float gscale) {
    ntxent_rows_kernel<<<n, 256, 0, s>>>(rowloss, dS, S, n, ncols, row0, gscale);
    KERNEL_CHECK();
}

void cuk_softmax_ce_rows(cudaStream_t s, float *rowloss, float *dlogits, const float *logits, const int32_t *labels,
                         int n, int ncls, const float *gscale_dev) {
    softmax_ce_rows_kernel<<<n, 256, 0, s>>>(rowloss, dlogits, logits, labels, n, ncls, gscale_dev);
    KERNEL_CHECK();
}

void cuk_sum_to_double(cudaStream_t s, double *out, const float *x, int n, double scale) {
    sum_double_kernel<<<1, 256, 0, s>>>(out, x, n, scale);
    KERNEL_CHECK();
}
