/* pool.h: max pooling (ResNet stem: 3x3, stride 2, padding 1) and global average pooling.
 *
 * Layout: NCHW float32. Max pool: x [n][c][h][w] -> y [n][c][hout][wout],
 * hout = (h + 2*pad - k) / stride + 1; padding never wins (PyTorch pads with -inf). argmax
 * [n][c][hout][wout] int32 holds the index h*w_in + w of the chosen input inside its plane; ties go to
 * the first maximum in row-major window order (as PyTorch's CPU kernel), and a NaN wins.
 * Global average pool: x [n][c][hw] -> y [n][c] = mean over hw.
 * Gradient convention: see conv2d.h (dx overwritten; max-pool gradients of overlapping windows add).
 */
#ifndef TDANN_POOL_H
#define TDANN_POOL_H

#include <stdint.h>

typedef struct { int n, c, h, w, k, stride, pad, hout, wout; } PoolShape;

PoolShape pool_shape(int n, int c, int h, int w, int k, int stride, int pad);
void maxpool_forward_cpu(const PoolShape *s, const float *x, float *y, int32_t *argmax);
void maxpool_backward_cpu(const PoolShape *s, const float *dy, const int32_t *argmax, float *dx);

void avgpool_global_forward_cpu(int n, int c, int hw, const float *x, float *y);
void avgpool_global_backward_cpu(int n, int c, int hw, const float *dy, float *dx);

#endif
