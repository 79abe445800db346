/* conv2d.h: 2-D convolution without bias (ResNet convolutions), forward and both backward passes.
 *
 * Layout: NCHW float32, contiguous. x [n][cin][h][w], weight OIHW [cout][cin][k][k],
 * y [n][cout][hout][wout] with hout = (h + 2*pad - k) / stride + 1 (same for wout). Square kernel
 * k x k (1..7 and beyond), one stride and one zero padding for both axes, no dilation, no groups.
 * Semantics are PyTorch's F.conv2d(x, w, stride=stride, padding=pad).
 *
 * Gradient convention (all kernels/): a backward pass returns the gradient of a scalar objective L
 * with respect to its inputs given dL/d(output). Outputs are overwritten when `accumulate` is 0 and
 * added to when it is 1 (so the engine can sum a residual branch into dx without a copy).
 * Parameter gradients are sums over the batch (the loss kernels already include the 1/rows).
 *
 * CPU implementation (conv2d_cpu.c): im2col of a chunk of images into [cin*k*k][nb*hout*wout], one
 * OpenBLAS sgemm per chunk, OpenMP over chunks (BLAS itself runs single-threaded inside, see
 * cpu_util.h); 1x1 stride-1 convolutions skip im2col. Scratch memory is per thread and reused.
 */
#ifndef TDANN_CONV2D_H
#define TDANN_CONV2D_H

typedef struct {
    int n, cin, h, w;        /* input */
    int cout, k, stride, pad;
    int hout, wout;          /* derived by conv2d_shape */
} Conv2dShape;

/* Fills the derived fields; dies (runtime error) on a shape with no output. */
Conv2dShape conv2d_shape(int n, int cin, int h, int w, int cout, int k, int stride, int pad);

/* y = conv(x, w). */
void conv2d_forward_cpu(const Conv2dShape *s, const float *x, const float *w, float *y);
/* dx (+)= conv_transpose(dy, w): dL/dx [n][cin][h][w]. */
void conv2d_backward_data_cpu(const Conv2dShape *s, const float *dy, const float *w, float *dx, int accumulate);
/* dw (+)= sum over the batch of dy (x) x: dL/dw [cout][cin][k][k]. */
void conv2d_backward_filter_cpu(const Conv2dShape *s, const float *x, const float *dy, float *dw, int accumulate);

#endif
