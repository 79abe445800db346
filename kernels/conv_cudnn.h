/* conv_cudnn.h: one convolution (NHWC activations, KRSC = "NHWC" filters, no bias) through cuDNN's
 * convolution API: forward, data gradient, filter gradient. C++ only (include cuda_common.h first).
 *
 * A ConvPlan holds the descriptors and the algorithm of each direction for one shape (batch n
 * included). Algorithms are chosen once, when the plan is made, by timing the candidates
 * (cudnnFind*AlgorithmEx) on the buffers given, within the workspace bound; with deterministic = 1
 * only deterministic algorithms are accepted. In fp32 plans only FMA-math algorithms are accepted
 * (no TF32), so fp32 runs are true fp32 checks. The chosen algorithms are reported by
 * conv_plan_describe(). Data types: bf16 tensors with float accumulation, or float throughout.
 */
#ifndef TDANN_CONV_CUDNN_H
#define TDANN_CONV_CUDNN_H

#include "cuda_common.h"

typedef struct {
    int n, cin, h, w;       /* input (cin may include zero padding channels) */
    int cout, k, stride, pad;
    int hout, wout;
    int is_bf16;
    int need_dgrad;         /* 0: the data gradient is never asked for (the stem) */
} ConvShape;

typedef struct ConvPlan ConvPlan;

/* Finds the algorithms. x [n][h][w][cin], w [cout][k][k][cin], y [n][hout][wout][cout] are used for
 * timing (contents are overwritten: y, and dx_scratch / dw_scratch sized like x / w). */
ConvPlan *conv_plan_create(cudnnHandle_t h, const ConvShape *s, int deterministic, void *ws, size_t ws_bytes,
                           void *x, void *w, void *y, void *dx_scratch, void *dw_scratch);
void conv_plan_free(ConvPlan *p);
const ConvShape *conv_plan_shape(const ConvPlan *p);
/* "f1 d1 w1" (algorithm numbers; d- when there is no data gradient) */
void conv_plan_describe(const ConvPlan *p, char *buf, size_t n);
size_t conv_plan_ws_bytes(const ConvPlan *p); /* largest workspace of the chosen algorithms */
double conv_plan_time_ms(const ConvPlan *p);  /* sum of the chosen algorithms' measured times */
/* the measured time of one direction's chosen algorithm: 0 forward, 1 data gradient (0 when none),
 * 2 filter gradient (ms, as cudnnFind*AlgorithmEx reported it) */
double conv_plan_dir_ms(const ConvPlan *p, int dir);

/* y = conv(x, w) (beta 0) */
void conv_forward(const ConvPlan *p, cudnnHandle_t h, const void *x, const void *w, void *y, void *ws, size_t ws_bytes);
/* dx = conv^T(dy, w) (beta 0) */
void conv_backward_data(const ConvPlan *p, cudnnHandle_t h, const void *dy, const void *w, void *dx, void *ws,
                        size_t ws_bytes);
/* dw = sum over the batch of x (x) dy (beta 0) */
void conv_backward_filter(const ConvPlan *p, cudnnHandle_t h, const void *x, const void *dy, void *dw, void *ws,
                          size_t ws_bytes);

#endif
