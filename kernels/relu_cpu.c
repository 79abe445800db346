/* relu_cpu.c: CPU reference of relu.h. */
#include "relu.h"

void relu_forward_cpu(size_t n, const float *x, float *y) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

void relu_backward_cpu(size_t n, const float *y, const float *dy, float *dx) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0.0f;
}
