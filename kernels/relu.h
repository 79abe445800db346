/* relu.h: elementwise ReLU, forward and backward (used by the SimCLR head; the trunk's ReLUs are
 * fused into batchnorm.h). Any layout: n contiguous float32 values.
 * Backward follows PyTorch: dx = dy where y > 0, else 0 (y = the forward output).
 * Gradient convention: see conv2d.h. In-place calls (y == x, dx == dy) are allowed.
 */
#ifndef TDANN_RELU_H
#define TDANN_RELU_H

#include <stddef.h>

void relu_forward_cpu(size_t n, const float *x, float *y);
void relu_backward_cpu(size_t n, const float *y, const float *dy, float *dx);

#endif
