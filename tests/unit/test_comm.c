/* test_comm.c: the communicators of comm.h. The one-rank communicator is the identity; the MPI one
 * (built when Open MPI is found) is tested by re-running this test binary under
 * `mpirun -np 2` (SKIP when mpirun is missing): each rank checks allreduce sums, allgather order
 * (also in place) and the byte broadcast. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "comm.h"
#include "test.h"

TEST(comm_single_identity) {
    Comm *c = comm_single();
    CHECK_EQ_INT(c->rank, 0);
    CHECK_EQ_INT(c->size, 1);
    float a[3] = {1, 2, 3}, g[3] = {0};
    c->allreduce_sum(c, a, 3);
    CHECK(a[0] == 1 && a[1] == 2 && a[2] == 3);
    c->allgather(c, a, g, 3);
    CHECK(g[0] == 1 && g[1] == 2 && g[2] == 3);
    c->barrier(c);
}

TEST(comm_launch_environment) {
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "3", 1);
    CHECK_EQ_INT(comm_launch_size(), 4);
    CHECK_EQ_INT(comm_launch_local_rank(), 3);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    unsetenv("PMI_SIZE");
    unsetenv("SLURM_STEP_ID");
    CHECK_EQ_INT(comm_launch_size(), 1);
    CHECK_EQ_INT(comm_launch_local_rank(), 0);
    CHECK(comm_world(NULL, NULL) == comm_single());
}

#if TDANN_MPI
TEST(comm_mpi_two_ranks) {
    if (comm_launch_size() == 1) { /* outer run: relaunch this test under mpirun */
        if (t_sh("command -v mpirun >/dev/null 2>&1") != 0) SKIP("mpirun not found");
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        REQUIRE(n > 0);
        exe[n] = 0;
        int rc = t_sh("mpirun %s --oversubscribe -np 2 '%s' comm_mpi_two_ranks >'%s' 2>&1",
                      getuid() == 0 ? "--allow-run-as-root" : "", exe, t_path("mpi.log"));
        if (rc != 0) t_sh("cat '%s' >&2", t_path("mpi.log"));
        CHECK_EQ_INT(rc, 0);
        CHECK(t_sh("grep -q '1 passed, 0 failed' '%s'", t_path("mpi.log")) == 0);
        return;
    }
    Comm *c = comm_world(NULL, NULL);
    REQUIRE(c->size == 2);
    int r = c->rank;
    float a[4] = {1.0f + (float)r, 10.0f * (float)r, -1, 0.5f};
    c->allreduce_sum(c, a, 4);
    CHECK(a[0] == 3 && a[1] == 10 && a[2] == -2 && a[3] == 1);
    float s[2] = {(float)r, 100.0f + (float)r}, g[4] = {0};
    c->allgather(c, s, g, 2);
    CHECK(g[0] == 0 && g[1] == 100 && g[2] == 1 && g[3] == 101);
    float ip[4] = {-1, -1, -1, -1};
    ip[2 * r] = (float)(7 * r + 1);
    ip[2 * r + 1] = (float)(7 * r + 2);
    c->allgather(c, ip + 2 * r, ip, 2);
    CHECK(ip[0] == 1 && ip[1] == 2 && ip[2] == 8 && ip[3] == 9);
    char bytes[8] = {0};
    if (r == 0) memcpy(bytes, "philox!", 8);
    comm_mpi_bcast_bytes(c, bytes, 8);
    CHECK_STR(bytes, "philox!");
    c->barrier(c);
    c->finalize(c);
}
#endif
