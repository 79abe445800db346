/* test_kernels_misc.c: the smaller CPU kernels: max pool (forward against a direct loop, tie
 * and NaN rules, backward by finite differences), global average pool, ReLU, linear, SGD with momentum /
 * weight decay / Nesterov against PyTorch's update written out, and the cosine schedule. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gradcheck.h"
#include "linear.h"
#include "optim.h"
#include "pool.h"
#include "relu.h"
#include "test.h"

typedef struct {
    PoolShape s;
    float *x, *y, *r;
    int32_t *am;
} PoolCtx;

static double pool_obj(void *p) {
    PoolCtx *c = p;
    maxpool_forward_cpu(&c->s, c->x, c->y, c->am);
    return dot_f64(c->y, c->r, (size_t)c->s.n * c->s.c * c->s.hout * c->s.wout);
}

TEST(kernels_maxpool) {
    PoolCtx c;
    c.s = pool_shape(2, 3, 9, 8, 3, 2, 1);
    CHECK_EQ_INT(c.s.hout, 5);
    CHECK_EQ_INT(c.s.wout, 4);
    size_t xn = 2 * 3 * 9 * 8, yn = 2 * 3 * 5 * 4;
    c.x = xmalloc(xn * 4); c.y = xmalloc(yn * 4); c.r = xmalloc(yn * 4); c.am = xmalloc(yn * 4);
    float *ref = xmalloc(yn * 4), *dx = xmalloc(xn * 4);
    /* distinct values with gaps >= 0.05 so that steps of 0.01 never change a window's winner */
    for (size_t i = 0; i < xn; i++) c.x[i] = 0.05f * (float)((i * 37) % xn) - 5;
    fill_normal(c.r, yn, 1, 1);
    maxpool_forward_cpu(&c.s, c.x, c.y, c.am);
    for (int pl = 0; pl < 6; pl++)
        for (int oh = 0; oh < 5; oh++)
            for (int ow = 0; ow < 4; ow++) {
                float b = -INFINITY;
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 3; kw++) {
                        int ih = 2 * oh - 1 + kh, iw = 2 * ow - 1 + kw;
                        if (ih >= 0 && ih < 9 && iw >= 0 && iw < 8 && c.x[pl * 72 + ih * 8 + iw] > b) b = c.x[pl * 72 + ih * 8 + iw];
                    }
                ref[(pl * 5 + oh) * 4 + ow] = b;
            }
    t_check_close("maxpool forward", c.y, ref, yn, 0, 0);
    maxpool_backward_cpu(&c.s, c.r, c.am, dx);
    gradcheck("maxpool backward", pool_obj, &c, c.x, xn, dx, 1e-2, 1e-3, 3, 4, 2);
    /* ties: the first maximum in window order wins (PyTorch CPU) */
    PoolShape t = pool_shape(1, 1, 2, 2, 3, 2, 1);
    float tx[4] = {1, 1, 1, 1}, ty[1];
    int32_t ta[1];
    maxpool_forward_cpu(&t, tx, ty, ta);
    CHECK_EQ_INT(ta[0], 0);
    /* a NaN always replaces, so the last NaN in row-major window order wins */
    PoolShape u = pool_shape(1, 1, 3, 3, 3, 1, 0);
    float ux[9] = {1, 2, NAN, NAN, 5, 0, 7, 8, 3}, uy[1];
    int32_t ua[1];
    maxpool_forward_cpu(&u, ux, uy, ua);
    CHECK_EQ_INT(ua[0], 3);
    CHECK(isnan(uy[0]));
    float vx[9] = {1, 9, 2, 9, 0, 0, 9, 0, 0};
    maxpool_forward_cpu(&u, vx, uy, ua);
    CHECK_EQ_INT(ua[0], 1);
    free(c.x); free(c.y); free(c.r); free(c.am); free(ref); free(dx);
}

typedef struct { int n, c, hw; float *x, *y, *r; } GapCtx;
static double gap_obj(void *p) {
    GapCtx *g = p;
    avgpool_global_forward_cpu(g->n, g->c, g->hw, g->x, g->y);
    return dot_f64(g->y, g->r, (size_t)g->n * g->c);
}

