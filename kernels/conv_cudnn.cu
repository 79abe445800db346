/* conv_cudnn.cu: see conv_cudnn.h. Uses cuDNN's legacy convolution API (deprecated in cuDNN 9 but
 * present; the build silences the deprecation warnings). */
#include "conv_cudnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ConvPlan {
    ConvShape s;
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cf, cd, cw; /* one per direction: each carries its own math type */
    cudnnConvolutionFwdAlgo_t af;
    cudnnConvolutionBwdDataAlgo_t ad;
    cudnnConvolutionBwdFilterAlgo_t aw;
    size_t mf, md, mw;
    double ms;     /* measured time of the chosen algorithms, all directions */
    double tms[3]; /* the same per direction: forward, data gradient, filter gradient */
};

static const char *math_name(cudnnMathType_t m) {
    switch (m) {
    case CUDNN_DEFAULT_MATH: return "default";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op-conv";
    case CUDNN_FMA_MATH: return "fma";
    }
    return "?";
}

static void make_conv_desc(cudnnConvolutionDescriptor_t *d, const ConvShape *s) {
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(d));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(*d, s->pad, s->pad, s->stride, s->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(*d, s->is_bf16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
}

/* Picks the fastest acceptable result; dies listing every candidate when none is acceptable. */
template <typename Perf>
static int pick(const Perf *r, int nr, const ConvShape *s, int det, size_t ws_bytes, const char *dir) {
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < nr; i++) {
            if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].memory > ws_bytes) continue;
            if (det && r[i].determinism != CUDNN_DETERMINISTIC) continue;
            /* fp32: FMA only on the first pass; the second accepts default math (warned) */
            if (!s->is_bf16 && r[i].mathType != CUDNN_FMA_MATH && (pass == 0 || r[i].mathType != CUDNN_DEFAULT_MATH)) continue;
            if (pass == 1)
                warn("cuDNN %s conv %dx%d/%d %d->%d: no FMA-math algorithm, using default math (TF32 possible)", dir, s->k,
                     s->k, s->stride, s->cin, s->cout);
            return i;
        }
        if (s->is_bf16) break;
    }
    fprintf(stderr, "cuDNN %s candidates for conv n=%d %dx%dx%d k%d/%d pad %d -> %d (%s, deterministic %d, workspace %zu):\n",
            dir, s->n, s->h, s->w, s->cin, s->k, s->stride, s->pad, s->cout, s->is_bf16 ? "bf16" : "fp32", det, ws_bytes);
    for (int i = 0; i < nr; i++)
        fprintf(stderr, "  algo %d status %d (%s) time %.3f ms memory %zu determinism %d math %s\n", (int)r[i].algo,
                (int)r[i].status, cudnnGetErrorString(r[i].status), (double)r[i].time, r[i].memory, (int)r[i].determinism,
                math_name(r[i].mathType));
    die(EXIT_RUNTIME, "cuDNN offers no usable %s algorithm for this convolution (candidates above)", dir);
}

