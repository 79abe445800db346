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

#ifdef __cplusplus
extern "C" {
#endif

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

/* ---- launching (comm_launch.c) ------------------------------------------------------------------
 * comm_world(): the data-parallel communicator of this process. Under mpirun / srun with more than
 * one rank it is MPI's (comm_mpi_create); otherwise comm_single(). A multi-rank launch in a build
 * without MPI is an error (exit 2). comm_launch_size/comm_launch_local_rank read the launcher's
 * environment (OMPI_COMM_WORLD_*, PMIX_*, PMI_*, SLURM_*) without initialising MPI: 1 and 0 when
 * the process was started directly. */
Comm *comm_world(int *argc, char ***argv);
int comm_launch_size(void);
int comm_launch_local_rank(void);
int comm_launch_local_size(void); /* ranks on this node (1 when unknown) */

/* comm_mpi.c (only when Open MPI is found; TDANN_MPI): MPI_Init + MPI_COMM_WORLD. Host collectives
 * are MPI_Allreduce / MPI_Allgather on MPI_FLOAT; the device variants are NULL (use NCCL). */
Comm *comm_mpi_create(int *argc, char ***argv);
/* Broadcast of raw bytes from rank 0 (MPI_Bcast); a no-op for one rank. Used for bootstrapping. */
void comm_mpi_bcast_bytes(Comm *c, void *buf, size_t n);

/* comm_nccl.cu (only with CUDA and NCCL; TDANN_NCCL): device collectives on one GPU per rank,
 * bootstrapped through an MPI communicator (rank 0's ncclUniqueId is broadcast). Host variants
 * forward to the MPI communicator; device variants run ncclAllReduce / ncclAllGather on the given
 * stream. cuda_device is this rank's device index. */
Comm *comm_nccl_create(Comm *mpi, int cuda_device);

#ifdef __cplusplus
}
#endif

#endif
