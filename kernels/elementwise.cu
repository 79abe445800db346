/* elementwise.cu: input normalisation, global average pool, casts, layout conversion for reading
 * layers out, the head's bias/ReLU helpers, column sums, random fills, and row-major GEMM through
 * cuBLAS. See cuda_kernels.h. */
#include "cuda_kernels.h"

extern "C" {
#include "rng.h"
}

namespace {

const unsigned GRID_CAP = 65535u * 32;

template <typename T, int CP>
__global__ void normalize_input_kernel(T *out, const uint8_t *img, size_t npix) {
    const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    for (size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x; p < npix; p += (size_t)gridDim.x * blockDim.x) {
        float v[CP];
#pragma unroll
        for (int c = 0; c < CP; c++) v[c] = 0.f;
#pragma unroll
        for (int c = 0; c < 3; c++) v[c] = ((float)img[p * 3 + c] / 255.0f - mean[c]) / stdv[c];
        store_vec<T, CP>(out + p * CP, v);
    }
}

template <typename T> __global__ void avgpool_fwd_kernel(float *feat, const T *y, int n, int HW, int C) {
    size_t total = (size_t)n * C;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t img = i / C;
        int c = (int)(i - img * C);
        const T *p = y + img * HW * C + c;
        float s = 0.f;
        for (int k = 0; k < HW; k++) s += to_f(p[(size_t)k * C]);
        feat[i] = s / (float)HW;
    }
}

template <typename T> __global__ void avgpool_bwd_kernel(T *dy, const float *dfeat, int n, int HW, int C) {
    size_t total = (size_t)n * HW * C;
    float inv = 1.0f / (float)HW;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t img = i / ((size_t)HW * C);
        int c = (int)(i % C);
        dy[i] = from_f<T>(dfeat[img * C + c] * inv);
    }
}

__global__ void f32_to_bf16_kernel(bf16 *out, const float *in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16_rn(in[i]);
}
__global__ void bf16_to_f32_kernel(float *out, const bf16 *in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __bfloat162float(in[i]);
}

template <typename T> __global__ void nhwc_to_nchw_kernel(float *out, const T *in, int nr, int HW, int C) {
    size_t total = (size_t)nr * HW * C;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        size_t r = o / ((size_t)HW * C);
        size_t rem = o - r * HW * C;
        int c = (int)(rem / HW), hw = (int)(rem % HW);
        out[o] = to_f(in[(r * HW + hw) * C + c]);
    }
}

__global__ void bias_act_kernel(float *y, const float *b, int rows, int cols, int relu) {
    size_t total = (size_t)rows * cols;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        float v = y[i] + b[i % cols];
        if (relu) v = v > 0.f ? v : 0.f;
        y[i] = v;
    }
}

__global__ void relu_mask_kernel(float *dy, const float *y, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dy[i] = y[i] > 0.f ? dy[i] : 0.f;
}

__global__ void add_kernel(float *y, const float *x, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] += x[i];
}

/* block (32 columns, 8 row groups): each thread adds its rows in order (double), then the 8 groups
 * are added in a fixed order: deterministic */
__global__ void colsum_kernel(float *out, const float *x, int rows, int cols) {
    __shared__ double sh[8][32];
    int c = blockIdx.x * 32 + threadIdx.x;
    double s = 0.0;
    if (c < cols)
#pragma unroll 4
        for (int r = threadIdx.y; r < rows; r += 8) s += (double)x[(size_t)r * cols + c];
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        double t = 0.0;
        for (int k = 0; k < 8; k++) t += sh[k][threadIdx.x];
        out[c] = (float)t;
    }
}

template <typename T> __global__ void fill_uniform_kernel(T *x, size_t n, uint64_t seed, float lo, float hi) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = from_f<T>(lo + (hi - lo) * philox_uniform_at(seed, 0x5eed, i));
}

template <typename T>
void normalize_l(cudaStream_t s, void *out, int cpad, const uint8_t *img, size_t npix) {
    unsigned g = cu_blocks(npix, 256, GRID_CAP);
    if (cpad == 8) normalize_input_kernel<T, 8><<<g, 256, 0, s>>>((T *)out, img, npix);
    else if (cpad == 4) normalize_input_kernel<T, 4><<<g, 256, 0, s>>>((T *)out, img, npix);
    else die(EXIT_RUNTIME, "internal: input channel padding %d (4 or 8)", cpad);
    KERNEL_CHECK();
}

} /* namespace */

void cuk_normalize_input(cudaStream_t s, void *out, int is_bf16, int cpad, const uint8_t *img, size_t npix) {
    if (is_bf16) normalize_l<bf16>(s, out, cpad, img, npix);
    else normalize_l<float>(s, out, cpad, img, npix);
}