ConvPlan *conv_plan_create(cudnnHandle_t h, const ConvShape *s, int deterministic, void *ws, size_t ws_bytes,
                           void *x, void *w, void *y, void *dx_scratch, void *dw_scratch) {
    ConvPlan *p = (ConvPlan *)xcalloc(1, sizeof *p);
    p->s = *s;
    cudnnDataType_t dt = s->is_bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->xd));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->yd));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->wd));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NHWC, dt, s->n, s->cin, s->h, s->w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NHWC, dt, s->n, s->cout, s->hout, s->wout));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->wd, dt, CUDNN_TENSOR_NHWC, s->cout, s->cin, s->k, s->k));
    make_conv_desc(&p->cf, s);
    make_conv_desc(&p->cd, s);
    make_conv_desc(&p->cw, s);
    int on, oc, oh, ow;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->cf, p->xd, p->wd, &on, &oc, &oh, &ow));
    if (on != s->n || oc != s->cout || oh != s->hout || ow != s->wout)
        die(EXIT_RUNTIME, "internal: cuDNN output shape %dx%dx%dx%d differs from the plan's %dx%dx%dx%d", on, oc, oh, ow,
            s->n, s->cout, s->hout, s->wout);

    int nr = 0;
    cudnnConvolutionFwdAlgoPerf_t rf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, p->xd, x, p->wd, w, p->cf, p->yd, y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &nr, rf, ws, ws_bytes));
    int i = pick(rf, nr, s, deterministic, ws_bytes, "forward");
    p->af = rf[i].algo;
    p->mf = rf[i].memory;
    p->ms = rf[i].time;
    p->tms[0] = rf[i].time;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->cf, rf[i].mathType));

    if (s->need_dgrad) {
        cudnnConvolutionBwdDataAlgoPerf_t rd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, p->wd, w, p->yd, y, p->cd, p->xd, dx_scratch,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &nr, rd, ws, ws_bytes));
        i = pick(rd, nr, s, deterministic, ws_bytes, "backward-data");
        p->ad = rd[i].algo;
        p->md = rd[i].memory;
        p->ms += rd[i].time;
        p->tms[1] = rd[i].time;
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->cd, rd[i].mathType));
    }

    cudnnConvolutionBwdFilterAlgoPerf_t rw[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p->xd, x, p->yd, y, p->cw, p->wd, dw_scratch,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &nr, rw, ws, ws_bytes));
    i = pick(rw, nr, s, deterministic, ws_bytes, "backward-filter");
    p->aw = rw[i].algo;
    p->mw = rw[i].memory;
    p->ms += rw[i].time;
    p->tms[2] = rw[i].time;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->cw, rw[i].mathType));
    return p;
}

void conv_plan_free(ConvPlan *p) {
    if (!p) return;
    cudnnDestroyTensorDescriptor(p->xd);
    cudnnDestroyTensorDescriptor(p->yd);
    cudnnDestroyFilterDescriptor(p->wd);
    cudnnDestroyConvolutionDescriptor(p->cf);
    cudnnDestroyConvolutionDescriptor(p->cd);
    cudnnDestroyConvolutionDescriptor(p->cw);
    free(p);
}

const ConvShape *conv_plan_shape(const ConvPlan *p) { return &p->s; }

void conv_plan_describe(const ConvPlan *p, char *buf, size_t n) {
    if (p->s.need_dgrad) snprintf(buf, n, "f%d d%d w%d", (int)p->af, (int)p->ad, (int)p->aw);
    else snprintf(buf, n, "f%d d- w%d", (int)p->af, (int)p->aw);
}

size_t conv_plan_ws_bytes(const ConvPlan *p) {
    size_t m = p->mf;
    if (p->s.need_dgrad && p->md > m) m = p->md;
    if (p->mw > m) m = p->mw;
    return m;
}

double conv_plan_time_ms(const ConvPlan *p) { return p->ms; }
double conv_plan_dir_ms(const ConvPlan *p, int dir) { return dir >= 0 && dir < 3 ? p->tms[dir] : 0.0; }

void conv_forward(const ConvPlan *p, cudnnHandle_t h, const void *x, const void *w, void *y, void *ws, size_t ws_bytes) {
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(h, &one, p->xd, x, p->wd, w, p->cf, p->af, ws, ws_bytes, &zero, p->yd, y));
}

void conv_backward_data(const ConvPlan *p, cudnnHandle_t h, const void *dy, const void *w, void *dx, void *ws,
                        size_t ws_bytes) {
    const float one = 1.0f, zero = 0.0f;
    if (!p->s.need_dgrad) die(EXIT_RUNTIME, "internal: data gradient of a convolution planned without one");
    CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, p->wd, w, p->yd, dy, p->cd, p->ad, ws, ws_bytes, &zero, p->xd, dx));
}

void conv_backward_filter(const ConvPlan *p, cudnnHandle_t h, const void *x, const void *dy, void *dw, void *ws,
                          size_t ws_bytes) {
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, p->xd, x, p->yd, dy, p->cw, p->aw, ws, ws_bytes, &zero, p->wd, dw));
}
