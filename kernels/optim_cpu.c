/* optim_cpu.c: CPU reference of optim.h. */
#include "optim.h"

#include <math.h>

void sgd_step_cpu(size_t n, float *p, const float *g, float *buf, float lr, float momentum, float wd, int nesterov) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        float b = momentum * buf[i] + d;
        buf[i] = b;
        p[i] -= lr * (nesterov ? d + momentum * b : b);
    }
}

double cosine_lr(double base, int64_t step, int64_t total_steps) {
    if (total_steps <= 0) return base;
    if (step < 0) step = 0;
    if (step >= total_steps) return 0.0;
    return base * 0.5 * (1.0 + cos(M_PI * (double)step / (double)total_steps));
}
