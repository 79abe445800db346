/* test_comm_nccl.cu: NCCL device collectives (comm_nccl.cu). SKIPs without a CUDA device.
 * Started directly it builds a one-rank NCCL communicator (the same bootstrap code path) and checks
 * allreduce and allgather on device buffers. Under `mpirun -np K run-tests comm_nccl` (K GPUs,
 * one per rank by local rank) it checks the K-rank sums and the gather order: the multi-GPU check
 * the lead runs on a machine with several GPUs. */
#include <cuda_runtime.h>
#include <stdlib.h>

#include "comm.h"
extern "C" {
#include "device.h" /* a C header without C++ guards */
}
#include "test.h"

TEST(comm_nccl_collectives) {
    int ndev = cuda_device_count();
    if (ndev == 0) SKIP("no CUDA device");
    int nl = comm_launch_size();
    if (nl > ndev) SKIP("fewer GPUs than ranks");
    Comm *mpi = comm_world(NULL, NULL);
    Comm *c = comm_nccl_create(mpi, comm_launch_local_rank() % ndev);
    REQUIRE(c->allreduce_sum_dev && c->allgather_dev);
    const int n = 1000, K = c->size, r = c->rank;
    float *h = (float *)malloc(sizeof(float) * (size_t)n * K), *d, *g;
    for (int i = 0; i < n; i++) h[i] = (float)(i % 17) + 0.25f * (float)r;
    REQUIRE(cudaMalloc(&d, sizeof(float) * n) == cudaSuccess);
    REQUIRE(cudaMalloc(&g, sizeof(float) * (size_t)n * K) == cudaSuccess);
    cudaStream_t s;
    cudaStreamCreate(&s);
    cudaMemcpy(d, h, sizeof(float) * n, cudaMemcpyHostToDevice);
    c->allgather_dev(c, d, g, n, s);
    c->allreduce_sum_dev(c, d, n, s);
    REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
    cudaMemcpy(h, d, sizeof(float) * n, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float want = (float)K * (float)(i % 17) + 0.25f * (float)(K * (K - 1) / 2);
        bad += h[i] != want;
    }
    CHECK_EQ_INT(bad, 0);
    cudaMemcpy(h, g, sizeof(float) * (size_t)n * K, cudaMemcpyDeviceToHost);
    bad = 0;
    for (int q = 0; q < K; q++)
        for (int i = 0; i < n; i++) bad += h[(size_t)q * n + i] != (float)(i % 17) + 0.25f * (float)q;
    CHECK_EQ_INT(bad, 0);
    /* host collectives go through MPI */
    float one = 1;
    c->allreduce_sum(c, &one, 1);
    CHECK(one == (float)K);
    cudaFree(d);
    cudaFree(g);
    cudaStreamDestroy(s);
    free(h);
    c->finalize(c);
}
