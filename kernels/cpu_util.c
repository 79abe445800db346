/* cpu_util.c: OpenBLAS thread setting and per-thread scratch buffers of the CPU kernels.
 * See cpu_util.h. */
#include "cpu_util.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

#include "error.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void init_blas(void) { openblas_set_num_threads(1); }
void kcpu_init(void) { pthread_once(&init_once, init_blas); }

int kcpu_threads(void) { return omp_get_max_threads(); }

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
