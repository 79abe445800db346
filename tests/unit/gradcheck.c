/* gradcheck.c: finite-difference gradient checks. See gradcheck.h. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "test.h"

void fill_normal(float *x, size_t n, float scale, uint64_t stream) {
    Rng r;
    rng_init(&r, 12345, rng_stream(RNG_PURPOSE_TEST, (uint32_t)stream, (uint32_t)(stream >> 32), 0));
    for (size_t i = 0; i < n; i++) x[i] = scale * (float)rng_normal(&r);
}

double dot_f64(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static double central(GradObjective f, void *ctx, float *x, const float *x0, size_t n, const float *v, double h) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] + h * v[i]);
    double fp = f(ctx);
    for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] - h * v[i]);
    double fm = f(ctx);
    /* the realised step (float rounding of x +- hv) is what the difference divides by */
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == 0) continue;
        double step = (double)(float)(x0[i] + h * v[i]) - (double)(float)(x0[i] - h * v[i]);
        num += step * v[i];
        den += v[i] * v[i];
    }
    memcpy(x, x0, n * sizeof(float));
    double eff = num / den; /* ~ 2h */
    return (fp - fm) / eff;
}

int gradcheck(const char *what, GradObjective f, void *ctx, float *x, size_t n, const float *grad,
              double h, double rtol, int ndir, int ncoord, uint64_t seed) {
    float *x0 = xmalloc(n * sizeof(float)), *v = xmalloc(n * sizeof(float));
    memcpy(x0, x, n * sizeof(float));
    double g2 = 0, ginf = 0;
    for (size_t i = 0; i < n; i++) { g2 += (double)grad[i] * grad[i]; if (fabs(grad[i]) > ginf) ginf = fabs(grad[i]); }
    g2 = sqrt(g2);
    int ok = 1;
    double worst = 0;
    for (int d = 0; d < ndir; d++) {
        fill_normal(v, n, 1.0f, seed * 1000 + (uint64_t)d);
        double an = dot_f64(grad, v, n), fd = central(f, ctx, x, x0, n, v, h);
        double ref = fmax(fabs(an), g2 * 1e-3), e = fabs(fd - an) / (ref > 0 ? ref : 1);
        if (e > worst) worst = e;
        if (!(e <= rtol)) {
            ok = 0;
            t_fail_at(__FILE__, __LINE__, "%s: direction %d: finite difference %.9g vs analytic %.9g (rel %.2e > %.1e)", what, d, fd, an, e, rtol);
        }
    }
    memset(v, 0, n * sizeof(float));
    Rng r;
    rng_init(&r, seed, rng_stream(RNG_PURPOSE_TEST, 7, 0, 0));
    for (int c = 0; c < ncoord && (size_t)c < n; c++) {
        size_t i = 0;
        if (c == 0) { for (size_t j = 1; j < n; j++) if (fabs(grad[j]) > fabs(grad[i])) i = j; }
        else i = rng_below(&r, (uint32_t)n);
        v[i] = 1;
        double an = grad[i], fd = central(f, ctx, x, x0, n, v, h);
        v[i] = 0;
        double ref = fmax(fabs(an), ginf * 1e-2), e = fabs(fd - an) / (ref > 0 ? ref : 1);
        if (e > worst) worst = e;
        if (!(e <= rtol)) {
            ok = 0;
            t_fail_at(__FILE__, __LINE__, "%s: coordinate %zu: finite difference %.9g vs analytic %.9g (rel %.2e > %.1e)", what, i, fd, an, e, rtol);
        }
    }
    fprintf(stderr, "%-44s %d directions + %d coordinates, worst rel err %.2e (tol %.1e) %s\n", what, ndir, ncoord, worst, rtol, ok ? "OK" : "NOT OK");
    free(x0);
    free(v);
    return ok;
}