TEST(kernels_global_avgpool_and_relu) {
    GapCtx g = {3, 4, 5, NULL, NULL, NULL};
    g.x = xmalloc(60 * 4); g.y = xmalloc(12 * 4); g.r = xmalloc(12 * 4);
    float *dx = xmalloc(60 * 4);
    fill_normal(g.x, 60, 1, 3);
    fill_normal(g.r, 12, 1, 4);
    avgpool_global_forward_cpu(3, 4, 5, g.x, g.y);
    CHECK_NEAR(g.y[7], (g.x[35] + g.x[36] + g.x[37] + g.x[38] + g.x[39]) / 5.0, 1e-6);
    avgpool_global_backward_cpu(3, 4, 5, g.r, dx);
    gradcheck("global avgpool backward", gap_obj, &g, g.x, 60, dx, 0.5, 1e-4, 2, 3, 5);
    float y[60], d[60];
    relu_forward_cpu(60, g.x, y);
    relu_backward_cpu(60, y, g.x, d);
    for (int i = 0; i < 60; i++) {
        CHECK(y[i] == (g.x[i] > 0 ? g.x[i] : 0));
        CHECK(d[i] == (g.x[i] > 0 ? g.x[i] : 0));
    }
    free(g.x); free(g.y); free(g.r); free(dx);
}

typedef struct { int n, in, out; float *x, *w, *b, *y, *r; } LinCtx;
static double lin_obj(void *p) {
    LinCtx *l = p;
    linear_forward_cpu(l->n, l->in, l->out, l->x, l->w, l->b, l->y);
    return dot_f64(l->y, l->r, (size_t)l->n * l->out);
}

TEST(kernels_linear) {
    LinCtx l = {7, 5, 6, NULL, NULL, NULL, NULL, NULL};
    l.x = xmalloc(35 * 4); l.w = xmalloc(30 * 4); l.b = xmalloc(6 * 4); l.y = xmalloc(42 * 4); l.r = xmalloc(42 * 4);
    float dx[35], dw[30], db[6];
    fill_normal(l.x, 35, 1, 6); fill_normal(l.w, 30, 1, 7); fill_normal(l.b, 6, 1, 8); fill_normal(l.r, 42, 1, 9);
    linear_forward_cpu(7, 5, 6, l.x, l.w, l.b, l.y);
    double want = l.b[4];
    for (int j = 0; j < 5; j++) want += (double)l.x[3 * 5 + j] * l.w[4 * 5 + j];
    CHECK_NEAR(l.y[3 * 6 + 4], want, 1e-5);
    linear_backward_cpu(7, 5, 6, l.x, l.w, l.r, dx, dw, db);
    gradcheck("linear dx", lin_obj, &l, l.x, 35, dx, 0.5, 1e-4, 3, 3, 10);
    gradcheck("linear dw", lin_obj, &l, l.w, 30, dw, 0.5, 1e-4, 3, 3, 11);
    gradcheck("linear db", lin_obj, &l, l.b, 6, db, 0.5, 1e-4, 2, 2, 12);
    free(l.x); free(l.w); free(l.b); free(l.y); free(l.r);
}

TEST(kernels_sgd_and_cosine) {
    /* PyTorch SGD (dampening 0): d = g + wd p; buf = m buf + d (buf = d on the first step);
     * p -= lr (nesterov ? d + m buf : buf) */
    for (int nesterov = 0; nesterov < 2; nesterov++) {
        float p[5], buf[5] = {0}, g[5];
        double pr[5], br[5] = {0};
        fill_normal(p, 5, 1, 20);
        for (int i = 0; i < 5; i++) pr[i] = p[i];
        for (int step = 0; step < 3; step++) {
            fill_normal(g, 5, 1, 21 + (uint64_t)step);
            sgd_step_cpu(5, p, g, buf, 0.1f, 0.9f, 1e-2f, nesterov);
            for (int i = 0; i < 5; i++) {
                double d = g[i] + 1e-2 * pr[i];
                br[i] = step == 0 ? d : 0.9 * br[i] + d;
                pr[i] -= 0.1 * (nesterov ? d + 0.9 * br[i] : br[i]);
            }
        }
        for (int i = 0; i < 5; i++) { CHECK_NEAR(p[i], pr[i], 1e-6); CHECK_NEAR(buf[i], br[i], 1e-6); }
    }
    CHECK_NEAR(cosine_lr(0.6, 0, 100), 0.6, 1e-12);
    CHECK_NEAR(cosine_lr(0.6, 50, 100), 0.3, 1e-12);
    CHECK_NEAR(cosine_lr(0.6, 25, 100), 0.6 * 0.5 * (1 + cos(M_PI / 4)), 1e-12);
    CHECK_NEAR(cosine_lr(0.6, 100, 100), 0.0, 1e-12);
    CHECK_NEAR(cosine_lr(0.6, 150, 100), 0.0, 1e-12);
    CHECK_NEAR(cosine_lr(0.6, 7, 0), 0.6, 1e-12);
}
