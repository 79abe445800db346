/* cpu_util.c: OpenBLAS thread setting and per-thread scratch buffers of the CPU kernels.
 * See cpu_util.h. */
#include "cpu_util.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "error.h"

/* Process environment for the CPU kernels, fixed before main() by re-executing the program once
 * (both settings are read only when the libraries are loaded):
 * - OPENBLAS_CORETYPE: OpenBLAS picks its kernels from the CPU model number. Debian 12's 0.3.21
 *   does not know recent Intel models (e.g. family 6 model 207, Emerald Rapids) and falls back to
 *   its generic "Prescott" SSE3 kernels, which made a training step 3-5x slower; then SkylakeX
 *   (AVX-512) or Haswell (AVX2 + FMA) is chosen from the CPU's features.
 * - OMP_WAIT_POLICY=PASSIVE unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set: libgomp's default
 *   spinning at the end of every parallel region made a training step 3x slower on a shared
 *   machine (threads spin while the core they wait for runs another process); passive waiting
 *   costs a few microseconds per region on an idle machine.
 * TDANN_NO_REEXEC=1 leaves the environment alone; if the re-exec fails the program just goes on. */
__attribute__((constructor)) static void kcpu_environment(void) {
    if (getenv("TDANN_NO_REEXEC")) return;
    int change = 0;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        change = 1;
    }
    const char *core = openblas_get_corename();
    if (!getenv("OPENBLAS_CORETYPE") && core && strcasecmp(core, "prescott") == 0) {
        __builtin_cpu_init();
        const char *want = NULL;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq"))
            want = "SkylakeX";
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            want = "Haswell";
        if (want) {
            setenv("OPENBLAS_CORETYPE", want, 1);
            change = 1;
        }
    }
    if (!change) return;
    setenv("TDANN_NO_REEXEC", "1", 1); /* once: the new image keeps whatever it got */
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    int complete = feof(f);
    fclose(f);
    if (!complete || len == 0) return;
    buf[len] = 0;
    static char *args[4096];
    int argc = 0;
    for (size_t i = 0; i < len && argc < 4095; i += strlen(buf + i) + 1) args[argc++] = buf + i;
    args[argc] = NULL;
    execv("/proc/self/exe", args);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void init_blas(void) { openblas_set_num_threads(1); }
void kcpu_init(void) { pthread_once(&init_once, init_blas); }

int kcpu_threads(void) { return omp_get_max_threads(); }

const char *kcpu_blas_core(void) { return openblas_get_corename(); }

static __thread float *scratch[KCPU_SLOTS];
static __thread size_t scratch_cap[KCPU_SLOTS];

float *kcpu_scratch(int slot, size_t n) {
    if (slot < 0 || slot >= KCPU_SLOTS) die(EXIT_RUNTIME, "internal: scratch slot %d", slot);
    if (n > scratch_cap[slot]) {
        free(scratch[slot]);
        size_t cap = n + n / 4 + 64;
        void *p = NULL;
        if (posix_memalign(&p, 64, cap * sizeof(float)) != 0) die(EXIT_RUNTIME, "out of memory (%zu MB of scratch)", cap * sizeof(float) >> 20);
        scratch[slot] = p;
        scratch_cap[slot] = cap;
    }
    return scratch[slot];
}
