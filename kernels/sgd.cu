/* sgd.cu: SGD with momentum, weight decay and optional Nesterov (PyTorch semantics, see engine.h)
 * as one pass over the flat parameter buffer. The hyper-parameters are read from device memory
 * (CudaSgdParams), so a captured CUDA graph picks up a new learning rate every step. */
#include "cuda_kernels.h"

namespace {

__global__ void sgd_kernel(float *p, float *mom, const float *g, size_t n, size_t n_decay, const CudaSgdParams *sp,
                           bf16 *shadow, size_t n_shadow) {
    const float lr = sp->lr, m = sp->momentum, wd = sp->weight_decay;
    const int nesterov = sp->nesterov;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float w = p[i];
        float gi = g[i];
        if (i < n_decay) gi = fmaf(wd, w, gi);
        float b = fmaf(m, mom[i], gi);
        mom[i] = b;
        w -= lr * (nesterov ? fmaf(m, b, gi) : b);
        p[i] = w;
        if (shadow && i < n_shadow) shadow[i] = __float2bfloat16_rn(w);
    }
}

} /* namespace */

void cuk_sgd(cudaStream_t s, float *p, float *mom, const float *g, size_t n, size_t n_decay, const CudaSgdParams *sp,
             bf16 *shadow, size_t n_shadow) {
    if (!n) return;
    sgd_kernel<<<cu_blocks(n, 256, 4 * 1024), 256, 0, s>>>(p, mom, g, n, n_decay, sp, shadow, n_shadow);
    KERNEL_CHECK();
}
