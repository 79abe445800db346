/* kmeans.c: k-means++ seeding + Lloyd iterations, best of n_init (see kmeans.h). */
#include "kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

static double sqdist(const double *a, const double *b, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) { double t = a[j] - b[j]; s += t * t; }
    return s;
}

/* Assigns every point to its nearest centre; returns inertia; counts label changes. */
static double assign_points(const double *x, int n, int d, const double *c, int k, int *lab, int *changed) {
    double inertia = 0;
    int ch = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        double bd = INFINITY;
        for (int q = 0; q < k; q++) {
            double s = sqdist(x + (long)i * d, c + (long)q * d, d);
            if (s < bd) { bd = s; best = q; }
        }
        if (lab[i] != best) { ch++; lab[i] = best; }
        inertia += bd;
    }
    if (changed) *changed = ch;
    return inertia;
}

static void seed_plusplus(const double *x, int n, int d, int k, Rng *r, double *c, double *d2) {
    int first = (int)rng_below(r, (uint32_t)n);
    memcpy(c, x + (long)first * d, sizeof(double) * (size_t)d);
    for (int i = 0; i < n; i++) d2[i] = sqdist(x + (long)i * d, c, d);
    for (int q = 1; q < k; q++) {
        double tot = 0;
        for (int i = 0; i < n; i++) tot += d2[i];
        int pick;
        if (tot <= 0) pick = (int)rng_below(r, (uint32_t)n);
        else {
            double u = rng_uniform_double(r) * tot, acc = 0;
            pick = n - 1;
            for (int i = 0; i < n; i++) { acc += d2[i]; if (u < acc && d2[i] > 0) { pick = i; break; } }
        }
        memcpy(c + (long)q * d, x + (long)pick * d, sizeof(double) * (size_t)d);
        for (int i = 0; i < n; i++) {
            double s = sqdist(x + (long)i * d, c + (long)q * d, d);
            if (s < d2[i]) d2[i] = s;
        }
    }
}

/* One Lloyd run from seeded centres c; returns the final inertia (labels consistent with c). */
static double lloyd(const double *x, int n, int d, int k, int max_iter, double tol_abs, double *c, int *lab) {
    double *nc = xmalloc(sizeof(double) * (size_t)k * (size_t)d);
    int *cnt = xmalloc(sizeof(int) * (size_t)k);
    for (int i = 0; i < n; i++) lab[i] = -1;
    double inertia = assign_points(x, n, d, c, k, lab, NULL);
    for (int it = 0; it < max_iter; it++) {
        memset(nc, 0, sizeof(double) * (size_t)k * (size_t)d);
        memset(cnt, 0, sizeof(int) * (size_t)k);
        for (int i = 0; i < n; i++) {
            cnt[lab[i]]++;
            for (int j = 0; j < d; j++) nc[(long)lab[i] * d + j] += x[(long)i * d + j];
        }
        for (int q = 0; q < k; q++) {
            if (cnt[q] == 0) { /* relocate to the point farthest from its centre */
                int far = 0;
                double fd = -1;
                for (int i = 0; i < n; i++) {
                    double s = sqdist(x + (long)i * d, c + (long)lab[i] * d, d);
                    if (s > fd) { fd = s; far = i; }
                }
                memcpy(nc + (long)q * d, x + (long)far * d, sizeof(double) * (size_t)d);
            } else
                for (int j = 0; j < d; j++) nc[(long)q * d + j] /= cnt[q];
        }
        double shift = 0;
        for (int q = 0; q < k; q++) shift += sqdist(nc + (long)q * d, c + (long)q * d, d);
        memcpy(c, nc, sizeof(double) * (size_t)k * (size_t)d);
        int changed;
        inertia = assign_points(x, n, d, c, k, lab, &changed);
        if (changed == 0 || shift <= tol_abs) break;
    }
    free(nc);
    free(cnt);
    return inertia;
}

static double fit_at(const double *x, int n, int d, int k, int n_init, int max_iter, double tol,
                     uint64_t seed, uint64_t stream, uint64_t pos_base, double *centroids, int *labels) {
    if (k < 1 || k > n) die(EXIT_RUNTIME, "internal: kmeans with k=%d for %d points", k, n);
    if (n_init < 1) n_init = 1;
    double var = 0;
    for (int j = 0; j < d; j++) {
        double m = 0, s = 0;
        for (int i = 0; i < n; i++) m += x[(long)i * d + j];
        m /= n;
        for (int i = 0; i < n; i++) { double t = x[(long)i * d + j] - m; s += t * t; }
        var += s / n;
    }
    double tol_abs = tol * var / d;
    double *c = xmalloc(sizeof(double) * (size_t)k * (size_t)d), *d2 = xmalloc(sizeof(double) * (size_t)n);
    int *lab = xmalloc(sizeof(int) * (size_t)n);
    double best = INFINITY;
    for (int run = 0; run < n_init; run++) {
        Rng r;
        rng_init(&r, seed, stream);
        r.pos = pos_base + ((uint64_t)run << 32);
        seed_plusplus(x, n, d, k, &r, c, d2);
        double in = lloyd(x, n, d, k, max_iter, tol_abs, c, lab);
        if (in < best) {
            best = in;
            if (centroids) memcpy(centroids, c, sizeof(double) * (size_t)k * (size_t)d);
            if (labels) memcpy(labels, lab, sizeof(int) * (size_t)n);
        }
    }
    free(c); free(d2); free(lab);
    return best;
}

double kmeans_fit(const double *x, int n, int d, int k, int n_init, int max_iter, double tol,
                  uint64_t seed, uint64_t stream, double *centroids, int *labels) {
    return fit_at(x, n, d, k, n_init, max_iter, tol, seed, stream, 0, centroids, labels);
}

/* Each k uses its own block of the stream (k << 40), so the search is reproducible. */
int kmeans_smallest_k(const double *x, int n, int d, int max_k, double limit, int n_init, int max_iter,
                      double tol, uint64_t seed, uint64_t stream, double *centroids) {
    int kmax = max_k < n ? max_k : n;
    for (int k = 1; k <= kmax; k++) {
        double in = fit_at(x, n, d, k, n_init, max_iter, tol, seed, stream, (uint64_t)k << 40, centroids, NULL);
        if (in <= limit) return k;
    }
    return kmax;
}
