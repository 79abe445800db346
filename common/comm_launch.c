/* comm_launch.c: picks the communicator for this process from the launcher's environment, see
 * comm.h. mpirun (Open MPI) sets OMPI_COMM_WORLD_SIZE / _LOCAL_RANK; PMIx launchers PMIX_*; srun
 * SLURM_NTASKS / SLURM_LOCALID (only inside a step, SLURM_STEP_ID set); MPICH's PMI_SIZE. */
#include "comm.h"

#include <stdlib.h>

#include "error.h"

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return (*end || x < 0 || x > 1 << 24) ? dflt : (int)x;
}

int comm_launch_size(void) {
    int n = env_int("OMPI_COMM_WORLD_SIZE", 0);
    if (!n) n = env_int("PMI_SIZE", 0);
    if (!n && getenv("SLURM_STEP_ID")) n = env_int("SLURM_NTASKS", 0);
    return n > 0 ? n : 1;
}

int comm_launch_local_rank(void) {
    int r = env_int("OMPI_COMM_WORLD_LOCAL_RANK", -1);
    if (r < 0) r = env_int("MPI_LOCALRANKID", -1);
    if (r < 0 && getenv("SLURM_STEP_ID")) r = env_int("SLURM_LOCALID", -1);
    return r > 0 ? r : 0;
}

int comm_launch_local_size(void) {
    int n = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 0);
    if (!n) n = env_int("MPI_LOCALNRANKS", 0);
    const char *t = getenv("SLURM_STEP_TASKS_PER_NODE"); /* "2" or "2(x3)": leading number */
    if (!n && getenv("SLURM_STEP_ID") && t) n = atoi(t);
    return n > 0 ? n : 1;
}

Comm *comm_world(int *argc, char ***argv) {
    int n = comm_launch_size();
    if (n <= 1) return comm_single();
#if TDANN_MPI
    return comm_mpi_create(argc, argv);
#else
    (void)argc;
    (void)argv;
    die(EXIT_USAGE, "started as %d ranks, but this build has no MPI (install libopenmpi-dev and 'make reconfigure')", n);
#endif
}
