/* comm.h: collectives between data-parallel ranks, as the engines and train-joint need them.
 * A NULL Comm* or comm_single() means one rank; comm_mpi.c (Open MPI, CPU buffers) and
 * comm_nccl.cu (NCCL on device buffers, bootstrapped through MPI) provide the real ones.
 *
 * All reductions are sums in float; callers divide. Host variants take host pointers; device
 * variants take device pointers and a cudaStream_t (as void*) and are NULL when unavailable.
 */
#ifndef TDANN_COMM_H
#define TDANN_COMM_H

#include <stddef.h>

typedef struct Comm Comm;
struct Comm {
    int rank, size;
    void (*allreduce_sum)(Comm *c, float *buf, size_t n);
    void (*allgather)(Comm *c, const float *send, float *recv, size_t n_per_rank);
    void (*allreduce_sum_dev)(Comm *c, float *buf, size_t n, void *stream);
    void (*allgather_dev)(Comm *c, const float *send, float *recv, size_t n_per_rank, void *stream);
    void (*barrier)(Comm *c);
    void (*finalize)(Comm *c);
    void *impl;
};

Comm *comm_single(void);

#endif
