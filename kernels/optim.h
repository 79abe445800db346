/* optim.h: SGD with momentum (PyTorch torch.optim.SGD semantics, dampening 0) and the per-step
 * cosine learning-rate schedule.
 *
 * SGD on n contiguous float32 values (one parameter tensor or any slice of the parameter buffer):
 *   g' = g + wd * p                      (pass wd = 0 for tensors without decay: BN weight/bias)
 *   buf = momentum * buf + g'            (buf starts at 0, so the first step gives buf = g')
 *   p  -= lr * (nesterov ? g' + momentum * buf : buf)
 * g is not modified.
 * Cosine schedule: lr_t = base * 0.5 * (1 + cos(pi * t / T)) for 0 <= t <= T, 0 after T (t = the
 * step index, 0-based, T = total steps; T <= 0 means constant base).
 */
#ifndef TDANN_OPTIM_H
#define TDANN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

void sgd_step_cpu(size_t n, float *p, const float *g, float *buf, float lr, float momentum, float wd, int nesterov);
double cosine_lr(double base, int64_t step, int64_t total_steps);

#endif
