/* test_loader_pinned.cu: with a CUDA device, a loader created with pinned = 1 hands out batches in
 * page-locked host memory (cudaHostAlloc) holding the same bytes as a pageable loader, and a
 * borrowed batch copies to the device with cudaMemcpyAsync. SKIPs without a device. */
#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

/* common/error.h (via test.h) uses C11's _Noreturn, which C++ lacks */
#ifndef _Noreturn
#define _Noreturn [[noreturn]]
#endif

extern "C" {
#include "device.h"
#include "loader.h"
}
#include "test.h"

TEST(gpu_loader_pinned_batches) {
    if (cuda_device_count() == 0) SKIP("no CUDA device");
    DataConfig c;
    data_config_default(&c);
    c.procedural_count = 32;
    c.procedural_size = 40;
    c.threads = 2;
    const int S = 32, B = 8, V = 2;
    size_t bytes = (size_t)V * B * S * S * 3;
    Loader *pin = loader_create(&c, S, B, V, 0, 1, 3, 1), *page = loader_create(&c, S, B, V, 0, 1, 3, 0);
    uint8_t *ref = (uint8_t *)malloc(bytes), *back = (uint8_t *)malloc(bytes), *dev = NULL;
    REQUIRE(cudaMalloc((void **)&dev, bytes) == cudaSuccess);
    cudaStream_t st;
    REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
    for (int it = 0; it < 3; it++) {
        const uint8_t *b = loader_next_borrow(pin, NULL);
        loader_next(page, ref, NULL);
        cudaPointerAttributes a;
        REQUIRE(cudaPointerGetAttributes(&a, b) == cudaSuccess);
        CHECK_MSG(a.type == cudaMemoryTypeHost, "batch %d is not in page-locked host memory (type %d)", it, (int)a.type);
        CHECK(memcmp(b, ref, bytes) == 0);
        REQUIRE(cudaMemcpyAsync(dev, b, bytes, cudaMemcpyHostToDevice, st) == cudaSuccess);
        REQUIRE(cudaMemcpyAsync(back, dev, bytes, cudaMemcpyDeviceToHost, st) == cudaSuccess);
        REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
        CHECK(memcmp(back, ref, bytes) == 0);
    }
    cudaStreamDestroy(st);
    cudaFree(dev);
    loader_free(pin);
    loader_free(page);
    free(ref);
    free(back);
}
