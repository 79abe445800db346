/* stats.c: see stats.h. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double stats_percentile_sorted(const double *s, size_t n, double q) {
    if (n == 0) return NAN;
    if (q <= 0) return s[0];
    if (q >= 100) return s[n - 1];
    double pos = (double)(n - 1) * q / 100.0;
    size_t i = (size_t)floor(pos);
    if (i + 1 >= n) return s[n - 1];
    double f = pos - (double)i;
    return s[i] + f * (s[i + 1] - s[i]);
}

size_t stats_percentiles(const float *x, size_t n, const double *q, int nq, double *out) {
    double *s = xmalloc(sizeof(double) * (n ? n : 1));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) s[m++] = x[i];
    qsort(s, m, sizeof(double), cmp_double);
    for (int k = 0; k < nq; k++) out[k] = stats_percentile_sorted(s, m, q[k]);
    free(s);
    return m;
}

double stats_percentile(const float *x, size_t n, double q) {
    double out;
    stats_percentiles(x, n, &q, 1, &out);
    return out;
}

Moments moments_merge(Moments a, Moments b) {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    Moments m;
    m.n = a.n + b.n;
    double d = b.mean - a.mean;
    m.mean = a.mean + d * (b.n / m.n);
    m.m2 = a.m2 + b.m2 + d * d * (a.n * b.n / m.n);
    return m;
}

double moments_var(Moments m, int ddof) {
    if (m.n <= ddof) return 0;
    double v = m.m2 / (m.n - ddof);
    return v > 0 ? v : 0;
}

double welch_t(double mean_a, double var_a, double n_a, double mean_b, double var_b, double n_b) {
    if (n_a <= 0 || n_b <= 0) return 0;
    double den = sqrt(var_a / n_a + var_b / n_b);
    if (!(den > 0)) return 0;
    return (mean_a - mean_b) / den;
}

double circ_resultant(const double *a, const double *w, size_t n, double period, double *mean) {
    double c = 0, s = 0, tw = 0, k = 2 * M_PI / period;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        c += wi * cos(a[i] * k);
        s += wi * sin(a[i] * k);
        tw += wi;
    }
    double len = hypot(c, s);
    if (!(tw > 0) || !(len > 1e-12 * tw)) {
        if (mean) *mean = 0;
        return 0;
    }
    if (mean) {
        double m = atan2(s, c) / k;
        if (m < 0) m += period;
        if (m >= period) m -= period;
        *mean = m;
    }
    double r = len / tw;
    return r > 1 ? 1 : r;
}

double circ_mean(const double *a, const double *w, size_t n, double period) {
    double m;
    circ_resultant(a, w, n, period, &m);
    return m;
}

double circ_var(const double *a, const double *w, size_t n, double period) {
    return 1.0 - circ_resultant(a, w, n, period, NULL);
}

double circ_std(const double *a, const double *w, size_t n, double period) {
    double r = circ_resultant(a, w, n, period, NULL);
    if (!(r > 0)) return INFINITY;
    return sqrt(-2.0 * log(r)) * period / (2 * M_PI);
}

double circ_dist(double a, double b, double period) {
    double d = fmod(fabs(a - b), period);
    return d > period / 2 ? period - d : d;
}

int64_t stats_histogram(const float *x, size_t n, double lo, double hi, int nbins, int64_t *counts) {
    for (int b = 0; b < nbins; b++) counts[b] = 0;
    if (!(hi > lo) || nbins <= 0) return 0;
    int64_t tot = 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (!(v >= lo && v < hi)) continue;
        int b = (int)((v - lo) / (hi - lo) * nbins);
        if (b >= nbins) b = nbins - 1;
        counts[b]++;
        tot++;
    }
    return tot;
}
