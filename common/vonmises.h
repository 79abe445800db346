/* vonmises.h: least-squares fit of a von Mises bump to samples on the circle (the TDANN
 * orientation-preference fit, §6.1 of the algorithm notes).
 *
 * Model: f(x) = b * exp(kappa * (cos(x - mu) - 1)), x in radians, kappa in [0, kappa_max].
 * The official code fits a * exp(kappa cos(x - x0)) / (2 pi I0(kappa)) with scipy's curve_fit;
 * that is the same family of curves (a = b * 2 pi I0(kappa) e^-kappa, and a negative kappa there
 * equals a positive kappa here with mu shifted by pi), so the least-squares optimum and the
 * fitted curve are the same; this form needs no Bessel function and cannot overflow.
 *
 * Method: Levenberg-Marquardt on (b, mu, kappa) with the analytic Jacobian, Marquardt's diagonal
 * scaling, kappa projected onto [0, kappa_max] after each step, mu wrapped to (-pi, pi].
 * Two starts, keeping the lower sum of squares:
 *   1. the circular mean of the baseline-subtracted samples (mu0 = its angle, kappa0 = the inverse
 *      of A1(kappa) = I1/I0 at its resultant length, Best & Fisher's approximation);
 *   2. mu0 at the largest sample, same kappa0.
 * b starts at its closed-form optimum for (mu0, kappa0). Stops when an accepted step lowers the
 * sum of squares by less than 1e-12 relative, when the damping exceeds 1e12, or after 200
 * iterations. Deterministic; no allocation; safe to call from OpenMP threads.
 * A constant input (max == min) is not fitted: b = the value, kappa = 0, mu = 0.
 */
#ifndef TDANN_VONMISES_H
#define TDANN_VONMISES_H

typedef struct {
    double b, mu, kappa; /* fitted parameters (mu in (-pi, pi]) */
    double sse;          /* sum of squared residuals at the optimum */
    int iters;           /* LM iterations of the start that won */
} VmFit;

/* x[n] radians, y[n] samples (n >= 3). */
void vm_fit(const double *x, const double *y, int n, double kappa_max, VmFit *fit);
double vm_eval(const VmFit *fit, double x);
/* Inverse of A1(kappa) = I1(kappa)/I0(kappa) (Best & Fisher 1981), r in [0, 1). */
double vm_a1inv(double r);

#endif