void cuk_avgpool_fwd(cudaStream_t s, float *feat, const void *y, int is_bf16, int n, int HW, int C) {
    unsigned g = cu_blocks((size_t)n * C, 256, GRID_CAP);
    if (is_bf16) avgpool_fwd_kernel<bf16><<<g, 256, 0, s>>>(feat, (const bf16 *)y, n, HW, C);
    else avgpool_fwd_kernel<float><<<g, 256, 0, s>>>(feat, (const float *)y, n, HW, C);
    KERNEL_CHECK();
}

void cuk_avgpool_bwd(cudaStream_t s, void *dy, const float *dfeat, int is_bf16, int n, int HW, int C) {
    unsigned g = cu_blocks((size_t)n * HW * C, 256, GRID_CAP);
    if (is_bf16) avgpool_bwd_kernel<bf16><<<g, 256, 0, s>>>((bf16 *)dy, dfeat, n, HW, C);
    else avgpool_bwd_kernel<float><<<g, 256, 0, s>>>((float *)dy, dfeat, n, HW, C);
    KERNEL_CHECK();
}

void cuk_f32_to_bf16(cudaStream_t s, bf16 *out, const float *in, size_t n) {
    if (!n) return;
    f32_to_bf16_kernel<<<cu_blocks(n, 256, GRID_CAP), 256, 0, s>>>(out, in, n);
    KERNEL_CHECK();
}

void cuk_bf16_to_f32(cudaStream_t s, float *out, const bf16 *in, size_t n) {
    if (!n) return;
    bf16_to_f32_kernel<<<cu_blocks(n, 256, GRID_CAP), 256, 0, s>>>(out, in, n);
    KERNEL_CHECK();
}

void cuk_nhwc_to_nchw(cudaStream_t s, float *out, const void *in, int is_bf16, int nr, int HW, int C) {
    unsigned g = cu_blocks((size_t)nr * HW * C, 256, GRID_CAP);
    if (is_bf16) nhwc_to_nchw_kernel<bf16><<<g, 256, 0, s>>>(out, (const bf16 *)in, nr, HW, C);
    else nhwc_to_nchw_kernel<float><<<g, 256, 0, s>>>(out, (const float *)in, nr, HW, C);
    KERNEL_CHECK();
}

void cuk_bias_act(cudaStream_t s, float *y, const float *b, int rows, int cols, int relu) {
    bias_act_kernel<<<cu_blocks((size_t)rows * cols, 256, GRID_CAP), 256, 0, s>>>(y, b, rows, cols, relu);
    KERNEL_CHECK();
}

void cuk_relu_mask(cudaStream_t s, float *dy, const float *y, size_t n) {
    relu_mask_kernel<<<cu_blocks(n, 256, GRID_CAP), 256, 0, s>>>(dy, y, n);
    KERNEL_CHECK();
}

void cuk_add_f32(cudaStream_t s, float *y, const float *x, size_t n) {
    add_kernel<<<cu_blocks(n, 256, GRID_CAP), 256, 0, s>>>(y, x, n);
    KERNEL_CHECK();
}

void cuk_colsum(cudaStream_t s, float *out, const float *x, int rows, int cols) {
    colsum_kernel<<<(cols + 31) / 32, dim3(32, 8), 0, s>>>(out, x, rows, cols);
    KERNEL_CHECK();
}

void cuk_fill_uniform(cudaStream_t s, void *x, int is_bf16, size_t n, uint64_t seed, float lo, float hi) {
    if (!n) return;
    unsigned g = cu_blocks(n, 256, GRID_CAP);
    if (is_bf16) fill_uniform_kernel<bf16><<<g, 256, 0, s>>>((bf16 *)x, n, seed, lo, hi);
    else fill_uniform_kernel<float><<<g, 256, 0, s>>>((float *)x, n, seed, lo, hi);
    KERNEL_CHECK();
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets B first. A stored
 * row-major is its transpose in column-major: leading dimension = its stored column count. */
void cuk_gemm(cublasHandle_t h, int transA, int transB, int M, int N, int K, float alpha, const float *A,
              const float *B, float beta, float *C) {
    int lda = transA ? M : K, ldb = transB ? K : N;
    CUBLAS_CHECK(cublasSgemm(h, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha,
                             B, ldb, A, lda, &beta, C, N));
}

void cuk_gemm_batched(cublasHandle_t h, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                      long long strideA, const float *B, long long strideB, float beta, float *C, long long strideC,
                      int batch) {
    int lda = transA ? M : K, ldb = transB ? K : N;
    CUBLAS_CHECK(cublasSgemmStridedBatched(h, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N,
                                           M, K, &alpha, B, ldb, strideB, A, lda, strideA, &beta, C, N, strideC, batch));
}
