/* cpu_util.h: shared plumbing of the CPU kernels (not an op).
 *
 * Threading: the CPU kernels parallelise with OpenMP themselves (over images, channels or rows) and
 * call OpenBLAS from inside those parallel regions, so OpenBLAS must run single-threaded;
 * kcpu_init() sets that once (idempotent, thread-safe) and every kernel that calls BLAS calls it.
 * Scratch: kcpu_scratch(slot, n) returns a per-thread buffer of at least n floats that grows and is
 * reused (slots 0..KCPU_SLOTS-1 are independent buffers of the calling thread); its contents are
 * undefined on return.
 * Environment: a program that links the CPU kernels re-executes itself once at start to set
 * OMP_WAIT_POLICY=PASSIVE (unless set) and, where OpenBLAS 0.3.21 fails to recognise the CPU,
 * OPENBLAS_CORETYPE; see cpu_util.c. TDANN_NO_REEXEC=1 disables that.
 */
#ifndef TDANN_CPU_UTIL_H
#define TDANN_CPU_UTIL_H

#include <stddef.h>

#define KCPU_SLOTS 6

void kcpu_init(void);
float *kcpu_scratch(int slot, size_t n);
int kcpu_threads(void); /* omp_get_max_threads() */
const char *kcpu_blas_core(void); /* OpenBLAS kernel family in use, e.g. "SkylakeX" */

#endif
