/* comm_nccl.cu: NCCL device collectives for data-parallel training on GPUs, see comm.h.
 * Built only with CUDA and NCCL (the Makefile drops *_nccl.cu otherwise).
 *
 * Bootstrap: every rank selects its GPU (cudaSetDevice), rank 0 creates an ncclUniqueId, the id is
 * broadcast over MPI (comm_mpi_bcast_bytes) and every rank joins with ncclCommInitRank. One rank
 * (no MPI) gets a one-rank NCCL communicator, so the code path is the same.
 * Host collectives forward to the MPI communicator; the device ones are ncclAllReduce (sum) and
 * ncclAllGather on float32 buffers, enqueued on the caller's stream (cudaStream_t passed as void*).
 * Allgather accepts send == recv + rank*n (NCCL's in-place form).
 */
#include "comm.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct {
    Comm *host;
    ncclComm_t nc;
    int device;
} NcclImpl;

static void nccl_check(ncclResult_t r, const char *what) {
    if (r != ncclSuccess) die(EXIT_RUNTIME, "NCCL %s failed: %s", what, ncclGetErrorString(r));
}
static void cuda_check(cudaError_t r, const char *what) {
    if (r != cudaSuccess) die(EXIT_RUNTIME, "CUDA %s failed: %s", what, cudaGetErrorString(r));
}

static NcclImpl *impl(Comm *c) { return (NcclImpl *)c->impl; }

static void h_allreduce(Comm *c, float *buf, size_t n) {
    Comm *h = impl(c)->host;
    h->allreduce_sum(h, buf, n);
}
static void h_allgather(Comm *c, const float *send, float *recv, size_t n) {
    Comm *h = impl(c)->host;
    h->allgather(h, send, recv, n);
}
static void d_allreduce(Comm *c, float *buf, size_t n, void *stream) {
    nccl_check(ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, impl(c)->nc, (cudaStream_t)stream), "allreduce");
}
static void d_allgather(Comm *c, const float *send, float *recv, size_t n, void *stream) {
    nccl_check(ncclAllGather(send, recv, n, ncclFloat, impl(c)->nc, (cudaStream_t)stream), "allgather");
}
static void h_barrier(Comm *c) {
    Comm *h = impl(c)->host;
    h->barrier(h);
}
static void nccl_finalize(Comm *c) {
    NcclImpl *p = impl(c);
    if (p->nc) ncclCommDestroy(p->nc);
    p->nc = NULL;
    p->host->finalize(p->host);
}

Comm *comm_nccl_create(Comm *mpi, int cuda_device) {
    if (!mpi) mpi = comm_single();
    cuda_check(cudaSetDevice(cuda_device), "set device");
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (mpi->rank == 0) nccl_check(ncclGetUniqueId(&id), "get unique id");
#if TDANN_MPI
    if (mpi->size > 1) comm_mpi_bcast_bytes(mpi, &id, sizeof id);
#else
    if (mpi->size > 1) die(EXIT_USAGE, "NCCL needs MPI to bootstrap %d ranks, and this build has no MPI", mpi->size);
#endif
    NcclImpl *p = (NcclImpl *)xcalloc(1, sizeof *p);
    p->host = mpi;
    p->device = cuda_device;
    nccl_check(ncclCommInitRank(&p->nc, mpi->size, id, mpi->rank), "init rank");
    Comm *c = (Comm *)xcalloc(1, sizeof *c);
    c->rank = mpi->rank;
    c->size = mpi->size;
    c->allreduce_sum = h_allreduce;
    c->allgather = h_allgather;
    c->allreduce_sum_dev = d_allreduce;
    c->allgather_dev = d_allgather;
    c->barrier = h_barrier;
    c->finalize = nccl_finalize;
    c->impl = p;
    return c;
}
