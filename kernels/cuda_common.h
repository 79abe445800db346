/* cuda_common.h: what every CUDA source of the toolkit includes first (the kernels
 * common/engine_cuda.cu, and the GPU tests). C++ only.
 *
 * - Includes the project's C headers with C linkage (error.h spells `_Noreturn`, which C++ lacks:
 *   it is mapped to the GNU attribute here, so this header must come before any project header).
 * - Checked calls: CUDA_CHECK, CUDNN_CHECK, CUBLAS_CHECK wrap every runtime/library call and
 *   KERNEL_CHECK() follows every launch. A failure dies (exit 1) with file:line, the call's text,
 *   the library's name, status number and error string (cuDNN adds its last detailed message).
 *   TDANN_SYNC_CHECK=1 in the environment adds a device synchronisation after each launch, so an
 *   asynchronous fault is reported at the launch that caused it.
 *   While a CUDA graph is being captured (cu_capture_begin/end), failures are recorded instead of
 *   fatal, so that the engine can fall back to running the step without a graph.
 * - Storage helpers for kernels templated on the element type T (float or __nv_bfloat16): to_f /
 *   from_f convert, load_vec / store_vec move V consecutive elements (V * sizeof(T) bytes, aligned
 *   to that size: 16 bytes for 8 bf16 or 4 floats, so the accesses are single 128-bit loads).
 */
#ifndef TDANN_CUDA_COMMON_H
#define TDANN_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

#ifndef _Noreturn
#define _Noreturn __attribute__((noreturn))
#endif
extern "C" {
#include "error.h"
}

typedef __nv_bfloat16 bf16;

/* ---- checked calls ---------------------------------------------------------------------------- */
void cu_fail(const char *file, int line, const char *expr, const char *lib, int code, const char *msg);
void cu_after_launch(const char *file, int line);

#define CUDA_CHECK(x) do { cudaError_t _e = (x); \
    if (_e != cudaSuccess) cu_fail(__FILE__, __LINE__, #x, "CUDA", (int)_e, cudaGetErrorString(_e)); } while (0)
#define CUDNN_CHECK(x) do { cudnnStatus_t _s = (x); \
    if (_s != CUDNN_STATUS_SUCCESS) cu_fail(__FILE__, __LINE__, #x, "cuDNN", (int)_s, cudnnGetErrorString(_s)); } while (0)
#define CUBLAS_CHECK(x) do { cublasStatus_t _s = (x); \
    if (_s != CUBLAS_STATUS_SUCCESS) cu_fail(__FILE__, __LINE__, #x, "cuBLAS", (int)_s, cublasGetStatusString(_s)); } while (0)
#define KERNEL_CHECK() cu_after_launch(__FILE__, __LINE__)

/* Graph capture: while active, failures are recorded (first one kept) instead of dying. */
void cu_capture_begin(void);
/* Ends the soft-failure mode; returns 0 if nothing failed, else 1 with the first failure in msg. */
int cu_capture_end(char *msg, size_t msg_len);
int cu_capturing(void);

/* ---- device helpers --------------------------------------------------------------------------- */
__host__ __device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float x) { return __float2bfloat16_rn(x); }

template <typename T, int V> struct alignas(sizeof(T) * V) Pack { T v[V]; };

template <typename T, int V> __device__ __forceinline__ void load_vec(const T *p, float (&o)[V]) {
    Pack<T, V> k = *reinterpret_cast<const Pack<T, V> *>(p);
#pragma unroll
    for (int i = 0; i < V; i++) o[i] = to_f(k.v[i]);
}
template <typename T, int V> __device__ __forceinline__ void store_vec(T *p, const float (&o)[V]) {
    Pack<T, V> k;
#pragma unroll
    for (int i = 0; i < V; i++) k.v[i] = from_f<T>(o[i]);
    *reinterpret_cast<Pack<T, V> *>(p) = k;
}

/* Largest vector width (elements) that divides C for a row-major [rows][C] tensor of T. */
static inline int cu_vec_width(int C, int is_bf16) {
    int maxv = is_bf16 ? 8 : 4;
    for (int v = maxv; v > 1; v /= 2) if (C % v == 0) return v;
    return 1;
}
static inline unsigned cu_blocks(size_t work, unsigned threads, unsigned cap) {
    size_t b = (work + threads - 1) / threads;
    if (b < 1) b = 1;
    return (unsigned)(b > cap ? cap : b);
}

/* Dispatches a template<typename T, int V> launcher on (is_bf16, V). */
#define CU_DISPATCH_TV(is_bf16, V, FN, ...) do { \
    if (is_bf16) { switch (V) { case 8: FN<bf16, 8>(__VA_ARGS__); break; case 4: FN<bf16, 4>(__VA_ARGS__); break; \
                                case 2: FN<bf16, 2>(__VA_ARGS__); break; default: FN<bf16, 1>(__VA_ARGS__); } } \
    else { switch (V) { case 4: FN<float, 4>(__VA_ARGS__); break; case 2: FN<float, 2>(__VA_ARGS__); break; \
                        default: FN<float, 1>(__VA_ARGS__); } } } while (0)

/* SM count of the current device (cached). */
int cu_sm_count(void);

#endif
