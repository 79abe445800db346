/* test_kernels_conv.c: conv2d CPU kernels: forward against a direct double-precision convolution
 * for kernel sizes 1..7, strides 1-2, paddings 0-3, single- and multi-image GEMM chunks; backward
 * data and backward filter by finite differences of sum(r * conv(x, w)); the accumulate flag. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv2d.h"
#include "error.h"
#include "gradcheck.h"
#include "test.h"

static void conv_direct(const Conv2dShape *s, const float *x, const float *w, float *y) {
    for (int i = 0; i < s->n; i++)
        for (int o = 0; o < s->cout; o++)
            for (int oh = 0; oh < s->hout; oh++)
                for (int ow = 0; ow < s->wout; ow++) {
                    double a = 0;
                    for (int c = 0; c < s->cin; c++)
                        for (int kh = 0; kh < s->k; kh++)
                            for (int kw = 0; kw < s->k; kw++) {
                                int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
                                a += (double)x[((size_t)(i * s->cin + c) * s->h + ih) * s->w + iw] *
                                     w[((size_t)(o * s->cin + c) * s->k + kh) * s->k + kw];
                            }
                    y[((size_t)(i * s->cout + o) * s->hout + oh) * s->wout + ow] = (float)a;
                }
}

typedef struct {
    Conv2dShape s;
    float *x, *w, *y, *r;
} ConvCtx;

static size_t xlen(const Conv2dShape *s) { return (size_t)s->n * s->cin * s->h * s->w; }
static size_t wlen(const Conv2dShape *s) { return (size_t)s->cout * s->cin * s->k * s->k; }
static size_t ylen(const Conv2dShape *s) { return (size_t)s->n * s->cout * s->hout * s->wout; }

static double conv_obj(void *p) {
    ConvCtx *c = p;
    conv2d_forward_cpu(&c->s, c->x, c->w, c->y);
    return dot_f64(c->y, c->r, ylen(&c->s));
}

static void check_shape(int n, int cin, int h, int w, int cout, int k, int stride, int pad, uint64_t seed) {
    ConvCtx c;
    c.s = conv2d_shape(n, cin, h, w, cout, k, stride, pad);
    c.x = xmalloc(xlen(&c.s) * 4); c.w = xmalloc(wlen(&c.s) * 4);
    c.y = xmalloc(ylen(&c.s) * 4); c.r = xmalloc(ylen(&c.s) * 4);
    float *ref = xmalloc(ylen(&c.s) * 4), *dx = xmalloc(xlen(&c.s) * 4), *dw = xmalloc(wlen(&c.s) * 4);
    fill_normal(c.x, xlen(&c.s), 1, seed);
    fill_normal(c.w, wlen(&c.s), 0.3f, seed + 1);
    fill_normal(c.r, ylen(&c.s), 1, seed + 2);
    char what[128];
    snprintf(what, sizeof what, "conv %dx%dx%dx%d k%d s%d p%d -> %d", n, cin, h, w, k, stride, pad, cout);
    conv2d_forward_cpu(&c.s, c.x, c.w, c.y);
    conv_direct(&c.s, c.x, c.w, ref);
    t_check_close(what, c.y, ref, ylen(&c.s), 1e-5, 1e-4);
    conv2d_backward_data_cpu(&c.s, c.r, c.w, dx, 0);
    conv2d_backward_filter_cpu(&c.s, c.x, c.r, dw, 0);
    char w2[160];
    snprintf(w2, sizeof w2, "%s dx", what);
    gradcheck(w2, conv_obj, &c, c.x, xlen(&c.s), dx, 0.5, 1e-3, 3, 4, seed + 3);
    snprintf(w2, sizeof w2, "%s dw", what);
    gradcheck(w2, conv_obj, &c, c.w, wlen(&c.s), dw, 0.5, 1e-3, 3, 4, seed + 4);
    /* accumulate adds to what is there */
    float *acc = xmalloc(xlen(&c.s) * 4), *accw = xmalloc(wlen(&c.s) * 4), *want = xmalloc(xlen(&c.s) * 4), *wantw = xmalloc(wlen(&c.s) * 4);
    fill_normal(acc, xlen(&c.s), 1, seed + 5);
    fill_normal(accw, wlen(&c.s), 1, seed + 6);
    for (size_t i = 0; i < xlen(&c.s); i++) want[i] = acc[i] + dx[i];
    for (size_t i = 0; i < wlen(&c.s); i++) wantw[i] = accw[i] + dw[i];
    conv2d_backward_data_cpu(&c.s, c.r, c.w, acc, 1);
    conv2d_backward_filter_cpu(&c.s, c.x, c.r, accw, 1);
    snprintf(w2, sizeof w2, "%s dx accumulate", what);
    t_check_close(w2, acc, want, xlen(&c.s), 1e-5, 1e-5);
    snprintf(w2, sizeof w2, "%s dw accumulate", what);
    t_check_close(w2, accw, wantw, wlen(&c.s), 1e-5, 1e-5);
    free(c.x); free(c.w); free(c.y); free(c.r); free(ref); free(dx); free(dw);
    free(acc); free(accw); free(want); free(wantw);
}

TEST(kernels_conv2d_stem_7x7) { check_shape(3, 3, 13, 11, 4, 7, 2, 3, 100); }
TEST(kernels_conv2d_3x3) {
    check_shape(5, 4, 6, 6, 5, 3, 1, 1, 200);   /* several images per GEMM chunk */
    check_shape(3, 3, 9, 7, 6, 3, 2, 1, 210);   /* strided */
    check_shape(2, 2, 33, 33, 3, 3, 1, 1, 220); /* one image per chunk, GEMM straight into y */
}
TEST(kernels_conv2d_1x1_and_5x5) {
    check_shape(4, 6, 7, 7, 5, 1, 2, 0, 300);  /* ResNet downsample */
    check_shape(3, 6, 5, 4, 7, 1, 1, 0, 310);  /* pointwise path without im2col */
    check_shape(2, 3, 8, 9, 2, 5, 1, 2, 320);
    check_shape(2, 2, 4, 4, 3, 3, 3, 0, 330);  /* stride larger than needed, no padding */
}

TEST(kernels_conv2d_bad_shape_dies) {
    EXPECT_DIE(EXIT_RUNTIME, conv2d_shape(1, 3, 2, 2, 4, 7, 1, 0), "too small");
}
