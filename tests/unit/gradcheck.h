/* gradcheck.h: finite-difference gradient checks for the kernel and engine tests.
 *
 * f(ctx) evaluates a scalar objective (in double) from float inputs that the caller owns; x (n
 * floats) is one of those inputs and grad the analytic df/dx. gradcheck() compares central
 * differences (f(x + h v) - f(x - h v)) / 2h with grad . v for `ndir` random normal directions v and
 * for `ncoord` single coordinates (the largest |grad| first, then random ones). A direction passes
 * when |fd - an| <= rtol * max(|an|, ||grad||_2 * 1e-3); a coordinate when
 * |fd - an| <= rtol * max(|an|, ||grad||_inf * 1e-2). x is restored exactly. Prints one line per
 * check and records a test failure; returns 1 when everything passed.
 * Float inputs limit the precision: the objectives themselves are accumulated in double.
 */
#ifndef TDANN_GRADCHECK_H
#define TDANN_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

typedef double (*GradObjective)(void *ctx);

int gradcheck(const char *what, GradObjective f, void *ctx, float *x, size_t n, const float *grad,
              double h, double rtol, int ndir, int ncoord, uint64_t seed);

/* Helpers: random normal fill (Philox, RNG_PURPOSE_TEST stream `stream`) and sum(w * y) in double. */
void fill_normal(float *x, size_t n, float scale, uint64_t stream);
double dot_f64(const float *a, const float *b, size_t n);

#endif
