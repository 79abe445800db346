/* comm_mpi.c: the Open MPI communicator (host buffers), see comm.h. Built only when MPI is found
 * (the Makefile drops *_mpi.c otherwise); everything here is under TDANN_MPI.
 *
 * Collectives are on MPI_COMM_WORLD with MPI_FLOAT and MPI_SUM; counts above INT_MAX are split into
 * chunks. allgather(send, recv, n): recv[r*n .. (r+1)*n) = rank r's send; send may alias
 * recv + rank*n (MPI_IN_PLACE). MPI is initialised with MPI_THREAD_FUNNELED (only the main thread
 * calls MPI; OpenMP threads never do).
 */
#include "comm.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "error.h"

#if TDANN_MPI
#include <mpi.h>

#define CHUNK ((size_t)1 << 30)

static void check(int rc, const char *what) {
    if (rc != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        die(EXIT_RUNTIME, "MPI %s failed: %s", what, msg);
    }
}

static void mpi_allreduce(Comm *c, float *buf, size_t n) {
    (void)c;
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        check(MPI_Allreduce(MPI_IN_PLACE, buf + i, (int)m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "allreduce");
    }
}

static void mpi_allgather(Comm *c, const float *send, float *recv, size_t n) {
    if (n > (size_t)INT_MAX) die(EXIT_RUNTIME, "internal: MPI allgather of %zu floats per rank (at most %d)", n, INT_MAX);
    if (send == recv + (size_t)c->rank * n)
        check(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, (int)n, MPI_FLOAT, MPI_COMM_WORLD), "allgather");
    else
        check(MPI_Allgather(send, (int)n, MPI_FLOAT, recv, (int)n, MPI_FLOAT, MPI_COMM_WORLD), "allgather");
}

static void mpi_barrier(Comm *c) {
    (void)c;
    check(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}

static void mpi_finalize(Comm *c) {
    (void)c;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

Comm *comm_mpi_create(int *argc, char ***argv) {
    static Comm c;
    int init = 0, provided = 0;
    MPI_Initialized(&init);
    if (!init) check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "init");
    /* errors come back as return codes, reported by check() */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &c.rank), "comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &c.size), "comm_size");
    c.allreduce_sum = mpi_allreduce;
    c.allgather = mpi_allgather;
    c.allreduce_sum_dev = NULL;
    c.allgather_dev = NULL;
    c.barrier = mpi_barrier;
    c.finalize = mpi_finalize;
    c.impl = NULL;
    return &c;
}

void comm_mpi_bcast_bytes(Comm *c, void *buf, size_t n) {
    if (!c || c->size <= 1) return;
    if (n > (size_t)INT_MAX) die(EXIT_RUNTIME, "internal: MPI broadcast of %zu bytes", n);
    check(MPI_Bcast(buf, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD), "bcast");
}
#endif
