/* linear.h: fully connected layer, y = x W^T + b (PyTorch nn.Linear).
 *
 * Layout: float32 row-major. x [n][in], W [out][in], b [out] (may be NULL), y [n][out].
 * Backward: dx = dy W  [n][in] (dx may be NULL), dW = dy^T x [out][in], db = sum_rows dy [out]
 * (db may be NULL). Gradient convention: see conv2d.h (all outputs overwritten).
 * CPU: OpenBLAS sgemm, rows split over OpenMP threads.
 */
#ifndef TDANN_LINEAR_H
#define TDANN_LINEAR_H

void linear_forward_cpu(int n, int in, int out, const float *x, const float *w, const float *b, float *y);
void linear_backward_cpu(int n, int in, int out, const float *x, const float *w, const float *dy,
                         float *dx, float *dw, float *db);

#endif
