/* vonmises.c: see vonmises.h. */
#include "vonmises.h"

#include <math.h>

#define VM_MAX_ITERS 200

double vm_a1inv(double r) {
    if (!(r > 0)) return 0;
    if (r < 0.53) return 2 * r + r * r * r + 5 * pow(r, 5) / 6;
    if (r < 0.85) return -0.4 + 1.39 * r + 0.43 / (1 - r);
    if (r >= 1) return 1e300;
    return 1 / (r * r * r - 4 * r * r + 3 * r);
}

double vm_eval(const VmFit *f, double x) {
    return f->b * exp(f->kappa * (cos(x - f->mu) - 1));
}

static double wrap_pi(double a) {
    a = fmod(a, 2 * M_PI);
    if (a <= -M_PI) a += 2 * M_PI;
    if (a > M_PI) a -= 2 * M_PI;
    return a;
}

static double sse_at(const double *x, const double *y, int n, double b, double mu, double k) {
    double s = 0;
    for (int j = 0; j < n; j++) {
        double r = b * exp(k * (cos(x[j] - mu) - 1)) - y[j];
        s += r * r;
    }
    return s;
}

/* Closed-form b for fixed (mu, kappa): sum(y h) / sum(h^2). */
static double best_b(const double *x, const double *y, int n, double mu, double k) {
    double sy = 0, sh = 0;
    for (int j = 0; j < n; j++) {
        double h = exp(k * (cos(x[j] - mu) - 1));
        sy += y[j] * h;
        sh += h * h;
    }
    return sh > 0 ? sy / sh : 0;
}

/* Solves the 3x3 system a x = g by Gaussian elimination with partial pivoting; 0 on success. */
static int solve3(double a[3][3], double g[3], double out[3]) {
    double m[3][4];
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) m[i][j] = a[i][j];
        m[i][3] = g[i];
    }
    for (int c = 0; c < 3; c++) {
        int p = c;
        for (int i = c + 1; i < 3; i++)
            if (fabs(m[i][c]) > fabs(m[p][c])) p = i;
        if (!(fabs(m[p][c]) > 0)) return -1;
        if (p != c)
            for (int j = 0; j < 4; j++) { double t = m[c][j]; m[c][j] = m[p][j]; m[p][j] = t; }
        for (int i = c + 1; i < 3; i++) {
            double f = m[i][c] / m[c][c];
            for (int j = c; j < 4; j++) m[i][j] -= f * m[c][j];
        }
    }
    for (int i = 2; i >= 0; i--) {
        double s = m[i][3];
        for (int j = i + 1; j < 3; j++) s -= m[i][j] * out[j];
        out[i] = s / m[i][i];
    }
    return 0;
}

static void lm(const double *x, const double *y, int n, double kmax, double mu0, double k0, VmFit *f) {
    double p[3] = {0, wrap_pi(mu0), fmin(fmax(k0, 0), kmax)};
    p[0] = best_b(x, y, n, p[1], p[2]);
    double sse = sse_at(x, y, n, p[0], p[1], p[2]);
    double lambda = 1e-3;
    int it = 0;
    while (it < VM_MAX_ITERS) {
        it++;
        double a[3][3] = {{0}}, g[3] = {0};
        for (int j = 0; j < n; j++) {
            double c = cos(x[j] - p[1]), s = sin(x[j] - p[1]);
            double h = exp(p[2] * (c - 1));
            double r = p[0] * h - y[j];
            double jac[3] = {h, p[0] * h * p[2] * s, p[0] * h * (c - 1)};
            for (int u = 0; u < 3; u++) {
                g[u] -= jac[u] * r;
                for (int v = 0; v < 3; v++) a[u][v] += jac[u] * jac[v];
            }
        }
        double dmax = fmax(a[0][0], fmax(a[1][1], a[2][2]));
        if (!(dmax > 0)) break;
        int accepted = 0, done = 0;
        while (!accepted) {
            double m[3][3], d[3];
            for (int u = 0; u < 3; u++)
                for (int v = 0; v < 3; v++) m[u][v] = a[u][v];
            for (int u = 0; u < 3; u++) m[u][u] += lambda * (a[u][u] + 1e-12 * dmax);
            if (solve3(m, g, d) != 0) { lambda *= 10; if (lambda > 1e12) { done = 1; break; } continue; }
            double q[3] = {p[0] + d[0], wrap_pi(p[1] + d[1]), fmin(fmax(p[2] + d[2], 0), kmax)};
            double sn = sse_at(x, y, n, q[0], q[1], q[2]);
            if (sn < sse) {
                double gain = sse - sn;
                p[0] = q[0]; p[1] = q[1]; p[2] = q[2];
                sse = sn;
                lambda = fmax(lambda / 10, 1e-12);
                accepted = 1;
                if (gain <= 1e-12 * sse + 1e-300) done = 1;
            } else {
                lambda *= 10;
                if (lambda > 1e12) { done = 1; break; }
            }
        }
        if (done) break;
    }
    f->b = p[0];
    f->mu = p[1];
    f->kappa = p[2];
    f->sse = sse;
    f->iters = it;
}

void vm_fit(const double *x, const double *y, int n, double kappa_max, VmFit *fit) {
    double lo = y[0], hi = y[0];
    int jmax = 0;
    for (int j = 1; j < n; j++) {
        if (y[j] < lo) lo = y[j];
        if (y[j] > hi) { hi = y[j]; jmax = j; }
    }
    if (!(hi > lo)) {
        fit->b = hi; fit->mu = 0; fit->kappa = 0; fit->sse = 0; fit->iters = 0;
        return;
    }
    /* start 1: circular mean of the baseline-subtracted samples */
    double c = 0, s = 0, t = 0;
    for (int j = 0; j < n; j++) {
        double w = y[j] - lo;
        c += w * cos(x[j]);
        s += w * sin(x[j]);
        t += w;
    }
    double r = t > 0 ? hypot(c, s) / t : 0;
    double k0 = fmin(fmax(vm_a1inv(r), 0.5), kappa_max);
    double mu1 = (c == 0 && s == 0) ? x[jmax] : atan2(s, c);
    VmFit f1, f2;
    lm(x, y, n, kappa_max, mu1, k0, &f1);
    *fit = f1;
    /* start 2: the largest sample */
    double mu2 = x[jmax];
    if (fabs(wrap_pi(mu2 - mu1)) > 1e-6) {
        lm(x, y, n, kappa_max, mu2, k0, &f2);
        if (f2.sse < f1.sse) *fit = f2;
    }
}
