/* stats.h: small statistics shared by the probes and make-maps: percentiles, running moments,
 * Welch's t, circular statistics, a histogram helper.
 *
 * Conventions
 * - Percentiles use linear interpolation between order statistics (numpy's default):
 *   q in [0, 100]; position (n - 1) * q / 100 in the sorted data. Non-finite values are skipped.
 * - Moments: Welford/Chan running mean and sum of squared deviations (m2) in double. Variances
 *   are m2 / (n - ddof). A group of identical values has m2 == 0 exactly, also after merging.
 * - Welch's t (the TDANN selectivity): (mean_a - mean_b) / sqrt(var_a / n_a + var_b / n_b) with
 *   population variances (ddof 0); 0 where the denominator is 0 (or a group is empty).
 * - Circular statistics take a `period`: 2*pi for radians, 180 for orientations in degrees,
 *   179 reproduces the official code's Smoother quirk (scipy circmean with high = 179). Angles
 *   are mapped to the circle by a * 2*pi / period. Results lie in [0, period).
 *   Weights may be NULL (all 1).
 */
#ifndef TDANN_STATS_H
#define TDANN_STATS_H

#include <stddef.h>
#include <stdint.h>

/* ---- percentiles --------------------------------------------------------------------------- */
/* Percentile q (0..100) of x[0..n-1]; NAN when no finite value. Sorts a private copy. */
double stats_percentile(const float *x, size_t n, double q);
/* Several percentiles with one sort: out[i] = percentile q[i]. Returns the number of finite values. */
size_t stats_percentiles(const float *x, size_t n, const double *q, int nq, double *out);
/* Same on a double array already sorted ascending (no copy). */
double stats_percentile_sorted(const double *sorted, size_t n, double q);

/* ---- running moments ------------------------------------------------------------------------ */
typedef struct { double n, mean, m2; } Moments;
static inline void moments_add(Moments *m, double x) {
    m->n += 1;
    double d = x - m->mean;
    m->mean += d / m->n;
    m->m2 += d * (x - m->mean);
}
Moments moments_merge(Moments a, Moments b);
double moments_var(Moments m, int ddof); /* 0 when n <= ddof */

/* ---- Welch's t ----------------------------------------------------------------------------- */
/* var_a, var_b are population variances (ddof 0). Returns 0 where the denominator is 0. */
double welch_t(double mean_a, double var_a, double n_a, double mean_b, double var_b, double n_b);
static inline double welch_t_moments(Moments a, Moments b) {
    return welch_t(a.mean, moments_var(a, 0), a.n, b.mean, moments_var(b, 0), b.n);
}

/* ---- circular statistics -------------------------------------------------------------------- */
/* Mean resultant vector of angles a (weights w or NULL): *mean in [0, period), returns the mean
 * resultant length R in [0, 1] (|sum w e^{i theta}| / sum w). With zero total weight or a resultant
 * below 1e-12 of it (rounding of an exact cancellation), *mean = 0 and R = 0. */
double circ_resultant(const double *a, const double *w, size_t n, double period, double *mean);
double circ_mean(const double *a, const double *w, size_t n, double period);
/* 1 - R */
double circ_var(const double *a, const double *w, size_t n, double period);
/* scipy.stats.circstd: sqrt(-2 ln R) * period / (2 pi); INFINITY when R == 0. */
double circ_std(const double *a, const double *w, size_t n, double period);
/* |a - b| wrapped onto [0, period / 2]. */
double circ_dist(double a, double b, double period);

/* ---- histograms ----------------------------------------------------------------------------- */
/* Counts of x in nbins equal bins over [lo, hi); values outside (or non-finite) are not counted.
 * Returns the number counted. */
int64_t stats_histogram(const float *x, size_t n, double lo, double hi, int nbins, int64_t *counts);

#endif
